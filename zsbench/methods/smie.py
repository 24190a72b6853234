"""SMIE (Zhou et al., ACM MM 2023; YujieOuO/SMIE): skeleton-text mutual-information maximisation.

As released (baselines-code.md §5; model.py, procedure.py, config.py):

- A discriminator D scores a (skeleton feature, text) pair: [v ; t] -> 1024 ReLU -> 512 ReLU -> 1. In
  training v goes through a LayerNorm without affine parameters.
- Jensen-Shannon MI estimate: MI = E[-softplus(-D(v_i, t_i))] - E[softplus(D(v_{i+1}, t_i))], the negatives
  being the visual batch rolled by one (so a negative can be of the same class).
- Temporal constraint (main track): the clip with its 35 of 50 least-moving frames kept (motion energy = the
  squared forward plus backward frame differences), then 20 of those at random (one draw for the whole
  batch), is encoded again; MI1 pairs that feature with the text, negatives from the rolled *unmasked*
  features. Loss = -MI0 + 0.5·max(0, 0.1 - (MI0 - MI1)). The sota track (SynSE features) trains -MI0 only.
- Adam lr 1e-5, no weight decay, 100 epochs, batch 128; the LR is set by hand each epoch: linear warm-up
  over 15 epochs from 0, then cosine to 0. Score of class c = -softplus(-D(v, t_c)) (log-sigmoid), argmax.

zsbench (``ours`` where marked):

- Temporal constraint on the token map (ours): methods get the frozen encoder's features, not the encoder,
  so the masked clip cannot be re-encoded. The map is cut into 10 temporal segments (50 frames / 5 per
  segment); the released motion rule is applied to the segment sequence of the map (squared forward and
  backward differences of the per-joint features, mean over channels and joints), the 7 least-moving segments
  (35/50) are kept, 4 of them (20/50) drawn at random for the batch, and the masked feature is the mean of
  the map over those segments and all joints.
- Without a token map (pooled-only SynSE-style feature stores) the temporal term cannot run: training is the
  released sota track (-MI0 only), and the fit log says ``track: sota``.
- Strict scoring applies the training LayerNorm (released: ``get_acc`` omits it; quirk
  ``test_without_layernorm``). The warm-up starts at lr/15 (released: lr 0 in epoch 0; ``warmup_epoch0_lr0``).
  The released model selection (the best unseen-test accuracy over epochs after the warm-up; any epoch in the
  sota track) is the pipeline quirk ``test_epoch_selection``; the per-batch mean accuracy is
  ``batch_averaged_accuracy``. Strict keeps the last epoch and counts samples.
- Text: the run's text bank, slot ``name`` (released: Sentence-BERT 768-d of the label names).
- Not reproduced: the released encoder is a frozen ST-GCN whose checkpoint was chosen on seen-class test
  accuracy; zsbench uses the run's shared backbone. Batches of one sample are skipped (the released masking
  crashes on them). The sota track's crash at test (a tuple passed to ``torch.tensor``) is not reproduced.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsbench import runtime
from zsbench.config import bounded
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet, Method, MethodParams, module_state, restored
from zsbench.methods.training import EpochMonitor, warmup_cosine
from zsbench.seeding import seed_everything, torch_generator
from zsbench.text.bank import TextBank

PAIR_CHUNK = 1 << 22  # (sample, class, hidden) elements per discriminator pass when scoring all pairs
SEGMENTS = 10  # ours: temporal segments of the token map for the temporal constraint (50 frames / 5)


@dataclass
class SmieParams(MethodParams):
    text_slot: str = "name"  # released: Sentence-BERT of the label names ({dataset}_embeddings.npy)
    temporal_constraint: bool = True  # released main track (the sota track on SynSE features has none)
    margin: float = bounded(0.1, ge=0)  # released: config.py margin (β)
    temporal_weight: float = bounded(0.5, ge=0)  # released: procedure.py loss1 + 0.5·loss2
    kept_fraction: float = bounded(0.7, gt=0, le=1)  # released: 35 of 50 least-moving frames (mask_frame 15)
    sampled_fraction: float = bounded(0.4, gt=0, le=1)  # released: then 20 of the 50 frames at random
    hidden: tuple[int, ...] = bounded((1024, 512), ge=1)  # released: GlobalDiscriminator widths
    lr: float = bounded(1e-5, gt=0)  # released: config.py lr (every dataset and both tracks)
    weight_decay: float = bounded(0.0, ge=0)  # released
    epochs: int = bounded(100, ge=1)  # released: epoch_num (the cosine's length is hard-coded to 100; here: epochs)
    warmup_epochs: int = bounded(15, ge=0)  # released: adjust_learning_rate warmup_epoch, then cosine to 0
    batch_size: int = bounded(128, ge=1)  # released (shuffled)
    test_batch_size: int = bounded(64, ge=1)  # released; only the paper quirk batch_averaged_accuracy uses it


def jsd_mutual_information(positive: Tensor, negative: Tensor) -> Tensor:
    """The released Jensen-Shannon MI estimate from discriminator outputs: E[-softplus(-pos)] - E[softplus(neg)]."""
    return -F.softplus(-positive).mean() - F.softplus(negative).mean()


def rolled(visual: Tensor) -> Tensor:
    """The released negatives: row i is paired with the visual feature of row i + 1 (the last with the first)."""
    return torch.cat((visual[1:], visual[:1]))


def least_motion_segments(feature_map: Tensor, kept: int) -> Tensor:
    """(N, C, S, V) map -> (N, kept) sorted indices of the segments with the least motion energy.

    The released rule (motion_att_temp_mask2), on segments instead of frames: energy(s) = mean over channels
    and joints of (x[s+1] - x[s])² + (x[s-1] - x[s])², a missing neighbour counting 0.
    """
    forward = torch.zeros_like(feature_map)
    backward = torch.zeros_like(feature_map)
    forward[:, :, :-1] = feature_map[:, :, 1:] - feature_map[:, :, :-1]
    backward[:, :, 1:] = feature_map[:, :, :-1] - feature_map[:, :, 1:]
    energy = (forward**2 + backward**2).mean(dim=(1, 3))  # (N, S)
    return torch.topk(-energy, kept, dim=1).indices.sort(dim=1).values


def masked_features(feature_map: Tensor, kept: int, sampled: int, generator: torch.Generator) -> Tensor:
    """(N, C, S, V) -> (N, C): the map averaged over ``sampled`` of each sample's ``kept`` least-moving segments
    (one random choice of positions for the whole batch, as released) and over all joints."""
    keep = least_motion_segments(feature_map, kept)
    positions = torch.randperm(kept, generator=generator)[:sampled].sort().values.to(keep.device)
    chosen = keep[:, positions]  # (N, sampled)
    index = chosen[:, None, :, None].expand(-1, feature_map.shape[1], -1, feature_map.shape[3])
    return feature_map.gather(2, index).mean(dim=(2, 3))


class Discriminator(nn.Module):
    """D([v ; t]) with ReLU hidden layers; all (sample, class) pairs are scored by splitting the first layer."""

    def __init__(self, visual_dim: int, text_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        widths = (visual_dim + text_dim, *hidden)
        self.visual_dim = visual_dim
        self.first = nn.Linear(widths[0], widths[1])
        self.rest = nn.Sequential(
            *(layer for a, b in itertools.pairwise(widths[1:]) for layer in (nn.ReLU(), nn.Linear(a, b))),
            nn.ReLU(),
            nn.Linear(widths[-1], 1),
        )

    def forward(self, visual: Tensor, text: Tensor) -> Tensor:
        """(B,) scores of row-aligned pairs."""
        return self.rest(self.first(torch.cat((visual, text), dim=-1))).squeeze(-1)

    def pairs(self, visual: Tensor, text: Tensor) -> Tensor:
        """(N, C) scores of every sample against every class text (the same arithmetic as ``forward``)."""
        weight_v, weight_t = self.first.weight[:, : self.visual_dim], self.first.weight[:, self.visual_dim :]
        text_term = text @ weight_t.T + self.first.bias  # (C, H)
        visual_term = visual @ weight_v.T  # (N, H)
        per_chunk = max(1, PAIR_CHUNK // max(1, text.shape[0] * text_term.shape[1]))
        parts = [
            self.rest(visual_term[start : start + per_chunk, None] + text_term[None]).squeeze(-1)
            for start in range(0, visual.shape[0], per_chunk)
        ]
        return torch.cat(parts)


class SmieNetwork(nn.Module):
    def __init__(self, visual_dim: int, text_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(visual_dim, elementwise_affine=False)
        self.discriminator = Discriminator(visual_dim, text_dim, hidden)

    def mutual_information(self, visual: Tensor, text: Tensor) -> Tensor:
        """MI0 (released ``MI.forward``): positives (v_i, t_i), negatives (v_{i+1}, t_i), LayerNorm on v."""
        normed = self.norm(visual)
        return jsd_mutual_information(self.discriminator(normed, text), self.discriminator(rolled(normed), text))

    def temporal_information(self, visual: Tensor, masked: Tensor, text: Tensor) -> Tensor:
        """MI1 (released ``temp_constrain``): positives (masked_i, t_i), negatives (v_{i+1}, t_i)."""
        positive = self.discriminator(self.norm(masked), text)
        return jsd_mutual_information(positive, self.discriminator(rolled(self.norm(visual)), text))


def smie_loss(mi0: Tensor, mi1: Tensor | None, margin: float, weight: float) -> Tensor:
    """-MI0 + weight·max(0, margin - (MI0 - MI1)) (released main track); -MI0 without MI1 (sota track)."""
    if mi1 is None:
        return -mi0
    return -mi0 + weight * torch.clamp(margin - (mi0 - mi1), min=0)


class Smie(Method):
    params_type: ClassVar[type[MethodParams]] = SmieParams
    text_slots: ClassVar[tuple[str, ...]] = ("name",)
    map_segments: ClassVar[int | None] = SEGMENTS
    # released 100 epochs, 15 warm-up: the schedule's shape, compressed
    synthetic_budget: ClassVar[Mapping[str, Any]] = {"epochs": 10, "warmup_epochs": 2}
    paper_quirks: ClassVar[tuple[str, ...]] = (
        "test_epoch_selection",
        "batch_averaged_accuracy",
        "warmup_epoch0_lr0",
        "test_without_layernorm",
    )
    test_time_params: ClassVar[frozenset[str]] = frozenset({"test_batch_size"})

    def setup(self) -> None:
        p = self.p
        if p.sampled_fraction > p.kept_fraction:
            raise UsageError("method_params: sampled_fraction must not exceed kept_fraction")
        self.network: SmieNetwork | None = None
        self.fit_log: dict[str, Any] = {}

    @property
    def p(self) -> SmieParams:
        assert isinstance(self.params, SmieParams)
        return self.params

    def _lr_factor(self, epoch: int) -> float:
        if epoch < self.p.warmup_epochs and not self.quirk("warmup_epoch0_lr0"):
            return (epoch + 1) / self.p.warmup_epochs  # ours: the warm-up's first epoch trains
        return warmup_cosine(epoch, self.p.warmup_epochs, self.p.epochs)

    def _segment_counts(self, segments: int) -> tuple[int, int]:
        kept = max(1, round(self.p.kept_fraction * segments))
        return kept, max(1, min(kept, round(self.p.sampled_fraction * segments)))

    def fit(self, train: FeatureSet, text: TextBank, monitor: EpochMonitor | None = None) -> dict[str, Any]:
        assert train.labels is not None
        seed_everything(self.seed)
        device = runtime.device()
        pooled = train.pooled.to(device)
        network = SmieNetwork(pooled.shape[1], text.dim, self.p.hidden).to(device)
        self.network = network
        class_text = F.normalize(text.slot(self.p.text_slot), dim=-1).to(device)
        position = {label: row for row, label in enumerate(text.labels)}
        targets = torch.tensor([position[int(y)] for y in train.labels], dtype=torch.long, device=device)
        temporal = self.p.temporal_constraint and train.map is not None
        feature_map = train.map.to(device) if temporal and train.map is not None else None
        kept, sampled = self._segment_counts(feature_map.shape[2]) if feature_map is not None else (0, 0)
        optimiser = torch.optim.Adam(network.parameters(), lr=self.p.lr, weight_decay=self.p.weight_decay)
        batches = torch_generator(self.seed, "smie-batches")
        frames = torch_generator(self.seed, "smie-segments")
        # Released selection window: main track after the warm-up (epoch > 15), sota track every epoch.
        first_selectable = self.p.warmup_epochs + 1 if temporal else 0
        losses: list[float] = []
        for epoch in range(self.p.epochs):
            for group in optimiser.param_groups:
                group["lr"] = self.p.lr * self._lr_factor(epoch)
            network.train()
            order = torch.randperm(len(targets), generator=batches).to(device)
            total, count = 0.0, 0
            for start in range(0, len(order), self.p.batch_size):
                rows = order[start : start + self.p.batch_size]
                if len(rows) < 2:  # a negative needs another sample (the released masking crashes here)
                    continue
                batch_text = class_text[targets[rows]]
                mi0 = network.mutual_information(pooled[rows], batch_text)
                mi1 = None
                if feature_map is not None:
                    masked = masked_features(feature_map[rows], kept, sampled, frames)
                    mi1 = network.temporal_information(pooled[rows], masked, batch_text)
                loss = smie_loss(mi0, mi1, self.p.margin, self.p.temporal_weight)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total, count = total + loss.item() * len(rows), count + len(rows)
            losses.append(total / max(count, 1))
            if monitor is not None and epoch >= first_selectable:
                network.eval()
                monitor(epoch + 1)
        network.eval()
        self.fit_log = {
            "final_loss": losses[-1], "epochs": self.p.epochs, "track": "main" if temporal else "sota",
            "temporal_segments": {"kept": kept, "sampled": sampled} if temporal else None,
            "first_selectable_epoch": first_selectable + 1,
        }  # fmt: skip
        return self.fit_log

    def fitted_state(self) -> dict[str, Any] | None:
        assert self.network is not None
        return module_state(self.network, self.fit_log)

    def load_fitted_state(self, state: dict[str, Any], train: FeatureSet, text: TextBank) -> dict[str, Any]:
        network = SmieNetwork(train.pooled.shape[1], text.dim, self.p.hidden).to(runtime.device())
        self.network = restored(network, state)
        self.fit_log = dict(state["log"])
        return self.fit_log

    @torch.no_grad()
    def scores(self, features: FeatureSet, text: TextBank) -> torch.Tensor:
        """log-sigmoid of D(v, t_c) for every class c (released: ``-softplus(-D)``)."""
        assert self.network is not None, "fit() first"
        network = self.network.eval()
        device = runtime.device()
        visual = features.pooled.to(device)
        if not self.quirk("test_without_layernorm"):
            visual = network.norm(visual)  # ours: as in training (released get_acc omits it)
        class_text = F.normalize(text.slot(self.p.text_slot), dim=-1).to(device)
        return F.logsigmoid(network.discriminator.pairs(visual, class_text)).cpu()
