"""The designer's own F(x_c) of every served item (and its retrieval vector), cached on disk, refreshed row by row.

Encoding a 40k-item catalogue takes about a minute on a CPU; a restarted process (or a second API worker)
should not pay it again, and an index sync should re-encode only the items whose photo changed. The cache key
covers the designer checkpoint's sha256, the retrieval embedder's version and the served ids with what each row
is computed from (its photo's hash, and its kept inpainting mask where one applies), so any change gives another
file. Masked photos are repaired before they are encoded, as the index's embedding does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from recengine.cache_files import load_array, prune_family, save_array
from recengine.compatibility.scoring import embed_images
from recengine.datasets.image_cache import PREPARE_VERSION
from recengine.embedding.catalogue import ServedItems, embed_served, prepared_chunks, served_items
from recengine.embedding.embedder import ImageEmbedder
from recengine.inpainting.repair import StoredRepairs
from recengine.nets.designer import Designer
from recengine.recommend.design_retrieve import CatalogueLatents

_log = logging.getLogger(__name__)

LATENTS_FAMILIES = ("designer-latents-", "retrieval-vectors-")


@dataclass(frozen=True)
class LatentsEntry:
    """Latents with what each row was computed from, so a changed catalogue reuses unchanged rows, and the kept
    masks they were computed with (a masked query item is repaired the same way)."""

    latents: CatalogueLatents
    sources: tuple[str, ...]
    key: str
    repairs: StoredRepairs | None = None


def row_sources(items: ServedItems, repairs: StoredRepairs | None) -> list[str]:
    """What each served item's row is computed from: its photo's hash, and its kept mask where one applies."""
    if repairs is None:
        return list(items.image_shas)
    stamps = repairs.stamps
    return [sha if i not in stamps else f"{sha}+mask:{stamps[i]}"
            for i, sha in zip(items.ids.tolist(), items.image_shas, strict=True)]  # fmt: skip


def latents_key(sha256: str, items: ServedItems, embedder_version: str = "",
                sources: Sequence[str] | None = None) -> str:  # fmt: skip
    """Cache key of (designer checkpoint, retrieval embedder, served items and their ``sources``, default their
    photos): any change gives another file."""
    digest = hashlib.sha256(np.ascontiguousarray(items.ids, dtype="<i8").tobytes())
    digest.update("\n".join(items.image_shas if sources is None else sources).encode())
    digest.update(f"{embedder_version}:{PREPARE_VERSION}".encode())
    return f"{sha256[:16]}-{digest.hexdigest()[:16]}"


def encode_items(*, session: Session, designer: Designer, shas: Sequence[str], ids: NDArray[np.int64] | None = None,
                 repairs: StoredRepairs | None = None) -> torch.Tensor:  # fmt: skip
    """(N, z_dim) F(x) of these images (of items ``ids``, masked ones repaired by ``repairs``), decoded chunk by
    chunk so memory stays bounded."""
    chunks = prepared_chunks(session, shas, designer.config.image_size, ids, repairs)
    parts = [embed_images(designer.compatibility, pixels) for pixels in chunks]
    return torch.cat(parts) if parts else torch.empty(0, designer.config.compatibility.z_dim)


def _reused(items: ServedItems, sources: Sequence[str],
            previous: LatentsEntry | None) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:  # fmt: skip
    """Rows of ``previous`` that still hold (same item, same source) for each of ``items``, and which do."""
    if previous is None:
        return np.full(len(items), -1, np.int64), np.zeros(len(items), dtype=bool)
    old = {(int(i), s): n for n, (i, s) in enumerate(zip(previous.latents.item_ids, previous.sources,
                                                          strict=True))}  # fmt: skip
    rows = np.array([old.get((int(i), s), -1) for i, s in zip(items.ids, sources, strict=True)], np.int64)
    return rows, rows >= 0


def _compute(session: Session, designer: Designer, embedder: ImageEmbedder | None, items: ServedItems,
             sources: Sequence[str], repairs: StoredRepairs | None,
             previous: LatentsEntry | None) -> tuple[torch.Tensor, NDArray[np.float32] | None]:  # fmt: skip
    rows, hit = _reused(items, sources, previous)
    if previous is not None and embedder is not None and previous.latents.vectors is None:
        rows, hit = np.full(len(items), -1, np.int64), np.zeros(len(items), dtype=bool)
    todo = np.flatnonzero(~hit)
    fresh = items.subset(todo)
    z = torch.empty(len(items), designer.config.compatibility.z_dim)
    z[torch.as_tensor(todo)] = encode_items(session=session, designer=designer, shas=fresh.image_shas, ids=fresh.ids,
                                            repairs=repairs)  # fmt: skip
    vectors = None
    if embedder is not None:
        vectors = np.empty((len(items), embedder.dim), np.float32)
        vectors[todo] = embed_served(session=session, items=fresh, embedder=embedder, repair=repairs)
    if previous is not None and hit.any():
        z[torch.as_tensor(hit)] = previous.latents.z[torch.as_tensor(rows[hit])]
        if vectors is not None and previous.latents.vectors is not None:
            vectors[hit] = previous.latents.vectors[rows[hit]]
    return z, vectors


def catalogue_latents(*, session: Session, designer: Designer, sha256: str, cache_dir: Path,
                      embedder: ImageEmbedder | None = None,
                      previous: LatentsEntry | None = None) -> LatentsEntry:  # fmt: skip
    """F(x_c) of every served item by this designer (and, with ``embedder``, its retrieval vectors: what
    design-and-retrieve's feedback rounds search from), from ``cache_dir`` or computed (reusing ``previous``'s
    unchanged rows) and saved there atomically."""
    items = served_items(session=session)
    repairs = StoredRepairs.load(session)
    sources = row_sources(items, repairs)
    key = latents_key(sha256, items, "" if embedder is None else embedder.version, sources)
    if previous is not None and previous.key == key:
        return previous
    z_family, v_family = LATENTS_FAMILIES
    z_path, v_path = cache_dir / f"{z_family}{key}.npy", cache_dir / f"{v_family}{key}.npy"
    z_cached = load_array(z_path, (len(items), designer.config.compatibility.z_dim))
    v_cached = None if embedder is None else load_array(v_path, (len(items), embedder.dim))
    if z_cached is None or (embedder is not None and v_cached is None):
        z, vectors = _compute(session, designer, embedder, items, sources, repairs, previous)
        save_array(z_path, z.numpy())
        if vectors is not None:
            save_array(v_path, vectors)
        _log.info("cached designer latents of %d items at %s", len(items), z_path)
        for family in LATENTS_FAMILIES:
            prune_family(cache_dir, family)
    else:
        z, vectors = torch.from_numpy(z_cached), v_cached
    latents = CatalogueLatents(items.ids, z, np.array(items.categories, dtype=np.str_), vectors)
    return LatentsEntry(latents, tuple(sources), key, repairs)
