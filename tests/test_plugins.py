"""Entry-point plugins: a method defined outside zsbench, in one module of an installed distribution.

The distributions are written by hand into ``tmp_path`` (a module plus a ``.dist-info`` folder holding
``METADATA`` and ``entry_points.txt``), which is what an installed wheel leaves on ``sys.path``; nothing is
built or downloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FAST_RUN
from zsbench.errors import PluginError, UsageError
from zsbench.registry import Registry

# A pooled-feature method in one module: a ridge map from features to their class text, cosine scores.
RIDGE_PLUGIN = '''
"""Ridge regression from L2-normalised pooled features onto the class text; cosine scores (a demo plugin)."""

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from zsbench.config import bounded
from zsbench.errors import UsageError
from zsbench.methods.base import FeatureSet, Method, MethodParams
from zsbench.text.bank import TextBank


@dataclass
class RidgeParams(MethodParams):
    text_slot: str = "label_global"  # the slot the map targets
    ridge: float = bounded(1.0, gt=0)  # the L2 penalty of the closed-form solve


class RidgeMap(Method):
    params_type: ClassVar[type[MethodParams]] = RidgeParams
    text_slots: ClassVar[tuple[str, ...]] = ("label_global",)

    def setup(self) -> None:
        if self.params.text_slot not in self.text_slots:  # checked when the run resolves, before any training
            raise UsageError(f"method_params.text_slot must be one of {self.text_slots}, got {self.params.text_slot!r}")
        self.weights: torch.Tensor | None = None

    def fit(self, train: FeatureSet, text: TextBank, monitor: Any = None) -> dict[str, Any]:
        assert train.labels is not None
        features = nn.functional.normalize(train.pooled.double(), dim=-1)
        class_text = nn.functional.normalize(text.slot(self.params.text_slot).double(), dim=-1)
        position = {label: row for row, label in enumerate(text.labels)}
        targets = class_text[torch.tensor([position[int(y)] for y in train.labels])]
        gram = features.T @ features + self.params.ridge * torch.eye(features.shape[1], dtype=torch.float64)
        self.weights = torch.linalg.solve(gram, features.T @ targets)
        residual = float(((features @ self.weights - targets) ** 2).sum(1).mean())
        return {"solver": "closed-form ridge", "fit_classes": sorted(position), "residual": residual}

    def scores(self, features: FeatureSet, text: TextBank) -> torch.Tensor:
        assert self.weights is not None, "fit() first"
        mapped = nn.functional.normalize(nn.functional.normalize(features.pooled.double(), dim=-1) @ self.weights, dim=-1)
        return (mapped @ nn.functional.normalize(text.slot(self.params.text_slot).double(), dim=-1).T).float()
'''


def write_distribution(
    site: Path, package: str, modules: dict[str, str], entry_points: dict[str, dict[str, str]]
) -> Path:
    """What installing a wheel leaves on sys.path: the modules and a dist-info with the entry points."""
    site.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{package.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\nSummary: {package} for the zsbench tests\n"
    )
    groups = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
        for group, points in entry_points.items()
    )
    (info / "entry_points.txt").write_text(groups)
    return site


def cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``zsbench`` start-up, in a fresh interpreter that has the plugin on its path."""
    paths = [str(site), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "ZSBENCH_THREADS": "1"}
    command = [sys.executable, "-c", "from zsbench.cli.main import run_app; run_app()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def test_a_plugin_method_runs_end_to_end_through_the_cli(zsbench_home: Path, tmp_path: Path) -> None:
    site = write_distribution(
        tmp_path / "site", "zsbench-ridge-plugin", {"zsbench_ridge_plugin": RIDGE_PLUGIN},
        {"zsbench.methods": {"ridge-map": "zsbench_ridge_plugin:RidgeMap"}},
    )  # fmt: skip
    # FAST_RUN's encoder budget; its method_params.epochs is not a field of this method
    encoder_only = [part for flag, value in zip(FAST_RUN[::2], FAST_RUN[1::2], strict=True)
                    if value.startswith("encoder.") for part in (flag, value)]  # fmt: skip
    result = cli(site, "run", "--method", "ridge-map", "--dataset", "ntu60-synth", "--split", "48/12", "--json",
                 "--set", "method_params.ridge=0.5", *encoder_only)  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["config"]["method"] == "ridge-map"
    assert record["config"]["method_params"] == {"text_slot": "label_global", "ridge": 0.5}
    assert record["identity"]["plugins"]["method"] == {
        "package": "zsbench-ridge-plugin", "version": "0.1", "entry_point": "ridge-map = zsbench_ridge_plugin:RidgeMap",
    }  # fmt: skip
    test_log = record["method_log"]["test_fold"]
    assert test_log["solver"] == "closed-form ridge"
    assert test_log["fit_classes"] == sorted(record["split"]["seen"])  # fit saw the seen classes' text only
    assert record["metrics"]["zsl_top1"] > 2 / 12  # the plugin's zero-shot scores carry signal (chance 1/12)


def test_plugins_are_read_lazily_and_the_cli_starts_without_torch(tmp_path: Path) -> None:
    site = write_distribution(
        tmp_path / "site", "zsbench-lazy-plugin", {"zsbench_lazy_plugin": RIDGE_PLUGIN},
        {"zsbench.methods": {"lazy-ridge": "zsbench_lazy_plugin:RidgeMap"}},
    )  # fmt: skip
    probe = (
        "import sys, zsbench.cli.main, zsbench.catalog as c; "
        "print('torch' in sys.modules, 'zsbench_lazy_plugin' in sys.modules, c.METHODS.names()); "
        "print(c.METHODS.summary('lazy-ridge'))"
    )
    environment = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, check=True)
    first, summary = result.stdout.splitlines()
    assert first.startswith("False False ")  # neither torch nor the plugin's module was imported
    assert "'lazy-ridge'" in first and "'devise'" in first  # the plugin joins the built-ins
    assert summary == "plugin zsbench-lazy-plugin 0.1: zsbench-lazy-plugin for the zsbench tests"


