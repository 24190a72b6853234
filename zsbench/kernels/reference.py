"""Plain reference implementations of the kernels, written for clarity: the oracle of the tests and the baseline
of ``zsbench bench refine``. Loops over samples and classes, one step at a time, as the definitions read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from zsbench.kernels.refine import Mode, RefineConfig, Semantics

__all__ = [
    "ReferenceEntry",
    "ReferenceMemoryBank",
    "reference_fused_scores",
    "reference_prototypes",
    "reference_refine_text",
]


def reference_fused_scores(features: Tensor, text: Tensor, temperature: float = 1.0) -> dict[str, Tensor]:
    """logits, probs, confidence, entropy and prediction, sample by sample and class by class."""
    slots = text.unsqueeze(1) if text.ndim == 2 else text
    num_samples, num_classes, num_slots = features.shape[0], slots.shape[0], slots.shape[1]
    rows: dict[str, list] = {"logits": [], "probs": [], "confidence": [], "entropy": [], "prediction": []}
    for n in range(num_samples):
        logits = []
        for c in range(num_classes):
            total = sum(float(torch.dot(features[n], slots[c, s])) for s in range(num_slots))
            logits.append(total / num_slots / temperature)
        largest = max(logits)
        exps = [math.exp(x - largest) for x in logits]
        normaliser = sum(exps)
        probs = [e / normaliser for e in exps]
        rows["logits"].append(logits)
        rows["probs"].append(probs)
        rows["confidence"].append(max(probs))
        rows["entropy"].append(-sum(p * math.log(p) for p in probs if p > 0))
        rows["prediction"].append(logits.index(largest))
    out = {name: torch.tensor(values, dtype=torch.float64) for name, values in rows.items()}
    out["prediction"] = out["prediction"].to(torch.int64)
    return out


@dataclass
class ReferenceEntry:
    confidence: float
    sequence: int
    sample_id: int
    gradient: Tensor | None = None
    loss: Tensor | None = None  # a loss that keeps its graph, as the released code stores it


class ReferenceMemoryBank:
    """Per-class lists filled one sample at a time, as the released code does.

    ``evict="newest"`` removes, among exactly tied lowest-confidence entries, the newest (this is the top-M
    by confidence desc, insertion order asc, which :class:`MemoryBank` keeps); ``"first_listed"`` removes the
    first in the list, as the released code's ``argmin`` does.
    """

    def __init__(
        self,
        num_classes: int,
        capacity: int,
        threshold: float,
        *,
        allow_duplicates: bool = True,
        evict: Literal["newest", "first_listed"] = "newest",
    ) -> None:
        self.classes: list[list[ReferenceEntry]] = [[] for _ in range(num_classes)]
        self.capacity = capacity
        self.threshold = threshold
        self.allow_duplicates = allow_duplicates
        self.evict = evict
        self.offered: set[int] = set()
        self.next_sequence = 0

    @classmethod
    def from_all(
        cls,
        pseudo_labels: Tensor,
        confidences: Tensor,
        sample_ids: Tensor,
        capacity: int,
        threshold: float,
        num_classes: int,
    ) -> ReferenceMemoryBank:
        """Per class, the top ``capacity`` by (confidence desc, sample id asc)."""
        bank = cls(num_classes, capacity, threshold)
        for i in range(len(pseudo_labels)):
            if float(confidences[i]) > threshold:
                entry = ReferenceEntry(float(confidences[i]), int(sample_ids[i]), int(sample_ids[i]))
                bank.classes[int(pseudo_labels[i])].append(entry)
        for c, members in enumerate(bank.classes):
            members.sort(key=lambda entry: (-entry.confidence, entry.sample_id))
            bank.classes[c] = members[:capacity]
        return bank

    def insert(
        self,
        pseudo_labels: Tensor,
        confidences: Tensor,
        sample_ids: Tensor,
        gradients: Tensor | None = None,
        losses: Tensor | Sequence[Tensor] | None = None,
    ) -> None:
        for i in range(len(pseudo_labels)):
            self.insert_one(
                int(pseudo_labels[i]),
                float(confidences[i]),
                int(sample_ids[i]),
                gradient=None if gradients is None else gradients[i],
                loss=None if losses is None else losses[i],
            )

    def insert_one(
        self, label: int, confidence: float, sample_id: int, gradient: Tensor | None = None, loss: Tensor | None = None
    ) -> None:
        if not confidence > self.threshold:
            return
        if not self.allow_duplicates:
            if sample_id in self.offered:
                return
            self.offered.add(sample_id)
        sequence = self.next_sequence
        self.next_sequence += 1
        bank = self.classes[label]
        if len(bank) < self.capacity:
            bank.append(self._entry(confidence, sequence, sample_id, gradient, loss))
            return
        if self.evict == "first_listed":
            lowest = min(range(len(bank)), key=lambda j: bank[j].confidence)
        else:
            lowest = min(range(len(bank)), key=lambda j: (bank[j].confidence, -bank[j].sequence))
        if confidence > bank[lowest].confidence:
            bank[lowest] = self._entry(confidence, sequence, sample_id, gradient, loss)

    @staticmethod
    def _entry(
        confidence: float, sequence: int, sample_id: int, gradient: Tensor | None, loss: Tensor | None
    ) -> ReferenceEntry:
        owned = None if gradient is None else gradient.clone()  # the caller may reuse its buffer
        return ReferenceEntry(confidence, sequence, sample_id, owned, loss)

    def entries(self) -> list[tuple[int, ReferenceEntry]]:
        """(label, entry) pairs in canonical order: class, confidence desc, insertion order."""
        return [
            (c, entry)
            for c, bank in enumerate(self.classes)
            for entry in sorted(bank, key=lambda e: (-e.confidence, e.sequence))
        ]

    def __len__(self) -> int:
        return sum(len(bank) for bank in self.classes)

    def gradient(self) -> Tensor:
        """The mean of the stored gradients."""
        stored = [entry.gradient for _, entry in self.entries() if entry.gradient is not None]
        total = stored[0].clone()
        for gradient in stored[1:]:
            total += gradient
        return total / len(stored)


def reference_prototypes(features: Tensor, entropy: Tensor, pseudo_labels: Tensor, text: Tensor, rho: float) -> Tensor:
    """Per class, the mean of the floor(rho·n_c) lowest-entropy members (index breaks ties), else the text."""
    members: list[list[int]] = [[] for _ in range(text.shape[0])]
    for i in range(features.shape[0]):
        members[int(pseudo_labels[i])].append(i)
    out = []
    for c, indices in enumerate(members):
        ranked = sorted(indices, key=lambda i: (float(entropy[i]), i))
        take = math.floor(rho * len(ranked))
        if take < 1:
            out.append(text[c].to(features.dtype))
            continue
        total = torch.zeros_like(features[0])
        for i in ranked[:take]:
            total += features[i]
        out.append(total / take)
    return torch.stack(out)


def reference_refine_text(
    features: Tensor,
    text: Tensor,
    config: RefineConfig,
    mode: Mode,
    semantics: Semantics,
    order: Sequence[int] | Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(refined text, final scores), refining as the released code does, stale losses kept with their graphs.

    ``order`` is the online stream order (the permutation :func:`zsbench.kernels.refine.refine_text` logs).
    """
    features = features.to(text.dtype)
    slot = config.global_slot % text.shape[1]
    scale = torch.ones_like(text, requires_grad=True)
    shift = torch.zeros_like(text, requires_grad=True)
    optimiser = torch.optim.Adam([scale, shift], lr=config.lr, weight_decay=config.weight_decay)

    def new_schedule() -> torch.optim.lr_scheduler.CosineAnnealingLR:
        optimiser.param_groups[0]["lr"] = config.lr
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimiser, T_max=config.steps, eta_min=config.eta_min_ratio * config.lr
        )

    schedule = new_schedule()

    def classifier() -> Tensor:
        return F.normalize(scale[:, slot] * text[:, slot] + shift[:, slot], dim=-1)

    def update(bank: ReferenceMemoryBank) -> None:
        optimiser.zero_grad()
        losses: list[Tensor] = []
        for label, entry in bank.entries():
            if semantics == "stale":
                assert entry.loss is not None
                losses.append(entry.loss)
            else:
                logits = features[entry.sample_id] @ classifier().T
                losses.append(F.cross_entropy(logits.unsqueeze(0), torch.tensor([label])))
        # Stale losses still hold the graphs of earlier updates, which later updates traverse again.
        torch.stack(losses).mean().backward(retain_graph=True)
        optimiser.step()
        schedule.step()

    num_samples = features.shape[0]
    scores = torch.zeros(num_samples, text.shape[0], dtype=features.dtype)
    if mode == "offline":
        with torch.no_grad():
            initial = reference_fused_scores(features, classifier())
        bank = ReferenceMemoryBank.from_all(
            initial["prediction"],
            initial["confidence"],
            torch.arange(num_samples),
            config.memory,
            config.threshold,
            text.shape[0],
        )
        if len(bank) >= 2:
            for _ in range(config.steps):
                update(bank)
        with torch.no_grad():
            final = classifier()
            for n in range(num_samples):
                scores[n] = reference_fused_scores(features[n : n + 1], final)["logits"][0]
        return F.normalize(scale * text + shift, dim=-1).detach(), scores

    stream = list(range(num_samples)) if order is None else [int(i) for i in order]
    bank = ReferenceMemoryBank(text.shape[0], config.memory, config.threshold, allow_duplicates=config.allow_duplicates)
    for start in range(0, num_samples, config.batch_size):
        rows = stream[start : start + config.batch_size]
        if config.reset_schedule_per_batch and start:
            schedule = new_schedule()
        for _ in range(config.steps):
            with torch.no_grad():
                pass_a = reference_fused_scores(features[rows], classifier())
            confident = [j for j in range(len(rows)) if float(pass_a["confidence"][j]) > config.threshold]
            if len(confident) < config.min_confident:
                continue  # the released loop skips the push and the optimiser step together
            labels = [int(pass_a["prediction"][j]) for j in confident]
            # Pass B: one forward with grad over the confident samples, per-sample losses kept with the graph.
            logits = features[[rows[j] for j in confident]] @ classifier().T
            losses = F.cross_entropy(logits, torch.tensor(labels), reduction="none")
            for k, j in enumerate(confident):
                bank.insert_one(labels[k], float(pass_a["confidence"][j]), rows[j], loss=losses[k])
            if len(bank) >= 2:
                update(bank)
        with torch.no_grad():
            final = classifier()
            for row in rows:
                scores[row] = reference_fused_scores(features[row : row + 1], final)["logits"][0]
    return F.normalize(scale * text + shift, dim=-1).detach(), scores
