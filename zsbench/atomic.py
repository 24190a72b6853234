"""The one way zsbench writes a file: readers see the old file or the whole new one, never part of one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: Path, content: str | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``content`` (text, or a function writing to a binary file) to a hidden temporary file beside
    ``path``, then rename it over ``path``.

    The rename is atomic on one file system, so a crash or a concurrent writer never leaves a torn file;
    the temporary is removed whatever happens. The folder must exist.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(content, str):
            temporary.write_text(content)
        else:
            with open(temporary, "wb") as handle:
                content(handle)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
