"""Reproduction recipes: one published table as data (``recipes/NAME.yaml``), run by ``zsbench sweep --recipe``.

A recipe names the methods, the tables (dataset and splits) and the run settings of one paper's table, and the
published cells it reproduces (each must be a row of ``results/published.csv``). ``--stand-in`` runs it on the
synthetic set of each table's dataset family, to check the pipeline without the real data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from zsbench.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from zsbench.sweep import SweepPoint

RECIPE_FIELDS = frozenset(
    {"name", "title", "source", "methods", "tables", "seeds", "protocols", "encoder", "text_encoder", "notes",
     "published"}
)  # fmt: skip


@dataclass(frozen=True)
class RecipeTable:
    dataset: str
    splits: tuple[str, ...]


@dataclass(frozen=True)
class PublishedCell:
    """One published number a recipe reproduces: a row of ``results/published.csv``."""

    method: str
    dataset: str  # family, as in published.csv (ntu60, ntu120, pku51)
    split: str  # published.csv's split name, e.g. synse_fixed:55/5
    metric: str


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    source: str
    methods: tuple[str, ...]
    tables: tuple[RecipeTable, ...]
    seeds: tuple[int, ...]
    protocols: tuple[str, ...]
    encoder: str | None  # the paper's backbone; None keeps each dataset's default
    text_encoder: str | None
    notes: str
    published: tuple[PublishedCell, ...]

    def assignments(self) -> list[str]:
        """The config fields every point of the recipe sets (the user's --set come after and win)."""
        fields = [f"encoder.name={self.encoder}"] if self.encoder else []
        return fields + ([f"text.encoder={self.text_encoder}"] if self.text_encoder else [])

    def needs(self) -> list[str]:
        """What data the recipe needs, as the prepare commands that make it."""
        from zsbench.catalog import DATASETS

        return [DATASETS.get(table.dataset).prepare_command() for table in self.tables]


def recipes_dir() -> Path:
    """The recipe files: packaged as ``zsbench/_recipes`` in a wheel, ``recipes/`` in a checkout."""
    packaged = Path(__file__).parent / "_recipes"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "recipes"


def available() -> list[str]:
    return sorted(path.stem for path in recipes_dir().glob("*.yaml"))


def load(name: str) -> Recipe:
    path = recipes_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UsageError(f"unknown recipe {name!r}; available: {', '.join(available())}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise DataError(f"{path}: not valid YAML ({error})") from None
    return parse(data, path)


def _field(data: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, (str, list)) and not value):
        raise DataError(f"{path}: field {key!r} must be a non-empty {kind.__name__}, found {value!r}")
    return value


def parse(data: Any, path: Path) -> Recipe:
    """Check a recipe document against the schema and the registries; errors name the file and field."""
    from zsbench.catalog import DATASETS, METHODS

    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping of recipe fields")
    unknown = sorted(set(data) - RECIPE_FIELDS)
    if unknown:
        raise DataError(f"{path}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(RECIPE_FIELDS))}")
    if data.get("name") != path.stem:
        raise DataError(f"{path}: field 'name' is {data.get('name')!r}, expected the file's name {path.stem!r}")
    methods = tuple(_field(data, "methods", list, path))
    for method in methods:
        if method not in METHODS:
            raise DataError(f"{path}: field 'methods' names {method!r}, not a registered method")
    tables = []
    for position, table in enumerate(_field(data, "tables", list, path)):
        where = f"{path}, tables[{position}]"
        if not isinstance(table, dict) or table.get("dataset") not in DATASETS or not table.get("splits"):
            raise DataError(
                f"{where}: expected a registered 'dataset' and a non-empty list of 'splits', found {table!r}"
            )
        tables.append(RecipeTable(str(table["dataset"]), tuple(str(s) for s in table["splits"])))
    protocols = tuple(data.get("protocols") or ("strict", "paper"))
    if not set(protocols) <= {"strict", "paper"}:
        raise DataError(f"{path}: field 'protocols' must list strict and/or paper, found {list(protocols)}")
    cells = []
    for position, text in enumerate(data.get("published") or ()):
        parts = str(text).split()
        if len(parts) != 4:
            raise DataError(f"{path}, published[{position}]: expected 'METHOD DATASET SPLIT METRIC', found {text!r}")
        cells.append(PublishedCell(*parts))
    return Recipe(
        name=path.stem,
        title=_field(data, "title", str, path),
        source=_field(data, "source", str, path),
        methods=methods,
        tables=tuple(tables),
        seeds=tuple(int(s) for s in data.get("seeds") or (0,)),
        protocols=protocols,
        encoder=data.get("encoder"),
        text_encoder=data.get("text_encoder"),
        notes=str(data.get("notes") or ""),
        published=tuple(cells),
    )


def with_stand_ins(recipe: Recipe) -> Recipe:
    """The recipe with each table's dataset replaced by the synthetic set of the same family."""
    from dataclasses import replace

    from zsbench.catalog import DATASETS

    tables = []
    for table in recipe.tables:
        family = DATASETS.get(table.dataset).family
        stand_ins = [e.name for e in DATASETS.entries() if e.target.synthetic and e.target.family == family]  # type: ignore[union-attr]
        if not stand_ins:
            raise UsageError(f"recipe {recipe.name}: dataset {table.dataset} ({family}) has no synthetic stand-in")
        tables.append(RecipeTable(stand_ins[0], table.splits))
    return replace(recipe, tables=tuple(tables))


def require_data(recipe: Recipe) -> None:
    """Exit early, naming the prepare command, when a table's dataset has not been prepared."""
    from zsbench import paths
    from zsbench.catalog import DATASETS

    for table in recipe.tables:
        if not (paths.datasets_dir() / table.dataset).exists():
            command = DATASETS.get(table.dataset).prepare_command()
            raise DataError(
                f"recipe {recipe.name} needs dataset {table.dataset}, which is not prepared: run `{command}`"
            )


def with_dataset(recipe: Recipe, dataset: str) -> Recipe:
    """The recipe with every table of ``dataset``'s family read from ``dataset`` (e.g. a feature store)."""
    from dataclasses import replace

    from zsbench.catalog import DATASETS

    family = DATASETS.get(DATASETS.check(dataset)).family
    tables = tuple(
        RecipeTable(dataset, t.splits) if DATASETS.get(t.dataset).family == family else t for t in recipe.tables
    )
    if tables == recipe.tables and all(t.dataset != dataset for t in tables):
        raise UsageError(f"recipe {recipe.name} has no table of family {family} for --dataset {dataset}")
    return replace(recipe, tables=tables)


def plan_recipe(
    recipe: Recipe,
    methods: Sequence[str] = (),
    seeds: Sequence[int] = (),
    protocols: Sequence[str] = (),
    assignments: Sequence[str] = (),
    device: str | None = None,
) -> list[SweepPoint]:
    """Every point of the recipe (``methods``/``seeds``/``protocols``, when given, narrow or replace its own)."""
    from zsbench.sweep import plan

    for method in methods:
        if method not in recipe.methods:
            raise UsageError(f"recipe {recipe.name} has no method {method!r}; it runs {', '.join(recipe.methods)}")
    points: list[SweepPoint] = []
    for table in recipe.tables:
        points += plan(
            list(methods or recipe.methods), list(table.splits), list(seeds or recipe.seeds),
            list(protocols or recipe.protocols), [()], table.dataset, [*recipe.assignments(), *assignments],
            device=device,
        )  # fmt: skip
    return points


def recipe_rows(runs: pd.DataFrame, recipe: Recipe) -> pd.DataFrame:
    """The rows of a runs table (``zsbench.report.aggregate.runs_table``) that belong to the recipe's tables."""
    import pandas as pd

    from zsbench import splits
    from zsbench.catalog import DATASETS

    keep = runs["method"].isin(recipe.methods)
    in_tables = pd.Series(False, index=runs.index)
    for table in recipe.tables:
        family = DATASETS.get(table.dataset).family
        names = {splits.resolve(name, family).name for name in table.splits}
        in_tables |= (runs["dataset"] == table.dataset) & runs["split"].isin(names)
    return runs[keep & in_tables]


def recipe_notes(rows: pd.DataFrame, recipe: Recipe) -> list[str]:
    """What a reader of the recipe's table must know: its source, and rows that did not run its backbone."""
    notes = [f"recipe {recipe.name}: {recipe.title} ({recipe.source})"]
    if recipe.encoder and "encoder" in rows:
        others = sorted({str(e) for e in rows["encoder"]} - {recipe.encoder})
        if others:
            notes.append(f"the published table used encoder {recipe.encoder}; these rows ran {', '.join(others)}")
    if not recipe.published:
        notes.append(f"recipe {recipe.name} lists no published cell (none on record in results/published.csv)")
    return notes


def unpublished_cells(recipe: Recipe, published_csv: Path | None = None) -> list[PublishedCell]:
    """The cells a recipe lists that ``results/published.csv`` does not hold (a recipe must list none)."""
    from zsbench.report.anchors import Published

    table = Published.read(published_csv)
    return [c for c in recipe.published if not table.has(c.method, c.dataset, c.split, c.metric)]
