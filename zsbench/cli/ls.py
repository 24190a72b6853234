from __future__ import annotations

import typer
from rich.table import Table

from zsbench.cli.common import handle_errors, print_json, stdout

KINDS = ("methods", "datasets", "splits", "text-encoders", "encoders", "classes", "quirks", "recipes")
HELP = f"""List what zsbench knows: {", ".join(KINDS)}.

Examples:

  zsbench ls methods

  zsbench ls splits --dataset ntu60

  zsbench ls classes --dataset pku-mmd --json

  zsbench ls quirks

  zsbench ls recipes
"""


@handle_errors
def ls(
    what: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}."),
    dataset: str = typer.Option("ntu60", help="Dataset for `splits` and `classes`."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    from zsbench.catalog import DATASETS, METHODS, SKELETON_ENCODERS, TEXT_ENCODERS
    from zsbench.errors import UsageError

    rows: list[dict[str, object]]
    if what in ("methods", "datasets", "text-encoders", "encoders"):
        registry = {
            "methods": METHODS, "datasets": DATASETS, "text-encoders": TEXT_ENCODERS, "encoders": SKELETON_ENCODERS,
        }[what]  # fmt: skip
        rows = [{"name": entry.name, "summary": entry.summary} for entry in registry.entries()]
    elif what == "splits":
        from zsbench import splits

        family = DATASETS.get(DATASETS.check(dataset)).family
        rows = []
        for name in splits.available(family):
            split = splits.resolve(name, family)
            rows.append({"name": name, "seen": len(split.seen), "unseen": len(split.unseen),
                         "unseen_classes": list(split.unseen), "confidence": split.confidence,
                         "validation": "SynSE" if split.validation_source.startswith("SynSE") else "generated",
                         "validation_unseen": list(split.validation_unseen)})  # fmt: skip
    elif what == "classes":
        from zsbench.text.descriptions import class_names

        family = DATASETS.get(DATASETS.check(dataset)).family
        rows = [{"id": i, "name": name} for i, name in enumerate(class_names(family))]
    elif what == "recipes":
        from zsbench import recipes

        rows = []
        for name in recipes.available():
            recipe = recipes.load(name)
            rows.append({"name": name, "title": recipe.title, "methods": ", ".join(recipe.methods),
                         "published cells": len(recipe.published), "needs": "; ".join(recipe.needs())})  # fmt: skip
    elif what == "quirks":
        from zsbench.quirks import CATALOGUE

        declared = {name: METHODS.get(name).paper_quirks for name in METHODS.names()}
        rows = [{"name": q.name, "methods": ", ".join(m for m, names in declared.items() if q.name in names),
                 "stage": q.stage, "reads test labels": "yes" if q.reads_test_labels else "no", "summary": q.summary}
                for q in CATALOGUE.values()]  # fmt: skip
    else:
        raise UsageError(f"cannot list {what!r}; valid: {', '.join(KINDS)}")
    if as_json:
        print_json(rows)
        return
    table = Table(title=what)
    columns = [c for c in rows[0] if c not in ("unseen_classes", "validation_unseen")] if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    stdout.print(table)


ls.__doc__ = HELP
