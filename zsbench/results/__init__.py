"""Run records: schema, atomic storage, lookup."""
