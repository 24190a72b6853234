"""Toy data for the part-of-speech methods' tests (JPoSE, ReViSE): compositional classes and a SynSE-style store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsbench.methods.base import FeatureSet
from zsbench.text.bank import TextBank

UNSEEN = (0, 5, 10, 15)  # one per verb and per noun: every unseen class combines a seen verb with a seen noun
SEEN = tuple(c for c in range(16) if c not in UNSEEN)


@dataclass
class Toy:
    train: FeatureSet
    test: FeatureSet  # unlabelled, as methods see it
    test_labels: torch.Tensor
    bank: TextBank  # slots verb, noun, name


def compositional_toy(seed: int = 0, per_class: int = 30) -> Toy:
    """16 classes = 4 verbs x 4 nouns. A verb (noun) embedding lives in the first (last) 12 text dimensions, the
    name is their sum, and a skeleton feature is a fixed linear map of the name plus noise, through a ReLU."""
    generator = torch.Generator().manual_seed(seed)
    verbs, nouns = torch.zeros(4, 24), torch.zeros(4, 24)
    verbs[:, :12], nouns[:, 12:] = torch.randn(4, 12, generator=generator), torch.randn(4, 12, generator=generator)
    pairs = [(v, n) for v in range(4) for n in range(4)]
    embeddings = torch.stack([torch.stack([verbs[v], nouns[n], verbs[v] + nouns[n]]) for v, n in pairs])
    projection = torch.randn(24, 32, generator=generator)

    def features(labels: torch.Tensor) -> torch.Tensor:
        clean = embeddings[labels, 2] @ projection
        return torch.relu(clean + 0.5 * torch.randn(clean.shape, generator=generator))

    train_labels = torch.tensor(SEEN).repeat_interleave(per_class)
    test_labels = torch.tensor(UNSEEN).repeat_interleave(per_class)
    bank = TextBank(tuple(range(16)), ("verb", "noun", "name"), embeddings, "toy")
    return Toy(FeatureSet(features(train_labels), train_labels), FeatureSet(features(test_labels)), test_labels, bank)


def accuracy(scores: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]) -> float:
    return float((torch.tensor(classes)[scores.argmax(1)] == labels).float().mean())


def shifted(bank: TextBank) -> TextBank:
    """The bank's rows rotated by one: every class gets another class's text (a derangement)."""
    return TextBank(bank.labels, bank.slots, bank.embeddings.roll(1, dims=0), bank.encoder)


def sets(**params: object) -> list[str]:
    """``--set method_params.NAME=VALUE`` options."""
    return [x for name, value in params.items() for x in ("--set", f"method_params.{name}={value}")]


def write_feature_split(folder: Path, seen: list[int], text: np.ndarray, rng: np.random.Generator) -> None:
    """A SynSE-style folder (train / gtest features and labels, backbone logits) whose features follow the text."""
    projection = rng.normal(size=(text.shape[1], 256))
    folder.mkdir(parents=True)
    for name, labels in (("train", np.repeat(seen, 8)), ("gtest", np.repeat(np.arange(60), 6))):
        features = np.maximum(text[labels] @ projection, 0) + 0.1 * rng.random((len(labels), 256))
        np.save(folder / f"{name}.npy", features.astype(np.float32))
        np.save(folder / ("train_label.npy" if name == "train" else "g_label.npy"), labels)
    logits = rng.normal(size=(360, 60)) + 4.0 * np.eye(60)[np.repeat(np.arange(60), 6)]
    np.save(folder / "gtest_out.npy", logits.astype(np.float32))
