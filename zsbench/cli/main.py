"""The ``zsbench`` Typer application."""

from __future__ import annotations

import typer

from zsbench import __version__
from zsbench.cli.bench import bench
from zsbench.cli.compare import compare
from zsbench.cli.describe import describe
from zsbench.cli.export import export
from zsbench.cli.ls import ls
from zsbench.cli.prepare import prepare
from zsbench.cli.pretrain import pretrain
from zsbench.cli.report import report
from zsbench.cli.run import run
from zsbench.cli.sweep import sweep

app = typer.Typer(
    name="zsbench",
    help="Benchmarking toolkit for zero-shot skeleton-based action recognition.\n\n"
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 data missing or invalid, 4 sweep finished with failed runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zsbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Benchmarking toolkit for zero-shot skeleton-based action recognition."""


for command in (prepare, pretrain, run, sweep, report, compare, ls, describe, bench, export):
    app.command(no_args_is_help=command in (prepare, pretrain, sweep, ls, describe, export))(command)


def run_app() -> None:
    app()
