"""The stages of a run, composed by :mod:`zsbench.runner`."""
