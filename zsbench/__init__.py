"""zsbench: a benchmarking toolkit for zero-shot skeleton-based action recognition."""

__version__ = "0.1.0"
