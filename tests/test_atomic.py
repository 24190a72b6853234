from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zsbench.atomic import write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_atomic(path, '{"old": 1}')

    def torn(handle: object) -> None:
        assert hasattr(handle, "write")
        handle.write(b'{"new": ')  # type: ignore[attr-defined]
        raise RuntimeError("interrupted mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        write_atomic(path, torn)
    assert path.read_text() == '{"old": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_binary_writers_get_a_file_and_the_result_replaces_the_target(tmp_path: Path) -> None:
    path = tmp_path / "vectors.npy"  # np.save on a path would append .npy to a temporary name; on a handle it cannot
    write_atomic(path, lambda handle: np.save(handle, np.arange(3)))
    write_atomic(path, lambda handle: np.save(handle, np.arange(5)))
    assert np.load(path).tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.npy"]
