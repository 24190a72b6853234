"""The method interface every ZS-SAR method implements.

A method is fitted on seen-class features and the *seen* classes' text only, then scores
evaluation features against any set of classes. Evaluation feature sets carry no labels, so a
method cannot read the label it predicts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from zsbench.methods.training import EpochMonitor
from zsbench.text.bank import TextBank


@dataclass(frozen=True)
class FeatureSet:
    """Features of a set of samples. ``labels`` is None for evaluation sets."""

    pooled: torch.Tensor  # (N, D)
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.pooled.shape[0])


@dataclass
class MethodParams:
    """Base for a method's hyper-parameters; each field's comment names its source."""


class Method(ABC):
    params_type: ClassVar[type[MethodParams]] = MethodParams
    requires: ClassVar[frozenset[str]] = frozenset({"pooled"})  # feature kinds the runner must supply
    text_slots: ClassVar[tuple[str, ...]] = ("global",)  # description slots the text bank must hold
    transductive: ClassVar[bool] = False  # uses the whole unlabelled test set at once
    paper_quirks: ClassVar[tuple[str, ...]] = ()  # what the `paper` protocol reproduces, by name

    def __init__(self, params: MethodParams, protocol: str, seed: int) -> None:
        self.params = params
        self.protocol = protocol
        self.seed = seed

    @abstractmethod
    def fit(self, train: FeatureSet, text: TextBank, monitor: EpochMonitor | None = None) -> dict[str, Any]:
        """Fit on seen-class features and seen-class text; return a small training log.

        ``monitor`` is called after each epoch; only `paper`-protocol quirks use it.
        """

    @abstractmethod
    def scores(self, features: FeatureSet, text: TextBank) -> torch.Tensor:
        """Scores (N, C) of unlabelled samples against ``text``'s classes, columns in ``text.labels`` order."""
