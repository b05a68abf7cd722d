"""Lookups by catalogue-sized lists of keys: PostgreSQL caps a statement at 65,535 bind parameters, and the
whole of Fashion-MNIST (70,000 items, the main job's fallback catalogue) went over it as ``IN (...)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from recengine.datasets.image_cache import load_image_cache
from recengine.datasets.importers.fashion_mnist import import_fashion_mnist
from recengine.embedding.catalogue import served_items
from recengine.store.bulk import allocate_ids, any_of, copy_rows
from recengine.store.items import item_ids
from recengine.store.models import Item
from tests.conftest import FASHION_MNIST, require

OVER_THE_CAP = 70_000


def _big_catalogue(session: Session) -> list[str]:
    """Six real Fashion-MNIST items, then 70,000 more that reuse their photos; returns every external id."""
    import_fashion_mnist(require(FASHION_MNIST), session=session, limit=3)
    photos = list(session.scalars(select(Item.image_sha256).order_by(Item.id)))
    ids = allocate_ids(session, "items", OVER_THE_CAP)
    rows = [(i, f"big:{n:05d}", "test", "Trouser", photos[n % len(photos)]) for n, i in enumerate(ids)]
    copy_rows(session, "items", ("id", "external_id", "source", "article_type", "image_sha256"), rows)
    return list(session.scalars(select(Item.external_id).order_by(Item.id)))


def test_any_of_matches_like_in_for_every_key_type(session: Session) -> None:
    external = _big_catalogue(session)
    wanted = [external[0], external[-1], "no-such-item"]

    assert set(session.scalars(select(Item.external_id).where(any_of(Item.external_id, wanted)))) == set(wanted[:2])
    assert set(session.scalars(select(Item.external_id).where(Item.external_id.in_(wanted)))) == set(wanted[:2])
    assert session.scalars(select(Item.id).where(any_of(Item.id, []))).all() == []
    assert len(session.scalars(select(Item.id).where(any_of(Item.id, iter(range(10**9, 10**9 + 5))))).all()) == 0


def test_catalogue_sized_lookups_go_past_the_parameter_cap(session: Session, tmp_path: Path) -> None:
    external = _big_catalogue(session)
    assert len(external) > 65_535

    found = item_ids(session=session, external_ids=external)
    assert len(found) == len(external)

    ids = np.array([found[e] for e in external], dtype=np.int64)
    assert len(served_items(session=session, item_ids=ids)) == len(ids)

    pixels = load_image_cache(session=session, item_ids=ids, size=8, cache_dir=tmp_path)
    assert pixels.shape == (len(ids), 8, 8, 3)
    # Items that share a photo get the same pixels, in the order asked for.
    np.testing.assert_array_equal(pixels[6], pixels[6 + 6])
