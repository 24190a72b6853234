"""DynaPURLS test-time text refinement, batched over classes and samples.

Parameters are an elementwise scale (init 1) and shift (init 0) of the class text, both (C, S, D); the
refined text is normalise(scale·text + shift) per slot. How samples are scored with refined text is a
:class:`TextScorer`: :class:`LinearScorer` scores fixed features against the global slot (``features ·
refined[c, global]``, a dot product, no temperature); DynaPURLS's model scorer also pools its tokens with the
refined text as the attention query. See ``reference/seed-methods-code.md`` §1 for the released code.

Online mode streams the test set as the released code does; offline mode is our order- and batch-size-
invariant variant. Stale vs recompute gradients: see :mod:`zsbench.kernels.memory_bank`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from zsbench.errors import DataError, UsageError
from zsbench.kernels.memory_bank import GradientSource, MemoryBank
from zsbench.kernels.scoring import ScoreStats, fused_scores
from zsbench.seeding import torch_generator

__all__ = [
    "FUNCTION_DEFAULTS",
    "RELEASED",
    "LinearScorer",
    "Mode",
    "RefineConfig",
    "RefineLog",
    "RefineResult",
    "Semantics",
    "TextScorer",
    "refine_text",
    "refine_with",
    "stream_order",
]

Mode = Literal["online", "offline"]
Semantics = Literal["stale", "recompute"]


@dataclass(frozen=True)
class RefineConfig:
    """Refinement hyper-parameters. Defaults are the released values (test.py); sources in the comments."""

    lr: float = 1e-2  # released test.py 1e-2; test_time_utils.py function default 1e-3
    memory: int = 16  # M, entries per class; released 16, function default 256
    threshold: float = 0.1  # τ on the max softmax probability; released 0.1, function default 0.5
    steps: int = 1  # updates per batch (online) or in all (offline); released 1, function default 20
    batch_size: int = 256  # released test loader, shuffled
    weight_decay: float = 1e-3  # Adam's coupled L2, released and function default
    eta_min_ratio: float = 0.1  # CosineAnnealingLR(T_max=steps, eta_min=0.1·lr), released and function default
    global_slot: int = -1  # slot that scores; released slot order: head, hands, torso, legs, start, middle, end, global
    reset_schedule_per_batch: bool = False  # released: never reset, so with steps=1 the LR alternates lr, 0.1·lr, ...
    allow_duplicates: bool = True  # released: True, a sample is re-offered to the bank at every step when steps > 1
    min_confident: int = 2  # released: a pass with fewer confident samples pushes nothing and takes no step

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be positive, got {value}"
            for name, value in (("lr", self.lr), ("memory", self.memory), ("steps", self.steps))
            if not value > 0
        ]
        if self.batch_size < 1:
            problems.append(f"batch_size must be positive, got {self.batch_size}")
        if self.weight_decay < 0 or not 0 <= self.eta_min_ratio <= 1:
            problems.append("weight_decay must be >= 0 and eta_min_ratio in [0, 1]")
        if problems:
            raise UsageError("; ".join(problems))


RELEASED = RefineConfig()
FUNCTION_DEFAULTS = RefineConfig(lr=1e-3, memory=256, threshold=0.5, steps=20)


@dataclass(frozen=True)
class RefineLog:
    """What happened during a refinement, for the run record."""

    permutation: Tensor | None  # online: sample indices in stream order; offline: None
    confident: tuple[int, ...]  # confident samples at each scoring pass (offline: the one initial pass)
    learning_rates: tuple[float, ...]  # LR of each Adam step
    bank_sizes: tuple[int, ...]  # bank entries at each Adam step


@dataclass(frozen=True)
class RefineResult:
    text: Tensor  # (C, S, D) refined text, unit norm per slot
    scores: Tensor  # (N, C) final class scores, in the order of the input samples
    log: RefineLog


def stream_order(num_samples: int, seed: int) -> Tensor:
    """The online stream order (a permutation of the sample indices) for ``seed``."""
    return torch.randperm(num_samples, generator=torch_generator(seed, "refine", "stream"))


class TextScorer(ABC):
    """How a refinement scores samples, named by row, with the refined text (C, S, D), unit norm per slot.

    ``slots`` lists the slots the scores depend on (None: all); a stale bank stores gradients for those only.
    """

    num_samples: int
    slots: tuple[int, ...] | None = None

    @abstractmethod
    def scores(self, rows: Tensor, text: Tensor) -> Tensor:
        """(B, C) logits of the samples ``rows``, differentiable in ``text``."""

    def stats(self, rows: Tensor, text: Tensor) -> ScoreStats:
        """Softmax statistics of :meth:`scores` (no gradient)."""
        logits = self.scores(rows, text)
        log_probs = torch.log_softmax(logits, dim=1)
        probs = log_probs.exp()
        return ScoreStats(logits, probs, probs.amax(dim=1), -(probs * log_probs).sum(dim=1), logits.argmax(dim=1))

    def losses(self, rows: Tensor, text: Tensor, labels: Tensor) -> Tensor:
        """(B,) cross-entropy of each sample against its pseudo-label, differentiable in ``text``."""
        return F.cross_entropy(self.scores(rows, text), labels, reduction="none")

    def entry_gradients(self, rows: Tensor, raw_text: Tensor, labels: Tensor, entering: Tensor) -> Tensor:
        """(k, C·|slots|·D): d loss / d raw text of the ``entering`` samples (indices into ``rows``).

        The losses come from one pass over all of ``rows`` (so a batch-coupled model, e.g. BatchNorm in
        training mode, couples them as the released code's stored graphs do); ``raw_text`` is scale·text + shift.
        """
        raw = raw_text.detach().requires_grad_(True)
        losses = self.losses(rows, F.normalize(raw, dim=-1), labels)
        gradients = [
            self._slot_view(torch.autograd.grad(losses[i], raw, retain_graph=True)[0]).reshape(-1)
            for i in entering.tolist()
        ]
        return torch.stack(gradients) if gradients else raw.new_zeros(0, self._slot_view(raw).numel())

    def _slot_view(self, tensor: Tensor) -> Tensor:
        return tensor if self.slots is None else tensor[:, list(self.slots)]


class LinearScorer(TextScorer):
    """Fixed features (N, D) scored against the global slot: ``features · refined[c, slot]``."""

    def __init__(self, features: Tensor, slot: int) -> None:
        self.features = features
        self.num_samples = features.shape[0]
        self.slot = slot
        self.slots = (slot,)

    def scores(self, rows: Tensor, text: Tensor) -> Tensor:
        return self.features[rows] @ text[:, self.slot].T

    def stats(self, rows: Tensor, text: Tensor) -> ScoreStats:
        return fused_scores(self.features[rows], text[:, self.slot])

    def entry_gradients(self, rows: Tensor, raw_text: Tensor, labels: Tensor, entering: Tensor) -> Tensor:
        picked = rows[entering]
        return _per_sample_gradients(raw_text[:, self.slot].detach(), self.features[picked], labels[entering])


def refine_text(
    features: Tensor,
    text: Tensor,
    config: RefineConfig = RELEASED,
    mode: Mode = "online",
    semantics: Semantics = "stale",
    seed: int = 0,
    *,
    sample_ids: Tensor | None = None,
    frozen: Tensor | None = None,
) -> RefineResult:
    """Refine the (C, S, D) class text on N unlabelled test features (N, D); returns the text and final scores.

    Fixed features scored against the global slot (:class:`LinearScorer`); see :func:`refine_with`.
    """
    _check(features, text, config, mode, semantics)
    scorer = LinearScorer(features.to(text.dtype), config.global_slot % text.shape[1])
    return refine_with(scorer, text, config, mode, semantics, seed, sample_ids=sample_ids, frozen=frozen)


def refine_with(
    scorer: TextScorer,
    text: Tensor,
    config: RefineConfig = RELEASED,
    mode: Mode = "online",
    semantics: Semantics = "stale",
    seed: int = 0,
    *,
    sample_ids: Tensor | None = None,
    frozen: Tensor | None = None,
) -> RefineResult:
    """Refine the (C, S, D) class text on the scorer's N unlabelled samples; returns the text and final scores.

    online: batches in the order :func:`stream_order` gives; per batch, ``steps`` times: score with the current
    text; when at least ``min_confident`` samples are confident (max prob > τ), offer them to the bank with their
    pseudo-labels and take one Adam step on the bank when it holds >= 2 entries (otherwise the pass does
    nothing, as the released loop ``continue``s); then score the batch with the updated text.
    offline (needs ``semantics="recompute"``): pseudo-labels and confidences from the initial text for all
    samples, the bank built by :meth:`MemoryBank.from_all` (ties to the lower sample id), ``steps`` Adam steps
    on the whole bank, every sample scored with the final text. ``sample_ids`` (default 0..N-1, distinct)
    name the samples for that tie-break, so that a permuted input gives the same result (online ignores them:
    its ties go by insertion order). ``frozen`` (C,) bool marks classes whose text is not refined: the
    result is that of parameters for the other classes only (Adam is elementwise, so the frozen rows are
    reset after every step), and a sample whose pseudo-label is a frozen class does not enter the bank. They
    still compete in every softmax; ``min_confident`` and the logged counts then count the samples offered to the
    bank. With every class of a GZSL score but the novel ones frozen, this is the released refinement (whose
    pseudo-labels are all unseen classes) carried over to GZSL.
    """
    _check_options(text, config, mode, semantics)
    if frozen is not None and frozen.shape != text.shape[:1]:
        raise DataError(f"frozen must be one flag per class, ({text.shape[0]},); got {tuple(frozen.shape)}")
    refiner = _Refiner(scorer, text, config, frozen)
    if mode == "offline":
        ids = torch.arange(scorer.num_samples, device=text.device) if sample_ids is None else sample_ids
        if ids.shape != (scorer.num_samples,) or torch.unique(ids).numel() != ids.numel():
            raise DataError("sample_ids must be (N,) and distinct")
        return refiner.offline(ids.to(text.device))
    return refiner.online(stale=semantics == "stale", seed=seed)


def _check_options(text: Tensor, config: RefineConfig, mode: str, semantics: str) -> None:
    if mode not in ("online", "offline") or semantics not in ("stale", "recompute"):
        raise UsageError(f"mode must be online|offline and semantics stale|recompute, got {mode!r}, {semantics!r}")
    if mode == "offline" and semantics == "stale":
        raise UsageError("offline refinement re-evaluates the whole bank at every step: use semantics='recompute'")
    if text.ndim != 3:
        raise DataError(f"text must be (C, S, D), got {tuple(text.shape)}")
    if not -text.shape[1] <= config.global_slot < text.shape[1]:
        raise UsageError(f"global_slot {config.global_slot} is out of range for {text.shape[1]} slots")


def _check(features: Tensor, text: Tensor, config: RefineConfig, mode: str, semantics: str) -> None:
    _check_options(text, config, mode, semantics)
    if features.ndim != 2 or features.shape[1] != text.shape[2]:
        raise DataError(
            f"text must be (C, S, D) and features (N, D) with one D, got {tuple(text.shape)}, {tuple(features.shape)}"
        )


class _Refiner:
    """The parameters, optimiser and schedule of one refinement."""

    def __init__(self, scorer: TextScorer, text: Tensor, config: RefineConfig, frozen: Tensor | None = None) -> None:
        self.scorer = scorer
        self.frozen = None if frozen is None else frozen.to(device=text.device, dtype=torch.bool)
        self.text = text
        self.config = config
        self.slots = list(range(text.shape[1])) if scorer.slots is None else list(scorer.slots)
        self.scale = torch.ones_like(text, requires_grad=True)
        self.shift = torch.zeros_like(text, requires_grad=True)
        self.optimiser = torch.optim.Adam([self.scale, self.shift], lr=config.lr, weight_decay=config.weight_decay)
        self.schedule = self._new_schedule()
        self._current: Tensor | None = None
        self.confident: list[int] = []
        self.learning_rates: list[float] = []
        self.bank_sizes: list[int] = []

    def _new_schedule(self) -> torch.optim.lr_scheduler.CosineAnnealingLR:
        for group in self.optimiser.param_groups:
            group["lr"] = self.config.lr
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimiser, T_max=self.config.steps, eta_min=self.config.eta_min_ratio * self.config.lr
        )

    def raw_text(self) -> Tensor:
        """u = scale·text + shift, (C, S, D), before the per-slot normalisation."""
        return self.scale * self.text + self.shift

    def current(self) -> Tensor:
        """The refined text the scorer reads, unit norm per slot; cached until the next Adam step.

        Only the scorer's slots are refined here (the others keep the input text, which the scorer does not
        read); :meth:`refined` gives every slot.
        """
        if self._current is None:
            with torch.no_grad():
                if len(self.slots) == self.text.shape[1]:
                    self._current = F.normalize(self.raw_text(), dim=-1)
                else:
                    self._current = self.text.clone()
                    slots = self.slots
                    raw = self.scale[:, slots] * self.text[:, slots] + self.shift[:, slots]
                    self._current[:, slots] = F.normalize(raw, dim=-1)
        return self._current

    def refined(self) -> Tensor:
        with torch.no_grad():
            return F.normalize(self.raw_text(), dim=-1)

    def step(self, bank: MemoryBank, positions: Tensor | None) -> None:
        """One Adam step on the mean bank loss: stored stale gradients, or recomputed for samples ``positions``."""
        self.learning_rates.append(float(self.optimiser.param_groups[0]["lr"]))
        self.bank_sizes.append(len(bank))
        self.optimiser.zero_grad()
        if positions is None:
            # d/dscale = text ⊙ d/du and d/dshift = d/du, so the bank stores d/du of the scored slots only
            # (other slots get zero gradient, plus Adam's weight decay, as in the released 'g' mode).
            picked = self.text[:, self.slots]
            gradient = bank.gradient().view_as(picked)
            self.scale.grad = torch.zeros_like(self.scale)
            self.shift.grad = torch.zeros_like(self.shift)
            self.scale.grad[:, self.slots] = gradient * picked
            self.shift.grad[:, self.slots] = gradient
        else:
            self.scorer.losses(positions, F.normalize(self.raw_text(), dim=-1), bank.labels).mean().backward()
        self.optimiser.step()
        if self.frozen is not None:
            with torch.no_grad():
                self.scale[self.frozen] = 1.0
                self.shift[self.frozen] = 0.0
        self._current = None
        self.schedule.step()

    def _gradient_source(self, rows: Tensor, labels: Tensor) -> GradientSource:
        """Per-sample gradients at the current parameters, computed only for the samples that enter the bank."""
        raw = self.raw_text().detach()

        def entering(picked: Tensor) -> Tensor:
            return self.scorer.entry_gradients(rows, raw, labels, picked)

        return entering

    def offered(self, stats: ScoreStats) -> Tensor:
        """Each sample's confidence as the bank sees it: -inf for a sample pseudo-labelled as a frozen class."""
        if self.frozen is None:
            return stats.confidence
        return stats.confidence.masked_fill(self.frozen[stats.prediction], float("-inf"))

    def result(self, scores: Tensor, permutation: Tensor | None) -> RefineResult:
        log = RefineLog(permutation, tuple(self.confident), tuple(self.learning_rates), tuple(self.bank_sizes))
        return RefineResult(self.refined(), scores, log)

    def online(self, *, stale: bool, seed: int) -> RefineResult:
        config = self.config
        num_classes, _, dim = self.text.shape
        device = self.text.device
        order = stream_order(self.scorer.num_samples, seed).to(device)
        bank = MemoryBank(
            num_classes,
            config.memory,
            config.threshold,
            gradient_dim=num_classes * len(self.slots) * dim if stale else None,
            allow_duplicates=config.allow_duplicates,
            device=device,
            gradient_dtype=self.text.dtype,
        )
        # Samples are offered under their row index (online ties go by insertion order, not by id).
        scores = torch.empty(self.scorer.num_samples, num_classes, dtype=self.text.dtype, device=device)
        for start in range(0, self.scorer.num_samples, config.batch_size):
            rows = order[start : start + config.batch_size]
            if config.reset_schedule_per_batch and start:
                self.schedule = self._new_schedule()
            for _ in range(config.steps):
                with torch.no_grad():
                    stats = self.scorer.stats(rows, self.current())
                confident = (self.offered(stats) > config.threshold).nonzero().squeeze(1)
                self.confident.append(int(confident.numel()))
                if confident.numel() < config.min_confident:
                    continue  # released: no push, no Adam step, no schedule step for this pass
                labels = stats.prediction[confident]
                gradients = self._gradient_source(rows[confident], labels) if stale else None
                bank.insert(labels, stats.confidence[confident], rows[confident], gradients)
                if len(bank) >= 2:
                    self.step(bank, None if stale else bank.sample_ids)
            with torch.no_grad():
                scores[rows] = self.scorer.scores(rows, self.current()).to(scores.dtype)
        return self.result(scores, order)

    def offline(self, sample_ids: Tensor) -> RefineResult:
        config = self.config
        everything = torch.arange(self.scorer.num_samples, device=self.text.device)
        with torch.no_grad():
            stats = self.scorer.stats(everything, self.current())
        offered = self.offered(stats)
        self.confident.append(int((offered > config.threshold).sum()))
        bank = MemoryBank.from_all(
            stats.prediction,
            offered,
            sample_ids,
            config.memory,
            config.threshold,
            num_classes=self.text.shape[0],
        )
        by_id = torch.argsort(sample_ids)
        positions = by_id[torch.searchsorted(sample_ids[by_id], bank.sample_ids)]
        if len(bank) >= 2:
            for _ in range(config.steps):
                self.step(bank, positions)
        with torch.no_grad():
            scores = self.scorer.scores(everything, self.current())
        return self.result(scores, None)


def _per_sample_gradients(global_text: Tensor, features: Tensor, labels: Tensor) -> Tensor:
    """(B, C·D): for each sample, d CE(features · normalise(u)ᵀ, label) / du at u = ``global_text``."""

    def loss(u: Tensor, feature: Tensor, label: Tensor) -> Tensor:
        logits = F.normalize(u, dim=-1) @ feature
        return F.cross_entropy(logits.unsqueeze(0), label.unsqueeze(0))

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(global_text, features, labels)
    return per_sample.reshape(features.shape[0], global_text.numel())
