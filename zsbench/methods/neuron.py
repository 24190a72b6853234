"""Neuron: context-aware evolving micro-prototypes (cseeyangchen/Neuron), as released (seed-methods-code.md §4).

On the frozen seen-class encoder's map (C x 16 steps x 25 joints for 64-frame clips):

- Spatial branch: 80 learnable prototypes, 3 rounds. Each round: affinity between the time-averaged joint
  features and the current prototypes; softmax over joints; per joint the 20/40/60 least related prototypes
  multiplied by 1e-12 (no renormalisation); new prototypes = the masked-weighted joint features; a
  round-specific MLP (Linear-ReLU-Linear-ReLU); the mean over prototypes through a shared Linear + ReLU into
  the text space, L2-normalised.
- Temporal branch: 80 prototypes over growing windows (the first 5, 10, 16 steps): softmax over time per
  prototype gives summaries u; P <- sigmoid(R(u))·P + sigmoid(M(u))·U(u) with R, M, U Linear-ReLU-Linear-ReLU
  (so the gates lie in [0.5, 1), as released; one set per round is ours); mean, shared projector, normalised.
- Round r is matched to descriptions of granularity r. A class scores ``scale`` x the mean of the top-k
  cosines over its descriptions (released: k = all, scale 0.1, multiplied). Loss: cross-entropy on the seen
  classes averaged over the 3 rounds and the 2 branches. No test-time adaptation.

Strict prediction: the sum of the two branches' final-round scores (``score_branch=fused``, ours: the
released code never fuses them). `paper` quirks: ``or_of_branches`` (a sample counts as correct if either
branch is right; implemented by reading the label and returning the scores of a branch that is right, so
top-1 equals the released OR), ``gzsl_calibration_on_test`` (the released GZSL computation, see
:func:`released_or_gzsl`: each branch's softmax probabilities calibrated by its own constant, the two constants
searched jointly over the released 11 x 11 grid on the test set, and seen/unseen accuracy and H taken from
the OR of the branches' calibrated predictions). Not reproduced: random rotation/cropping of test inputs and
encoder BatchNorm in training mode (zsbench extracts the frozen encoder's map once, in eval mode).

Descriptions (ours; the released GPT-4o-mini sets are not public): spatial coarse = the name, the global
sentence and its paraphrases; medium = arms, torso, legs; fine = head, hands, arms, torso, legs; temporal =
the cumulative phases (start; start+middle; all three).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsbench import runtime
from zsbench.config import bounded
from zsbench.errors import UsageError
from zsbench.eval.metrics import harmonic_mean
from zsbench.methods.base import FeatureSet, Method, MethodParams, module_state, restored
from zsbench.methods.training import EpochMonitor
from zsbench.seeding import seed_everything, torch_generator
from zsbench.text.bank import TextBank

SPATIAL_DESCRIPTIONS = (
    ("name", "label_global", "global", "paraphrase:0", "paraphrase:1", "paraphrase:2"),
    ("arms", "torso", "legs"),
    ("head", "hands", "arms", "torso", "legs"),
)
TEMPORAL_DESCRIPTIONS = (("phases_upto:1",), ("phases_upto:2",), ("phases_upto:3",))
ALL_SLOTS = tuple(dict.fromkeys(s for group in (*SPATIAL_DESCRIPTIONS, *TEMPORAL_DESCRIPTIONS) for s in group))
BRANCHES = ("fused", "spatial", "temporal")
EVAL_BATCH = 256
# Released main_match.py: each branch's seen-class probabilities are lowered by one of 2e-4, 2.1e-4, ..., 3e-4.
RELEASED_GZSL_GRID = tuple(i / 100000 for i in range(20, 31))


@dataclass
class NeuronParams(MethodParams):
    spatial_prototypes: int = bounded(80, ge=1)  # released
    temporal_prototypes: int = bounded(80, ge=1)  # released
    # released: least related prototypes masked per joint, per round
    spatial_masked: tuple[int, ...] = bounded((20, 40, 60), ge=0)
    temporal_windows: tuple[int, ...] = bounded((5, 10, 16), ge=1)  # released: steps seen by each round (of 16)
    score_scale: float = bounded(0.1, gt=0)  # released (multiplied; "ntu60-0.1")
    top_k: int | None = bounded(None, ge=1)  # released: k = all of a class's descriptions (the mean)
    score_branch: str = "fused"  # ours: fused = spatial + temporal final rounds; spatial | temporal alone
    lr: float = bounded(0.1, gt=0)  # released: SGD, Nesterov
    # ours: the released optimiser is Nesterov SGD, which needs a momentum; 0.9 assumed
    momentum: float = bounded(0.9, ge=0, lt=1)
    weight_decay: float = bounded(5e-4, ge=0)  # released
    lr_steps: tuple[int, ...] = bounded((4, 20), ge=0)  # released NTU (PKU: 8, 20), x0.1 each
    epochs: int = bounded(30, ge=1)  # released
    batch_size: int = bounded(64, ge=1)  # released


def mlp(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())


class NeuronNetwork(nn.Module):
    def __init__(self, width: int, text_dim: int, params: NeuronParams) -> None:
        super().__init__()
        self.masked = params.spatial_masked
        self.windows = params.temporal_windows
        self.spatial_init = nn.Parameter(torch.randn(params.spatial_prototypes, width))  # nn.Embedding's N(0, 1)
        self.temporal_init = nn.Parameter(torch.randn(params.temporal_prototypes, width))
        self.spatial_rounds = nn.ModuleList(mlp(width) for _ in self.masked)
        self.retain = nn.ModuleList(mlp(width) for _ in self.windows)
        self.write = nn.ModuleList(mlp(width) for _ in self.windows)
        self.update = nn.ModuleList(mlp(width) for _ in self.windows)
        self.spatial_project = nn.Sequential(nn.Linear(width, text_dim), nn.ReLU())
        self.temporal_project = nn.Sequential(nn.Linear(width, text_dim), nn.ReLU())

    def spatial(self, joints: Tensor) -> list[Tensor]:
        """(B, V, W) time-averaged joint features -> one (B, D) embedding per round."""
        prototypes = self.spatial_init.expand(joints.shape[0], -1, -1)
        outputs = []
        for masked, round_mlp in zip(self.masked, self.spatial_rounds, strict=True):
            affinity = torch.einsum("bvw,bkw->bvk", joints, prototypes)
            weights = affinity.softmax(dim=1)  # over joints
            if masked:
                lowest = affinity.topk(masked, dim=2, largest=False).indices  # per joint, along the prototypes
                weights = weights * torch.ones_like(weights).scatter(2, lowest, 1e-12)
            prototypes = round_mlp(torch.einsum("bvk,bvw->bkw", weights, joints))
            outputs.append(F.normalize(self.spatial_project(prototypes.mean(1)), dim=-1))
        return outputs

    def temporal(self, steps: Tensor) -> list[Tensor]:
        """(B, T, W) joint-averaged step features -> one (B, D) embedding per round."""
        prototypes = self.temporal_init.expand(steps.shape[0], -1, -1)
        outputs = []
        for index, window in enumerate(self.windows):
            seen = steps[:, :window]
            attention = torch.einsum("bkw,btw->bkt", prototypes, seen).softmax(dim=2)  # over time
            summary = torch.einsum("bkt,btw->bkw", attention, seen)
            retain = torch.sigmoid(self.retain[index](summary))
            write = torch.sigmoid(self.write[index](summary))
            prototypes = retain * prototypes + write * self.update[index](summary)
            outputs.append(F.normalize(self.temporal_project(prototypes.mean(1)), dim=-1))
        return outputs

    def forward(self, feature_map: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """(B, W, T, V) map -> (spatial, temporal) round embeddings."""
        return self.spatial(feature_map.mean(2).transpose(1, 2)), self.temporal(feature_map.mean(3).transpose(1, 2))


class Neuron(Method):
    params_type: ClassVar[type[MethodParams]] = NeuronParams
    text_slots: ClassVar[tuple[str, ...]] = ALL_SLOTS
    map_segments: ClassVar[int | None] = 16
    # released 30 epochs, x0.1 after epochs 4 and 20: its first 5 epochs (the first step kept; compressing the steps
    # to (1, 3) of 4 epochs stopped it learning: 30.0 / 6.4 ZSL on 55/5 / 48/12, seed 0)
    synthetic_budget: ClassVar[Mapping[str, Any]] = {"epochs": 5}
    paper_quirks: ClassVar[tuple[str, ...]] = ("or_of_branches", "gzsl_calibration_on_test")
    reads_test_labels: ClassVar[frozenset[str]] = frozenset({"or_of_branches"})
    fit_depends_on_protocol: ClassVar[bool] = False  # every paper quirk acts at test time
    # top_k is not one: the training loss scores with it too (_class_scores).
    test_time_params: ClassVar[frozenset[str]] = frozenset({"score_branch"})

    def setup(self) -> None:
        p = self.p
        if p.score_branch not in BRANCHES:
            raise UsageError(f"method_params.score_branch must be one of {', '.join(BRANCHES)}, got {p.score_branch!r}")
        if len(p.spatial_masked) != len(p.temporal_windows):
            raise UsageError("method_params: spatial_masked and temporal_windows need one entry per round each")
        if len(p.spatial_masked) != len(SPATIAL_DESCRIPTIONS):
            raise UsageError(f"method_params: Neuron has descriptions for {len(SPATIAL_DESCRIPTIONS)} rounds")
        if any(not 0 <= m < p.spatial_prototypes for m in p.spatial_masked):
            raise UsageError("method_params.spatial_masked must each be in [0, spatial_prototypes)")
        self.network: NeuronNetwork | None = None
        self.fit_log: dict[str, Any] = {}

    @property
    def p(self) -> NeuronParams:
        assert isinstance(self.params, NeuronParams)
        return self.params

    def _round_text(self, text: TextBank) -> tuple[list[Tensor], list[Tensor]]:
        """Per round, (C, M_r, D) normalised description embeddings: spatial, temporal."""
        device = runtime.device()

        def gather(groups: tuple[tuple[str, ...], ...]) -> list[Tensor]:
            return [
                F.normalize(torch.stack([text.slot(s) for s in group], dim=1), dim=-1).to(device) for group in groups
            ]

        return gather(SPATIAL_DESCRIPTIONS), gather(TEMPORAL_DESCRIPTIONS)

    def _class_scores(self, embedded: Tensor, descriptions: Tensor) -> Tensor:
        """(B, D) against (C, M, D) -> (B, C): scale x mean of the top-k cosines over each class's descriptions."""
        similarity = torch.einsum("bd,cmd->bcm", embedded, descriptions)
        k = descriptions.shape[1] if self.p.top_k is None else min(self.p.top_k, descriptions.shape[1])
        top = similarity if k == descriptions.shape[1] else similarity.topk(k, dim=2).values
        return self.p.score_scale * top.mean(2)

    def _map(self, features: FeatureSet) -> Tensor:
        if features.map is None:
            raise UsageError("Neuron needs the encoder's per-joint map (a skeleton dataset and a map encoder)")
        if features.map.shape[2] < max(self.p.temporal_windows):
            raise UsageError(
                f"the map has {features.map.shape[2]} steps; temporal_windows need {max(self.p.temporal_windows)}"
            )
        return features.map

    def fit(self, train: FeatureSet, text: TextBank, monitor: EpochMonitor | None = None) -> dict[str, Any]:
        assert train.labels is not None
        seed_everything(self.seed)
        device = runtime.device()
        maps = self._map(train)
        network = NeuronNetwork(maps.shape[1], text.dim, self.p).to(device)
        self.network = network
        spatial_text, temporal_text = self._round_text(text)
        position = {label: row for row, label in enumerate(text.labels)}
        targets = torch.tensor([position[int(y)] for y in train.labels], dtype=torch.long)
        optimiser = torch.optim.SGD(
            network.parameters(), lr=self.p.lr, momentum=self.p.momentum, weight_decay=self.p.weight_decay,
            nesterov=True,
        )  # fmt: skip
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, list(self.p.lr_steps), 0.1)
        generator = torch_generator(self.seed, "neuron-batches")
        losses = []
        for epoch in range(self.p.epochs):
            network.train()
            order = torch.randperm(len(targets), generator=generator)
            total = 0.0
            for start in range(0, len(order), self.p.batch_size):
                rows = order[start : start + self.p.batch_size]
                spatial, temporal = network(maps[rows].to(device))
                batch_targets = targets[rows].to(device)
                round_losses = [
                    F.cross_entropy(self._class_scores(embedded, descriptions), batch_targets)
                    for outputs, texts in ((spatial, spatial_text), (temporal, temporal_text))
                    for embedded, descriptions in zip(outputs, texts, strict=True)
                ]
                loss = torch.stack(round_losses).mean()  # released: averaged over rounds, then branches
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(rows)
            schedule.step()
            losses.append(total / len(targets))
            if monitor is not None:
                network.eval()
                monitor(epoch + 1)
        network.eval()
        self.fit_log = {"final_loss": losses[-1], "epochs": self.p.epochs, "map_steps": int(maps.shape[2])}
        return self.fit_log

    def fitted_state(self) -> dict[str, Any] | None:
        assert self.network is not None
        return module_state(self.network, self.fit_log)

    def load_fitted_state(self, state: dict[str, Any], train: FeatureSet, text: TextBank) -> dict[str, Any]:
        self.network = restored(NeuronNetwork(self._map(train).shape[1], text.dim, self.p).to(runtime.device()), state)
        self.fit_log = dict(state["log"])
        return self.fit_log

    @torch.no_grad()
    def branch_scores(self, features: FeatureSet, text: TextBank) -> tuple[Tensor, Tensor]:
        """(N, C) final-round scores of the spatial and the temporal branch."""
        assert self.network is not None, "fit() first"
        self.network.eval()
        maps = self._map(features)
        spatial_text, temporal_text = self._round_text(text)
        spatial_parts, temporal_parts = [], []
        for start in range(0, maps.shape[0], EVAL_BATCH):
            spatial, temporal = self.network(maps[start : start + EVAL_BATCH].to(runtime.device()))
            spatial_parts.append(self._class_scores(spatial[-1], spatial_text[-1]).cpu())
            temporal_parts.append(self._class_scores(temporal[-1], temporal_text[-1]).cpu())
        return torch.cat(spatial_parts), torch.cat(temporal_parts)

    def scores(self, features: FeatureSet, text: TextBank) -> Tensor:
        spatial, temporal = self.branch_scores(features, text)
        if self.quirk("or_of_branches"):
            return self._either_branch(spatial, temporal, features, text)
        if self.p.score_branch == "spatial":
            return spatial
        if self.p.score_branch == "temporal":
            return temporal
        return spatial + temporal

    def paper_gzsl(self, features: FeatureSet, text: TextBank, seen: tuple[int, ...]) -> dict[str, Any] | None:
        # The released GZSL is one computation: per-branch calibration on the test set *and* the OR. With one of
        # the two quirks alone, the common path applies it (OR'd scores, or test-set stacking on fused scores).
        if not (self.quirk("gzsl_calibration_on_test") and self.quirk("or_of_branches")):
            return None
        if features.labels is None:
            raise UsageError("the paper quirk gzsl_calibration_on_test needs the evaluation labels")
        spatial, temporal = self.branch_scores(features, text)
        return released_or_gzsl(
            spatial.double().numpy(), temporal.double().numpy(), features.labels.numpy(), np.array(text.labels), seen
        )

    @staticmethod
    def _either_branch(spatial: Tensor, temporal: Tensor, features: FeatureSet, text: TextBank) -> Tensor:
        """Paper quirk ``or_of_branches``: per sample, the scores of a branch whose top-1 is the true class."""
        if features.labels is None:
            raise UsageError("the paper quirk or_of_branches needs the evaluation labels")
        position = {label: row for row, label in enumerate(text.labels)}
        truth = torch.tensor([position.get(int(y), -1) for y in features.labels])
        temporal_only = (temporal.argmax(1) == truth) & (spatial.argmax(1) != truth)
        return torch.where(temporal_only[:, None], temporal, spatial)


