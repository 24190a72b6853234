"""One small generic registry for methods, datasets, skeleton encoders and text encoders.

Entries are registered either as objects or as lazy ``"module:attr"`` strings so that heavy
modules (torch, transformers) are imported only when an entry is actually used.

A registry with a ``plugins`` group also holds the ``importlib.metadata`` entry points of that group
(``zsbench.methods``, ...): an outside package adds an entry without editing zsbench. They are read once,
on the first lookup (names, membership, check, get), as lazy targets: reading them imports nothing.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from zsbench.errors import PluginError, UsageError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin entry comes from: one entry point of an installed distribution."""

    group: str
    name: str
    value: str  # the entry point's "module:attr"
    package: str
    version: str

    def describe(self) -> str:
        return f"entry point '{self.name} = {self.value}' (group {self.group}, package {self.package} {self.version})"

    def to_dict(self) -> dict[str, str]:
        return {"package": self.package, "version": self.version, "entry_point": f"{self.name} = {self.value}"}


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    target: T | str
    summary: str
    plugin: PluginSource | None = None  # None: built in

    def describe(self) -> str:
        if self.plugin is not None:
            return f"the plugin {self.plugin.describe()}"
        where = self.target if isinstance(self.target, str) else type(self.target).__name__
        return f"the built-in {where}"


def import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class Registry(Generic[T]):
    """A named collection of entries of one kind.

    ``plugins`` names the entry-point group whose entries join the built-in ones; ``base`` ("module:attr",
    imported only when a plugin is loaded) is the class a plugin's target must be a subclass or an instance of.
    """

    def __init__(self, kind: str, plugins: str | None = None, base: str | None = None) -> None:
        self.kind = kind
        self.plugin_group = plugins
        self.base = base
        self._entries: dict[str, Entry[T]] = {}
        self._loaded: dict[str, T] = {}
        self._clashes: dict[str, str] = {}  # name -> why it cannot be used
        self._plugins_read = plugins is None

    def add(self, name: str, target: T | str, summary: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, target, summary)

    def register(self, name: str, summary: str = "") -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, summary)
            return obj

        return decorate

    def _all(self) -> dict[str, Entry[T]]:
        """The entries, reading the plugin group on first use."""
        if not self._plugins_read:
            self._plugins_read = True
            self._read_plugins()
        return self._entries

    def _read_plugins(self) -> None:
        assert self.plugin_group is not None
        seen: set[tuple[str, str]] = set()
        for point in sorted(metadata.entry_points(group=self.plugin_group), key=lambda p: (p.name, p.value)):
            if (point.name, point.value) in seen:  # one distribution found twice on sys.path
                continue
            seen.add((point.name, point.value))
            package = point.dist.metadata["Name"] if point.dist is not None else "?"
            version = point.dist.version if point.dist is not None else "?"
            source = PluginSource(self.plugin_group, point.name, point.value, package, version)
            described = point.dist.metadata["Summary"] if point.dist is not None else None
            summary = f"plugin {package} {version}" + (f": {described}" if described else "")
            entry: Entry[T] = Entry(point.name, point.value, summary, source)
            existing = self._entries.get(point.name)
            if existing is None:
                self._entries[point.name] = entry
                continue
            self._clashes[point.name] = (
                f"{self.kind} {point.name!r} is defined twice: by {existing.describe()} and by {entry.describe()}. "
                f"Rename the plugin's entry point (or uninstall {package})"
            )
            log.warning("%s", self._clashes[point.name])

    def names(self) -> list[str]:
        return sorted(self._all())

    def entries(self) -> Iterator[Entry[T]]:
        entries = self._all()
        for name in self.names():
            yield entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise a UsageError listing the valid names.

        A name a plugin clashes on raises a PluginError naming both definitions.
        """
        if name in self._clashes:
            raise PluginError(self._clashes[name])
        if name in self._all():
            return name
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {', '.join(self.names())}")

    def summary(self, name: str) -> str:
        return self._all()[self.check(name)].summary

    def plugin(self, name: str) -> PluginSource | None:
        """Where the entry ``name`` comes from when a plugin defines it; None for a built-in."""
        return self._all()[self.check(name)].plugin

    def get(self, name: str) -> T:
        """Return the registered object, importing a lazy target on first use."""
        entry = self._all()[self.check(name)]
        if name in self._loaded:
            return self._loaded[name]
        target = entry.target
        if entry.plugin is not None:
            loaded: T = self._load_plugin(entry.plugin)
        elif isinstance(target, str):
            loaded = import_target(target)
        else:
            loaded = target
        self._loaded[name] = loaded
        return loaded

    def _load_plugin(self, source: PluginSource) -> Any:
        """Import a plugin's target; any failure becomes a PluginError naming the entry point."""
        try:
            loaded = import_target(source.value)
        except Exception as error:  # a plugin's import may fail in any way; the message names it
            raise PluginError(
                f"{self.kind} plugin {source.name!r} could not be loaded: {source.describe()} raised "
                f"{type(error).__name__}: {error}"
            ) from error
        if self.base is not None:
            base = import_target(self.base)
            fits = issubclass(loaded, base) if isinstance(loaded, type) else isinstance(loaded, base)
            if not fits:
                raise PluginError(
                    f"{self.kind} plugin {source.name!r}: {source.describe()} gives {loaded!r}, "
                    f"which is not a {self.base.replace(':', '.')}"
                )
        return loaded
