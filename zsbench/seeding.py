"""Seeding that hands out explicit generators instead of relying on global state."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def derive_seed(seed: int, *labels: str) -> int:
    """A stable 63-bit seed for a named sub-stream of ``seed`` (same labels, same seed)."""
    digest = hashlib.sha256(":".join([str(seed), *labels]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def numpy_rng(seed: int, *labels: str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *labels))


def torch_generator(seed: int, *labels: str) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(derive_seed(seed, *labels))
    return generator


def seed_everything(seed: int) -> None:
    """Seed the global generators too, for library code that draws from them (weight init)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
