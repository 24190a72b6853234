"""The evaluation protocol, data partitions and metrics."""
