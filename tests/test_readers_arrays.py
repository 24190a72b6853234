from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from zsbench.data.readers import arrays
from zsbench.errors import DataError


def _skeletons(n: int, frames: int = 6, seed: int = 0) -> np.ndarray:
    """(N, 3, T, 25, 2) float32; sample 0 is single-person with body 2 a copy of body 1, as in CTR-GCN files."""
    data = np.random.default_rng(seed).normal(size=(n, 3, frames, 25, 2)).astype(np.float32)
    data[0, ..., 1] = data[0, ..., 0]
    return data


def _ctrgcn_layout(data: np.ndarray) -> np.ndarray:
    """(N, 3, T, 25, 2) to (N, T, 150), body-major, then joint, then xyz."""
    n, _, frames = data.shape[:3]
    return np.ascontiguousarray(data.transpose(0, 2, 4, 3, 1)).reshape(n, frames, 150)


def _one_hot(labels: np.ndarray, classes: int = 60) -> np.ndarray:
    return np.eye(classes)[labels]


def test_ctrgcn_npz_round_trip(tmp_path: Path) -> None:
    train, test = _skeletons(5), _skeletons(3, seed=1)
    y_train, y_test = np.array([0, 59, 3, 3, 7]), np.array([1, 2, 58])
    path = tmp_path / "NTU60_CS.npz"
    np.savez(
        path,
        x_train=_ctrgcn_layout(train),
        y_train=_one_hot(y_train),
        x_test=_ctrgcn_layout(test),
        y_test=_one_hot(y_test),
    )
    x_train, labels_train, x_test, labels_test = arrays.load_ctrgcn_npz(path)
    assert x_train.shape == (5, 3, 6, 25, 2) and x_train.dtype == np.float32
    assert np.array_equal(x_train, train) and np.array_equal(x_test, test)
    assert labels_train.dtype == np.int64 and labels_train.tolist() == y_train.tolist()
    assert labels_test.tolist() == y_test.tolist()
    assert np.array_equal(x_train[0, ..., 1], x_train[0, ..., 0])  # the copied body is kept as it is
    # the documented element order: x[n, t, m * 75 + v * 3 + c]
    raw = _ctrgcn_layout(train)
    assert x_train[2, 1, 4, 7, 1] == raw[2, 4, 75 + 7 * 3 + 1]


def test_ctrgcn_npz_errors(tmp_path: Path) -> None:
    x, y = _ctrgcn_layout(_skeletons(2)), _one_hot(np.array([0, 1]))
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x)
    with pytest.raises(DataError, match=r"bad.npz: keys \['y_test'\] are missing"):
        arrays.load_ctrgcn_npz(path)
    np.savez(path, x_train=x[..., :149], y_train=y, x_test=x, y_test=y)
    with pytest.raises(DataError, match=r"bad.npz: key 'x_train' has shape \(2, 6, 149\)"):
        arrays.load_ctrgcn_npz(path)
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y * 2)
    with pytest.raises(DataError, match="key 'y_test' is not one-hot"):
        arrays.load_ctrgcn_npz(path)
    np.savez(path, x_train=x, y_train=y[:1], x_test=x, y_test=y)
    with pytest.raises(DataError, match="key 'y_train' holds 1 labels for 2 samples"):
        arrays.load_ctrgcn_npz(path)
    np.save(tmp_path / "single.npy", x)
    with pytest.raises(DataError, match=r"expected an \.npz archive"):
        arrays.load_ctrgcn_npz(tmp_path / "single.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"junk\.npz: cannot read"):
        arrays.load_ctrgcn_npz(tmp_path / "junk.npz")


@pytest.mark.parametrize("extra", [False, True])
def test_stgcn_round_trip(tmp_path: Path, extra: bool) -> None:
    data = _skeletons(4)
    data[0, ..., 1] = 0.0  # ST-GCN leaves an absent second body at zero
    names = [f"S001C001P001R001A00{i + 1}.skeleton" for i in range(4)]
    labels = [0, 1, 2, 3]
    np.save(tmp_path / "val_data_joint.npy", data)
    content = (names, labels, [1.0] * 4) if extra else (names, labels)
    (tmp_path / "val_label.pkl").write_bytes(pickle.dumps(content))
    loaded, loaded_labels, loaded_names = arrays.load_stgcn(tmp_path / "val_data_joint.npy", tmp_path / "val_label.pkl")
    assert isinstance(loaded, np.memmap) and np.array_equal(loaded, data)
    assert loaded_labels.dtype == np.int64 and loaded_labels.tolist() == labels
    assert loaded_names == names


def test_stgcn_errors(tmp_path: Path) -> None:
    data_path, label_path = tmp_path / "train_data_joint.npy", tmp_path / "train_label.pkl"
    np.save(data_path, _skeletons(3))
    label_path.write_bytes(pickle.dumps((["a", "b"], [0, 1])))
    with pytest.raises(DataError, match=r"train_label\.pkl: 2 names and 2 labels for the 3 samples"):
        arrays.load_stgcn(data_path, label_path)
    label_path.write_bytes(pickle.dumps({"names": []}))
    with pytest.raises(DataError, match=r"expected a pickled \(names, labels\) tuple, got dict"):
        arrays.load_stgcn(data_path, label_path)
    label_path.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read the label pickle"):
        arrays.load_stgcn(data_path, label_path)
    np.save(data_path, _skeletons(3)[:, :2])
    with pytest.raises(DataError, match=r"train_data_joint.npy: array has shape \(3, 2, 6, 25, 2\)"):
        arrays.load_stgcn(data_path, label_path)
    with pytest.raises(DataError, match=r"cannot read the \.npy file"):
        arrays.load_stgcn(tmp_path / "absent.npy", label_path)