def registry_with_plugins(site: Path, monkeypatch: pytest.MonkeyPatch, group: str) -> Registry[object]:
    monkeypatch.syspath_prepend(str(site))
    registry: Registry[object] = Registry("method", plugins=group, base="zsbench.methods.base:Method")
    registry.add("devise", "zsbench.methods.devise:Devise", "the built-in")
    return registry


def test_a_plugin_clashing_with_a_built_in_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = write_distribution(
        tmp_path / "site", "zsbench-clash-plugin", {"zsbench_clash_plugin": RIDGE_PLUGIN},
        {"zsbench_test_clash.methods": {"devise": "zsbench_clash_plugin:RidgeMap",
                                        "ridge": "zsbench_clash_plugin:RidgeMap"}},
    )  # fmt: skip
    registry = registry_with_plugins(site, monkeypatch, "zsbench_test_clash.methods")
    assert registry.names() == ["devise", "ridge"]
    with pytest.raises(PluginError) as error:
        registry.get("devise")
    message = str(error.value)
    assert "zsbench.methods.devise:Devise" in message  # the built-in
    assert "devise = zsbench_clash_plugin:RidgeMap" in message and "zsbench-clash-plugin 0.1" in message  # the plugin
    assert registry.get("ridge").__name__ == "RidgeMap"  # the other name of the same package still works


def test_a_broken_plugin_is_named_without_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = {
        "zsbench_broken_plugin": "import zsbench_no_such_dependency\n",
        "zsbench_wrong_plugin": "class NotAMethod:\n    pass\n",
    }
    site = write_distribution(
        tmp_path / "site", "zsbench-broken-plugin", modules,
        {"zsbench_test_broken.methods": {"broken": "zsbench_broken_plugin:Thing", "wrong": "zsbench_wrong_plugin:NotAMethod"},
         "zsbench.methods": {"broken": "zsbench_broken_plugin:Thing"}},
    )  # fmt: skip
    registry = registry_with_plugins(site, monkeypatch, "zsbench_test_broken.methods")
    with pytest.raises(
        PluginError, match=r"'broken = zsbench_broken_plugin:Thing'.*ModuleNotFoundError.*zsbench_no_such"
    ):
        registry.get("broken")
    with pytest.raises(PluginError, match=r"NotAMethod.*not a zsbench\.methods\.base\.Method"):
        registry.get("wrong")
    with pytest.raises(UsageError, match="Did you mean 'broken'"):
        registry.get("broke")
    # Through the CLI: one line naming the entry point and exit code 1, no traceback.
    result = cli(site, "run", "--method", "broken", "--dataset", "ntu60-synth")
    assert result.returncode == 1, result.stderr
    assert "broken = zsbench_broken_plugin:Thing" in result.stderr and "zsbench-broken-plugin" in result.stderr
    assert "Traceback" not in result.stderr
