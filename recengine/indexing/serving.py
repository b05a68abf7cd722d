"""The index as a serving process (the API, a recommendation worker) holds it: loaded once, searched by many
threads, and swapped for the newest version that indexing jobs publish, without a restart.

A search checks at most every ``refresh_s`` seconds whether ``CURRENT`` names another version; if so, one
caller loads it (off to the side: searches keep running on the old one) and swaps it into the handle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy.typing as npt

from recengine.errors import NotFoundError, RecengineError
from recengine.index import CatalogueIndex, IndexHandle, IndexStore, SearchResult

_log = logging.getLogger(__name__)


class ServingIndex:
    def __init__(self, root: Path, *, refresh_s: float = 5.0) -> None:
        self.store = IndexStore(root)
        self.refresh_s = refresh_s
        self._handle: IndexHandle | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._reload = threading.Lock()
        #: Why the version ``CURRENT`` names is not the one served (it failed to load), or None.
        self.problem: str | None = None

    @property
    def version(self) -> str | None:
        return self._version

    def current(self) -> IndexHandle:
        """The handle of the newest published version (loading or swapping it in when due)."""
        now = time.monotonic()
        if self._handle is None or now - self._checked >= self.refresh_s:
            self._refresh(now)
        if self._handle is None:
            raise NotFoundError(f"no index published under {self.store.root}: run `recengine index build`")
        return self._handle

    def _refresh(self, now: float) -> None:
        if not self._reload.acquire(blocking=self._handle is None):
            return  # another thread is reloading; keep serving the version we have
        try:
            self._checked = now
            name = self.store.current_version()
            if name is None or name == self._version:
                self.problem = None
                return
            try:
                index: CatalogueIndex = self.store.load_version(name)
            except RecengineError as exc:
                if self._handle is None:
                    raise
                # A version that fails its checks (a damaged disk, a folder deleted by hand) must not take down
                # the one serving well: keep it, say so in /readyz, and look again at the next refresh.
                if self.problem is None:
                    _log.error("index version %s cannot be loaded; still serving %s: %s", name, self._version, exc)
                self.problem = f"version {name} cannot be loaded ({exc}); serving {self._version}"
                return
            self.problem = None
            if self._handle is None:
                self._handle = IndexHandle(index)
            else:
                self._handle.swap(index)
            _log.info("serving index %s (%d items)", name, len(index))
            self._version = name
        finally:
            self._reload.release()

    def search(self, queries: npt.ArrayLike, k: int, *, categories: str | Sequence[str] | None = None,
               exclude_ids: Sequence[int] | npt.ArrayLike | None = None,
               nprobe: int | None = None) -> SearchResult:  # fmt: skip
        return self.current().search(queries, k, categories=categories, exclude_ids=exclude_ids, nprobe=nprobe)
