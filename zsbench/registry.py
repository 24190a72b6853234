"""One small generic registry for methods, datasets, skeleton encoders and text encoders.

Entries are registered either as objects or as lazy ``"module:attr"`` strings so that heavy
modules (torch, transformers) are imported only when an entry is actually used.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from zsbench.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    target: T | str
    summary: str


class Registry(Generic[T]):
    """A named collection of entries of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._loaded: dict[str, T] = {}

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

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        for name in self.names():
            yield self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise a UsageError listing the valid names."""
        if name in self._entries:
            return name
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {', '.join(self.names())}")

    def summary(self, name: str) -> str:
        return self._entries[self.check(name)].summary

    def get(self, name: str) -> T:
        """Return the registered object, importing a lazy target on first use."""
        entry = self._entries[self.check(name)]
        if name in self._loaded:
            return self._loaded[name]
        target = entry.target
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            loaded: T = getattr(importlib.import_module(module_name), attr)
        else:
            loaded = target
        self._loaded[name] = loaded
        return loaded
