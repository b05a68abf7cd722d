"""Inpainting masks kept with the catalogue's items (library, CLI, job, API): every later build and sync repairs
the same photos, a wrong mask keeps nothing, a new photo drops its old mask, and removing a mask re-embeds the
photo as it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from recengine.cli import app
from recengine.embedding.catalogue import embed_served, served_items
from recengine.embedding.embedder import PixelEmbedder
from recengine.errors import InvalidInputError, NotFoundError
from recengine.index import IndexStore
from recengine.indexing.service import build_index, sync_index
from recengine.inpainting.repair import StoredRepairs, list_masks, remove_masks, store_masks
from recengine.inpainting.service import decode_photo
from recengine.recommend.service import Recommender
from recengine.store.models import Image, Item, ItemMask, ModelVersion
from tests.api_support import Keys, assert_error, client_for, make_keys
from tests.test_inpaint_service import _hole_file, _png, checkpoint, registered  # noqa: F401  (fixtures)
from tests.test_recommend import Shop, shop  # noqa: F401  (the module's shop fixture)
from workers.jobs import JobContext
from workers.tasks import index_job

pytestmark = pytest.mark.usefixtures("one_torch_thread")
EMBEDDER = PixelEmbedder(image_size=32)


@dataclass(frozen=True)
class Photo:
    item_id: int
    external_id: str
    height: int
    width: int
    category: str


@pytest.fixture(scope="module")
def photos(shop: Shop) -> list[Photo]:  # noqa: F811
    """The first three served items, with their photos' sizes."""
    with shop.db.sessions() as session:
        items = served_items(session=session)
        category = dict(zip(items.ids.tolist(), items.categories, strict=True))
        rows = session.execute(select(Item.id, Item.external_id, Image.data)
                               .join(Image, Image.sha256 == Item.image_sha256)
                               .where(Item.id.in_(items.ids[:3].tolist())).order_by(Item.id)).all()  # fmt: skip
    return [Photo(i, e, *decode_photo(d).shape[:2], category[i]) for i, e, d in rows]


@pytest.fixture()
def folder(tmp_path: Path, shop: Shop) -> Iterator[Path]:  # noqa: F811
    masks = tmp_path / "masks"
    masks.mkdir()
    yield masks
    with shop.db.transaction() as session:  # each test starts with no kept mask
        session.execute(delete(ItemMask))


def _write(folder: Path, photo: Photo, *, width: int | None = None) -> None:
    (folder / f"{photo.external_id}.png").write_bytes(_hole_file(photo.height, width or photo.width))


def _vectors(shop: Shop, *, repaired: bool) -> dict[int, np.ndarray]:  # noqa: F811
    with shop.db.sessions() as session:
        items = served_items(session=session)
        repair = StoredRepairs.load(session) if repaired else None
        vectors = embed_served(session=session, items=items, embedder=EMBEDDER, repair=repair)
    return dict(zip(items.ids.tolist(), vectors, strict=True))


def _indexed_as(root: Path, photo: Photo, vector: np.ndarray) -> bool:
    """Whether the index holds ``vector`` for the item (its own nearest neighbour at similarity 1)."""
    index = IndexStore(root / "catalogue").load_current()
    assert index is not None
    hit = index.search(vector[None], 1, categories=photo.category)
    return int(hit.ids[0, 0]) == photo.item_id and float(hit.scores[0, 0]) > 1 - 1e-5


