"""A confidence-aware, class-balanced memory bank of pseudo-labelled test samples, updated a batch at a time.

The released DynaPURLS code (``test_time_utils.py``) pushes samples one by one: a sample whose confidence is
above the threshold τ is appended to its pseudo-class's list while that holds fewer than M entries, and
otherwise replaces the list's lowest-confidence entry if it is strictly more confident. After any stream the
list is therefore, per class, the top M by (confidence desc, insertion order asc) of everything offered so
far, except among exactly tied lowest entries: the released code's ``argmin`` evicts the first-listed one,
this bank evicts the newest (the order above). Only exact float ties can tell the two apart.

That invariant makes a batched update a merge: stored entries plus the batch's candidates, stable-sorted by
(class, confidence desc, insertion order), ranked within their class, cut at rank M. No loop over samples.

Two gradient semantics (``MemoryBank(gradient_dim=...)``):

- stale, faithful: the released code stores each entry's loss with its graph, so an entry contributes the
  gradient at the parameters it was inserted with. The bank takes per-entry gradients at insert, keeps each in
  the entry's slot of a (C·M, P) pool and a running sum (added on insert, subtracted on eviction);
  :meth:`MemoryBank.gradient` is the gradient of the mean stored loss.
- recompute (no gradients stored): the caller re-evaluates the loss of :attr:`MemoryBank.sample_ids` against
  :attr:`MemoryBank.labels` at the current parameters. A deviation from the released code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from zsbench.errors import DataError, UsageError
from zsbench.kernels.sort_keys import float_key

__all__ = ["GradientSource", "MemoryBank"]

# Per-sample gradients of a batch: a (B, P) tensor, or a function from the indices (into the batch) of the
# samples that enter the bank to their (k, P) gradients, so that the caller computes only those.
GradientSource = Tensor | Callable[[Tensor], Tensor]


class MemoryBank:
    """Per class, the top ``capacity`` of the samples offered with confidence above ``threshold``.

    Entries are kept in canonical order: class ascending, then confidence descending, then insertion order
    ascending. With ``allow_duplicates=False`` only the first offer of each sample id counts (the released
    code re-offers a sample at every step when steps > 1; this switch is the fix).
    """

    def __init__(
        self,
        num_classes: int,
        capacity: int,
        threshold: float,
        *,
        gradient_dim: int | None = None,
        allow_duplicates: bool = True,
        device: torch.device | str = "cpu",
        gradient_dtype: torch.dtype = torch.float32,
    ) -> None:
        if num_classes < 1 or capacity < 1:
            raise UsageError(f"a memory bank needs num_classes >= 1 and capacity >= 1, got {num_classes}, {capacity}")
        if gradient_dim is not None and gradient_dim < 1:
            raise UsageError(f"gradient_dim must be positive, got {gradient_dim}")
        self.num_classes = num_classes
        self.capacity = capacity
        self.threshold = threshold
        self.allow_duplicates = allow_duplicates
        self.device = torch.device(device)
        self._labels = self._empty_long()
        self._confidences = torch.empty(0, dtype=torch.float64, device=self.device)
        self._sample_ids = self._empty_long()
        self._sequence = self._empty_long()
        self._slots = self._empty_long()
        self._offered = self._empty_long()  # sorted ids already offered (only without duplicates)
        self._next_sequence = 0
        self._gradients: Tensor | None = None
        self._gradient_sum: Tensor | None = None
        if gradient_dim is not None:
            self._gradients = torch.zeros(
                num_classes * capacity, gradient_dim, dtype=gradient_dtype, device=self.device
            )
            self._gradient_sum = torch.zeros(gradient_dim, dtype=gradient_dtype, device=self.device)

    def _empty_long(self) -> Tensor:
        return torch.empty(0, dtype=torch.int64, device=self.device)

    @classmethod
    def from_all(
        cls,
        pseudo_labels: Tensor,
        confidences: Tensor,
        sample_ids: Tensor,
        capacity: int,
        threshold: float,
        *,
        num_classes: int | None = None,
    ) -> MemoryBank:
        """The offline bank: per class the top ``capacity`` by (confidence desc, sample id asc).

        Independent of the order in which the samples are listed (sample ids must be distinct).
        """
        if num_classes is None:
            num_classes = int(pseudo_labels.max()) + 1 if pseudo_labels.numel() else 1
        bank = cls(num_classes, capacity, threshold, device=pseudo_labels.device)
        labels, confidences, sample_ids, _ = bank._check(pseudo_labels, confidences, sample_ids, None)
        offered = (confidences > threshold).nonzero().squeeze(1)
        offered = offered[torch.sort(sample_ids[offered], stable=True).indices]
        ids = sample_ids[offered]
        # Sample ids play the part of the insertion order, so that ties go to the lower id.
        bank._merge(labels[offered], confidences[offered], ids, ids, None, None)
        bank._next_sequence = int(ids.max()) + 1 if ids.numel() else 0
        return bank

    @property
    def stale(self) -> bool:
        """True when the bank stores per-entry gradients (stale semantics)."""
        return self._gradients is not None

    def __len__(self) -> int:
        return int(self._labels.numel())

    @property
    def labels(self) -> Tensor:
        """Pseudo-labels of the stored entries, (L,) int64, in canonical order."""
        return self._labels

    @property
    def confidences(self) -> Tensor:
        """Confidences of the stored entries, (L,) float64."""
        return self._confidences

    @property
    def sample_ids(self) -> Tensor:
        """Sample ids of the stored entries, (L,) int64."""
        return self._sample_ids

    @property
    def insertion_order(self) -> Tensor:
        """Insertion sequence numbers of the stored entries (sample ids for a bank built by ``from_all``)."""
        return self._sequence

    def counts(self) -> Tensor:
        """Entries per class, (C,) int64."""
        return torch.bincount(self._labels, minlength=self.num_classes)

    def gradient(self) -> Tensor:
        """Mean of the stored per-entry gradients: the gradient of the mean stored loss (stale semantics)."""
        if self._gradient_sum is None:
            raise UsageError("this memory bank stores no gradients; create it with gradient_dim=P")
        if not len(self):
            raise UsageError("the memory bank is empty")
        return self._gradient_sum / len(self)

    def insert(
        self,
        pseudo_labels: Tensor,
        confidences: Tensor,
        sample_ids: Tensor,
        gradients: GradientSource | None = None,
    ) -> int:
        """Offer a batch, in stream order; returns how many of its samples are in the bank afterwards.

        Equivalent to offering the samples one at a time. ``gradients`` are the per-sample gradients of each
        sample's loss, (B, P) or a :data:`GradientSource` function, required by (and only by) a stale bank.
        Sample ids within one call must be distinct when duplicates are not allowed.
        """
        labels, confidences, sample_ids, gradients = self._check(pseudo_labels, confidences, sample_ids, gradients)
        keep = confidences > self.threshold
        if not self.allow_duplicates:
            if torch.unique(sample_ids).numel() != sample_ids.numel():
                raise UsageError("sample ids within one insert must be distinct when duplicates are not allowed")
            keep &= ~torch.isin(sample_ids, self._offered)
            self._offered = torch.unique(torch.cat([self._offered, sample_ids[keep]]))
        offered = keep.nonzero().squeeze(1)
        sequence = torch.arange(offered.numel(), device=self.device) + self._next_sequence
        self._next_sequence += int(offered.numel())
        return self._merge(labels[offered], confidences[offered], sample_ids[offered], sequence, gradients, offered)

    def _check(
        self, labels: Tensor, confidences: Tensor, sample_ids: Tensor, gradients: GradientSource | None
    ) -> tuple[Tensor, Tensor, Tensor, GradientSource | None]:
        if labels.ndim != 1 or confidences.shape != labels.shape or sample_ids.shape != labels.shape:
            raise DataError(
                "pseudo_labels, confidences and sample_ids must be 1-D of one length, got "
                f"{tuple(labels.shape)}, {tuple(confidences.shape)}, {tuple(sample_ids.shape)}"
            )
        if (gradients is None) != (self._gradients is None):
            raise UsageError("a stale bank (gradient_dim set) needs per-sample gradients, and only it takes them")
        if (
            isinstance(gradients, Tensor)
            and self._gradients is not None
            and gradients.shape != (labels.numel(), self._gradients.shape[1])
        ):
            raise DataError(
                f"gradients must be (B, P) = ({labels.numel()}, {self._gradients.shape[1]}), "
                f"got {tuple(gradients.shape)}"
            )
        return (
            labels.to(self.device, torch.int64),
            confidences.to(self.device, torch.float64),
            sample_ids.to(self.device, torch.int64),
            gradients,
        )

    def _merge(
        self,
        labels: Tensor,
        confidences: Tensor,
        sample_ids: Tensor,
        sequence: Tensor,
        gradients: GradientSource | None,
        gradient_rows: Tensor | None,
    ) -> int:
        """Merge candidates listed in ascending insertion order (all after the stored entries); returns kept.

        Candidate i's gradient is row ``gradient_rows[i]`` of ``gradients``, read only if it enters the bank.
        """
        stored = len(self)
        if not labels.numel():
            return 0
        if int(labels.min()) < 0:
            raise DataError(f"pseudo-labels must lie in [0, {self.num_classes})")
        all_labels = torch.cat([self._labels, labels])
        all_confidences = torch.cat([self._confidences, confidences])
        # Stored entries come first and in canonical order, candidates after them in insertion order, so among
        # equal (class, confidence) the list is already in insertion order and two stable sorts finish the job.
        order = torch.sort(~float_key(all_confidences), stable=True).indices  # ~key: descending
        sorted_labels, by_class = torch.sort(all_labels[order], stable=True)
        order = order[by_class]
        per_class = torch.bincount(sorted_labels, minlength=self.num_classes)
        if per_class.numel() > self.num_classes:
            raise DataError(f"pseudo-labels must lie in [0, {self.num_classes})")
        class_start = torch.cumsum(per_class, 0) - per_class
        rank = torch.arange(order.numel(), device=self.device) - class_start[sorted_labels]
        kept = order[rank < self.capacity]
        new_kept = kept[kept >= stored]
        if not new_kept.numel():
            return 0  # only an incoming entry evicts, so the bank is unchanged
        if self._gradients is not None:
            assert gradients is not None and gradient_rows is not None
            self._slots = self._store_gradients(
                kept, new_kept, gradients, gradient_rows[new_kept - stored], labels.numel()
            )
        self._labels = all_labels[kept]
        self._confidences = all_confidences[kept]
        self._sample_ids = torch.cat([self._sample_ids, sample_ids])[kept]
        self._sequence = torch.cat([self._sequence, sequence])[kept]
        return int(new_kept.numel())

    def _store_gradients(
        self, kept: Tensor, new_kept: Tensor, gradients: GradientSource, rows: Tensor, candidates: int
    ) -> Tensor:
        """Move the incoming gradients into free slots (the evicted ones' among them); returns the kept's slots.

        ``kept`` indexes the stored entries then the ``candidates``; ``new_kept`` are the candidates among them,
        whose gradients are ``rows`` of ``gradients``.
        """
        assert self._gradients is not None and self._gradient_sum is not None
        stored = len(self)
        survives = torch.zeros(stored, dtype=torch.bool, device=self.device)
        survives[kept[kept < stored]] = True
        used = torch.zeros(self._gradients.shape[0], dtype=torch.bool, device=self.device)
        used[self._slots[survives]] = True
        free = (~used).nonzero().squeeze(1)[: new_kept.numel()]
        incoming = (gradients[rows] if isinstance(gradients, Tensor) else gradients(rows)).to(self._gradients)
        if incoming.shape != (rows.numel(), self._gradients.shape[1]):
            raise DataError(f"gradients must have {self._gradients.shape[1]} columns, got {tuple(incoming.shape)}")
        # Subtract the evicted before their slots are overwritten by the incoming.
        self._gradient_sum -= self._gradients[self._slots[~survives]].sum(0)
        self._gradient_sum += incoming.sum(0)
        self._gradients[free] = incoming
        slots = torch.cat([self._slots, torch.full((candidates,), -1, device=self.device)])
        slots[new_kept] = free
        return slots[kept]
