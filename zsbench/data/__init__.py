"""Skeleton data: layout, readers, the prepared store and the synthetic generator."""
