"""SA-DVAE's released GZSL gate (``gating_train.py``): the synse-zsl gate of :mod:`zsbench.methods.released_gate`
with the three changes baselines-code.md §7 lists. Its eval (``gating_eval.py``) is the synse one, mirrored threshold
included, so :func:`zsbench.methods.released_gate.released_gate_predictions` applies it.

Unlike the synse-zsl scripts, SA-DVAE's validation run saves ``MSF_unseen_zs`` from the pseudo-unseen samples
(``loader = val_loader if phase == 'train' else zsl_loader``), so the gate's unseen side is paired correctly.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from zsbench.errors import DataError
from zsbench.methods.released_gate import TEMPERATURES, THRESHOLDS, ReleasedGate, gate_inputs

# released: train_eval_synse_split.sh fixes the NTU-120 gate at th=50 (/100), t=2; every other script searches
RELEASED_FIXED_GATE = {("synse", "ntu120"): (2, 0.5)}


def fit_sadvae_gate(
    unseen_zsl: np.ndarray, unseen_logits: np.ndarray, seen_zsl: np.ndarray, seen_logits: np.ndarray, seed: int,
    temperature: int | None = None, threshold: float | None = None,
) -> ReleasedGate:  # fmt: skip
    """Released SA-DVAE ``gating_train.py``: the synse-zsl gate (:mod:`zsbench.methods.released_gate`) with the seen
    side subsampled without replacement to the unseen count, min(300, n // 6) held out per side (drawn again for
    every T) and max_iter 50000. ``temperature`` / ``threshold`` fix T / th (released: ``--t``, ``--th``)."""
    if len(unseen_zsl) != len(unseen_logits) or len(seen_zsl) != len(seen_logits):
        raise DataError("SA-DVAE gate: zero-shot and backbone rows must pair up")
    stream = np.random.RandomState(seed % (2**32))  # released: np.random.seed(5), one legacy stream for all draws
    keep = stream.choice(np.arange(len(seen_zsl)), min(len(unseen_zsl), len(seen_zsl)), replace=False)
    seen_zsl, seen_logits = seen_zsl[keep], seen_logits[keep]
    # released: min(300, n // 6); at least one (ours: a fold under 6 samples a side would hold out none)
    held_unseen, held_seen = (max(1, min(300, n // 6)) for n in (len(unseen_zsl), len(seen_zsl)))
    if min(len(unseen_zsl), len(seen_zsl)) < 2:
        raise DataError("SA-DVAE gate: the validation fold needs at least two unseen and two seen samples")
    best: ReleasedGate | None = None
    for t in TEMPERATURES if temperature is None else (temperature,):
        unseen_x, seen_x = gate_inputs(unseen_zsl, unseen_logits, t), gate_inputs(seen_zsl, seen_logits, t)
        val_unseen = stream.choice(np.arange(len(unseen_x)), held_unseen, replace=False)
        val_seen = stream.choice(np.arange(len(seen_x)), held_seen, replace=False)
        fit_unseen = np.setdiff1d(np.arange(len(unseen_x)), val_unseen)
        fit_seen = np.setdiff1d(np.arange(len(seen_x)), val_seen)
        fit_x = np.concatenate([unseen_x[fit_unseen], seen_x[fit_seen]])
        fit_y = np.array([0] * len(fit_unseen) + [1] * len(fit_seen))
        order = np.arange(len(fit_x))
        stream.shuffle(order)
        # released: multinomial, C=1, lbfgs, max_iter 50000; two-class multinomial with C == binary with 2C
        model = LogisticRegression(C=2.0, max_iter=50000, random_state=0).fit(fit_x[order], fit_y[order])
        p_unseen = model.predict_proba(np.concatenate([unseen_x[val_unseen], seen_x[val_seen]]))[:, 0]
        truth = np.array([True] * held_unseen + [False] * held_seen)
        accuracy, negative_th = max(
            (float(np.mean((p_unseen > th) == truth)), -th)
            for th in (THRESHOLDS if threshold is None else (threshold,))
        )  # the first (lowest) th among ties, as the released strict `>` keeps it
        if best is None or accuracy > best.held_out_accuracy:
            best = ReleasedGate(t, -negative_th, model, accuracy)
    assert best is not None
    return best
