"""The text side: class descriptions (package data), text encoders and the embedding cache."""
