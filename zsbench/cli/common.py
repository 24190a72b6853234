"""Shared CLI plumbing: error-to-exit-code mapping, stderr console, progress bars."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zsbench.errors import ZsbenchError

stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(command: F) -> F:
    """Turn library exceptions into a one-line message on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        try:
            return command(*args, **kwargs)
        except ZsbenchError as error:
            stderr.print(f"[bold red]error:[/] {error}", highlight=False)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            stderr.print("[yellow]interrupted[/]: nothing half-written was kept; run the same command to resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr; yields a ``(description, completed, total)`` callback.

    A parenthesised tail of the description is a status ("epoch (loss 0.41)"): it updates the text of the
    same bar instead of starting a new one.
    """
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(description: str, completed: int, total: int) -> None:
        key = description.split(" (")[0]
        if key not in tasks:
            tasks[key] = bar.add_task(description, total=total)
        bar.update(tasks[key], completed=completed, total=total, description=description)

    with bar:
        yield update
