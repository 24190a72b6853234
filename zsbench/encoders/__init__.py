"""Skeleton encoders: backbones, per-split pretraining on seen classes, feature extraction."""