def test_kept_masks_repair_every_later_build_and_sync(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                                      folder: Path, tmp_path: Path) -> None:  # fmt: skip
    plain = _vectors(shop, repaired=False)
    _write(folder, photos[0])
    with shop.db.transaction() as session:
        assert store_masks(session=session, directory=folder, model=registered) == 1
    fixed = _vectors(shop, repaired=True)
    assert not np.allclose(plain[photos[0].item_id], fixed[photos[0].item_id])  # the repaired photo's vector
    assert all(np.array_equal(plain[i], fixed[i]) for i in plain if i != photos[0].item_id)  # nothing else

    root = tmp_path / "indexes"
    build_index(db=shop.db, root=root, embedder=EMBEDDER)  # a plain build, naming no folder
    assert _indexed_as(root, photos[0], fixed[photos[0].item_id])
    assert _indexed_as(root, photos[1], plain[photos[1].item_id])

    _write(folder, photos[1])  # a second mask: the next sync re-embeds it
    with shop.db.transaction() as session:
        assert store_masks(session=session, directory=folder) == 2
    synced = sync_index(db=shop.db, root=root, embedder=EMBEDDER)
    assert not synced.full_rebuild and synced.updated >= 2
    fixed = _vectors(shop, repaired=True)
    assert _indexed_as(root, photos[0], fixed[photos[0].item_id])
    assert _indexed_as(root, photos[1], fixed[photos[1].item_id])
    assert not np.allclose(plain[photos[1].item_id], fixed[photos[1].item_id])

    with shop.db.transaction() as session:  # removed: the next sync embeds the photo as it is
        assert remove_masks(session=session, external_ids=[photos[0].external_id]) == 1
    sync_index(db=shop.db, root=root, embedder=EMBEDDER)
    assert _indexed_as(root, photos[0], plain[photos[0].item_id])
    assert _indexed_as(root, photos[1], fixed[photos[1].item_id])


