"""Triton kernel for :func:`zsbench.kernels.scoring.fused_scores`: logits and softmax statistics in one launch.

Imported lazily (only when the Triton path runs), so that zsbench works without triton. On the CPU it runs
under the Triton interpreter: set ``TRITON_INTERPRET=1`` before triton is first imported.

Each program owns a block of BLOCK_N rows. The first sweep over class blocks computes the logits (summing
the S slot vectors of a class tile before one tile matmul), writes them, and keeps an online softmax per row:
running max m, l = Σ exp(x - m), t = Σ exp(x - m)·(x - m), and the running argmax. The second sweep reads the
row block's logits back and writes the probabilities. Entropy = log l - t / l, taken relative to the row max so
that large logits do not cancel.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["fused_scores_triton"]

BLOCK_N = 64
BLOCK_D = 64


@triton.jit
def _fused_scores_kernel(
    features_ptr,
    text_ptr,
    logits_ptr,
    probs_ptr,
    confidence_ptr,
    entropy_ptr,
    prediction_ptr,
    n_rows,
    n_classes,
    n_slots,
    dim,
    scale,
    BLOCK_N: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n_rows
    running_max = tl.full((BLOCK_N,), float("-inf"), tl.float32)
    normaliser = tl.zeros((BLOCK_N,), tl.float32)
    centred = tl.zeros((BLOCK_N,), tl.float32)
    best = tl.zeros((BLOCK_N,), tl.int32)

    for class_start in range(0, n_classes, BLOCK_C):
        cols = class_start + tl.arange(0, BLOCK_C)
        col_ok = cols < n_classes
        acc = tl.zeros((BLOCK_N, BLOCK_C), tl.float32)
        for dim_start in range(0, dim, BLOCK_D):
            dims = dim_start + tl.arange(0, BLOCK_D)
            dim_ok = dims < dim
            feats = tl.load(
                features_ptr + rows[:, None] * dim + dims[None, :],
                mask=row_ok[:, None] & dim_ok[None, :],
                other=0.0,
            )
            slot_sum = tl.zeros((BLOCK_C, BLOCK_D), tl.float32)
            for slot in range(0, n_slots):
                slot_sum += tl.load(
                    text_ptr + (cols[:, None] * n_slots + slot) * dim + dims[None, :],
                    mask=col_ok[:, None] & dim_ok[None, :],
                    other=0.0,
                )
            acc += tl.dot(feats, tl.trans(slot_sum), input_precision="ieee")
        logits = acc * scale
        out_mask = row_ok[:, None] & col_ok[None, :]
        tl.store(logits_ptr + rows[:, None] * n_classes + cols[None, :], logits, mask=out_mask)

        logits = tl.where(col_ok[None, :], logits, float("-inf"))
        block_max = tl.max(logits, axis=1)
        block_arg = tl.argmax(logits, axis=1, tie_break_left=True).to(tl.int32) + class_start
        # Strictly greater: a later block never takes an earlier block's tie (first index wins, as torch.argmax).
        best = tl.where(block_max > running_max, block_arg, best)
        new_max = tl.maximum(running_max, block_max)
        rescale = tl.exp(running_max - new_max)
        shifted = tl.where(col_ok[None, :], logits - new_max[:, None], 0.0)
        weights = tl.where(col_ok[None, :], tl.exp(shifted), 0.0)
        # Re-centre the old t on the new max: Σ e^(x-m_old)(x-m_new) = t_old + (m_old - m_new)·l_old
        # (the gap is zeroed on the first block, where m_old = -inf and l_old = t_old = 0).
        gap = tl.where(normaliser > 0, running_max - new_max, 0.0)
        centred = rescale * (centred + gap * normaliser) + tl.sum(weights * shifted, axis=1)
        normaliser = rescale * normaliser + tl.sum(weights, axis=1)
        running_max = new_max

    # Make this program's logits stores visible to all of its threads before reading them back.
    tl.debug_barrier()
    for class_start in range(0, n_classes, BLOCK_C):
        cols = class_start + tl.arange(0, BLOCK_C)
        out_mask = row_ok[:, None] & (cols < n_classes)[None, :]
        offsets = rows[:, None] * n_classes + cols[None, :]
        logits = tl.load(logits_ptr + offsets, mask=out_mask, other=0.0)
        probs = tl.exp(logits - running_max[:, None]) / normaliser[:, None]
        tl.store(probs_ptr + offsets, probs, mask=out_mask)

    tl.store(confidence_ptr + rows, 1.0 / normaliser, mask=row_ok)
    tl.store(entropy_ptr + rows, tl.log(normaliser) - centred / normaliser, mask=row_ok)
    tl.store(prediction_ptr + rows, best.to(tl.int64), mask=row_ok)


def fused_scores_triton(features: Tensor, slots: Tensor, temperature: float) -> tuple[Tensor, ...]:
    """(logits, probs, confidence, entropy, prediction) for features (N, D) and slots (C, S, D), in float32."""
    features = features.to(torch.float32).contiguous()
    slots = slots.to(torch.float32).contiguous()
    n_rows, dim = features.shape
    n_classes, n_slots, _ = slots.shape
    device = features.device
    logits = torch.empty(n_rows, n_classes, dtype=torch.float32, device=device)
    probs = torch.empty_like(logits)
    confidence = torch.empty(n_rows, dtype=torch.float32, device=device)
    entropy = torch.empty_like(confidence)
    prediction = torch.empty(n_rows, dtype=torch.int64, device=device)
    # tl.dot needs every tile side >= 16; one class tile covers up to 64 classes.
    block_c = max(16, min(64, triton.next_power_of_2(n_classes)))
    if n_rows:
        _fused_scores_kernel[(triton.cdiv(n_rows, BLOCK_N),)](
            features,
            slots,
            logits,
            probs,
            confidence,
            entropy,
            prediction,
            n_rows,
            n_classes,
            n_slots,
            dim,
            1.0 / (n_slots * temperature),
            BLOCK_N=BLOCK_N,
            BLOCK_C=block_c,
            BLOCK_D=BLOCK_D,
        )
    return logits, probs, confidence, entropy, prediction
