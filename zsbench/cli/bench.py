from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from zsbench.cli.common import handle_errors, print_json, stdout

TARGETS = ("encoders", "refine", "prepare", "methods", "all")
HELP = """Speed benchmarks, with ratios against a reference measured in the same process.

prepare: raw NTU .skeleton parsing against a line-by-line reference parser, and `zsbench prepare` itself
with 1 and 2 workers, projected to a full NTU-120 preparation (`--samples DIR`: the corpus is DIR's real
files, linked under --files distinct names; without it, synthetic real-format files). encoders: training throughput of each skeleton encoder. refine: the test-time refinement kernels (scores,
memory bank, prototypes, text refinement), plain reference vs vectorised (vs Triton on CUDA), each checked
against the reference. methods: each registered method's run on ntu60-synth 48/12 at its defaults, from empty
caches and again with the encoder cached, split into encoder training, extraction, fit and scoring (not part
of `all`: at the defaults it takes many minutes; `--quick` uses a small store and 2-epoch budgets).

Examples:

  zsbench bench encoders

  zsbench bench refine

  zsbench bench methods --method devise --method dynapurls

  zsbench bench all --json
"""


@handle_errors
def bench(
    target: str = typer.Argument("all", help=f"One of: {', '.join(TARGETS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    files: int = typer.Option(
        2000, help="prepare: files in the corpus (synthetic ones are cached in $ZSBENCH_HOME/bench)."
    ),
    samples: Path | None = typer.Option(
        None, help="prepare: a folder of real .skeleton files; the corpus links to them under distinct names."
    ),
    methods: list[str] = typer.Option([], "--method", help="methods: which to time (default: every registered)."),
    quick: bool = typer.Option(False, "--quick", help="methods: a small store and 2-epoch budgets."),
) -> None:
    from zsbench.errors import UsageError

    if target not in TARGETS:
        raise UsageError(f"unknown benchmark {target!r}; valid: {', '.join(TARGETS)}")
    documents: dict[str, list[dict[str, object]]] = {}
    if target in ("encoders", "all"):
        documents["encoders"] = _encoders(as_json)
    if target in ("refine", "all"):
        documents["refine"] = _refine(as_json)
    if target in ("prepare", "all"):
        documents["prepare"] = _prepare(as_json, files, samples)
    if target == "methods":
        documents["methods"] = _methods(as_json, methods, quick)
    if as_json:
        print_json(documents if target == "all" else documents[target])


def _encoders(as_json: bool) -> list[dict[str, object]]:
    from zsbench.bench import encoders as benchmarks

    measurements = benchmarks.encoder_training()
    reference = next(m for m in measurements if m.name == "train tcn")
    rows: list[dict[str, object]] = [
        {"benchmark": m.name, "items_per_second": m.rate, "ratio_to_reference": m.rate / reference.rate,
         "reference": reference.name}
        for m in measurements
    ]  # fmt: skip
    if not as_json:
        table = Table(title="zsbench bench encoders (CPU)")
        for column in ("benchmark", "samples/s", f"× {reference.name}"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row["benchmark"]), f"{row['items_per_second']:.0f}", f"{row['ratio_to_reference']:.3g}")
        stdout.print(table)
    return rows


