"""Typed exceptions. Library code raises these; only the CLI turns them into exit codes."""

from __future__ import annotations


class ZsbenchError(Exception):
    """Base class. ``exit_code`` follows the CLI conventions (see README)."""

    exit_code = 1


class UsageError(ZsbenchError):
    """An unknown name or an invalid option value (exit 2)."""

    exit_code = 2


class DataError(ZsbenchError):
    """Data missing, corrupt or of the wrong shape (exit 3)."""

    exit_code = 3


class LeakError(ZsbenchError):
    """Something about unseen test classes reached a stage that must not see it."""

    exit_code = 1


class RunFailed(ZsbenchError):
    """A run could not finish (diverged, NaN scores, ...)."""

    exit_code = 1


class PluginError(ZsbenchError):
    """An installed plugin cannot be used: it fails to import, or its name clashes with another entry."""

    exit_code = 1
