"""Multi-process training with torch.distributed (``torchrun``): the same code runs single-process.

Launch: ``torchrun --nproc_per_node N $(which zsbench) pretrain ...``. Each global batch of
``encoder.batch_size`` samples is split across the N processes and DDP averages their gradients, so the
global batch and the learning rate mean the same as in a single-process run (no LR scaling is applied).
Backend: NCCL on CUDA, gloo on the CPU. Only rank 0 writes checkpoints.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_environment() -> None:
    """Join the process group if torchrun started this process (RANK and WORLD_SIZE set)."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # "cuda" then means this rank's GPU
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm running statistics drift apart per rank)."""
    if dist.is_available() and dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
