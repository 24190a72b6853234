"""The method interface every ZS-SAR method implements.

A method is fitted on seen-class features and the *seen* classes' text only, then scores
evaluation features against any set of classes. Evaluation feature sets carry no labels, so a
method cannot read the label it predicts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from zsbench.errors import UsageError
from zsbench.methods.training import EpochMonitor
from zsbench.quirks import from_protocol
from zsbench.text.bank import TextBank

ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class FeatureSet:
    """Features of a set of samples. ``labels`` is None for evaluation sets.

    Methods that train end to end (``requires`` holds ``"skeletons"``) also get the raw samples: the
    store's array and the rows of this set in it.
    """

    pooled: torch.Tensor  # (N, D)
    labels: torch.Tensor | None = None
    skeletons: np.ndarray | None = None  # the store's (N_store, 3, T, 25, 2) array
    indices: np.ndarray | None = None  # rows of this set in ``skeletons``
    map: torch.Tensor | None = None  # (N, C, S, V) per-joint token map, for methods with ``map_segments``

    def __len__(self) -> int:
        return int(self.pooled.shape[0])

    def subset(self, rows: np.ndarray) -> FeatureSet:
        """The samples at boolean or integer ``rows``."""
        picked = torch.as_tensor(np.flatnonzero(rows) if rows.dtype == bool else rows)
        return FeatureSet(
            self.pooled[picked],
            None if self.labels is None else self.labels[picked],
            self.skeletons,
            None if self.indices is None else self.indices[picked.numpy()],
            None if self.map is None else self.map[picked],
        )


@dataclass(frozen=True)
class FittedFold:
    """A fitted validation fold as a released GZSL gate reads it (the synse-zsl gates train on the validation phase).

    ``labels`` are the validation fold's (pseudo-unseen and held-out pseudo-seen samples), never test labels.
    """

    method: Method
    features: FeatureSet  # the fold's evaluation samples, unlabelled
    labels: np.ndarray
    seen_logits: np.ndarray | None  # the fold's backbone seen-class logits on those samples
    seen: tuple[int, ...]
    novel: tuple[int, ...]


@dataclass
class MethodParams:
    """Base for a method's hyper-parameters; each field's comment names its source."""


class Method(ABC):
    params_type: ClassVar[type[MethodParams]] = MethodParams
    requires: ClassVar[frozenset[str]] = frozenset({"pooled"})  # feature kinds the runner must supply
    text_slots: ClassVar[tuple[str, ...]] = ("global",)  # description slots the text bank must hold
    transductive: ClassVar[bool] = False  # uses the whole unlabelled test set at once
    paper_quirks: ClassVar[tuple[str, ...]] = ()  # what the `paper` protocol reproduces, by name (zsbench.quirks)
    test_time_params: ClassVar[frozenset[str]] = frozenset()  # params that do not change what fit() learns
    fit_depends_on_protocol: ClassVar[bool] = True  # False: strict and paper runs share one training
    map_segments: ClassVar[int | None] = None  # temporal segments of the token map the method needs (None: no map)
    # Parameter values that replace the released defaults on the embedded synthetic sets, whose training folds
    # are ~30x smaller than NTU's, so that every method runs in minutes on a CPU. An explicit --set wins;
    # real datasets keep the released values. Each value's comment names the released one.
    synthetic_budget: ClassVar[Mapping[str, Any]] = {}
    # Quirks that read evaluation labels; when one of them is on, the runner hands the method the labels.
    reads_test_labels: ClassVar[frozenset[str]] = frozenset()
    # The run's backbone (its resolved encoder name), set by the runner: a method that trains its own encoder
    # end to end (PGFA) builds this architecture unless its params name another.
    backbone: str | None = None
    # Set by the pipeline before paper_gzsl() on the test fold: the backbone's seen-class logits on the evaluation
    # samples (None when the data has none) and the fitted validation fold, for released gates trained on it.
    seen_logits: np.ndarray | None = None
    validation_fold: FittedFold | None = None

    def __init__(
        self,
        params: MethodParams,
        quirks: Iterable[str] | str,
        seed: int,
        family: str = "ntu60",
        split_setting: str = "synse",
    ) -> None:
        self.params = params
        # The active `paper` quirks (a set of names from ``paper_quirks``; "strict"/"paper" are accepted too).
        self.quirks = from_protocol(self.paper_quirks, quirks)
        self.seed = seed
        # Where the released code sets a hyper-parameter per dataset or per split setting, these choose it.
        self.family = family
        self.split_setting = split_setting
        self._check_text_slot()
        self.setup()

    def _check_text_slot(self) -> None:
        """A ``text_slot`` param must name slots the bank holds (``text_slots``; ``a+b`` for several): checked at
        resolve time, before any encoder trains."""
        slot = getattr(self.params, "text_slot", None)
        if slot is not None and not set(str(slot).split("+")) <= set(type(self).text_slots):
            raise UsageError(f"method_params.text_slot is {slot!r}; expected one of {', '.join(type(self).text_slots)}")

    def setup(self) -> None:
        """A subclass's own construction (parameter checks, empty state); the one constructor calls it."""
        return None

    @abstractmethod
    def fit(self, train: FeatureSet, text: TextBank, monitor: EpochMonitor | None = None) -> dict[str, Any]:
        """Fit on seen-class features and seen-class text; return a small training log.

        ``monitor`` is called after each epoch; only `paper`-protocol quirks use it.
        """

    def quirk(self, name: str) -> bool:
        """Whether the quirk ``name`` (one of this method's ``paper_quirks``) is on."""
        assert name in self.paper_quirks, f"{type(self).__name__} declares no quirk {name!r}"
        return name in self.quirks

    def acted_quirks(self) -> frozenset[str]:
        """The active quirks that acted in this run's scoring (e.g. none of refinement's without refinement)."""
        return self.quirks

    @classmethod
    def test_time_candidates(cls, params: MethodParams, quirks: frozenset[str]) -> list[dict[str, Any]]:
        """Settings of ``test_time_params`` for the runner to choose among on the validation fold (none: no choice).

        Each candidate is a dict of parameter overrides; the runner keeps the best validation ZSL top-1.
        """
        return []

    def scoring_log(self) -> dict[str, Any]:
        """What scoring did (e.g. a refinement's stream and bank sizes), for the run record."""
        return {}

    def fitted_state(self) -> dict[str, Any] | None:
        """What fit() learned, for the runner's fit cache; None when the method does not support caching."""
        return None

    def load_fitted_state(self, state: dict[str, Any], train: FeatureSet, text: TextBank) -> dict[str, Any]:
        """Restore what fitted_state() returned, instead of fitting again; returns the fit's log."""
        raise NotImplementedError

    def paper_gzsl(self, features: FeatureSet, text: TextBank, seen: tuple[int, ...]) -> dict[str, Any] | None:
        """GZSL as the released code computes it, for a method whose `paper` quirks replace the common path.

        Called on the test fold under `paper` only, with the evaluation labels in ``features`` when the
        method declares a label-reading quirk. Returns ``gzsl_seen``, ``gzsl_unseen``, ``gzsl_h`` and a
        ``calibration`` dict; None (the default) keeps calibrated stacking on :meth:`scores`.
        """
        return None

    @abstractmethod
    def scores(self, features: FeatureSet, text: TextBank) -> torch.Tensor:
        """Scores (N, C) of unlabelled samples against ``text``'s classes, columns in ``text.labels`` order."""


def module_state(module: nn.Module, log: dict[str, Any]) -> dict[str, Any]:
    """A fitted module's weights (on the CPU) and its fit log: what the runner's fit cache stores."""
    return {"network": {name: value.cpu() for name, value in module.state_dict().items()}, "log": log}


def restored(module: ModuleT, state: dict[str, Any]) -> ModuleT:
    """``module``, freshly built on the run's device, with the weights of :func:`module_state` loaded, in eval mode."""
    module.load_state_dict(state["network"])
    return module.eval()
