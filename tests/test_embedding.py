"""Retrieval embedders and the served catalogue, on real Myntra photos in a real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import embed_served, load_prepared, served_items
from recengine.embedding.embedder import (
    CatalogueEmbedder,
    EncoderEmbedder,
    PixelEmbedder,
    embedder_kind,
    normalise,
    resolve_embedder,
)
from recengine.errors import InvalidInputError, NotFoundError
from recengine.store.models import Item
from recengine.training.register import register_checkpoint
from tests.conftest import MYNTRA, require

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "compatibility-default-full.pt"
EMBEDDER = CHECKPOINT.with_name("embedder-catalogue.pt")


@pytest.fixture(scope="module")
def catalogue(engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=600)
    yield engine


@pytest.fixture
def db_session(catalogue: Engine, session: Session) -> Session:
    """conftest's rolled-back session, on the module's database once the catalogue is in it."""
    return session


def test_served_items_are_active_items_with_images_and_their_slot(db_session: Session) -> None:
    everything = served_items(session=db_session)
    assert len(everything) == 600 and list(everything.ids) == sorted(everything.ids)
    first, second = (int(i) for i in everything.ids[:2])
    db_session.execute(update(Item).where(Item.id == first).values(is_active=False))
    db_session.execute(update(Item).where(Item.id == second).values(image_sha256=None))
    after = served_items(session=db_session)
    assert len(after) == 598 and first not in after.ids and second not in after.ids
    types = dict(db_session.execute(select(Item.id, Item.article_type)).all())
    cats = dict(zip(after.ids.tolist(), after.categories, strict=True))
    expected = {"Tshirts": "top", "Jeans": "bottom", "Casual Shoes": "shoes", "Handbags": "bag"}
    for item_id, category in cats.items():
        if types[item_id] in expected:
            assert category == expected[types[item_id]], types[item_id]
    assert {"top", "bottom", "other"} <= set(cats.values())
    bottom = next(i for i, c in cats.items() if c == "bottom")
    assert len(served_items(session=db_session, item_ids=[bottom, first])) == 1


def test_pixel_embedder_contract(db_session: Session) -> None:
    items = served_items(session=db_session)
    embedder = PixelEmbedder()
    vectors = embed_served(session=db_session, items=items, embedder=embedder)
    assert vectors.shape == (600, 192) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = embedder.embed(load_prepared(db_session, items.image_shas[:5], 64))
    np.testing.assert_allclose(again, vectors[:5], atol=1e-6)  # deterministic, chunking does not matter
    with pytest.raises(InvalidInputError, match="uint8"):
        embedder.embed(np.zeros((2, 32, 32, 3), np.uint8))


def test_encoder_embedder_of_the_shipped_checkpoint(db_session: Session) -> None:
    version = register_checkpoint(session=db_session, path=require(CHECKPOINT))
    assert register_checkpoint(session=db_session, path=CHECKPOINT).id == version.id  # idempotent
    embedder = resolve_embedder(session=db_session, kind="compatibility", model_version_id=version.id)
    assert isinstance(embedder, EncoderEmbedder) and embedder.model_version_id == version.id
    assert embedder.version.startswith("compatibility:default-full@") and embedder.dim == 64
    items = served_items(session=db_session)
    vectors = embed_served(session=db_session, items=items, embedder=embedder)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Real photos of the same kind sit closer together than photos of different kinds.
    types = np.array([db_session.get(Item, int(i)).article_type for i in items.ids])  # type: ignore[union-attr]
    sims = vectors @ vectors.T
    same = (types[:, None] == types[None]) & ~np.eye(len(types), dtype=bool)
    assert sims[same].mean() > sims[~same].mean()  # weakly: F is trained for compatibility, not likeness
    with pytest.raises(InvalidInputError, match="unknown embedder"):
        resolve_embedder(session=db_session, kind="clip")
    with pytest.raises(NotFoundError):
        resolve_embedder(session=db_session, kind="compatibility", model_version_id=10**9)


def test_catalogue_embedder_is_the_default_and_groups_kinds(db_session: Session) -> None:
    version = register_checkpoint(session=db_session, path=require(EMBEDDER))
    embedder = resolve_embedder(session=db_session)
    assert isinstance(embedder, CatalogueEmbedder) and embedder.model_version_id == version.id
    assert embedder.version.startswith("embedder:catalogue@") and embedder_kind(embedder.version) == "catalogue"
    items = served_items(session=db_session)
    vectors = embed_served(session=db_session, items=items, embedder=embedder)
    types = np.array([db_session.get(Item, int(i)).article_type for i in items.ids])  # type: ignore[union-attr]
    sims = vectors @ vectors.T
    same = (types[:, None] == types[None]) & ~np.eye(len(types), dtype=bool)
    assert sims[same].mean() > sims[~same].mean() + 0.2  # trained for it: far clearer than encoder F


def test_normalise_gives_blank_rows_a_unit_vector() -> None:
    out = normalise(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    np.testing.assert_allclose(out, [[0.6, 0.8], [2**-0.5, 2**-0.5]], rtol=1e-6)
    blank = PixelEmbedder().embed(np.full((1, 64, 64, 3), 255, np.uint8))
    np.testing.assert_allclose(np.linalg.norm(blank, axis=1), 1.0, rtol=1e-6)


def test_missing_image_is_named(db_session: Session) -> None:
    with pytest.raises(NotFoundError, match="images not in the database"):
        load_prepared(db_session, ["0" * 64], 64)
