"""Arrays cached on disk as ``.npy`` files: image pixels, encoder outputs, retrieval vectors.

A cache is rebuilt, never trusted. Each file is written through a temp file of the writer's own and renamed
into place, so a reader sees a whole file or none, even while the API and a worker fill the same cache; a file
that cannot be read, or holds another shape than expected (cut short by a full disk, left by a killed process
before this module existed), counts as missing and is computed again rather than failing every later start.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

_log = logging.getLogger(__name__)


def save_array(path: Path, array: NDArray[Any]) -> None:
    """Write ``array`` to ``path`` atomically (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy")
    try:
        np.save(tmp, array)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_array(path: Path, shape: tuple[int, ...], *, mmap: bool = False) -> NDArray[Any] | None:
    """The array cached at ``path`` when it exists, is readable and has ``shape``; else None."""
    if not path.exists():
        return None
    try:
        array: NDArray[Any] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        _log.warning("ignoring the unreadable cache file %s (%s); it is computed again", path, exc)
        return None
    if array.shape != shape:
        _log.warning("ignoring the cache file %s: shape %s, expected %s", path, array.shape, shape)
        return None
    return array
