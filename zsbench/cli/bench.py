from __future__ import annotations

import typer
from rich.table import Table

from zsbench.cli.common import handle_errors, print_json, stdout

TARGETS = ("encoders", "all")
HELP = """Speed benchmarks, with ratios against a reference measured in the same process.

Examples:

  zsbench bench encoders

  zsbench bench all --json
"""


@handle_errors
def bench(
    target: str = typer.Argument("all", help=f"One of: {', '.join(TARGETS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    from zsbench import bench as benchmarks
    from zsbench.errors import UsageError

    if target not in TARGETS:
        raise UsageError(f"unknown benchmark {target!r}; valid: {', '.join(TARGETS)}")
    measurements = benchmarks.encoder_training()
    reference = measurements[0]
    rows = [
        {"benchmark": m.name, "items_per_second": m.rate, "ratio_to_reference": m.rate / reference.rate,
         "reference": reference.name}
        for m in measurements
    ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    table = Table(title="zsbench bench (CPU)")
    for column in ("benchmark", "samples/s", f"× {reference.name}"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["benchmark"]), f"{row['items_per_second']:.0f}", f"{row['ratio_to_reference']:.2f}")
    stdout.print(table)


bench.__doc__ = HELP
