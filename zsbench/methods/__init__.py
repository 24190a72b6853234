"""ZS-SAR methods behind one interface (see :mod:`zsbench.methods.base`)."""
