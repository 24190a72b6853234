from __future__ import annotations

import typer

from zsbench.cli.common import handle_errors, print_json, stdout

HELP = """Print one class's descriptions at every level (name, global, paraphrases, body parts, phases).

Examples:

  zsbench describe "drink water" --dataset ntu120

  zsbench describe A058 --dataset ntu60 --json
"""


@handle_errors
def describe(
    query: str = typer.Argument(..., help="0-based id, NTU-style A-id (A013) or (part of) the class name."),
    dataset: str = typer.Option("ntu120", help="Dataset whose classes to search."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    from zsbench.catalog import DATASETS
    from zsbench.text.descriptions import find

    family = DATASETS.get(DATASETS.check(dataset)).family if dataset in DATASETS else dataset
    entry = find(family, query)
    document = {
        "id": entry.label,
        "name": entry.name,
        "global": entry.global_sentence,
        "paraphrases": list(entry.paraphrases),
        "parts": entry.parts,
        "phases": entry.phases,
    }
    if as_json:
        print_json(document)
        return
    stdout.print(f"[bold]{entry.label}  {entry.name}[/]")
    stdout.print(f"  global: {entry.global_sentence}", highlight=False)
    for number, sentence in enumerate(entry.paraphrases):
        stdout.print(f"  paraphrase {number}: {sentence}", highlight=False)
    for part, sentence in entry.parts.items():
        stdout.print(f"  {part}: {sentence}", highlight=False)
    for phase, sentence in entry.phases.items():
        stdout.print(f"  {phase}: {sentence}", highlight=False)


describe.__doc__ = HELP
