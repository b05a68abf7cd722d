"""The designer's own F(x_c) of every served item, cached on disk and refreshed row by row.

Encoding a 40k-item catalogue takes about a minute on a CPU; a restarted process (or a second API worker)
should not pay it again, and an index sync should re-encode only the items whose photo changed. The cache key
covers the designer checkpoint's sha256 and the served ids with their photo hashes, so any change gives another
file.
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

from recengine.compatibility.scoring import embed_images
from recengine.embedding.catalogue import CHUNK, ServedItems, load_prepared, served_items
from recengine.nets.designer import Designer
from recengine.recommend.design_retrieve import CatalogueLatents

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatentsEntry:
    """Latents with the image each row was computed from, so a changed catalogue reuses unchanged rows."""

    latents: CatalogueLatents
    image_shas: tuple[str, ...]
    key: str


def latents_key(sha256: str, items: ServedItems) -> str:
    """Cache key of (designer checkpoint, served items and their photos): any change gives another file."""
    digest = hashlib.sha256(np.ascontiguousarray(items.ids, dtype="<i8").tobytes())
    digest.update("\n".join(items.image_shas).encode())
    return f"{sha256[:16]}-{digest.hexdigest()[:16]}"


def encode_items(*, session: Session, designer: Designer, shas: Sequence[str]) -> torch.Tensor:
    """(N, z_dim) F(x) of these images, decoded chunk by chunk so memory stays bounded."""
    size = designer.config.image_size
    parts = [embed_images(designer.compatibility, load_prepared(session, shas[s : s + CHUNK], size))
             for s in range(0, len(shas), CHUNK)]  # fmt: skip
    return torch.cat(parts) if parts else torch.empty(0, designer.config.compatibility.z_dim)


def _reused(items: ServedItems, previous: LatentsEntry | None) -> tuple[torch.Tensor | None, NDArray[np.bool_]]:
    """Rows of ``previous`` that still hold (same item, same photo), placed at ``items``' positions."""
    if previous is None:
        return None, np.zeros(len(items), dtype=bool)
    old = {(int(i), s): n for n, (i, s) in enumerate(zip(previous.latents.item_ids, previous.image_shas,
                                                          strict=True))}  # fmt: skip
    rows = np.array([old.get((int(i), s), -1) for i, s in zip(items.ids, items.image_shas, strict=True)], np.int64)
    hit = rows >= 0
    z = torch.empty(len(items), previous.latents.z.shape[1])
    z[torch.as_tensor(hit)] = previous.latents.z[torch.as_tensor(rows[hit])]
    return z, hit


def _compute(session: Session, designer: Designer, items: ServedItems, previous: LatentsEntry | None) -> torch.Tensor:
    z, hit = _reused(items, previous)
    todo = np.flatnonzero(~hit)
    fresh = encode_items(session=session, designer=designer, shas=[items.image_shas[r] for r in todo])
    if z is None:
        return fresh
    z[torch.as_tensor(todo)] = fresh
    return z


def catalogue_latents(*, session: Session, designer: Designer, sha256: str, cache_dir: Path,
                      previous: LatentsEntry | None = None) -> LatentsEntry:  # fmt: skip
    """F(x_c) of every served item by this designer, from ``cache_dir`` or computed (reusing ``previous``'s
    unchanged rows) and saved there atomically."""
    items = served_items(session=session)
    key = latents_key(sha256, items)
    path = cache_dir / f"designer-latents-{key}.npy"
    if previous is not None and previous.key == key:
        return previous
    cached = np.load(path) if path.exists() else None
    if cached is not None and cached.shape[0] == len(items):
        z = torch.from_numpy(cached)
    else:
        z = _compute(session, designer, items, previous)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, z.numpy())
        tmp.replace(path)
        _log.info("cached designer latents of %d items at %s", len(items), path)
    latents = CatalogueLatents(items.ids, z, np.array(items.categories, dtype=np.str_))
    return LatentsEntry(latents, tuple(items.image_shas), key)
