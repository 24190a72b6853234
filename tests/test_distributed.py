"""DDP training on the CPU with the gloo backend and 2 processes: replicas stay identical, rank 0 checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from zsbench.config import EncoderConfig
from zsbench.encoders.pretrain import train_encoder
from zsbench.eval.protocol import guarded_training_set

CONFIG = EncoderConfig(dim=16, hidden=16, epochs=8, batch_size=8, lr=3e-3)


def _worker(rank: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    skeletons = rng.normal(size=(32, 3, 16, 25, 2)).astype(np.float32)
    training = guarded_training_set(np.arange(32), np.arange(32) % 4, (0, 1, 2, 3), "ddp test")
    trained = train_encoder(skeletons, training, CONFIG, 0, Path(folder) / "checkpoints", "store")
    torch.save({"state": trained.model.state_dict(), "history": trained.history}, f"{folder}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_gloo_processes_train_identical_replicas(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=2, join=True)
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name
    checkpoints = list((tmp_path / "checkpoints").glob("*.pt"))
    assert len(checkpoints) == 1 and not checkpoints[0].name.endswith(".last.pt")
    losses = [epoch["loss"] for epoch in first["history"]]
    assert losses[-1] < losses[0]
