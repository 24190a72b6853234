"""Text banks: per-class, per-slot text embeddings, cached on disk by encoder and text."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsbench.atomic import write_atomic
from zsbench.errors import UsageError
from zsbench.text.descriptions import ClassDescription
from zsbench.text.encoders import PrecomputedClassEmbeddings, TextEncoder


@dataclass(frozen=True)
class TextBank:
    """Embeddings (C, S, D) for classes ``labels`` (row order) and description ``slots``."""

    labels: tuple[int, ...]
    slots: tuple[str, ...]
    embeddings: torch.Tensor
    encoder: str

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[-1])

    def select(self, labels: tuple[int, ...] | list[int]) -> TextBank:
        """The bank restricted to ``labels``, in that order."""
        position = {label: row for row, label in enumerate(self.labels)}
        missing = [label for label in labels if label not in position]
        if missing:
            raise UsageError(f"text bank has no classes {missing}")
        rows = torch.tensor([position[label] for label in labels], dtype=torch.long)
        return TextBank(tuple(labels), self.slots, self.embeddings[rows], self.encoder)

    def slot(self, name: str) -> torch.Tensor:
        if name not in self.slots:
            raise UsageError(f"text bank has no slot {name!r}; it holds {', '.join(self.slots)}")
        return self.embeddings[:, self.slots.index(name)]


def build_bank(
    descriptions: tuple[ClassDescription, ...],
    slots: tuple[str, ...],
    encoder: TextEncoder | PrecomputedClassEmbeddings,
    cache_dir: Path | None,
) -> TextBank:
    """Encode every slot of every class, reusing the on-disk cache when the same texts were encoded before."""
    labels = [d.label for d in descriptions]
    texts = [d.slot(s) for d in descriptions for s in slots]
    if isinstance(encoder, PrecomputedClassEmbeddings):
        table = encoder.for_classes(labels)
        flat = np.repeat(table, len(slots), axis=0)
    else:
        flat = _cached_encode(encoder, texts, cache_dir)
    embeddings = torch.from_numpy(flat).reshape(len(labels), len(slots), -1)
    return TextBank(tuple(labels), tuple(slots), embeddings, encoder.identity)


def _cached_encode(encoder: TextEncoder, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    if cache_dir is None:
        return encoder.encode(texts)
    key = hashlib.sha256(json.dumps([encoder.identity, texts]).encode()).hexdigest()[:24]
    path = cache_dir / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = encoder.encode(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda handle: np.save(handle, vectors))
    return vectors
