"""Benchmark of the refinement kernels: plain reference vs vectorised torch (vs Triton on CUDA)."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from zsbench import runtime


@dataclass
class KernelTiming:
    """One implementation of one test-time refinement op, timed at the benchmark size."""

    op: str
    implementation: str  # "reference", "torch" or "triton", with the device when not the CPU
    seconds: float  # one call at the benchmark size (scaled linearly when the note says so)
    peak_mib: float | None  # peak extra memory of one call: RSS high-water mark (CPU), allocator peak (CUDA)
    speedup: float  # the reference's seconds over these
    check: str  # agreement with the reference; empty for the reference itself
    note: str = ""


@dataclass(frozen=True)
class RefinementSizes:
    samples: int = 50_000
    classes: int = 24  # unseen classes of NTU-120 96/24
    slots: int = 8  # DynaPURLS description slots
    dim: int = 512  # CLIP ViT-B/32
    batch_size: int = 256  # released
    memory: int = 16  # released M
    threshold: float = 0.1  # released τ
    rho: float = 0.4  # PGFA's NTU-120 support factor
    score_subset: int = 250  # the reference scorer loops over samples x classes x slots
    refine_subset: int = 2_048  # the reference refinement runs the released graph-carrying loop


def refinement(sizes: RefinementSizes = RefinementSizes(), repeats: int = 3, seed: int = 0) -> list[KernelTiming]:
    """Reference vs vectorised (vs Triton on CUDA) for the test-time refinement ops, all in this process.

    Every vectorised result is checked against the reference. Where the reference is too slow at full size
    it runs on a subset and its time is scaled linearly; the note says so.
    """
    from zsbench.kernels import fused_scores
    from zsbench.seeding import torch_generator

    runtime.configure()
    generator = torch_generator(seed, "bench", "refinement")
    text = torch.nn.functional.normalize(
        torch.randn(sizes.classes, sizes.slots, sizes.dim, generator=generator), dim=-1
    )
    labels = torch.randint(0, sizes.classes, (sizes.samples,), generator=generator)
    noise = torch.randn(sizes.samples, sizes.dim, generator=generator)
    # Tanh outputs (as the released model's, not normalised) that lean towards their class's text.
    features = torch.tanh(text[labels, -1] * 2 + noise / 4)
    stats = fused_scores(features, text[:, -1])
    gradients = torch.randn(sizes.batch_size, sizes.classes * sizes.dim, generator=generator)
    return [
        *_bench_scores(features, text, sizes, repeats),
        *_bench_bank_stream(stats.prediction, stats.confidence, None, sizes, repeats),
        *_bench_bank_stream(stats.prediction, stats.confidence, gradients, sizes, repeats),
        *_bench_bank_offline(stats.prediction, stats.confidence, sizes, repeats),
        *_bench_prototypes(features, stats.entropy, stats.prediction, text[:, -1], sizes, repeats),
        *_bench_refine(features, text, sizes),
    ]


T = TypeVar("T")


def _measure(call: Callable[[], T], repeats: int, *, cuda: bool = False) -> tuple[float, float | None, T]:
    """(seconds per call, peak MiB, result). The first call measures memory (and warms up); ``repeats`` more
    calls are timed, or with ``repeats=0`` the first call is."""
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    else:
        tracker = _PeakRss()
    started = time.perf_counter()
    result = call()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    if cuda:
        peak: float | None = (torch.cuda.max_memory_allocated() - baseline) / 2**20
    else:
        peak = tracker.peak_mib()
    if repeats:
        started = time.perf_counter()
        for _ in range(repeats):
            call()
        if cuda:
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - started) / repeats
    return seconds, peak, result


class _PeakRss:
    """Peak resident memory growth since creation, from the kernel's high-water mark (Linux; else None).

    tracemalloc would not see torch's CPU tensors, so the process's VmHWM is reset and read instead; freed
    heap is trimmed first so that reused pages do not hide new allocations.
    """

    def __init__(self) -> None:
        self.baseline: int | None = None
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.baseline = self._read("VmRSS")
        except OSError:
            pass

    @staticmethod
    def _read(field: str) -> int:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
        raise OSError(f"{field} not in /proc/self/status")

    def peak_mib(self) -> float | None:
        if self.baseline is None:
            return None
        return max(0, self._read("VmHWM") - self.baseline) / 2**20


def _max_delta(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> str:
    delta = max(
        float((a.double() - b.double()).abs().max()) if a.numel() else 0.0 for a, b in zip(ours, theirs, strict=True)
    )
    return f"max |Δ| {delta:.1e}"


def _bench_scores(
    features: torch.Tensor, text: torch.Tensor, sizes: RefinementSizes, repeats: int
) -> list[KernelTiming]:
    from zsbench.kernels import ScoreStats, backend, fused_scores
    from zsbench.kernels.reference import reference_fused_scores

    op = "fused_scores"
    subset = features[: sizes.score_subset]
    scale = sizes.samples / sizes.score_subset
    seconds, peak, expected = _measure(lambda: reference_fused_scores(subset, text), 0)
    reference = KernelTiming(op, "reference", seconds * scale, peak, 1.0, "",
                             f"timed on {sizes.score_subset:,} samples, x{scale:.3g} linear (peak: subset)")  # fmt: skip
    ours = fused_scores(subset, text, implementation="torch")
    names = ("logits", "probs", "entropy")
    check = _max_delta([getattr(ours, name) for name in names], [expected[name] for name in names])
    if not torch.equal(ours.prediction, expected["prediction"]):
        check += ", predictions differ"
    seconds, peak, on_cpu = _measure(lambda: fused_scores(features, text, implementation="torch"), repeats)
    rows = [reference, KernelTiming(op, "torch", seconds, peak, reference.seconds / seconds, check)]
    if torch.cuda.is_available():
        features_gpu, text_gpu = features.cuda(), text.cuda()
        for name in ("torch", "triton") if backend("cuda") == "triton" else ("torch",):

            def call(name: str = name) -> ScoreStats:
                return fused_scores(features_gpu, text_gpu, implementation=name)  # type: ignore[arg-type]

            seconds, peak, on_gpu = _measure(call, repeats, cuda=True)
            check = "vs torch (cpu): " + _max_delta(
                [on_gpu.logits.cpu(), on_gpu.probs.cpu()], [on_cpu.logits, on_cpu.probs]
            )
            rows.append(KernelTiming(op, f"{name} (cuda)", seconds, peak, reference.seconds / seconds, check))
    return rows


def _bench_bank_stream(
    labels: torch.Tensor,
    confidences: torch.Tensor,
    gradients: torch.Tensor | None,
    sizes: RefinementSizes,
    repeats: int,
) -> list[KernelTiming]:
    """The online bank: one insert per batch, with per-sample gradients and the mean after each (stale) or not."""
    from zsbench.kernels import MemoryBank
    from zsbench.kernels.reference import ReferenceMemoryBank

    ids = torch.arange(sizes.samples)
    batches = [slice(start, start + sizes.batch_size) for start in range(0, sizes.samples, sizes.batch_size)]

    def stream(bank: MemoryBank | ReferenceMemoryBank) -> torch.Tensor | None:
        last = None
        for rows in batches:
            payload = None if gradients is None else gradients[: ids[rows].numel()]
            bank.insert(labels[rows], confidences[rows], ids[rows], payload)
            if gradients is not None:
                last = bank.gradient()
        return last

    def reference_stream() -> tuple[ReferenceMemoryBank, torch.Tensor | None]:
        bank = ReferenceMemoryBank(sizes.classes, sizes.memory, sizes.threshold)
        return bank, stream(bank)

    def vectorised_stream() -> tuple[MemoryBank, torch.Tensor | None]:
        dim = None if gradients is None else gradients.shape[1]
        bank = MemoryBank(sizes.classes, sizes.memory, sizes.threshold, gradient_dim=dim)
        return bank, stream(bank)

    if gradients is None:
        op, note = f"memory bank, online, ids ({len(batches)} inserts)", "recompute semantics: insert per batch"
    else:
        op = f"memory bank, online, stale ({len(batches)} inserts)"
        note = f"stale: insert with per-sample gradients (P = {gradients.shape[1]:,}), then gradient(), per batch"
    seconds, peak, (expected, expected_gradient) = _measure(reference_stream, 0)
    reference = KernelTiming(op, "reference", seconds, peak, 1.0, "", note)
    seconds, peak, (bank, gradient) = _measure(vectorised_stream, repeats)
    same = [(c, e.sample_id) for c, e in expected.entries()] == list(
        zip(bank.labels.tolist(), bank.sample_ids.tolist(), strict=True)
    )
    check = "same entries" if same else "ENTRIES DIFFER"
    if gradient is not None and expected_gradient is not None:
        check += ", gradient " + _max_delta([gradient], [expected_gradient])
    return [reference, KernelTiming(op, "torch", seconds, peak, reference.seconds / seconds, check)]


def _bench_bank_offline(
    labels: torch.Tensor, confidences: torch.Tensor, sizes: RefinementSizes, repeats: int
) -> list[KernelTiming]:
    from zsbench.kernels import MemoryBank
    from zsbench.kernels.reference import ReferenceMemoryBank

    ids = torch.arange(sizes.samples)
    args = (labels, confidences, ids, sizes.memory, sizes.threshold)
    op = "memory bank, offline (from_all)"
    seconds, peak, expected = _measure(lambda: ReferenceMemoryBank.from_all(*args, sizes.classes), 0)
    reference = KernelTiming(op, "reference", seconds, peak, 1.0, "")
    seconds, peak, bank = _measure(lambda: MemoryBank.from_all(*args, num_classes=sizes.classes), repeats)
    same = [(c, e.sample_id) for c, e in expected.entries()] == list(
        zip(bank.labels.tolist(), bank.sample_ids.tolist(), strict=True)
    )
    check = "same entries" if same else "ENTRIES DIFFER"
    return [reference, KernelTiming(op, "torch", seconds, peak, reference.seconds / seconds, check)]


def _bench_prototypes(
    features: torch.Tensor,
    entropy: torch.Tensor,
    labels: torch.Tensor,
    text: torch.Tensor,
    sizes: RefinementSizes,
    repeats: int,
) -> list[KernelTiming]:
    from zsbench.kernels import prototypes
    from zsbench.kernels.reference import reference_prototypes

    args = (features, entropy, labels, text, sizes.rho)
    op = f"prototypes (rho {sizes.rho:g})"
    seconds, peak, expected = _measure(lambda: reference_prototypes(*args), 0)
    reference = KernelTiming(op, "reference", seconds, peak, 1.0, "")
    seconds, peak, ours = _measure(lambda: prototypes(*args), repeats)
    check = _max_delta([ours], [expected])
    return [reference, KernelTiming(op, "torch", seconds, peak, reference.seconds / seconds, check)]


def _bench_refine(features: torch.Tensor, text: torch.Tensor, sizes: RefinementSizes) -> list[KernelTiming]:
    """Online refinement with the released settings (stale gradients), one pass over the test set."""
    from zsbench.kernels import RefineConfig, refine_text
    from zsbench.kernels.reference import reference_refine_text

    config = RefineConfig(memory=sizes.memory, threshold=sizes.threshold, batch_size=sizes.batch_size)
    subset = features[: sizes.refine_subset]
    scale = sizes.samples / sizes.refine_subset
    ours = refine_text(subset, text, config, "online", "stale")
    op = "refine_text, online, stale (released)"
    order = ours.log.permutation
    seconds, peak, (expected_text, expected_scores) = _measure(
        lambda: reference_refine_text(subset, text, config, "online", "stale", order), 0
    )
    reference = KernelTiming(
        op, "reference", seconds * scale, peak, 1.0, "",
        f"timed on {sizes.refine_subset:,} samples, x{scale:.3g} linear (a lower bound; peak: subset)",
    )  # fmt: skip
    check = _max_delta([ours.text, ours.scores], [expected_text, expected_scores]) + " (on the subset)"
    seconds, peak, _ = _measure(lambda: refine_text(features, text, config, "online", "stale"), 1)
    return [reference, KernelTiming(op, "torch", seconds, peak, reference.seconds / seconds, check)]
