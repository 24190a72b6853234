"""The `paper` quirk ``test_driven_schedule`` of the synse-zsl baselines (ReViSE, JPoSE).

Their released training loops step ``ReduceLROnPlateau(mode="max")`` on the unseen-test ZSL accuracy
after every epoch, and JPoSE also stops once that accuracy has not improved for more than 40 epochs.
zsbench reproduces this only on the test fold, under the quirk ``test_epoch_selection`` (whose
selector is the epoch monitor and scores the test fold after each epoch).

The schedule is stepped on the selector's best accuracy so far, not on the epoch's own accuracy.
The two give the same schedule: the plateau rule in ``max`` mode only asks whether the value beats
its own running best (relative threshold 1e-4), and the running best of the best-so-far sequence
moves exactly when the epoch's accuracy does; the early stop counts epochs without a new best.
"""

from __future__ import annotations

import torch

from zsbench.methods.training import EpochMonitor


def best_test_accuracy(monitor: EpochMonitor | None) -> float | None:
    """The best unseen-test ZSL accuracy so far, when ``monitor`` is the pipeline's test-epoch selector."""
    value = getattr(monitor, "best_accuracy", None)
    return float(value) if value is not None else None


class ScheduleOnTestAccuracy:
    def __init__(
        self, optimiser: torch.optim.Optimizer, patience: int, cooldown: int, stop_after: int | None = None
    ) -> None:
        # released: ReduceLROnPlateau(mode='max', factor=0.1, patience, cooldown), default threshold 1e-4 (rel)
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, mode="max", factor=0.1, patience=patience, cooldown=cooldown
        )
        self.stop_after = stop_after
        self.best = 0.0  # released: best = 0 before the first epoch
        self.epochs_without_gain = 0

    def step(self, accuracy: float) -> bool:
        """Step on this epoch's (best-so-far) test accuracy; True when training should stop."""
        self.plateau.step(accuracy)
        if accuracy > self.best:
            self.best, self.epochs_without_gain = accuracy, 0
        else:
            self.epochs_without_gain += 1
        return self.stop_after is not None and self.epochs_without_gain > self.stop_after
