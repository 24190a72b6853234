"""The ``zsbench`` command line: one module per command, each only parses and calls."""
