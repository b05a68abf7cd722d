"""Arrays cached on disk as ``.npy`` files: image pixels, encoder outputs, retrieval vectors.

A cache is rebuilt, never trusted. Each file is written through a temp file of the writer's own and renamed
into place, so a reader sees a whole file or none, even while the API and a worker fill the same cache; a file
that cannot be read, or holds another shape than expected (cut short by a full disk, left by a killed process
before this module existed), counts as missing and is computed again rather than failing every later start.

Every file is named by a hash of what it was computed from, so a changed catalogue writes a new one and the
old one is never read again. Each writer therefore keeps only the few most recently used files of its family
(:func:`prune_family`): every index sync that changes the served catalogue would otherwise leave two arrays of
the whole catalogue behind per change (9.8 MiB each on the Myntra catalogue), for good. "Used" is the
file's mtime, which a read refreshes; a file deleted under a reader is harmless (an open or memory-mapped file
stays readable, and one found gone counts as missing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

_log = logging.getLogger(__name__)

KEEP = 3
"""Files kept per family: the one in use, and the last ones before it (a rolled-back model, a second API process
on the previous catalogue for a moment, another training set of the same image size)."""

LEGACY_FAMILIES = ("embeddings-",)
"""Families no version writes or reads any more: the compatibility encoder's whole-dataset outputs, which
newcomer fits wrote before they encoded only the rows they read."""

STALE_TEMP_S = 24 * 3600
"""A temp file this old was left by a killed writer: writes take seconds to minutes."""


def save_array(path: Path, array: NDArray[Any]) -> None:
    """Write ``array`` to ``path`` atomically (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy")
    try:
        np.save(tmp, array)
        tmp.replace(path)
        _mark_used(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_array(path: Path, shape: tuple[int, ...], *, mmap: bool = False) -> NDArray[Any] | None:
    """The array cached at ``path`` when it exists, is readable and has ``shape``; else None."""
    try:
        array: NDArray[Any] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:  # never written, or pruned by another process since
        return None
    except (OSError, ValueError, EOFError) as exc:
        _log.warning("ignoring the unreadable cache file %s (%s); it is computed again", path, exc)
        return None
    if array.shape != shape:
        _log.warning("ignoring the cache file %s: shape %s, expected %s", path, array.shape, shape)
        return None
    _mark_used(path)
    return array


def _mark_used(path: Path) -> None:
    now = time.time_ns()  # the file system's own stamp ticks per jiffy: a write and a read in one tick would tie
    with contextlib.suppress(OSError):  # a read-only cache, or pruned meanwhile: it is only kept a little less long
        os.utime(path, ns=(now, now))


@dataclass(frozen=True)
class Pruned:
    """What a prune deleted."""

    files: int
    bytes: int


def _unlink(paths: list[Path]) -> Pruned:
    files = size = 0
    for path in paths:
        try:
            freed = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # another process pruned it first
            continue
        files, size = files + 1, size + freed
        _log.info("deleted the cache file %s (%d bytes)", path, freed)
    return Pruned(files, size)


def _by_recent_use(paths: list[Path]) -> list[Path]:
    stamped = []
    for path in paths:
        try:
            stamped.append((path.stat().st_mtime, path.name, path))
        except FileNotFoundError:
            continue
    return [path for *_, path in sorted(stamped, reverse=True)]


def prune_family(directory: Path, prefix: str, *, keep: int = KEEP) -> Pruned:
    """Delete all but the ``keep`` most recently used ``{prefix}*.npy`` files of ``directory``.

    ``prefix`` names one family and must end where its hash begins (``"images-64-"``, not ``"images-6"``), so
    that no other family's files match it."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    return _unlink(_by_recent_use(list(directory.glob(f"{prefix}*.npy")))[keep:])


def prune_cache(directory: Path, families: list[str], *, keep: int = KEEP) -> Pruned:
    """Prune every one of ``families`` to ``keep`` files, and delete the files of :data:`LEGACY_FAMILIES` and
    temp files left by killed writers (older than :data:`STALE_TEMP_S`)."""
    if not directory.is_dir():
        return Pruned(0, 0)
    parts = [prune_family(directory, prefix, keep=keep) for prefix in families]
    old = [path for prefix in LEGACY_FAMILIES for path in sorted(directory.glob(f"{prefix}*.npy"))]
    cutoff = time.time() - STALE_TEMP_S
    for path in sorted(directory.glob(".*.tmp-*.npy")):
        try:
            if path.stat().st_mtime < cutoff:
                old.append(path)
        except FileNotFoundError:
            continue
    parts.append(_unlink(old))
    return Pruned(sum(p.files for p in parts), sum(p.bytes for p in parts))
