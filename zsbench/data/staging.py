"""Building a folder beside its final place and swapping it in without a moment lacking a valid one.

A store ``ROOT/NAME`` is built in ``ROOT/.NAME.partial-PID-XXXXXXXX`` (unique per process). The swap renames
the current store aside to ``ROOT/.NAME.old-PID-XXXXXXXX``, renames the new one in, then deletes the old one;
a process killed between the two renames leaves the old store aside, and :func:`recover` (called before
every build and every read) renames it back. Staging folders of processes that are no longer running are
removed by the next build of that name, and a failed build removes its own.

``ZSBENCH_FAULT=swap`` (or ``after-swap``) kills the process with SIGKILL at that point of the swap: a
hook for the tests that check the swap survives being killed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

from zsbench import paths
from zsbench.errors import DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
FAULT_VARIABLE = "ZSBENCH_FAULT"
COMPLETE_MARKER = "manifest.json"
DISK_MARGIN = 1.05  # ask for 5 % more free space than the store's known size


def fault_point(name: str) -> None:
    """Die here (SIGKILL) when ``$ZSBENCH_FAULT`` names this point; a test hook, a no-op otherwise."""
    if os.environ.get(FAULT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _pattern(name: str, kind: str) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(name)}\.{kind}-(\d+)-[0-9a-f]{{8}}$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder ``root`` (swaps and recoveries there never interleave)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        descriptor = os.open(root, os.O_RDONLY)
    except OSError:  # pragma: no cover - an unreadable root: nothing can be swapped there anyway
        yield
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def require_space(folder: Path, size: int, what: str) -> None:
    """Raise a DataError unless ``folder``'s file system has room for ``size`` bytes (plus a margin)."""
    free = shutil.disk_usage(folder).free
    needed = int(size * DISK_MARGIN)
    if free < needed:
        raise DataError(
            f"{folder}: not enough free disk space for the {what}: it needs about {needed / 1e6:.1f} MB, "
            f"{free / 1e6:.1f} MB are free"
        )


def disk_error(error: OSError, where: Path) -> DataError:
    """A DataError for an OSError met while writing (a full disk, a read-only file system, ...)."""
    if error.errno == errno.ENOSPC:
        return DataError(f"{where}: the disk is full ({error.strerror}); nothing half-written was kept")
    return DataError(f"{where}: cannot write ({error.strerror or error}); nothing half-written was kept")


def new_staging(root: Path, name: str) -> Path:
    """Create and return a fresh staging folder for ``ROOT/NAME``, after recovering an interrupted swap."""
    paths.require_writable(root, "datasets")
    recover(root, name)
    staging = root / f".{name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
    except OSError as error:
        raise disk_error(error, staging) from error
    return staging


def discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def recover(root: Path, name: str) -> None:
    """Undo a swap that was killed half-way: put a leftover ``.NAME.old-*`` back when ``NAME`` is missing.

    When ``NAME`` exists, leftover ``.old`` folders of processes that are no longer running are deleted.
    """
    if not root.is_dir():
        return
    olds = sorted(p for p in root.iterdir() if _pattern(name, "old").match(p.name))
    if not olds:
        return
    with _locked(root):
        final = root / name
        for old in olds:
            match = _pattern(name, "old").match(old.name)
            if not old.exists() or match is None or _alive(int(match.group(1))):
                continue
            try:
                if not final.exists() and (old / COMPLETE_MARKER).is_file():
                    old.rename(final)
                    log.warning("restored %s from %s, left by an interrupted prepare", final, old.name)
                else:
                    discard(old)
            except OSError as error:
                raise DataError(f"{old}: cannot restore the store left by an interrupted prepare ({error})") from error


def clean_stale(root: Path, name: str) -> None:
    """Remove staging folders of ``ROOT/NAME`` left by processes that are no longer running."""
    for kind in ("partial", "old"):
        pattern = _pattern(name, kind)
        for path in root.iterdir():
            match = pattern.match(path.name)
            if match is not None and not _alive(int(match.group(1))):
                discard(path)


def swap_in(staging: Path, final: Path) -> None:
    """Make ``staging`` the folder ``final``: old one aside, new one in, old one deleted; then clean leftovers."""
    root, name = final.parent, final.name
    with _locked(root):
        trash = root / f".{name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            if final.exists():
                final.rename(trash)
            fault_point("swap")
            staging.rename(final)
        except OSError as error:
            if trash.exists() and not final.exists():
                trash.rename(final)
            raise disk_error(error, final) from error
        fault_point("after-swap")
        discard(trash)
    clean_stale(root, name)
