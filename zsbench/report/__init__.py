"""Aggregating run records into tables with honest statistics."""
