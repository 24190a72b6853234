"""ReViSE (Tsai et al., ICCV 2017), as the synse-zsl release implements it on pooled skeleton features.

The release (skelemoa/synse-zsl ``revise/ReViSE.py``, ``revise/zsl_revise.py``; reference:
baselines-code.md §1) trains two autoencoders whose 100-d codes meet in one latent space:

- Visual: the pooled feature, transformed by log(1 + x) (no normalisation), goes through an encoder
  Linear→100 + ReLU and a decoder Linear→input + ReLU (for the 256-d Shift-GCN features).
- Text: the L2-normalised embedding of the class label goes through Linear→512 + ReLU → Linear→100 +
  ReLU and back through Linear→512 + ReLU → Linear→input + ReLU (for 1024-d SBERT).
- Each code also feeds a 50-d Linear + Tanh head; the zero-shot score is the dot product of the visual
  head with the text head of a class (no normalisation).
- Loss, all weights 1: the multi-class hinge (margin 0.3) of the visual head against every seen
  class's text head (held fixed, no gradient) and against the sample's own text head (with
  gradient); MSE reconstruction of both autoencoders; MMD with kernel exp(−32‖·‖²) between the batch's
  visual and text codes.
- Adam, lr 1e-4, weight decay 1e-3 on the text autoencoder only; batch 1024; 300 epochs.

zsbench's differences, each named: the label text is zsbench's class name (slot ``name``) through
the run's text encoder (the release: SBERT ``stsb-bert-large`` of its short labels). The release's
contractive term is left out: it reads ``emb.grad`` after a backward without a graph, so it only adds
a constant to the logged loss and no gradient (and its ``retain_grad`` call fails on current PyTorch).
log(1 + x) is extended oddly, sign(x)·log(1 + |x|) (`ours`): the same on the release's non-negative
features, finite on features with entries below −1. Strict trains the 300 epochs at a constant
learning rate and keeps the last. `paper` quirks: ``test_epoch_selection`` (the released checkpoint is
the epoch with the best unseen-test accuracy) and ``test_driven_schedule`` (its LR plateau steps on
that accuracy). The released GZSL gate's own choices are not reproduced; GZSL uses the common path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import torch
from torch import nn

from zsbench import runtime
from zsbench.config import bounded
from zsbench.methods.base import FeatureSet, Method, MethodParams
from zsbench.methods.embedding_losses import gaussian_mmd, multi_class_hinge
from zsbench.methods.test_schedule import ScheduleOnTestAccuracy, best_test_accuracy
from zsbench.methods.training import EpochMonitor
from zsbench.seeding import seed_everything, torch_generator
from zsbench.text.bank import TextBank


@dataclass
class ReviseParams(MethodParams):
    code_dim: int = bounded(100, ge=1)  # released: hidden code of both autoencoders
    head_dim: int = bounded(50, ge=1)  # released: the Tanh "transformation" heads
    visual_hidden: int = bounded(0, ge=0)  # released: 0 (one layer) for 256-d Shift-GCN; 512 for 2048-d VA-CNN
    text_hidden: int = bounded(512, ge=0)  # released: 512 for 1024-d SBERT; 0 (one layer) for 300-d w2v
    margin: float = bounded(0.3, ge=0)  # released: multi_class_hinge_loss default
    mmd_bandwidth: float = bounded(32.0, gt=0)  # released: MMDLoss k
    lr: float = bounded(1e-4, gt=0)  # released: both Adam optimisers
    text_weight_decay: float = bounded(1e-3, ge=0)  # released: on the text autoencoder only
    batch_size: int = bounded(1024, ge=1)  # released
    epochs: int = bounded(300, ge=1)  # released: max_epochs (strict keeps the last; no selection on test data)
    plateau_patience: int = bounded(25, ge=0)  # released: ReduceLROnPlateau patience (quirk only)
    plateau_cooldown: int = bounded(3, ge=0)  # released: ReduceLROnPlateau cooldown (quirk only)


def signed_log1p(x: torch.Tensor) -> torch.Tensor:
    """The released input transform log(1 + x), extended as sign(x)·log(1 + |x|) (`ours`, equal for x ≥ 0)."""
    return torch.sign(x) * torch.log1p(x.abs())


def _stack(sizes: list[int]) -> nn.Sequential:
    """Linear + ReLU for each consecutive pair of ``sizes`` (the released encoders and decoders)."""
    layers: list[nn.Module] = []
    for inputs, outputs in pairwise(sizes):
        layers += [nn.Linear(inputs, outputs), nn.ReLU()]
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """The released ``AttAE`` (one layer) / ``VisAE`` (with a hidden layer): code, reconstruction, 50-d head."""

    def __init__(self, input_dim: int, hidden: int, code_dim: int, head_dim: int) -> None:
        super().__init__()
        widths = [input_dim, hidden, code_dim] if hidden else [input_dim, code_dim]
        self.encoder = _stack(widths)
        self.decoder = _stack(widths[::-1])
        self.head = nn.Sequential(nn.Linear(code_dim, head_dim), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        code = self.encoder(x)
        return code, self.decoder(code), self.head(code)


class ReviseNetwork(nn.Module):
    def __init__(self, visual_dim: int, text_dim: int, params: ReviseParams) -> None:
        super().__init__()
        self.visual = Autoencoder(visual_dim, params.visual_hidden, params.code_dim, params.head_dim)
        self.text = Autoencoder(text_dim, params.text_hidden, params.code_dim, params.head_dim)


def revise_loss(
    network: ReviseNetwork, pooled: torch.Tensor, targets: torch.Tensor, class_text: torch.Tensor, params: ReviseParams
) -> dict[str, torch.Tensor]:
    """The released loss terms on one batch; ``targets`` index the rows of ``class_text`` (seen classes, normalised)."""
    visual_in = signed_log1p(pooled)
    visual_code, visual_out, visual_head = network.visual(visual_in)
    # Each class's text once, with gradient; a sample's text terms are its class's rows (the same values and
    # gradients as encoding the batch's texts one by one). The hinge's class heads are those rows, detached.
    text_code, text_out, text_head = network.text(class_text)
    mse = nn.functional.mse_loss
    terms = {
        "hinge": multi_class_hinge(visual_head, text_head[targets], text_head.detach(), params.margin),
        "visual_reconstruction": mse(visual_out, visual_in),
        "text_reconstruction": mse(text_out[targets], class_text[targets]),
        "mmd": gaussian_mmd(visual_code, text_code[targets], params.mmd_bandwidth),
    }
    terms["total"] = terms["hinge"] + terms["visual_reconstruction"] + terms["text_reconstruction"] + terms["mmd"]
    return terms


class Revise(Method):
    params_type: ClassVar[type[MethodParams]] = ReviseParams
    text_slots: ClassVar[tuple[str, ...]] = ("name",)
    # released 300 epochs
    synthetic_budget: ClassVar[Mapping[str, Any]] = {"epochs": 100}
    paper_quirks: ClassVar[tuple[str, ...]] = ("test_epoch_selection", "test_driven_schedule")

    def setup(self) -> None:
        self.network: ReviseNetwork | None = None
        self.schedule_acted = False

    @property
    def p(self) -> ReviseParams:
        assert isinstance(self.params, ReviseParams)
        return self.params

    def acted_quirks(self) -> frozenset[str]:
        return frozenset(q for q in self.quirks if q != "test_driven_schedule" or self.schedule_acted)

    @staticmethod
    def _class_text(text: TextBank, device: torch.device) -> torch.Tensor:
        return nn.functional.normalize(text.slot("name").float(), dim=-1).to(device)

    def fit(self, train: FeatureSet, text: TextBank, monitor: EpochMonitor | None = None) -> dict[str, Any]:
        assert train.labels is not None
        seed_everything(self.seed)
        device = runtime.device()
        network = ReviseNetwork(train.pooled.shape[1], text.dim, self.p).to(device)
        self.network = network
        class_text = self._class_text(text, device)
        pooled = train.pooled.float().to(device)
        position = {label: row for row, label in enumerate(text.labels)}
        targets = torch.tensor([position[int(y)] for y in train.labels], dtype=torch.long, device=device)
        optimiser = torch.optim.Adam(
            [
                {"params": network.visual.parameters(), "weight_decay": 0.0},
                {"params": network.text.parameters(), "weight_decay": self.p.text_weight_decay},
            ],
            lr=self.p.lr,
        )
        schedule = None
        if self.quirk("test_driven_schedule") and best_test_accuracy(monitor) is not None:
            schedule = ScheduleOnTestAccuracy(optimiser, self.p.plateau_patience, self.p.plateau_cooldown)
        self.schedule_acted = schedule is not None
        generator = torch_generator(self.seed, "revise-batches")
        losses: list[float] = []
        for epoch in range(self.p.epochs):
            network.train()
            order = torch.randperm(len(targets), generator=generator).to(device)
            total = 0.0
            for start in range(0, len(order), self.p.batch_size):
                rows = order[start : start + self.p.batch_size]
                loss = revise_loss(network, pooled[rows], targets[rows], class_text, self.p)
                optimiser.zero_grad()
                loss["total"].backward()
                optimiser.step()
                total += loss["total"].item() * len(rows)
            losses.append(total / len(targets))
            network.eval()
            if monitor is not None:
                monitor(epoch + 1)
            accuracy = best_test_accuracy(monitor)
            if schedule is not None and accuracy is not None:
                schedule.step(accuracy)
        network.eval()
        return {"final_loss": losses[-1], "epochs": len(losses), "test_driven_schedule": self.schedule_acted}

    @torch.no_grad()
    def scores(self, features: FeatureSet, text: TextBank) -> torch.Tensor:
        assert self.network is not None, "fit() first"
        network = self.network.eval()
        device = runtime.device()
        _, _, class_heads = network.text(self._class_text(text, device))
        _, _, visual_heads = network.visual(signed_log1p(features.pooled.float().to(device)))
        return (visual_heads @ class_heads.T).cpu()
