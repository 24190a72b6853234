"""DeViSE-style baseline (Frome et al., 2013), as the ZS-SAR literature re-implements it.

A linear map W takes L2-normalised pooled skeleton features into the text space; a class's score is
the cosine between W x and its text embedding, times a fixed scale; training is cross-entropy over
the seen classes. The original DeViSE uses a hinge rank loss; cross-entropy over cosine logits is
the form used as a baseline in ZS-SAR papers and is what zsbench implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from zsbench import runtime
from zsbench.config import bounded
from zsbench.methods.base import FeatureSet, Method, MethodParams
from zsbench.methods.training import EpochMonitor
from zsbench.seeding import seed_everything, torch_generator
from zsbench.text.bank import TextBank


@dataclass
class DeviseParams(MethodParams):
    text_slot: str = "label_global"  # ours: class name + global description sentence
    epochs: int = bounded(60, ge=1)  # ours: fixed budget, no selection on test data
    batch_size: int = bounded(128, ge=1)  # ours
    lr: float = bounded(1e-3, gt=0)  # ours (Adam)
    weight_decay: float = bounded(1e-4, ge=0)  # ours
    logit_scale: float = bounded(10.0, gt=0)  # ours: cosine logits times a fixed scale (temperature 0.1)


class Devise(Method):
    params_type: ClassVar[type[MethodParams]] = DeviseParams
    text_slots: ClassVar[tuple[str, ...]] = ("label_global",)
    paper_quirks: ClassVar[tuple[str, ...]] = ("gzsl_calibration_on_test",)

    def setup(self) -> None:
        self.projection: nn.Linear | None = None

    @property
    def p(self) -> DeviseParams:
        assert isinstance(self.params, DeviseParams)
        return self.params

    def _embed(self, pooled: torch.Tensor) -> torch.Tensor:
        assert self.projection is not None, "fit() first"
        return nn.functional.normalize(self.projection(nn.functional.normalize(pooled, dim=-1)), dim=-1)

    def fit(self, train: FeatureSet, text: TextBank, monitor: EpochMonitor | None = None) -> dict[str, Any]:
        assert train.labels is not None
        seed_everything(self.seed)
        device = runtime.device()
        self.projection = nn.Linear(train.pooled.shape[1], text.dim).to(device)
        class_text = nn.functional.normalize(text.slot(self.p.text_slot), dim=-1).to(device)
        pooled = train.pooled.to(device)
        position = {label: row for row, label in enumerate(text.labels)}
        targets = torch.tensor([position[int(y)] for y in train.labels], dtype=torch.long, device=device)
        optimiser = torch.optim.Adam(self.projection.parameters(), lr=self.p.lr, weight_decay=self.p.weight_decay)
        generator = torch_generator(self.seed, "devise-batches")
        losses = []
        for _ in range(self.p.epochs):
            order = torch.randperm(len(targets), generator=generator).to(device)
            epoch_loss = 0.0
            for start in range(0, len(order), self.p.batch_size):
                rows = order[start : start + self.p.batch_size]
                logits = self.p.logit_scale * self._embed(pooled[rows]) @ class_text.T
                loss = nn.functional.cross_entropy(logits, targets[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                epoch_loss += loss.item() * len(rows)
            losses.append(epoch_loss / len(targets))
            if monitor is not None:
                monitor(len(losses))
        return {"final_loss": losses[-1], "epochs": self.p.epochs}

    @torch.no_grad()
    def scores(self, features: FeatureSet, text: TextBank) -> torch.Tensor:
        device = runtime.device()
        class_text = nn.functional.normalize(text.slot(self.p.text_slot), dim=-1).to(device)
        return (self.p.logit_scale * self._embed(features.pooled.to(device)) @ class_text.T).cpu()
