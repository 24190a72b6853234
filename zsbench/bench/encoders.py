"""Training throughput of each skeleton encoder on the CPU."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from zsbench import runtime
from zsbench.config import EncoderConfig
from zsbench.encoders.pretrain import build_encoder


@dataclass
class Measurement:
    name: str
    seconds: float
    items: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def _time(step: Callable[[], None], repeats: int) -> float:
    step()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - started) / repeats


def encoder_training(batch_size: int = 64, frames: int = 64, repeats: int = 5) -> list[Measurement]:
    """Training throughput (samples/s) of each skeleton encoder on the CPU, one optimiser step per batch."""
    from zsbench.catalog import SKELETON_ENCODERS

    runtime.configure()
    inputs = torch.randn(batch_size, 3, frames, 25, 2)
    inputs[::2, ..., 1] = 0  # half the clips have one actor (NTU: most do); encoders may skip absent bodies
    targets = torch.randint(0, 48, (batch_size,))
    results = []
    for name in SKELETON_ENCODERS.names():
        model = build_encoder(EncoderConfig(name=name), 48)
        optimiser = torch.optim.Adam(model.parameters())

        def step(model: torch.nn.Module = model, optimiser: torch.optim.Optimizer = optimiser) -> None:
            loss = torch.nn.functional.cross_entropy(model(inputs), targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

        results.append(Measurement(f"train {name}", _time(step, repeats), batch_size))
    return results
