from __future__ import annotations

import numpy as np
import torch

from zsbench.config import EncoderConfig
from zsbench.data.skeleton import GRAPH_CENTRE, bones
from zsbench.encoders.graph import hop_distance, spatial_partition
from zsbench.encoders.pretrain import build_encoder


def _fit_briefly(model: torch.nn.Module, skeletons: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """30 Adam steps on one batch; the losses."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(skeletons), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def test_spatial_partition_covers_each_edge_once_per_direction_and_normalises_columns() -> None:
    partitions = spatial_partition()
    combined = partitions.sum(axis=0)
    for child, parent in bones():
        assert combined[child, parent] > 0 and combined[parent, child] > 0
    assert np.allclose(combined.sum(axis=0), 1.0)  # column-normalised by the 1-hop degree
    assert (np.count_nonzero(partitions, axis=0) <= 1).all()  # each (j, i) pair in one subset
    distance = hop_distance()
    assert distance[GRAPH_CENTRE, GRAPH_CENTRE] == 0 and distance[3, 19] == 8  # head to right foot


def test_stgcn_gives_maps_and_pooled_features_and_trains() -> None:
    torch.manual_seed(0)
    model = build_encoder(EncoderConfig(name="stgcn", dim=32, hidden=32), num_classes=4)
    skeletons = torch.randn(6, 3, 16, 25, 2)
    skeletons[:3, ..., 1] = 0  # single-person samples
    maps = model.feature_map(skeletons)  # type: ignore[operator]
    assert maps.shape == (6, 2, 32, 4, 25)  # two stride-2 blocks: 16 -> 4 frames
    assert model.features(skeletons).shape == (6, 32)  # type: ignore[operator]
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    losses = _fit_briefly(model, skeletons, targets)
    assert losses[-1] < losses[0] * 0.5


def test_an_interrupted_pretraining_resumes_to_the_same_weights(tmp_path) -> None:
    import pytest

    from zsbench.encoders.pretrain import train_encoder
    from zsbench.eval.protocol import guarded_training_set

    rng = np.random.default_rng(0)
    skeletons = rng.normal(size=(24, 3, 16, 25, 2)).astype(np.float32)
    labels = np.arange(24) % 4
    training = guarded_training_set(np.arange(24), labels, (0, 1, 2, 3), "test")
    config = EncoderConfig(dim=16, hidden=16, epochs=3, batch_size=8)
    straight = train_encoder(skeletons, training, config, 0, tmp_path / "straight", "store")

    def interrupt_after_first_epoch(description: str, completed: int, total: int) -> None:
        if completed == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_encoder(skeletons, training, config, 0, tmp_path / "resumed", "store", interrupt_after_first_epoch)
    assert list((tmp_path / "resumed").glob("*.last.pt")) and not list((tmp_path / "resumed").glob("*[0-9a-f].pt"))
    resumed = train_encoder(skeletons, training, config, 0, tmp_path / "resumed", "store")
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not list((tmp_path / "resumed").glob("*.last.pt"))


def test_pretrain_command_trains_both_folds_on_seen_classes_only(zsbench_home) -> None:
    import json

    from typer.testing import CliRunner

    from zsbench.cli.main import app

    args = ["pretrain", "--dataset", "ntu60-synth", "--split", "55/5", "--json", "--set", "encoder.epochs=2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["fold"] for r in rows] == ["validation", "test"]
    assert [r["classes"] for r in rows] == [50, 55]  # pseudo-seen, seen: the encoder never sees an unseen class


def test_token_maps_have_the_requested_segments_and_features_are_cached(tmp_path) -> None:
    from zsbench.encoders.pretrain import extract_cached, train_encoder
    from zsbench.eval.protocol import guarded_training_set

    rng = np.random.default_rng(1)
    skeletons = rng.normal(size=(10, 3, 16, 25, 2)).astype(np.float32)
    skeletons[:5, ..., 1] = 0
    training = guarded_training_set(np.arange(10), np.arange(10) % 2, (0, 1), "test")
    encoder = train_encoder(
        skeletons, training, EncoderConfig(name="stgcn", dim=8, hidden=16, epochs=1), 0, tmp_path, "s"
    )
    first = extract_cached(encoder, skeletons, np.arange(10), "s", map_segments=3)
    assert first["map"].shape == (10, 8, 3, 25) and first["pooled"].shape == (10, 8)
    cached = list((tmp_path / "features").glob("*.pt"))
    assert len(cached) == 1
    again = extract_cached(encoder, skeletons, np.arange(10), "s", map_segments=3)
    assert torch.equal(first["map"], again["map"]) and len(list((tmp_path / "features").glob("*.pt"))) == 1
    # with segments dividing the time axis (T' = 4), the map's overall mean is the pooled feature
    halves = extract_cached(encoder, skeletons, np.arange(10), "s", map_segments=2)
    assert torch.allclose(halves["map"].mean(dim=(2, 3)), halves["pooled"], atol=1e-5)


def test_shift_gcn_spatial_shift_is_inverted_and_the_encoder_trains() -> None:
    from zsbench.encoders.shiftgcn import spatial_shift

    x = torch.randn(2, 7, 3, 25)
    shifted = spatial_shift(x)
    assert torch.equal(shifted[:, 3, :, 0], x[:, 3, :, 3])  # channel 3 of joint 0 reads joint 3
    assert torch.equal(spatial_shift(shifted, inverse=True), x)
    torch.manual_seed(0)
    model = build_encoder(EncoderConfig(name="shiftgcn", dim=16, hidden=16), num_classes=3)
    skeletons = torch.randn(6, 3, 16, 25, 2)
    assert model.feature_map(skeletons).shape == (6, 2, 16, 4, 25)  # type: ignore[operator]
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    losses = _fit_briefly(model, skeletons, targets)
    assert losses[-1] < losses[0] * 0.5


def test_holdout_selection_keeps_held_out_subjects_out_of_training_and_picks_an_epoch(zsbench_home) -> None:
    import json

    from typer.testing import CliRunner

    from zsbench.cli.main import app
    from zsbench.config import build_config
    from zsbench.pipeline.folds import encoder_training_sets, skeleton_store_and_folds
    from zsbench.pipeline.resolve import resolve_run

    run = resolve_run(build_config(None, ["encoder.selection=holdout"], {"dataset": "ntu60-synth", "split": "55/5"}))
    store, folds = skeleton_store_and_folds(run)
    subjects = store.index["subject"].to_numpy()
    for fold in (folds.test, folds.validation):
        training, selection = encoder_training_sets(fold, store, run, folds.validation_subjects)
        assert selection is not None and len(selection.indices) > 0
        assert not set(subjects[training.indices]) & set(subjects[selection.indices])
        assert set(store.labels[selection.indices]) <= set(fold.seen)
    args = ["run", "--dataset", "ntu60-synth", "--split", "55/5", "--json", "--set", "encoder.selection=holdout",
            "--set", "encoder.epochs=3", "--set", "encoder.hidden=32", "--set", "method_params.epochs=5"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    chosen = json.loads(result.stdout)["encoders"]["test_fold"]["selection"]
    assert 1 <= chosen["selected_epoch"] <= 3 and 0 <= chosen["selection_accuracy"] <= 1


def test_an_encoder_that_pools_its_own_map_caches_pooled_features_and_recomputes_the_map(tmp_path) -> None:
    from zsbench.encoders.pretrain import extract, extract_cached, train_encoder
    from zsbench.eval.protocol import guarded_training_set

    rng = np.random.default_rng(2)
    skeletons = rng.normal(size=(10, 3, 16, 25, 2)).astype(np.float32)
    skeletons[:5, ..., 1] = 0
    training = guarded_training_set(np.arange(10), np.arange(10) % 2, (0, 1), "test")
    config = EncoderConfig(name="jointmix", dim=8, hidden=16, epochs=1)
    encoder = train_encoder(skeletons, training, config, 0, tmp_path, "s")
    with torch.no_grad():
        encoder.model.joint_weight.normal_()  # so the map differs by joint, as a trained one does
    first = extract_cached(encoder, skeletons, np.arange(10), "s", map_segments=3)
    (cached,) = (tmp_path / "features").glob("*.pt")
    assert "map" not in torch.load(cached)  # a 16-segment map of the embedded set would be 3 GB per fold
    full = extract(encoder.model, skeletons, np.arange(10), 3)
    assert torch.allclose(first["map"], full["map"], atol=1e-5) and torch.equal(first["pooled"], full["pooled"])
    other = extract_cached(encoder, skeletons, np.arange(10), "s", map_segments=2)
    assert other["map"].shape == (10, 8, 2, 25) and len(list((tmp_path / "features").glob("*.pt"))) == 1
