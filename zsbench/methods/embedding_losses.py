"""Loss terms of the synse-zsl release's ReViSE and JPoSE baselines (reference: baselines-code.md §1, §2).

Written from what the released ``revise/ReViSE.py`` and ``jpose/alignment_module.py`` compute:
the multi-class hinge against every seen class, the Gaussian-kernel MMD between two batches of
codes, and the in-modality triplet loss with hardest-positive / hardest-negative mining, both in its
released form (every anchor against every sample's mined pair) and in the per-anchor form.
"""

from __future__ import annotations

import torch


def multi_class_hinge(
    visual: torch.Tensor, own_text: torch.Tensor, class_text: torch.Tensor, margin: float
) -> torch.Tensor:
    """Σ_c max(0, ⟨v, t_c⟩ − ⟨v, t_own⟩ + margin) / B over all classes c, the sample's own class included
    (which adds the constant ``margin`` per sample), as released.

    visual (B, D), own_text (B, D): each sample's own class text (with gradient); class_text (C, D).
    """
    scores = visual @ class_text.T
    own = (visual * own_text).sum(-1, keepdim=True)
    return torch.clamp(scores - own + margin, min=0).sum() / visual.shape[0]


def gaussian_mmd(first: torch.Tensor, second: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Biased MMD² with kernel exp(−bandwidth·‖a − b‖²) between two equal-sized batches (B, D): the mean of
    K(x, x') + K(y, y') − K(x, y') − K(y, x') over the B×B pairs, as released."""
    assert first.shape == second.shape, "the released MMD splits the joint kernel in two equal halves"

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # ‖a − b‖² expanded (no (B, B, D) tensor; smooth where two codes coincide, unlike cdist's gradient)
        squared = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2 * a @ b.T
        return torch.exp(-bandwidth * squared.clamp(min=0))

    return (kernel(first, first) + kernel(second, second) - kernel(first, second) - kernel(second, first)).mean()


def mine_hardest(embeddings: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample: the least similar sample of its group (positive) and the most similar sample of another
    group (negative), by dot product, without gradient. Needs at least two groups in the batch."""
    with torch.no_grad():
        similarity = embeddings @ embeddings.T
        same = groups[:, None] == groups[None, :]
        positive = torch.where(same, similarity, torch.inf).argmin(1)
        negative = torch.where(same, -torch.inf, similarity).argmax(1)
    return embeddings[positive].detach(), embeddings[negative].detach()


def triplet(embeddings: torch.Tensor, groups: torch.Tensor, margin: float, all_pairs: bool) -> torch.Tensor:
    """Triplet loss on mined pairs. ``all_pairs`` (the released form) scores anchor i against the mined
    positive and negative of *every* sample j: Σ_ij max(0, ⟨a_i, n_j⟩ − ⟨a_i, p_j⟩ + margin) / B. Otherwise each
    anchor meets its own pair: Σ_i max(0, ⟨a_i, n_i⟩ − ⟨a_i, p_i⟩ + margin) / B. A batch of one group has no
    negatives and gives 0 (the released code fails on it)."""
    if bool((groups == groups[0]).all()):
        return embeddings.sum() * 0.0
    positive, negative = mine_hardest(embeddings, groups)
    if all_pairs:
        terms = embeddings @ negative.T - embeddings @ positive.T + margin
    else:
        terms = (embeddings * negative).sum(-1) - (embeddings * positive).sum(-1) + margin
    return torch.clamp(terms, min=0).sum() / embeddings.shape[0]