def _refine(as_json: bool) -> list[dict[str, object]]:
    from dataclasses import asdict

    from zsbench.bench import refine as benchmarks

    timings = benchmarks.refinement()
    rows = [asdict(timing) for timing in timings]
    if as_json:
        return rows
    sizes = benchmarks.RefinementSizes()
    notes = list(dict.fromkeys(timing.note for timing in timings if timing.note))
    table = Table(
        title=f"zsbench bench refine: {sizes.samples:,} samples, {sizes.classes} classes, {sizes.slots} slots, "
        f"{sizes.dim}-d, batch {sizes.batch_size}, M {sizes.memory}, τ {sizes.threshold:g}"
    )
    for column in ("op", "implementation", "seconds", "speed-up", "peak MiB", "check", "note"):
        table.add_column(column, justify="right" if column in ("seconds", "speed-up", "peak MiB") else "left")
    for timing in timings:
        peak = "n/a" if timing.peak_mib is None else f"{timing.peak_mib:.1f}"
        note = f"[{notes.index(timing.note) + 1}]" if timing.note else ""
        table.add_row(timing.op, timing.implementation, f"{timing.seconds:.4f}", f"{timing.speedup:.1f}x", peak,
                      timing.check, note)  # fmt: skip
    stdout.print(table)
    for number, note in enumerate(notes, start=1):
        stdout.print(f"[{number}] {note}", highlight=False, markup=False)
    stdout.print(
        "peak MiB: growth of the process's resident high-water mark during one call (CUDA: allocator peak). "
        "Reference: plain Python loops over samples (zsbench.kernels.reference).",
        highlight=False,
    )
    return rows


def _prepare(as_json: bool, files: int, samples: Path | None) -> list[dict[str, object]]:
    from zsbench.bench.prepare import skeleton_parsing

    timings, projection = skeleton_parsing(files, samples)
    reference = timings[0]
    rows: list[dict[str, object]] = [
        {"benchmark": t.name, "files": t.files, "files_per_second": t.files_per_second,
         "megabytes_per_second": t.megabytes_per_second, "ratio_to_reference": t.files_per_second / reference.files_per_second,
         "peak_mib": t.peak_mib}
        for t in timings
    ]  # fmt: skip
    if not as_json:
        table = Table(title=f"zsbench bench prepare: {reference.files} files, {reference.megabytes:.0f} MB")
        for column in ("benchmark", "files/s", "MB/s", "× reference", "peak MiB"):
            table.add_column(column)
        for row in rows:
            peak = "" if row["peak_mib"] is None else f"{row['peak_mib']:.0f}"
            table.add_row(str(row["benchmark"]), f"{row['files_per_second']:.0f}", f"{row['megabytes_per_second']:.1f}",
                          f"{row['ratio_to_reference']:.3g}", peak)  # fmt: skip
        stdout.print(table)
        stdout.print(projection, highlight=False)
    return [*rows, {"projection": projection}]


def _methods(as_json: bool, methods: list[str], quick: bool) -> list[dict[str, object]]:
    from dataclasses import asdict

    from zsbench.bench.methods import STAGES, method_stages
    from zsbench.catalog import METHODS

    for name in methods:
        METHODS.get(name)  # unknown names fail here, listing the valid ones
    timings = method_stages(methods or METHODS.names(), quick=quick)
    rows = [{**asdict(timing), "samples_per_second": timing.samples_per_second} for timing in timings]
    if as_json:
        return rows
    reference = timings[0]
    table = Table(title=f"zsbench bench methods: ntu60-synth 48/12{' (quick)' if quick else ''}, one process")
    for column in ("method", "cache", "total s", *(s.removesuffix("_seconds").replace("_", " ") for s in STAGES),
                   "other", f"× {reference.method} cold", "samples/s"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("method", "cache") else "right")
    for timing in timings:
        table.add_row(timing.method, timing.cache, f"{timing.total_seconds:.1f}",
                      *(f"{timing.stages[s]:.1f}" for s in STAGES), f"{timing.other_seconds:.1f}",
                      f"{timing.total_seconds / reference.total_seconds:.3g}",
                      f"{timing.samples_per_second:.0f}")  # fmt: skip
    stdout.print(table)
    stdout.print(
        "cold: empty encoder and fit caches; warm: the encoder cached, the method fitted again. other: text "
        "encoding, test-time candidates tried on the validation fold, metrics and writing the record. samples/s: "
        "test-fold samples scored per second of the test fold's scoring (every sample against every class)."
    )
    return rows


bench.__doc__ = HELP
