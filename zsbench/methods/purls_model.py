"""The PURLS network that DynaPURLS trains, and the scorer its test-time refinement differentiates through.

Released code (seed-methods-code.md §1): tokens are the encoder map cut into 3 temporal segments x 25
joints, each L2-normalised. Each description slot's text embedding queries the tokens (2 heads, keys
projected, values = the raw tokens, head scores averaged before the softmax), giving one pooled vector per
slot; the slot vectors are concatenated and sent through one shared MLP (BN, Dropout .5, Linear to 1024,
SiLU, BN, Dropout .5, Linear, Tanh) into one text-space vector per slot. A class scores
``output[global] · text[global]`` (a dot product, no temperature).

Ours, where the reference notes are silent: the 1/sqrt(key_dim) scaling of the query·key scores and a bias
in the key projection (the query projection has none, as released).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zsbench.errors import UsageError
from zsbench.kernels.refine import TextScorer

SLOTS = ("head", "hands", "torso", "legs", "start", "middle", "end", "global")
GLOBAL = SLOTS.index("global")

# Fixed partition, the ablation baseline (ours: the released joint lists live in dead code; these are the NTU
# 25-joint layout, 0-based). Phases are the three temporal segments; global is the mean of every token.
PART_JOINTS = {
    "head": (2, 3, 20),
    "hands": (6, 7, 10, 11, 21, 22, 23, 24),
    "torso": (0, 1, 4, 8, 12, 16, 20),
    "legs": (12, 13, 14, 15, 16, 17, 18, 19),
}

CHUNK_ROWS = 4096  # (sample, class) pairs per MLP pass when scoring every candidate with its own query


def tokens_from_map(feature_map: Tensor) -> Tensor:
    """(N, C, S, V) map -> (N, S·V, C) tokens (segment-major), each L2-normalised as the released loader does."""
    n, c, s, v = feature_map.shape
    return F.normalize(feature_map.permute(0, 2, 3, 1).reshape(n, s * v, c), dim=-1)


def tokens_from_pooled(pooled: Tensor) -> Tensor:
    """(N, D) pooled features -> (N, 1, D): one token, so attention pooling is the identity (an ``ours`` adaptation)."""
    return F.normalize(pooled, dim=-1).unsqueeze(1)


def partition_pool(tokens: Tensor, segments: int, slots: tuple[int, ...]) -> Tensor:
    """(N, T, D) tokens -> (N, |slots|, D) slot vectors of the fixed partition (a single token fills every slot)."""
    n, count, dim = tokens.shape
    if count == 1:
        return tokens.expand(n, len(slots), dim)
    joints = count // segments
    grid = tokens.view(n, segments, joints, dim)
    if segments != 3 or joints != 25:
        raise UsageError(f"the fixed partition needs 3 segments x 25 joints of tokens, got {segments} x {joints}")
    parts = [grid[:, :, list(PART_JOINTS[name])].mean(dim=(1, 2)) for name in SLOTS[:4]]
    phases = [grid[:, segment].mean(dim=1) for segment in range(3)]
    return torch.stack([*parts, *phases, grid.mean(dim=(1, 2))], dim=1)[:, list(slots)]


class PurlsNetwork(nn.Module):
    def __init__(
        self, token_dim: int, text_dim: int, *, heads: int, key_dim: int, hidden: int, dropout: float,
        multiplier_init: float, pooling: str, segments: int, global_only: bool,
    ) -> None:  # fmt: skip
        super().__init__()
        # 'g' mode keeps the global slot alone (pooled vector, projection and loss); full mode all 8, global last.
        self.slots = (GLOBAL,) if global_only else tuple(range(len(SLOTS)))
        slots = len(self.slots)
        self.heads, self.key_dim, self.pooling, self.segments, self.text_dim = (
            heads,
            key_dim,
            pooling,
            segments,
            text_dim,
        )
        self.query = nn.Linear(text_dim, heads * key_dim, bias=False)
        self.key = nn.Linear(token_dim, heads * key_dim)
        self.input_norm = nn.BatchNorm1d(slots * token_dim)
        self.hidden = nn.Linear(slots * token_dim, hidden)
        self.hidden_norm = nn.BatchNorm1d(hidden)
        self.output = nn.Linear(hidden, slots * text_dim)
        self.dropout = nn.Dropout(dropout)
        # Released: initialised to ln(1/0.07) and used as a plain multiplier (never exponentiated).
        self.multiplier = nn.Parameter(torch.full((slots,), multiplier_init))

    def _keys(self, tokens: Tensor) -> Tensor:
        return self.key(tokens).unflatten(-1, (self.heads, self.key_dim))  # (N, T, H, K)

    def _queries(self, text: Tensor) -> Tensor:
        return self.query(text).unflatten(-1, (self.heads, self.key_dim))  # (..., S, H, K)

    def pool_own(self, tokens: Tensor, text: Tensor) -> Tensor:
        """(N, S', D_tok): each sample pooled with its own queries ``text`` (N, 8, D_text), for the network's slots."""
        if self.pooling == "partition":
            return partition_pool(tokens, self.segments, self.slots)
        text = text[:, list(self.slots)]
        scores = torch.einsum("nthk,nshk->nst", self._keys(tokens), self._queries(text)) / (
            self.heads * math.sqrt(self.key_dim)
        )  # the mean over heads, before the softmax
        return torch.einsum("nst,ntd->nsd", scores.softmax(dim=-1), tokens)

    def pool_candidates(self, tokens: Tensor, text: Tensor) -> Tensor:
        """(N, C, S', D_tok): every sample pooled with every class's queries ``text`` (C, 8, D_text)."""
        if self.pooling == "partition":
            pooled = partition_pool(tokens, self.segments, self.slots)
            return pooled.unsqueeze(1).expand(-1, text.shape[0], -1, -1)
        text = text[:, list(self.slots)]
        scores = torch.einsum("nthk,cshk->ncst", self._keys(tokens), self._queries(text)) / (
            self.heads * math.sqrt(self.key_dim)
        )
        return torch.einsum("ncst,ntd->ncsd", scores.softmax(dim=-1), tokens)

    def project(self, pooled: Tensor, global_only: bool = False) -> Tensor:
        """(R, S', D_tok) pooled slot vectors -> (R, S', D_text) Tanh outputs; just the global one (last) if asked."""
        flat = self.dropout(self.input_norm(pooled.flatten(1)))
        hidden = self.dropout(self.hidden_norm(F.silu(self.hidden(flat))))
        weight = self.output.weight.view(len(self.slots), self.text_dim, -1)
        bias = self.output.bias.view(len(self.slots), self.text_dim)
        if global_only:  # only the output rows scoring needs
            weight, bias = weight[-1:], bias[-1:]
        return torch.tanh(torch.einsum("rh,sdh->rsd", hidden, weight) + bias)


class PurlsScorer(TextScorer):
    """Scores samples with the (refined) class text as both attention queries and classifier.

    Strict: sample n is pooled with class c's own queries to score class c. ``given`` (paper quirk
    ``ground_truth_query``): sample n is pooled once with the queries of class ``given[n]`` (the released code
    passes the ground-truth label) and that embedding scores every class. The refinement loss pools each
    sample with its pseudo-label's queries, as released (not a leak), or (``loss_queries="candidates"``, ours)
    scores it like the prediction, every class with its own queries. ``fusion`` > 0 (ours, full mode only)
    adds ``fusion`` x the mean part/phase similarity to the global score.
    """

    def __init__(
        self, network: PurlsNetwork, tokens: Tensor, *, given: Tensor | None = None, fusion: float = 0.0,
        train_on_first_loss: bool = False, loss_queries: str = "pseudo_label",
    ) -> None:  # fmt: skip
        if fusion and len(network.slots) == 1:
            raise UsageError("score fusion needs the part and phase outputs: use slots=all")
        self.network = network
        self.tokens = tokens
        self.num_samples = tokens.shape[0]
        self.given = given
        self.fusion = fusion
        self.train_on_first_loss = train_on_first_loss
        self.loss_queries = loss_queries
        # Text reaches the scores through the queries of the network's slots (none with the fixed partition)
        # and through the classifier: the global slot, or every slot with the fusion.
        queried = () if network.pooling == "partition" else network.slots
        scored = network.slots if fusion else (GLOBAL,)
        self.slots = tuple(sorted(set(queried) | set(scored)))

    def _slot_scores(self, outputs: Tensor, text: Tensor) -> Tensor:
        """(..., C, S', D) outputs against the network slots' text -> (..., C): global plus the ``ours`` fusion."""
        slots = list(self.network.slots) if self.fusion else [GLOBAL]
        similarity = (outputs * text[:, slots]).sum(-1)
        score = similarity[..., -1]
        if self.fusion:
            score = score + self.fusion * similarity[..., :-1].mean(-1)
        return score

    def scores(self, rows: Tensor, text: Tensor) -> Tensor:
        global_only = not self.fusion
        if self.given is not None:
            embedded = self.network.project(
                self.network.pool_own(self.tokens[rows], text[self.given[rows]]), global_only
            )
            return self._slot_scores(embedded.unsqueeze(1), text)
        classes = text.shape[0]
        per_chunk = max(1, CHUNK_ROWS // classes)
        parts = []
        for start in range(0, len(rows), per_chunk):
            chunk = rows[start : start + per_chunk]
            pooled = self.network.pool_candidates(self.tokens[chunk], text)  # (B, C, S', D_tok)
            embedded = self.network.project(pooled.flatten(0, 1), global_only).unflatten(0, (len(chunk), classes))
            parts.append(self._slot_scores(embedded, text))
        return torch.cat(parts)

    def losses(self, rows: Tensor, text: Tensor, labels: Tensor) -> Tensor:
        if self.train_on_first_loss:  # paper quirk: the released loss pass switches the model to train() for good
            self.network.train()
        if self.loss_queries == "candidates" and self.given is None:  # ours: the loss on the strict scores
            return F.cross_entropy(self.scores(rows, text), labels, reduction="none")
        pooled = self.network.pool_own(self.tokens[rows], text[labels])
        logits = self._slot_scores(self.network.project(pooled, not self.fusion).unsqueeze(1), text)
        return F.cross_entropy(logits, labels, reduction="none")
