from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zsbench.data import store
from zsbench.errors import DataError


def _arrays(n: int = 4) -> tuple[np.ndarray, pd.DataFrame]:
    skeletons = np.random.default_rng(0).normal(size=(n, 3, 8, 25, 2)).astype(np.float32)
    index = pd.DataFrame(
        {"sample": [f"s{i}" for i in range(n)], "label": np.arange(n) % 2, "subject": 1, "camera": 1, "setup": 1,
         "replication": 1, "frames": 8}
    )  # fmt: skip
    return skeletons, index


def test_round_trip_through_the_reader(tmp_path: Path) -> None:
    skeletons, index = _arrays()
    path = store.write_store(tmp_path, "toy", skeletons, index, {"family": "ntu60", "source": "test"})
    loaded = store.load_store(tmp_path, "toy", "zsbench prepare toy")
    assert np.array_equal(np.asarray(loaded.skeletons), skeletons)
    assert isinstance(loaded.skeletons, np.memmap)
    assert loaded.labels.tolist() == [0, 1, 0, 1]
    assert loaded.manifest["counts_per_label"] == {"0": 2, "1": 2}
    assert len(loaded.content_hash) == 32 and path == tmp_path / "toy"
    assert [p.name for p in tmp_path.iterdir()] == ["toy"]


def test_an_interrupted_write_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch) -> None:
    skeletons, index = _arrays()
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        store.write_store(tmp_path, "toy", skeletons, index, {})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="zsbench prepare toy"):
        store.load_store(tmp_path, "toy", "zsbench prepare toy")


def test_corrupt_or_inconsistent_stores_are_named(tmp_path: Path) -> None:
    skeletons, index = _arrays()
    store.write_store(tmp_path, "toy", skeletons, index, {})
    (tmp_path / "toy" / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match=r"manifest.json: not valid JSON"):
        store.load_store(tmp_path, "toy", "hint")
    with pytest.raises(DataError, match=r"expected \(N, 3, T, 25, 2\)"):
        store.write_store(tmp_path, "bad", skeletons[:, :, :, :20], index, {})
    with pytest.raises(DataError, match="index has 3 rows"):
        store.write_store(tmp_path, "bad", skeletons, index.iloc[:3], {})
    store.write_store(tmp_path, "old", skeletons, index, {})
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({**manifest, "format_version": 0}))
    with pytest.raises(DataError, match="format_version"):
        store.load_store(tmp_path, "old", "hint")


def test_a_full_disk_while_writing_a_run_record_is_a_clear_error_that_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from zsbench.results.record import RunRecord
    from zsbench.results.store import write_record

    record = RunRecord("abc123", {}, {}, {}, {}, {"zsl_top1": 0.5}, {}, {}, {}, {}, {}, {})

    def full(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(DataError, match="No space left on device"):
        write_record(tmp_path, record, {"scores": np.zeros(3)})
    assert list(tmp_path.iterdir()) == []
