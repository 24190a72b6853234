"""JPoSE as synse-zsl releases it: toy learning, label-blindness, the text control, the released loss terms by
hand, the test-driven schedule's equivalence, and end-to-end runs (synthetic store, SynSE-style feature store)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import FAST_RUN
from tests.pos_toy import SEEN, UNSEEN, Toy, accuracy, compositional_toy, sets, shifted, write_feature_split
from zsbench import runtime
from zsbench.cli.main import app
from zsbench.methods.base import FeatureSet
from zsbench.methods.embedding_losses import mine_hardest, multi_class_hinge, triplet
from zsbench.methods.jpose import Jpose, JposeParams, phrase_groups
from zsbench.methods.test_schedule import ScheduleOnTestAccuracy
from zsbench.splits import resolve

runner = CliRunner()
TOY_PARAMS = JposeParams(lr=1e-3, batch_size=64, epochs=15)


@pytest.fixture(scope="module")
def fitted() -> tuple[Jpose, Toy]:
    runtime.configure("cpu")  # $ZSBENCH_THREADS: small nets are much slower on contended threads
    toy = compositional_toy()
    method = Jpose(TOY_PARAMS, "strict", seed=0)
    method.fit(toy.train, toy.bank.select(SEEN))
    return method, toy


def test_it_learns_zero_shot_and_the_text_control_collapses_it(fitted: tuple[Jpose, Toy]) -> None:
    method, toy = fitted
    unseen = toy.bank.select(UNSEEN)
    assert accuracy(method.scores(toy.test, unseen), toy.test_labels, UNSEEN) > 0.7  # chance 0.25
    assert accuracy(method.scores(toy.test, shifted(unseen)), toy.test_labels, UNSEEN) < 0.4


def test_scores_never_read_evaluation_labels(fitted: tuple[Jpose, Toy]) -> None:
    method, toy = fitted
    unseen = toy.bank.select(UNSEEN)
    wrong = FeatureSet(toy.test.pooled, toy.test_labels[torch.randperm(len(toy.test_labels))])
    assert torch.equal(method.scores(toy.test, unseen), method.scores(wrong, unseen))


def test_the_multi_class_hinge_by_hand() -> None:
    visual, own = torch.tensor([[0.6, 0.8]]), torch.tensor([[1.0, 0.0]])
    classes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # scores 0.6, 0.8, -0.6 against own 0.6: 0.3 (own class, the released constant) + 0.5 + 0
    assert multi_class_hinge(visual, own, classes, 0.3).item() == pytest.approx(0.8)
    two = multi_class_hinge(visual.repeat(2, 1), own.repeat(2, 1), classes, 0.3)
    assert two.item() == pytest.approx(0.8)  # divided by the batch size


def test_the_triplet_loss_by_hand_released_all_pairs_and_per_anchor() -> None:
    a = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    groups = torch.tensor([0, 0, 1])
    positive, negative = mine_hardest(a, groups)
    assert torch.equal(positive, a[[1, 0, 2]])  # least similar of the same group (itself when alone)
    assert torch.equal(negative, a[[2, 2, 1]])  # most similar of another group
    # per anchor: max(0, <a_i,n_i> - <a_i,p_i> + 0.3) = 0, 0.1, 0 -> 0.1 / 3
    assert triplet(a, groups, 0.3, all_pairs=False).item() == pytest.approx(0.1 / 3)
    # released B x B form: rows sum to 1.1, 0.8 and 2.0 -> 3.9 / 3
    assert triplet(a, groups, 0.3, all_pairs=True).item() == pytest.approx(1.3)
    assert triplet(a, torch.zeros(3, dtype=torch.long), 0.3, all_pairs=True).item() == 0.0  # no negatives


def test_phrase_groups_join_classes_with_the_same_phrase() -> None:
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1e-7], [0.6, 0.8]])  # row 2: row 0 up to encoding noise
    assert phrase_groups(rows).tolist() == [0, 1, 0, 2]


def test_the_schedule_on_the_best_so_far_equals_the_released_schedule_on_raw_accuracy() -> None:
    rng = np.random.default_rng(0)
    raw = np.round(np.minimum(np.cumsum(rng.random(120)) / 60, 0.6) + 0.05 * rng.random(120), 2)

    def trajectory(values: np.ndarray, ours: bool) -> tuple[list[float], int]:
        optimiser = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-4)
        if ours:
            schedule = ScheduleOnTestAccuracy(optimiser, patience=14, cooldown=6, stop_after=40)
        else:  # the released loop: plateau on the epoch's accuracy, early_stop counter on np.greater
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, "max", 0.1, 14, cooldown=6)
        rates, best, stale, running = [], 0.0, 0, -1.0
        for epoch, value in enumerate(values):
            running = max(running, value)
            if ours:
                stop = schedule.step(running)
            else:
                plateau.step(value)
                best, stale = (value, 0) if np.greater(value, best) else (best, stale + 1)
                stop = stale > 40
            rates.append(optimiser.param_groups[0]["lr"])
            if stop:
                return rates, epoch
        return rates, len(values)

    ours, released = trajectory(raw, True), trajectory(raw, False)
    assert ours == released
    assert min(ours[0]) < 1e-4 and ours[1] < len(raw)  # the plateau and the early stop both acted


def test_end_to_end_on_the_synthetic_store_under_paper(zsbench_home: Path) -> None:
    result = runner.invoke(app, ["run", "--method", "jpose", "--dataset", "ntu60-synth", "--split", "55/5", "--json",
                                 *FAST_RUN, "--protocol", "paper", *sets(epochs=10, paper_max_epochs=20,
                                 early_stop_patience=3, lr=0.001, batch_size=64)])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == ["test_epoch_selection", "test_driven_schedule", "triplet_all_pairs"]
    log = record["method_log"]["test_fold"]
    assert log["test_driven_schedule"] is True and 1 <= log["selected_epoch_on_test"] <= log["epochs"] <= 20
    assert record["method_log"]["validation_fold"]["epochs"] == 10  # no selector there: the fixed budget


def test_end_to_end_on_a_synse_style_feature_store(empty_home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    text = rng.normal(size=(60, 16))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    np.save(tmp_path / "text.npy", text.astype(np.float32))
    split = resolve("55/5", "ntu60")
    write_feature_split(tmp_path / "shift_5_r", list(split.seen), text, rng)
    write_feature_split(tmp_path / "shift_val_5_r", list(split.validation_seen), text, rng)
    assert runner.invoke(app, ["prepare", "ntu60-features", "--root", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["run", "--method", "jpose", "--dataset", "ntu60-features", "--split", "55/5",
                                 "--json", "--set", f"text.encoder=npy:{tmp_path / 'text.npy'}",
                                 *sets(epochs=30, lr=0.003, batch_size=64)])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["protocol"]["quirks"] == [] and record["method_log"]["test_fold"]["epochs"] == 30
    assert record["metrics"]["zsl_top1"] > 0.5  # chance 0.2
    assert len(record["per_class"]["zsl"]) == 5
