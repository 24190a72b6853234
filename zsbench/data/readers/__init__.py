"""Readers for the raw and preprocessed NTU RGB+D and PKU-MMD files (see shared/reference/formats.md)."""