def test_a_missing_model_file_stops_the_build_with_what_to_do(shop: Shop, registered: str,  # noqa: F811
                                                              photos: list[Photo], folder: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    _write(folder, photos[0])
    with shop.db.transaction() as session:
        store_masks(session=session, directory=folder, model=registered)
        version = session.scalars(select(ModelVersion).where(ModelVersion.name == registered)).one()
        path, version.checkpoint_path = version.checkpoint_path, str(tmp_path / "moved.pt")
    try:
        with pytest.raises(NotFoundError, match=f"kept masks need the inpainting model '{registered}'.*remove them"):
            build_index(db=shop.db, root=tmp_path / "indexes", embedder=EMBEDDER)
        assert IndexStore(tmp_path / "indexes" / "catalogue").load_current() is None  # nothing published unrepaired
    finally:
        with shop.db.transaction() as session:
            session.execute(update(ModelVersion).where(ModelVersion.name == registered).values(checkpoint_path=path))


def test_a_wrong_mask_keeps_none_and_leaves_the_kept_ones(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                                          folder: Path, tmp_path: Path) -> None:  # fmt: skip
    _write(folder, photos[0])
    with shop.db.transaction() as session:
        store_masks(session=session, directory=folder)
    before = _kept(shop)

    second = tmp_path / "second"
    second.mkdir()
    _write(second, photos[0])  # would replace the kept one
    _write(second, photos[1])
    _write(second, photos[2], width=photos[2].width + 1)
    cases = [
        (second, f"{photos[2].external_id}.png: mask is"),  # the file and what is wrong with it
        (folder / "nowhere", "does not exist"),
        (tmp_path, "holds no <external_id>.png"),
        (second / f"{photos[0].external_id}.png", "is a file: give the folder"),
    ]
    (second / "grey").mkdir()
    (second / "grey" / f"{photos[1].external_id}.png").write_bytes(_png(np.full((4, 4), 128, np.uint8)))
    (second / "unknown").mkdir()
    (second / "unknown" / "no-such-item.png").write_bytes(_hole_file(photos[0].height, photos[0].width))
    cases += [(second / "grey", "mask is"), (second / "unknown", "not in the catalogue: no-such-item")]
    for directory, message in cases:
        with pytest.raises((InvalidInputError, NotFoundError), match=message), shop.db.transaction() as session:
            store_masks(session=session, directory=directory)
        assert _kept(shop) == before, directory
    with pytest.raises(NotFoundError, match="no inpainting model named 'nope'"), shop.db.transaction() as session:
        store_masks(session=session, directory=folder, model="nope")
    both = [photos[0].external_id, photos[1].external_id]
    with pytest.raises(NotFoundError, match=f"no kept mask for: {both[1]}"), shop.db.transaction() as session:
        remove_masks(session=session, external_ids=both)
    assert _kept(shop) == before  # nothing removed either


def _kept(shop: Shop) -> list[tuple[int, bytes, object]]:  # noqa: F811
    with shop.db.sessions() as session:
        rows = session.execute(select(ItemMask.item_id, ItemMask.mask_png, ItemMask.updated_at)
                               .order_by(ItemMask.item_id)).all()  # fmt: skip
        return [(i, m, u) for i, m, u in rows]


def test_a_new_photo_drops_the_old_mask(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                        folder: Path) -> None:  # fmt: skip
    _write(folder, photos[0])
    with shop.db.transaction() as session:
        store_masks(session=session, directory=folder)
        own = session.scalar(select(Item.image_sha256).where(Item.id == photos[0].item_id))
        other = session.scalar(select(Item.image_sha256).where(Item.id == photos[1].item_id))
    try:
        with shop.db.transaction() as session:
            session.execute(update(Item).where(Item.id == photos[0].item_id).values(image_sha256=other))
        with shop.db.sessions() as session:
            assert StoredRepairs.load(session) is None  # drawn on another photo: not applied
            assert [(m.external_id, m.applies) for m in list_masks(session=session)] == [(photos[0].external_id,
                                                                                          False)]  # fmt: skip
    finally:
        with shop.db.transaction() as session:
            session.execute(update(Item).where(Item.id == photos[0].item_id).values(image_sha256=own))
    with shop.db.sessions() as session:
        repairs = StoredRepairs.load(session)
        assert repairs is not None and repairs.masked == {photos[0].item_id}


def test_cli_adds_lists_and_removes_masks(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                          folder: Path) -> None:  # fmt: skip
    env = {"RECENGINE_DATA_DIR": str(shop.settings.data_dir), "RECENGINE_DATABASE_URL": str(shop.settings.database_url),
           "COLUMNS": "200"}  # fmt: skip
    _write(folder, photos[0])
    added = CliRunner().invoke(app, ["catalogue", "masks", "add", str(folder), "--model", registered], env=env)
    assert added.exit_code == 0, added.output
    assert "kept 1 masks" in added.output and "queued index sync job" in added.output
    listed = CliRunner().invoke(app, ["catalogue", "masks", "list"], env=env)
    assert listed.exit_code == 0 and photos[0].external_id in listed.output and registered in listed.output
    removed = CliRunner().invoke(app, ["catalogue", "masks", "remove", photos[0].external_id], env=env)
    assert removed.exit_code == 0 and "removed 1 masks" in removed.output, removed.output
    again = CliRunner().invoke(app, ["catalogue", "masks", "remove", photos[0].external_id], env=env)
    assert again.exit_code != 0 and "no kept mask" in str(again.exception)

    _write(folder, photos[1])  # the indexing commands' own option keeps the masks, then indexes
    synced = CliRunner().invoke(
        app, ["index", "sync", "--name", "masks-cli", "--embedder", "pixels", "--inpaint-masks", str(folder)], env=env
    )
    assert synced.exit_code == 0, synced.output
    assert "kept 2 masks" in synced.output and "index masks-cli version" in synced.output
    with shop.db.sessions() as session:
        assert {m.external_id for m in list_masks(session=session)} == {photos[0].external_id, photos[1].external_id}


def test_an_index_job_keeps_the_masks_its_params_name(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                                       folder: Path, tmp_path: Path) -> None:  # fmt: skip
    _write(folder, photos[2])
    params = {"embedder": "pixels", "inpaint_masks": str(folder), "inpaint_model": registered}
    context = JobContext(job_id=0, params=params, db=shop.db, progress=lambda done, total: None)
    report = index_job(context, tmp_path / "indexes", full=True)
    assert report["item_count"] > 0
    with shop.db.sessions() as session:
        assert [m.external_id for m in list_masks(session=session)] == [photos[2].external_id]
    context = JobContext(job_id=0, params={**params, "inpaint_model": "nope"}, db=shop.db,
                         progress=lambda done, total: None)  # fmt: skip
    with pytest.raises(NotFoundError, match="nope"):
        index_job(context, tmp_path / "indexes", full=False)


def test_the_api_keeps_and_removes_an_items_mask(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                                 folder: Path) -> None:  # fmt: skip
    keys = make_keys(shop, "-masks")
    photo = photos[0]
    url = f"/v1/items/{photo.external_id}/mask"

    def put(mask: bytes, key: str = keys.admin, where: str = url) -> Any:
        return client.put(where, headers=Keys.header(key), files={"mask": ("mask.png", mask, "image/png")},
                          data={"model": registered})  # fmt: skip

    with client_for(shop) as client:
        kept = put(_hole_file(photo.height, photo.width))
        assert kept.status_code == 200, kept.text
        assert kept.json()["changed"] and kept.json()["index_sync"] in ("queued", "joined")
        with shop.db.sessions() as session:
            assert [m.external_id for m in list_masks(session=session)] == [photo.external_id]

        wrong = assert_error(put(_hole_file(photo.height, photo.width + 2)), 422, "invalid_input")
        assert wrong["message"].startswith("mask: mask is")
        assert_error(put(b"not a png"), 422, "invalid_image")
        assert_error(put(_hole_file(photo.height, photo.width), where="/v1/items/no-such-item/mask"), 404,
                     "not_found")  # fmt: skip
        assert_error(put(_hole_file(photo.height, photo.width), key=keys.writer), 403, "forbidden")
        with shop.db.sessions() as session:
            assert len(list_masks(session=session)) == 1  # the refused calls kept nothing

        removed = client.delete(url, headers=Keys.header(keys.admin))
        assert removed.status_code == 200, removed.text
        with shop.db.sessions() as session:
            assert list_masks(session=session) == []
        gone = assert_error(client.delete(url, headers=Keys.header(keys.admin)), 404, "not_found")
        assert "no kept mask" in gone["message"]


def test_the_recommender_sees_a_masked_photo_as_the_index_does(shop: Shop, registered: str,  # noqa: F811
                                                               folder: Path) -> None:  # fmt: skip
    with shop.db.sessions() as session:
        item_id, sha = session.execute(select(Item.id, Item.image_sha256).where(Item.external_id == shop.top)).one()
        photo = Photo(item_id, shop.top, *decode_photo(session.scalars(select(Image.data).where(
            Image.sha256 == sha)).one()).shape[:2], "top")  # fmt: skip
        before = Recommender.open(session, shop.settings)
        plain = before.recommend("fan", shop.top, "bottom", k=3, n_designs=1, seed=0)
    _write(folder, photo)
    with shop.db.transaction() as session:
        store_masks(session=session, directory=folder, model=registered)
    sync_index(db=shop.db, root=shop.settings.indexes_dir, embedder=EMBEDDER)
    try:
        with shop.db.sessions() as session:
            after = Recommender.open(session, shop.settings)
            masked = after.recommend("fan", shop.top, "bottom", k=3, n_designs=1, seed=0)
        assert not np.array_equal(plain.query_pixels, masked.query_pixels)  # the query designed from the repair
        ids = after.latents.item_ids.tolist()
        assert ids == before.latents.item_ids.tolist()
        row = ids.index(item_id)
        changed = [r for r in range(len(ids)) if not torch.equal(after.latents.z[r], before.latents.z[r])]
        assert changed == [row]  # the re-ranking's F(x_c) of the masked item only
        assert after.latents.vectors is not None and before.latents.vectors is not None
        assert _indexed_as(shop.settings.indexes_dir, photo, after.latents.vectors[row])  # feedback = index
    finally:
        with shop.db.transaction() as session:
            remove_masks(session=session, external_ids=[shop.top])
        sync_index(db=shop.db, root=shop.settings.indexes_dir, embedder=EMBEDDER)


def test_mask_file_names_are_url_decoded_ids(shop: Shop, registered: str, photos: list[Photo],  # noqa: F811
                                             folder: Path) -> None:  # fmt: skip
    """A file name cannot hold a slash; SKU%2F7.png names SKU/7, as the API's links do."""
    sku = "SKU/7 50%"
    with shop.db.transaction() as session:
        session.execute(update(Item).where(Item.id == photos[1].item_id).values(external_id=sku))
    try:
        (folder / "SKU%2F7 50%25.png").write_bytes(_hole_file(photos[1].height, photos[1].width))
        with shop.db.transaction() as session:
            assert store_masks(session=session, directory=folder, model=registered) == 1
        with shop.db.sessions() as session:
            assert [m.external_id for m in list_masks(session=session)] == [sku]
        (folder / "SKU%2f7 50%25.png").write_bytes(b"")  # the same id spelt twice: named, nothing kept
        with shop.db.transaction() as session, pytest.raises(InvalidInputError, match="are both the mask of"):
            store_masks(session=session, directory=folder, model=registered)
    finally:
        with shop.db.transaction() as session:
            session.execute(update(Item).where(Item.id == photos[1].item_id).values(external_id=photos[1].external_id))
