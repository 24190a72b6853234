from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, needs_shared
from zsbench.errors import DataError, UsageError
from zsbench.text import descriptions
from zsbench.text.bank import build_bank
from zsbench.text.encoders import load_text_encoder


class CountingEncoder:
    def __init__(self, inner) -> None:
        self.inner, self.identity, self.calls = inner, inner.identity, 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


def test_minilm_embeddings_are_normalised_and_meaningful(minilm) -> None:
    vectors = minilm.encode(["a person drinks water", "someone drinks from a cup", "a person kicks a ball"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_bank_is_cached_on_disk_by_encoder_and_text(minilm, tmp_path: Path) -> None:
    counting = CountingEncoder(minilm)
    classes = descriptions.load("ntu60")[:5]
    first = build_bank(classes, ("name", "global"), counting, tmp_path)
    second = build_bank(classes, ("name", "global"), counting, tmp_path)
    assert counting.calls == 1
    assert np.array_equal(first.embeddings.numpy(), second.embeddings.numpy())
    assert first.embeddings.shape == (5, 2, 384)
    build_bank(classes, ("hands",), counting, tmp_path)
    assert counting.calls == 2
    assert first.select([3, 1]).labels == (3, 1)
    with pytest.raises(UsageError):
        first.select([59])


def test_precomputed_class_embeddings_from_synse_bert_verb(tmp_path: Path) -> None:
    path = needs_shared(SAMPLES / "zsl" / "synse" / "language_data" / "bert_verb.npy")
    encoder = load_text_encoder(f"npy:{path}")
    bank = build_bank(descriptions.load("ntu60"), ("global", "name"), encoder, tmp_path)
    raw = np.load(path)
    assert bank.embeddings.shape == (60, 2, 1024)
    assert np.allclose(bank.embeddings[7, 0].numpy(), raw[7] / np.linalg.norm(raw[7]), atol=1e-6)
    bank120 = build_bank(descriptions.load("ntu120"), ("global",), encoder, tmp_path)
    assert bank120.embeddings.shape == (120, 1, 1024)


def test_missing_weights_are_a_clear_error_never_a_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="never downloads"):
        load_text_encoder(f"clip:{tmp_path / 'clip-vit-b-32'}")
    with pytest.raises(UsageError, match="valid: minilm"):
        load_text_encoder("openai-clip")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((3,), np.nan))
    with pytest.raises(DataError, match="finite 2-D"):
        load_text_encoder(f"npy:{bad}")
