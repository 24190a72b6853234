"""Process-wide compute settings: CPU threads and the torch device."""

from __future__ import annotations

import os

import torch

from zsbench.errors import UsageError


def cpu_threads() -> int:
    """Threads for torch on the CPU: ``$ZSBENCH_THREADS`` if set, else half the logical CPUs (at least 1).

    Half, because logical CPUs are usually hyper-threads of fewer physical cores; on the 2-vCPU machines
    this project is tested on, one thread trains the small encoders 3-6x faster than two.
    """
    configured = os.environ.get("ZSBENCH_THREADS")
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise UsageError(f"ZSBENCH_THREADS must be a positive integer, got {configured!r}")
        return int(configured)
    return max(1, (os.cpu_count() or 2) // 2)


def configure() -> dict[str, object]:
    threads = cpu_threads()
    torch.set_num_threads(threads)
    return {"threads": threads, "device": "cpu"}
