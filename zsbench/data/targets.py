"""Prepare targets: how each kind of dataset becomes a prepared store.

Every dataset spec names its target (``DatasetSpec.target``); ``zsbench prepare`` builds one
:class:`PrepareRequest` from its options and calls :func:`prepare_dataset`, which looks the target up here.
A new way of preparing data is one function in :data:`TARGETS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zsbench import paths
from zsbench.data.datasets import DatasetSpec
from zsbench.data.preprocess import PrepareOptions
from zsbench.errors import UsageError


@dataclass(frozen=True)
class PrepareRequest:
    """What the user asked ``zsbench prepare`` for; each target reads the fields that concern it."""

    root: Path | None = None
    missing: Path | None = None
    npz: Path | None = None
    stgcn_data: Path | None = None
    stgcn_label: Path | None = None
    pyskl: Path | None = None
    options: PrepareOptions = field(default_factory=PrepareOptions)
    frame_base: int = 0
    workers: int | None = None
    skip_bad: bool = False
    train_subjects: int = 5
    test_subjects: int = 17
    seed: int = 0
    write_skeletons: Path | None = None


@dataclass
class Prepared:
    path: Path
    messages: list[str] = field(default_factory=list)  # for the user, beside the manifest's own warnings


Progress = Callable[[str, int, int], None]
Target = Callable[[DatasetSpec, PrepareRequest, Progress | None], Prepared]


def _synthetic(spec: DatasetSpec, request: PrepareRequest, progress: Progress | None) -> Prepared:
    from zsbench.data.prepare import prepare_synthetic
    from zsbench.data.synthetic.generator import SynthConfig

    config = SynthConfig(
        family=spec.family, train_subjects=request.train_subjects, test_subjects=request.test_subjects,
        frames=request.options.frames, seed=request.seed,
    )  # fmt: skip
    if request.write_skeletons is not None and spec.family not in ("ntu60", "ntu120"):
        raise UsageError(f"--write-skeletons writes NTU .skeleton files; {spec.name} is not an NTU set")
    prepared = Prepared(prepare_synthetic(spec.name, config, progress))
    if request.write_skeletons is not None:
        from zsbench.data.synthetic.skeleton_files import write_synthetic_skeletons

        written = write_synthetic_skeletons(config, request.write_skeletons, progress=progress)
        prepared.messages.append(f"wrote {written} .skeleton files to {request.write_skeletons}")
    return prepared


def _smie_splits(spec: DatasetSpec, request: PrepareRequest, progress: Progress | None) -> Prepared:
    from zsbench.data.prepare import prepare_smie_splits

    options = PrepareOptions(
        frames=request.options.frames, dtype=request.options.dtype, non_finite=request.options.non_finite
    )
    return Prepared(prepare_smie_splits(spec.name, request.root, options))


def _needs_root(spec: DatasetSpec, request: PrepareRequest, what: str) -> Path:
    if request.root is None:
        raise UsageError(f"{spec.name} needs --root: {what}")
    return request.root


def _synse_features(spec: DatasetSpec, request: PrepareRequest, progress: Progress | None) -> Prepared:
    from zsbench.data.features import prepare_feature_store

    root = _needs_root(spec, request, "a folder of SynSE-style shift_{k}_r/ split folders")
    return Prepared(prepare_feature_store(root, paths.datasets_dir() / spec.name, spec.family, spec.name))


BUNDLE_ROOTS = {
    "sadvae": "SA-DVAE's resources/ folder (sk_feats/, label_splits/, text_feats/)",
    "flora": "Flora's skeleton_features/ folder (synse_features/, sadave_features/, flora_features/)",
    "star": "Flora's skeleton_features/ folder (star_features/, starsmie_features/)",
}


def _bundle(layout: str) -> Target:
    def prepare(spec: DatasetSpec, request: PrepareRequest, progress: Progress | None) -> Prepared:
        from zsbench.data.readers import feature_bundles

        root = _needs_root(spec, request, BUNDLE_ROOTS[layout])
        return Prepared(feature_bundles.prepare_bundle(layout, root, paths.datasets_dir() / spec.name, spec))

    return prepare


def _recorded_skeletons(spec: DatasetSpec, request: PrepareRequest, progress: Progress | None) -> Prepared:
    """Real skeleton data: raw files under --root, or one of the community's prepared forms."""
    from zsbench.data import prepare as build

    if request.pyskl is not None:
        if request.npz is not None or request.stgcn_data is not None or request.root is not None:
            raise UsageError("--pyskl reads one pickle; give it without --root, --npz or --stgcn-data")
        if spec.family == "pku51":
            raise UsageError(
                f"--pyskl reads NTU RGB+D annotation pickles: use it with ntu60 or ntu120, not {spec.name}"
            )
        return Prepared(build.prepare_pyskl(spec.name, request.pyskl, request.options, progress))
    if request.npz is not None or request.stgcn_data is not None or request.stgcn_label is not None:
        if (request.stgcn_data is None) != (request.stgcn_label is None):
            raise UsageError("--stgcn-data and --stgcn-label go together")
        pair = (request.stgcn_data, request.stgcn_label) if request.stgcn_data and request.stgcn_label else None
        return Prepared(build.prepare_arrays(spec.name, npz=request.npz, stgcn=pair, options=request.options))
    if spec.family == "pku51":
        return Prepared(
            build.prepare_pku(request.root, request.options, request.frame_base, request.workers, request.skip_bad,
                              progress)
        )  # fmt: skip
    return Prepared(
        build.prepare_ntu(spec.name, request.root, request.options, request.missing, request.workers,
                          request.skip_bad, progress)
    )  # fmt: skip


TARGETS: dict[str, Target] = {
    "synthetic": _synthetic,
    "recorded-skeletons": _recorded_skeletons,
    "smie-splits": _smie_splits,
    "synse-features": _synse_features,
    **{f"bundle:{layout}": _bundle(layout) for layout in BUNDLE_ROOTS},
}


def prepare_dataset(spec: DatasetSpec, request: PrepareRequest, progress: Progress | None = None) -> Prepared:
    """Prepare ``spec`` as its target says."""
    if spec.target not in TARGETS:
        raise UsageError(f"dataset {spec.name} names prepare target {spec.target!r}; known: {', '.join(TARGETS)}")
    if request.pyskl is not None and spec.target != "recorded-skeletons":
        raise UsageError(f"--pyskl reads NTU RGB+D annotation pickles: use it with ntu60 or ntu120, not {spec.name}")
    return TARGETS[spec.target](spec, request, progress)
