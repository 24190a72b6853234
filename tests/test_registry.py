from __future__ import annotations

import sys

import pytest

from zsbench.errors import UsageError
from zsbench.registry import Registry


def test_unknown_name_lists_valid_names_and_suggests_the_closest() -> None:
    registry: Registry[int] = Registry("method")
    registry.add("dynapurls", 1)
    registry.add("devise", 2)
    with pytest.raises(UsageError) as error:
        registry.get("dynapurl")
    message = str(error.value)
    assert "Did you mean 'dynapurls'" in message
    assert "devise, dynapurls" in message
    assert error.value.exit_code == 2


def test_duplicate_registration_is_refused() -> None:
    registry: Registry[int] = Registry("dataset")
    registry.add("ntu60", 1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("ntu60", 2)


def test_lazy_targets_are_imported_only_on_use() -> None:
    registry: Registry[object] = Registry("thing")
    registry.add("json-dumps", "json:dumps", "lazy")
    registry.add("missing", "zsbench_no_such_module:thing")
    assert "zsbench_no_such_module" not in sys.modules
    assert registry.names() == ["json-dumps", "missing"]
    import json

    assert registry.get("json-dumps") is json.dumps
    with pytest.raises(ModuleNotFoundError):
        registry.get("missing")


def test_catalog_and_cli_start_without_importing_torch() -> None:
    import subprocess

    probe = "import sys, zsbench.cli.main, zsbench.catalog as c; print('torch' in sys.modules, c.METHODS.names())"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    imported, names = result.stdout.split(" ", 1)
    assert imported == "False"
    assert "devise" in names and "pgfa" in names
