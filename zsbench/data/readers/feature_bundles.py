"""Pre-extracted feature bundles released with SA-DVAE (also read by TDSM) and Flora, imported as feature stores.

**SA-DVAE ``resources/``** (read from pha123661/SA-DVAE ``train.py``, ``data_cnn60.py``, ``scripts/*.sh``):

- ``sk_feats/{encoder}_{dataset}[_split{i}]_{k}_r/``: ``train.npy`` + ``train_label.npy`` (seen classes, training
  subjects), ``ztest.npy`` + ``z_label.npy`` (unseen classes, test subjects), ``gtest.npy`` + ``g_label.npy`` (all
  classes, test subjects), ``gtest_out.npy`` (backbone logits, optional). encoder ``shift`` on the SynSE splits,
  ``stgcn`` on the random splits (``{dataset}_split{i}``); ``k`` is the number of unseen classes.
- ``sk_feats/{encoder}_{dataset}[_split{i}]_val_{k}_r/``: the validation version, trained on the pseudo-seen
  classes: ``train.npy`` + ``train_label.npy``, and ``val.npy`` + ``val_label.npy`` (+ ``val_out.npy``), the
  set SA-DVAE's gate is trained and tested on. It becomes the store's validation features.
- ``label_splits/{dataset}[_split{i}]/``: ``ru{k}.npy`` (unseen), ``rs{C-k}.npy`` (seen), ``rv{k}_0.npy``
  (validation unseen), ``rs{C-2k}_0.npy`` (validation seen), 0-based class ids.
- ``text_feats/{dataset}[_split{i}]/{text encoder}/{mode}_{C}.npy``: class text features (C, D); listed in the
  manifest for ``--set text.encoder=npy:PATH``.

**Flora ``skeleton_features/``** (read from cseeyangchen/Flora ``feeders/feeder_ntu.py`` ``load_feature``, the
README's tree and ``configs/*``): one ``.npz`` per benchmark task named
``{dataset}[_{partition}]_seen{S}_unseen{U}[_split{i}].npz`` with keys ``train_data`` / ``train_label`` (seen
classes, training samples), ``zsl_data`` / ``zsl_label`` (unseen test samples) and ``gzsl_data`` / ``gzsl_label``
(all test samples); labels are the original 0-based class ids. Subfolders: ``synse_features`` (SynSE splits),
``sadave_features`` (SA-DVAE random splits), ``star_features`` (STAR: SynSE class lists on NTU, the STAR lists on
PKU-MMD, one file per partition), ``starsmie_features`` (SMIE random splits), ``flora_features`` (PURLS splits).
Flora defines no validation hold-out; zsbench then carves an approximate one (recorded by the runner).
STAR's own release has no feature files (its feeders read CTR-GCN ``.npz`` skeletons and run a frozen Shift-GCN);
the STAR benchmark's features are the ``star_features`` / ``starsmie_features`` of this bundle.

Each bundle split is matched *by its class lists* to a zsbench split (the bundle's names, e.g. SA-DVAE's
``split2``, are not trusted to mean zsbench's ``sadvae:2``); a bundle split that matches none is not imported
and is listed in the manifest with its classes. The manifest records, per split, the source, the bundle's
unseen classes and its validation hold-out, and whether that hold-out is the zsbench split's (the runner uses
stored validation features only then).
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zsbench import splits
from zsbench.data.datasets import DatasetSpec
from zsbench.data.features import SplitFeatures, checked_features, checked_labels, write_feature_store
from zsbench.errors import DataError
from zsbench.splits import ClassSplit

log = logging.getLogger(__name__)
SADVAE_FOLDER = re.compile(
    r"^(?P<encoder>[a-z0-9]+)_(?P<dataset>ntu60|ntu120|pku51)(?:_(?P<split>split\d+))?(?P<val>_val)?_(?P<k>\d+)_r$"
)
FLORA_FILE = re.compile(
    r"^(?P<dataset>ntu60|ntu120|pku51)(?:_(?P<partition>xsub|xview|xset))?_seen(?P<seen>\d+)_unseen(?P<unseen>\d+)"
    r"(?:_spli?t?(?P<split>\d+))?\.npz$"
)  # the README spells some names "_spli1"; the configs "_split1"
FLORA_KEYS = ("train_data", "train_label", "zsl_data", "zsl_label", "gzsl_data", "gzsl_label")
# Per layout: the bundle subfolders it imports and the zsbench split settings their class lists come from.
FLORA_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "flora": {"synse_features": ("synse",), "sadave_features": ("sadvae",), "flora_features": ("purls",)},
    "star": {"star_features": ("synse", "star"), "starsmie_features": ("smie", "star")},
}
IMPORTED_PARTITION = "xsub"  # feature stores hold one partition; the runner does not choose among several


@dataclass
class Imported:
    parts: dict[str, tuple[SplitFeatures, SplitFeatures | None]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)

    def add(
        self, split: ClassSplit, features: tuple[SplitFeatures, SplitFeatures | None], record: dict[str, Any]
    ) -> None:
        if split.name in self.parts:
            raise DataError(
                f"{record['source']}: holds split {split.name}, as {self.sources[split.name]['source']} does; "
                "a store holds one set of features per split (move one of them away)"
            )
        self.parts[split.name] = features
        self.sources[split.name] = record


def match_split(family: str, unseen: set[int], preferred: tuple[str, ...]) -> ClassSplit | None:
    """The zsbench split of ``family`` whose unseen classes are ``unseen``, from a preferred setting if several."""
    matches = [s for s in (splits.resolve(n, family) for n in splits.available(family)) if set(s.unseen) == unseen]
    for setting in preferred:
        for split in matches:
            if split.setting == setting:
                return split
    return matches[0] if matches else None


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error})") from error


def _class_list(path: Path, family: str) -> set[int]:
    return set(checked_labels(_load_npy(path).reshape(-1), family, path).tolist())


def _part(folder: Path, features_file: str, labels_file: str, family: str) -> tuple[np.ndarray, np.ndarray]:
    labels_path, features_path = folder / labels_file, folder / features_file
    for path in (features_path, labels_path):
        if not path.is_file():
            raise DataError(f"{path} not found (an SA-DVAE feature folder holds {features_file} and {labels_file})")
    labels = checked_labels(_load_npy(labels_path), family, labels_path)
    return checked_features(_load_npy(features_path), len(labels), features_path, labels_file), labels


def _logits(path: Path, rows: int, num_classes: int, notes: list[str]) -> np.ndarray | None:
    """Backbone logits (rows, classes) when present and shaped so; otherwise None, with a note why."""
    if not path.is_file():
        return None
    logits = _load_npy(path)
    if logits.ndim != 2 or logits.shape != (rows, num_classes):
        notes.append(f"{path.name} has shape {logits.shape}, not ({rows}, {num_classes}); not imported")
        return None
    return checked_features(logits, rows, path, "the test features")


def _check_width(reference: np.ndarray, other: np.ndarray, path: Path, reference_path: Path) -> None:
    if other.shape[1] != reference.shape[1]:
        raise DataError(
            f"{path}: features are {other.shape[1]} wide but {reference_path} has {reference.shape[1]}; "
            "the parts of one split must agree in width (D)"
        )


def _sadvae_validation(folder: Path, family: str, width_of: tuple[np.ndarray, Path], notes: list[str]) -> SplitFeatures:
    train, train_labels = _part(folder, "train.npy", "train_label.npy", family)
    test_files = ("val.npy", "val_label.npy", "val_out.npy")
    if not (folder / "val.npy").is_file() and (folder / "gtest.npy").is_file():
        test_files = ("gtest.npy", "g_label.npy", "gtest_out.npy")
    test, test_labels = _part(folder, test_files[0], test_files[1], family)
    for array, name in ((train, "train.npy"), (test, test_files[0])):
        _check_width(width_of[0], array, folder / name, width_of[1])
    logits = _logits(folder / test_files[2], len(test), splits.NUM_CLASSES[family], notes)
    return SplitFeatures(train, train_labels, test, test_labels, logits)


def _sadvae(root: Path, family: str, imported: Imported) -> list[str]:
    """Import SA-DVAE ``sk_feats`` folders of ``family``; the bundle dataset names met (for the text features)."""
    sk_feats = root / "sk_feats"
    if not sk_feats.is_dir():
        raise DataError(f"{sk_feats} not found; --root must be SA-DVAE's resources/ folder (sk_feats/, label_splits/)")
    num_classes = splits.NUM_CLASSES[family]
    local_names = []
    for folder in sorted(p for p in sk_feats.iterdir() if p.is_dir()):
        match = SADVAE_FOLDER.match(folder.name)
        if match is None or match["dataset"] != family or match["val"]:
            if match is None:
                imported.not_imported.append(f"sk_feats/{folder.name} (not an SA-DVAE feature folder name)")
            continue
        k, local = int(match["k"]), family + (f"_{match['split']}" if match["split"] else "")
        notes: list[str] = []
        train, train_labels = _part(folder, "train.npy", "train_label.npy", family)
        test, test_labels = _part(folder, "gtest.npy", "g_label.npy", family)
        _check_width(train, test, folder / "gtest.npy", folder / "train.npy")
        label_dir = root / "label_splits" / local
        ru_file, seen_file = label_dir / f"ru{k}.npy", label_dir / f"rs{num_classes - k}.npy"
        if ru_file.is_file():
            unseen, unseen_source = _class_list(ru_file, family), f"label_splits/{local}/ru{k}.npy"
        else:
            unseen = set(range(num_classes)) - set(train_labels.tolist())
            unseen_source = "the classes train_label.npy lacks (no label_splits file)"
        if len(unseen) != k:
            raise DataError(f"{folder}: the folder name says {k} unseen classes, {unseen_source} gives {len(unseen)}")
        if (
            ru_file.is_file()
            and seen_file.is_file()
            and _class_list(seen_file, family) != set(range(num_classes)) - unseen
        ):
            raise DataError(f"{seen_file}: the seen classes are not the complement of ru{k}.npy's unseen classes")
        stray = sorted(set(train_labels.tolist()) & unseen)
        if stray:
            raise DataError(f"{folder / 'train_label.npy'}: classes {stray} are unseen in this split ({unseen_source})")
        record: dict[str, Any] = {
            "source": f"sk_feats/{folder.name}", "encoder": match["encoder"], "bundle_split": local,
            "unseen": sorted(unseen), "unseen_source": unseen_source, "features_width": int(train.shape[1]),
        }  # fmt: skip
        split = match_split(family, unseen, ("sadvae",) if match["split"] else ("synse",))
        if split is None:
            imported.unmatched.append(record)
            continue
        validation = None
        validation_folder = sk_feats / f"{match['encoder']}_{local}_val_{k}_r"
        record["validation_folder"] = None
        if validation_folder.is_dir():
            validation = _sadvae_validation(validation_folder, family, (train, folder / "train.npy"), notes)
            held_file = label_dir / f"rv{k}_0.npy"
            held = (
                _class_list(held_file, family)
                if held_file.is_file()
                else set(split.seen) - set(validation.train_labels.tolist())
            )
            record.update(
                validation_folder=f"sk_feats/{validation_folder.name}", validation_unseen=sorted(held),
                validation_matches_zsbench=held == set(split.validation_unseen),
            )  # fmt: skip
        test_logits = _logits(folder / "gtest_out.npy", len(test), num_classes, notes)
        record["notes"] = notes
        imported.add(split, (SplitFeatures(train, train_labels, test, test_labels, test_logits), validation), record)
        local_names.append(local)
    return local_names


def _text_features(root: Path, locals_: list[str], family: str) -> list[dict[str, Any]]:
    """The class text feature files of the imported bundle datasets, each checked to be (classes, D)."""
    found = []
    for local in sorted(set(locals_)):
        for path in sorted((root / "text_feats" / local).glob("*/*.npy")):
            array = np.load(path, mmap_mode="r", allow_pickle=False) if path.stat().st_size else np.empty(0)
            if array.ndim != 2 or array.shape[0] != splits.NUM_CLASSES[family]:
                raise DataError(
                    f"{path}: shape {array.shape}, expected ({splits.NUM_CLASSES[family]}, D): one text feature "
                    f"per {family} class"
                )
            found.append({"file": str(path), "shape": list(array.shape)})
    return found


def _flora_file(path: Path, family: str) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: cannot read the .npz file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single array, expected an .npz archive with keys {list(FLORA_KEYS)}")
    with archive:
        missing = [key for key in FLORA_KEYS if key not in archive.files]
        if missing:
            raise DataError(f"{path}: key {missing[0]!r} is missing, expected keys {list(FLORA_KEYS)}")
        try:
            raw = {key: archive[key] for key in FLORA_KEYS}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise DataError(f"{path}: cannot read the .npz file ({error})") from error
    out: dict[str, np.ndarray] = {}
    for part in ("train", "zsl", "gzsl"):
        labels = checked_labels(raw[f"{part}_label"], family, Path(f"{path}: key '{part}_label'"))
        out[f"{part}_label"] = labels
        out[f"{part}_data"] = checked_features(
            raw[f"{part}_data"], len(labels), Path(f"{path}: key '{part}_data'"), f"'{part}_label'"
        )
    for part in ("zsl", "gzsl"):
        _check_width(out["train_data"], out[f"{part}_data"], Path(f"{path}: key '{part}_data'"), Path("'train_data'"))
    return out


def _flora(root: Path, family: str, layout: str, imported: Imported) -> None:
    num_classes = splits.NUM_CLASSES[family]
    folders = FLORA_PARTS[layout]
    if not any((root / sub).is_dir() for sub in folders):
        raise DataError(
            f"{root}: none of {', '.join(f'{s}/' for s in folders)} found; --root must be Flora's skeleton_features/"
        )
    for sub, preferred in folders.items():
        for path in sorted((root / sub).glob("*.npz")) if (root / sub).is_dir() else []:
            match = FLORA_FILE.match(path.name)
            if match is None:
                imported.not_imported.append(f"{sub}/{path.name} (not a Flora task file name)")
                continue
            if match["dataset"] != family:
                continue
            if (match["partition"] or IMPORTED_PARTITION) != IMPORTED_PARTITION:
                imported.not_imported.append(f"{sub}/{path.name} (partition {match['partition']}; stores hold xsub)")
                continue
            arrays = _flora_file(path, family)
            unseen = set(arrays["zsl_label"].tolist())
            seen_count, unseen_count = int(match["seen"]), int(match["unseen"])
            if len(unseen) != unseen_count or seen_count + unseen_count != num_classes:
                raise DataError(
                    f"{path}: key 'zsl_label' holds {len(unseen)} classes; the file name says seen {seen_count} / "
                    f"unseen {unseen_count} of {family}'s {num_classes}"
                )
            stray = sorted(set(arrays["train_label"].tolist()) & unseen)
            if stray:
                raise DataError(f"{path}: key 'train_label' holds classes {stray}, which are unseen (in 'zsl_label')")
            in_gzsl = int(np.isin(arrays["gzsl_label"], sorted(unseen)).sum())
            record: dict[str, Any] = {
                "source": f"{sub}/{path.name}", "bundle_split": path.stem, "unseen": sorted(unseen),
                "unseen_source": "key 'zsl_label'", "features_width": int(arrays["train_data"].shape[1]),
                "validation_folder": None, "validation_unseen": None,
                "notes": [] if in_gzsl == len(arrays["zsl_label"]) else [
                    f"'gzsl_label' has {in_gzsl} unseen-class rows, 'zsl_label' {len(arrays['zsl_label'])}; "
                    "the store's test set is the gzsl part"
                ],
            }  # fmt: skip
            split = match_split(family, unseen, preferred)
            if split is None:
                imported.unmatched.append(record)
                continue
            main = SplitFeatures(
                arrays["train_data"], arrays["train_label"], arrays["gzsl_data"], arrays["gzsl_label"], None
            )
            imported.add(split, (main, None), record)


def prepare_bundle(layout: str, root: Path, destination: Path, spec: DatasetSpec) -> Path:
    """Import the feature bundle under ``root`` (layout ``sadvae``, ``flora`` or ``star``) as a feature store."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    imported = Imported()
    text: list[dict[str, Any]] = []
    if layout == "sadvae":
        text = _text_features(root, _sadvae(root, spec.family, imported), spec.family)
    else:
        _flora(root, spec.family, layout, imported)
    if not imported.parts:
        unmatched = "; ".join(f"{u['source']}: unseen {u['unseen']}" for u in imported.unmatched)
        raise DataError(
            f"{root}: no {spec.family} features whose classes match a zsbench split"
            + (f" (found {unmatched})" if unmatched else f" ({spec.how_to_obtain})")
        )
    for entry in imported.unmatched:
        log.warning("%s: unseen classes %s match no zsbench split; not imported", entry["source"], entry["unseen"])
    manifest = {
        "family": spec.family, "layout": layout, "source": str(root), "split_sources": imported.sources,
        "unmatched_splits": imported.unmatched, "not_imported": imported.not_imported, "text_features": text,
    }  # fmt: skip
    return write_feature_store(destination, manifest, imported.parts)
