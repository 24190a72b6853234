from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from zsbench.cli.main import app
from zsbench.errors import UsageError
from zsbench.kernels.refine import LinearScorer, RefineConfig, TextScorer, refine_with
from zsbench.methods.base import FeatureSet
from zsbench.methods.dynapurls import DynaPurls, DynaPurlsParams, clip_loss
from zsbench.methods.purls_model import GLOBAL, SLOTS, PurlsNetwork, PurlsScorer, partition_pool, tokens_from_map
from zsbench.text.bank import TextBank

runner = CliRunner()
SMALL = {"hidden": 32, "key_dim": 8, "epochs": 3, "batch_size": 16}


def _data(samples: int = 48, seed: int = 0) -> tuple[FeatureSet, FeatureSet, TextBank]:
    """Token maps whose class signal sits in a few joints of one segment; 4 seen and 3 novel classes."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(samples) % 7
    maps = torch.randn(samples, 16, 3, 25, generator=generator)
    maps[torch.arange(samples), labels, labels % 3, :5] += 3.0
    text = TextBank(
        tuple(range(7)),
        SLOTS,
        nn.functional.normalize(torch.randn(7, len(SLOTS), 12, generator=generator), dim=-1),
        "t",
    )
    seen = labels < 4
    train = FeatureSet(maps[seen].mean(dim=(2, 3)), labels[seen], map=maps[seen])
    evaluation = FeatureSet(maps[~seen].mean(dim=(2, 3)), None, map=maps[~seen])
    return train, evaluation, text


def _fitted(protocol: str = "strict", **params: object) -> tuple[DynaPurls, FeatureSet, TextBank]:
    train, evaluation, text = _data()
    method = DynaPurls(DynaPurlsParams(**{**SMALL, "refine_preset": "released", **params}), protocol, seed=0)  # type: ignore[arg-type]
    method.fit(train, text.select((0, 1, 2, 3)))
    return method, evaluation, text.select((4, 5, 6))


def _network(**kwargs: object) -> PurlsNetwork:
    options = {"heads": 2, "key_dim": 8, "hidden": 32, "dropout": 0.5, "multiplier_init": 2.66,
               "pooling": "attention", "segments": 3, "global_only": False, **kwargs}  # fmt: skip
    torch.manual_seed(0)
    return PurlsNetwork(16, 12, **options).eval()  # type: ignore[arg-type]


def test_candidate_scoring_pools_each_class_with_its_own_queries() -> None:
    network = _network()
    tokens = tokens_from_map(torch.randn(5, 16, 3, 25))
    text = nn.functional.normalize(torch.randn(4, len(SLOTS), 12), dim=-1)
    scores = PurlsScorer(network, tokens).scores(torch.arange(5), text)
    for c in range(4):  # class c's column = every sample pooled with class c's text, scored against it
        own = network.project(network.pool_own(tokens, text[c].expand(5, -1, -1)))[:, -1]
        assert torch.allclose(scores[:, c], own @ text[c, GLOBAL], atol=1e-5)


def test_given_queries_score_every_class_with_one_embedding() -> None:
    network = _network()
    tokens = tokens_from_map(torch.randn(6, 16, 3, 25))
    text = nn.functional.normalize(torch.randn(3, len(SLOTS), 12), dim=-1)
    given = torch.tensor([0, 1, 2, 0, 1, 2])
    scores = PurlsScorer(network, tokens, given=given).scores(torch.arange(6), text)
    embedded = network.project(network.pool_own(tokens, text[given]))[:, -1]
    assert torch.allclose(scores, embedded @ text[:, GLOBAL].T, atol=1e-5)


def test_strict_scores_ignore_labels_and_paper_scores_read_them() -> None:
    change = {}
    for protocol in ("strict", "paper"):
        method, evaluation, text = _fitted(protocol, refine=False)
        labels = torch.arange(len(evaluation)) % 3 + 4
        first = method.scores(FeatureSet(evaluation.pooled, labels, map=evaluation.map), text)
        second = method.scores(FeatureSet(evaluation.pooled, labels.roll(1), map=evaluation.map), text)
        change[protocol] = float((first - second).abs().max())
    assert change["strict"] == 0.0
    assert change["paper"] > 1e-4


def test_paper_protocol_refuses_to_guess_missing_labels() -> None:
    method, evaluation, text = _fitted("paper", refine=False)
    with pytest.raises(UsageError, match="ground_truth_query"):
        method.scores(evaluation, text)


def test_strict_refinement_leaves_batchnorm_statistics_untouched_and_paper_works_on_a_copy() -> None:
    for protocol in ("strict", "paper"):
        method, evaluation, text = _fitted(protocol)
        assert method.network is not None
        before = {k: v.clone() for k, v in method.network.state_dict().items()}
        labels = torch.arange(len(evaluation)) % 3 + 4
        method.scores(FeatureSet(evaluation.pooled, labels, map=evaluation.map), text)
        after = method.network.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), protocol
        assert not method.network.training
        log = method.scoring_log()["refinement"][0]
        assert log["adam_steps"] > 0 and log["semantics"] == ("stale" if protocol == "paper" else "recompute")


def test_paper_refinement_runs_batchnorm_in_training_mode() -> None:
    network = _network()
    tokens = tokens_from_map(torch.randn(30, 16, 3, 25))
    text = nn.functional.normalize(torch.randn(3, len(SLOTS), 12), dim=-1)
    before = network.input_norm.running_mean.clone()
    scorer = PurlsScorer(network, tokens, given=torch.arange(30) % 3, train_on_first_loss=True)
    refine_with(scorer, text, RefineConfig(threshold=0.0, batch_size=10), "online", "stale")
    assert network.training and not torch.equal(before, network.input_norm.running_mean)


def test_generic_entry_gradients_match_the_linear_fast_path() -> None:
    features = torch.randn(9, 6, dtype=torch.float64)
    raw = torch.randn(4, 2, 6, dtype=torch.float64)
    labels = torch.randint(0, 4, (9,))
    fast = LinearScorer(features, 1)

    class Generic(LinearScorer):
        entry_gradients = TextScorer.entry_gradients  # the generic autograd loop instead of the vmap fast path

    rows, entering = torch.arange(9), torch.tensor([0, 3, 8])
    expected = fast.entry_gradients(rows, raw, labels, entering)
    assert torch.allclose(Generic(features, 1).entry_gradients(rows, raw, labels, entering), expected)


def test_global_only_mode_and_the_fixed_partition_limit_which_text_refinement_touches() -> None:
    tokens = tokens_from_map(torch.randn(4, 16, 3, 25))
    assert PurlsScorer(_network(global_only=True), tokens).slots == (GLOBAL,)
    assert PurlsScorer(_network(pooling="partition"), tokens).slots == (GLOBAL,)
    assert PurlsScorer(_network(), tokens).slots == tuple(range(len(SLOTS)))
    pooled = partition_pool(tokens, 3, tuple(range(len(SLOTS))))
    assert torch.allclose(pooled[:, GLOBAL], tokens.mean(1), atol=1e-6)
    assert torch.allclose(pooled[:, SLOTS.index("start")], tokens[:, :25].mean(1), atol=1e-6)


def test_clip_loss_sums_both_directions_over_slots() -> None:
    outputs, text = torch.randn(5, 2, 4), nn.functional.normalize(torch.randn(5, 2, 4), dim=-1)
    multiplier = torch.tensor([2.66, 1.0])
    expected = 0.0
    for s in range(2):
        logits = multiplier[s] * outputs[:, s] @ text[:, s].T
        target = torch.arange(5)
        expected += nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)
    assert torch.allclose(clip_loss(outputs, text, multiplier), torch.as_tensor(expected))


def test_fit_learns_the_seen_classes() -> None:
    train, _, text = _data(96)
    seen_text = text.select((0, 1, 2, 3))
    method = DynaPurls(DynaPurlsParams(**{**SMALL, "epochs": 40, "lr": 1e-3, "refine": False}), "strict", seed=0)  # type: ignore[arg-type]
    log = method.fit(train, seen_text)
    scores = method.scores(FeatureSet(train.pooled, None, map=train.map), seen_text)
    assert train.labels is not None
    accuracy = (scores.argmax(1) == train.labels).float().mean()
    assert accuracy > 0.6, (accuracy, log)


def test_bad_params_are_named() -> None:
    with pytest.raises(UsageError, match="pooling"):
        DynaPurls(DynaPurlsParams(pooling="clusters"), "strict", seed=0)
    with pytest.raises(UsageError, match="score_fusion"):
        DynaPurls(DynaPurlsParams(slots="g", score_fusion=0.5), "strict", seed=0)


def test_dynapurls_runs_end_to_end_and_chooses_refinement_on_validation(zsbench_home: Path) -> None:
    tiny = ["--set", "encoder.epochs=2", "--set", "encoder.hidden=16", "--set", "method_params.epochs=3",
            "--set", "method_params.hidden=64"]  # fmt: skip
    result = runner.invoke(
        app, ["run", "--method", "dynapurls", "--dataset", "ntu60-synth", "--split", "48/12", "--json", *tiny]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["config"]["encoder"]["name"] == "jointmix"  # the shared backbone of the synthetic set
    selection = record["calibration"]["test_time_selection"]
    assert {c["overrides"]["refine_preset"] for c in selection["candidates"]} == {"released", "function_defaults"}
    assert record["method_log"]["test_fold"]["test_time_overrides"] == selection["chosen"]
    paper = runner.invoke(
        app,
        [
            "run",
            "--method",
            "dynapurls",
            "--dataset",
            "ntu60-synth",
            "--split",
            "48/12",
            "--json",
            "--protocol",
            "paper",
            *tiny,
        ],
    )
    assert paper.exit_code == 0, paper.output
    assert "ground_truth_query" in json.loads(paper.stdout)["protocol"]["quirks"]
    tcn = runner.invoke(
        app,
        ["run", "--method", "dynapurls", "--dataset", "ntu60-synth", "--split", "48/12", "--set", "encoder.name=tcn"],
    )
    assert tcn.exit_code == 2 and "token map" in tcn.output


def test_candidate_query_loss_is_the_cross_entropy_of_the_strict_scores() -> None:
    network = _network()
    tokens = tokens_from_map(torch.randn(6, 16, 3, 25))
    text = nn.functional.normalize(torch.randn(3, len(SLOTS), 12), dim=-1)
    rows, labels = torch.arange(6), torch.tensor([0, 1, 2, 2, 1, 0])
    candidates = PurlsScorer(network, tokens, loss_queries="candidates")
    expected = nn.functional.cross_entropy(candidates.scores(rows, text), labels, reduction="none")
    assert torch.allclose(candidates.losses(rows, text, labels), expected)
    released = PurlsScorer(network, tokens).losses(rows, text, labels)  # one embedding, the pseudo-label's queries
    assert not torch.allclose(released, expected)


def test_offline_refinement_through_the_model_is_invariant_to_sample_order() -> None:
    network = _network()
    tokens = tokens_from_map(torch.randn(40, 16, 3, 25, dtype=torch.float64)).float()
    text = nn.functional.normalize(torch.randn(3, len(SLOTS), 12), dim=-1)
    config = RefineConfig(threshold=0.0, memory=8, steps=3)
    base = refine_with(PurlsScorer(network, tokens), text, config, "offline", "recompute")
    order = torch.randperm(40, generator=torch.Generator().manual_seed(3))
    shuffled = refine_with(PurlsScorer(network, tokens[order]), text, config, "offline", "recompute", sample_ids=order)
    assert base.log.learning_rates and torch.allclose(shuffled.scores, base.scores[order], atol=1e-5)
    assert torch.allclose(shuffled.text, base.text, atol=1e-5)


@pytest.mark.parametrize("params", [{"slots": "g"}, {"pooling": "partition"}, {"slots": "g", "pooling": "partition"}])
def test_every_slot_mode_and_pooling_fits_and_scores(params: dict[str, str]) -> None:
    method, evaluation, text = _fitted(refine=False, **params)
    assert method.network is not None and len(method.network.multiplier) == (1 if params.get("slots") == "g" else 8)
    scores = method.scores(evaluation, text)
    assert scores.shape == (len(evaluation), 3) and torch.isfinite(scores).all()


def test_paper_protocol_with_offline_refinement_recomputes_its_bank() -> None:
    method, evaluation, text = _fitted("paper", refine_mode="offline")
    labels = torch.arange(len(evaluation)) % 3 + 4
    scores = method.scores(FeatureSet(evaluation.pooled, labels, map=evaluation.map), text)
    assert torch.isfinite(scores).all() and method.scoring_log()["refinement"][0]["semantics"] == "recompute"