def released_or_gzsl(
    spatial: np.ndarray,
    temporal: np.ndarray,
    labels: np.ndarray,
    class_ids: np.ndarray,
    seen: tuple[int, ...],
    grid: tuple[float, ...] = RELEASED_GZSL_GRID,
) -> dict[str, Any]:
    """Neuron's released GZSL evaluation on (N, C) final-round logits of both branches (columns ``class_ids``).

    Each branch: softmax over all classes, its own constant subtracted from the seen columns, argmax. A sample
    is correct when either branch is. Seen and unseen accuracy (each over its own samples) and H come from that
    OR; the constant pair with the highest H wins, the first in (spatial, temporal) grid order on a tie, as the
    released strict ``>`` over a spatial-major loop keeps it.
    """
    seen_columns = np.isin(class_ids, seen)
    is_seen = np.isin(labels, seen)

    def calibrated_hits(logits: np.ndarray, constant: float) -> np.ndarray:
        shifted = logits - logits.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        return class_ids[np.argmax(probabilities - constant * seen_columns[None, :], axis=1)] == labels

    spatial_hits = [calibrated_hits(spatial, c) for c in grid]
    temporal_hits = [calibrated_hits(temporal, c) for c in grid]
    best: dict[str, Any] = {"gzsl_h": -1.0}
    for i, spatial_constant in enumerate(grid):
        for j, temporal_constant in enumerate(grid):
            hit = spatial_hits[i] | temporal_hits[j]
            acc_seen, acc_unseen = float(hit[is_seen].mean()), float(hit[~is_seen].mean())
            h = harmonic_mean(acc_seen, acc_unseen)
            if h > best["gzsl_h"]:
                best = {
                    "gzsl_seen": acc_seen,
                    "gzsl_unseen": acc_unseen,
                    "gzsl_h": h,
                    "calibration": {
                        "method": "per-branch stacking on softmax probabilities, OR of the branches (released)",
                        "gamma_spatial": spatial_constant,
                        "gamma_temporal": temporal_constant,
                        "grid": list(grid),
                        "chosen_on": "test set (paper quirk)",
                    },
                }
    return best
