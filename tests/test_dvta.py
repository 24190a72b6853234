from __future__ import annotations

import torch
from torch import nn

from zsbench.methods.base import FeatureSet
from zsbench.methods.dvta import Dvta, DvtaNetwork, DvtaParams, leaky_sigmoid
from zsbench.text.bank import TextBank


def _network(**overrides: object) -> DvtaNetwork:
    torch.manual_seed(0)
    return DvtaNetwork(16, 12, DvtaParams(**overrides))  # type: ignore[arg-type]


def _naive_scores(network: DvtaNetwork, projected: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
    """The released formulation, pair by pair: project the weighted text, AA on the concatenation."""
    rows = []
    for z in projected:
        row = []
        for class_variants in variants:
            weights = torch.softmax(class_variants @ z, dim=0)
            enhanced = network.text_projector((weights[:, None] * class_variants).sum(0))
            score = nn.functional.cosine_similarity(z, enhanced, dim=0) / network.tau_da
            hidden = network.metric_in(torch.cat([z, enhanced]))
            score = score + leaky_sigmoid(network.metric_out(hidden)).squeeze() / network.tau_aa
            row.append(score)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def test_batched_scores_equal_the_pairwise_released_formulation() -> None:
    network = _network()
    projected, variants = torch.randn(5, 12), nn.functional.normalize(torch.randn(7, 2, 12), dim=-1)
    assert torch.allclose(
        network.scores_against(projected, variants), _naive_scores(network, projected, variants), atol=1e-5
    )


def test_enhancement_weights_sum_to_one_over_the_two_variants() -> None:
    network = _network()
    weights = network.enhancement_weights(torch.randn(4, 12), torch.randn(6, 2, 12))
    assert weights.shape == (4, 6, 2)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 6))
    assert (weights > 0).all()


def test_augmented_alignment_gradients_do_not_reach_the_direct_alignment_projector() -> None:
    with_aa = _network()
    without_aa = _network(use_aa=False)
    without_aa.load_state_dict(with_aa.state_dict())
    features, variants = torch.randn(6, 16), nn.functional.normalize(torch.randn(6, 2, 12), dim=-1)
    gradients = []
    for network in (with_aa, without_aa):
        network.scores_against(network.visual(features), variants).sum().backward()
        shared = (*network.visual.parameters(), *network.text_projector.parameters())
        gradients.append([p.grad.clone() for p in shared if p.grad is not None])
    assert len(gradients[0]) == len(gradients[1]) > 0
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*gradients, strict=True))
    assert with_aa.metric_in.weight.grad is not None and torch.count_nonzero(with_aa.metric_in.weight.grad) > 0
    scores_differ = with_aa.scores_against(with_aa.visual(features), variants) - without_aa.scores_against(
        without_aa.visual(features), variants
    )
    assert scores_differ.abs().max() > 0  # the AA term is really there


def test_leaky_sigmoid_matches_the_released_definition() -> None:
    x = torch.tensor([-100.0, -1.0, 0.0, 1e-6, 2.0])
    expected = torch.tensor(
        [
            0.01 * torch.exp(torch.tensor(-1.0)),
            0.01 * torch.exp(torch.tensor(-0.01)),
            0.01,
            0.5,
            torch.sigmoid(torch.tensor(2.0)),
        ]
    )
    assert torch.allclose(leaky_sigmoid(x), expected, atol=1e-6)


def test_fit_learns_and_paper_mode_uses_column_attention() -> None:
    torch.manual_seed(1)
    centres = torch.randn(4, 16)
    labels = torch.arange(4).repeat_interleave(12)
    features = centres[labels] + 0.1 * torch.randn(48, 16)
    text = TextBank((0, 1, 2, 3), ("name", "global"), nn.functional.normalize(torch.randn(4, 2, 8), dim=-1), "test")
    method = Dvta(DvtaParams(epochs=60, warmup_epochs=5, batch_size=16, lr=3e-3), "strict", seed=0)
    method.fit(FeatureSet(features, labels), text)
    accuracy = (method.scores(FeatureSet(features), text).argmax(1) == labels).float().mean()
    assert accuracy > 0.9


def _naive_column_scores(network: DvtaNetwork, projected: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
    """The released training form, pair by pair: column j's two texts are weighted by skeleton j, not row i."""
    rows = []
    for z in projected:
        row = []
        for j, class_variants in enumerate(variants):
            weights = torch.softmax(class_variants @ projected[j], dim=0)
            enhanced = network.text_projector((weights[:, None] * class_variants).sum(0))
            score = nn.functional.cosine_similarity(z, enhanced, dim=0) / network.tau_da
            hidden = network.metric_in(torch.cat([z, enhanced]))
            row.append(score + leaky_sigmoid(network.metric_out(hidden)).squeeze() / network.tau_aa)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def test_training_logits_attend_with_the_row_in_strict_and_the_column_in_paper() -> None:
    network = _network().eval()
    features, variants = torch.randn(5, 16), nn.functional.normalize(torch.randn(5, 2, 12), dim=-1)
    projected = network.visual(nn.functional.normalize(features, dim=-1))
    with torch.no_grad():
        strict = Dvta(DvtaParams(), "strict", 0)._batch_logits(network, features, variants)
        paper = Dvta(DvtaParams(), "paper", 0)._batch_logits(network, features, variants)
        assert torch.allclose(strict, _naive_scores(network, projected, variants), atol=1e-5)
        assert torch.allclose(paper, _naive_column_scores(network, projected, variants), atol=1e-5)
        # Off the diagonal the two differ (on it row and column are the same skeleton).
        off_diagonal = ~torch.eye(5, dtype=torch.bool)
        assert (strict - paper)[off_diagonal].abs().max() > 1e-3
        assert torch.allclose(torch.diagonal(strict), torch.diagonal(paper), atol=1e-5)
