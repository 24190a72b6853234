"""Process-wide compute settings: CPU threads and the torch device.

The device is an execution setting, not part of a run's config: it is recorded in the run record's
environment but does not change the run's id. ``--device`` (or ``$ZSBENCH_DEVICE``): ``auto`` (CUDA when
available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
"""

from __future__ import annotations

import os

import torch

from zsbench.errors import UsageError

_current = torch.device("cpu")


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


def resolve_device(requested: str | None) -> torch.device:
    name = requested or os.environ.get("ZSBENCH_DEVICE", "auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} requested but torch sees no CUDA device; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise UsageError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N") from error


def configure(device: str | None = None) -> dict[str, object]:
    """Set threads and the device for this process; returns what was chosen (for the run record)."""
    global _current
    threads = cpu_threads()
    torch.set_num_threads(threads)
    _current = resolve_device(device)
    return {"threads": threads, "device": str(_current)}


def device() -> torch.device:
    """The device chosen by :func:`configure` (CPU until then)."""
    return _current
