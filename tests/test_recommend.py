"""The recommendation service and `recengine recommend` against PostgreSQL: a few real Myntra items, a tiny
designer registered as a model version with one user's θu, and an index built by the real ``build_index``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import recengine.recommend.latents as latents_module
from recengine.cache_files import KEEP
from recengine.cli import app, main
from recengine.compatibility.train import write_preferences
from recengine.config import Settings
from recengine.datasets.importers.myntra import import_myntra
from recengine.embedding.catalogue import served_items
from recengine.embedding.embedder import PixelEmbedder
from recengine.errors import InvalidInputError, NotFoundError
from recengine.indexing.service import build_index, sync_index
from recengine.recommend.latents import LATENTS_FAMILIES, catalogue_latents
from recengine.recommend.service import Recommender
from recengine.store.database import Database
from recengine.store.models import Item, User, UserPreference
from recengine.training.checkpoints import save_checkpoint
from recengine.training.register import register_checkpoint
from tests.conftest import MYNTRA, require
from tests.test_designer import designer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class Shop:
    db: Database
    settings: Settings
    theta: torch.Tensor  # the trained θu of user "fan"
    prior: torch.Tensor
    top: str  # external id of a served top: the query
    bottoms: set[int]  # served bottoms


def _register_designer(session: Session, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Save a tiny designer with the project's writer, register it, and store θu row 0 for user ``fan``."""
    model = designer()
    save_checkpoint(path, family="designer", config=model.config.as_dict(), state_dict=model.state_dict())
    version = register_checkpoint(session=session, path=path, name="tiny-full")
    fan, stranger = User(external_id="fan"), User(external_id="stranger")  # the stranger has no θu
    session.add_all([fan, stranger])
    session.flush()
    write_preferences(session=session, model=model.compatibility, model_version_id=version.id, user_ids=[fan.id],
                      n_examples={fan.id: 3})  # fmt: skip
    assert model.compatibility.theta is not None
    weights = model.compatibility.theta.weight.detach()
    return weights[0].clone(), weights.mean(dim=0)


@pytest.fixture(scope="module")
def shop(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("shop")
    settings = Settings(data_dir=root / "data", database_url=engine.url.render_as_string(hide_password=False))
    with Session(engine) as session, session.begin():
        import_myntra(require(MYNTRA), session=session, limit=80)
        theta, prior = _register_designer(session, root / "designer-tiny-full.pt")
    db = Database(url=engine.url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False),
                  embedded=False)  # fmt: skip
    build_index(db=db, root=settings.indexes_dir, embedder=PixelEmbedder(image_size=32))
    with db.sessions() as session:
        items = served_items(session=session)
        top = next(int(i) for i, c in zip(items.ids, items.categories, strict=True) if c == "top")
        bottoms = {int(i) for i, c in zip(items.ids, items.categories, strict=True) if c == "bottom"}
        external = session.scalars(select(Item.external_id).where(Item.id == top)).one()
    yield Shop(db, settings, theta, prior, external, bottoms)


@pytest.fixture
def service(shop: Shop) -> Iterator[Recommender]:
    with shop.db.sessions() as session:
        yield Recommender.open(session, shop.settings)


def test_matches_are_served_bottoms_ranked_like_exhaustive_scoring(shop: Shop, service: Recommender) -> None:
    answer = service.recommend("fan", shop.top, "bottom", k=5, n_designs=2, seed=0)
    ids = [m.item_id for m in answer.matches]
    assert answer.theta_source == "trained" and answer.query.external_id == shop.top
    assert len(ids) == 5 == len(set(ids)) and set(ids) <= shop.bottoms and answer.query.item_id not in ids
    scores = [m.score for m in answer.matches]
    assert scores == sorted(scores, reverse=True)
    assert answer.recommendation.designs.shape == (2, 32, 32, 3)
    assert all(info.external_id and info.article_type for _, info in answer.rows())
    reference = service.retriever().exhaustive(query=answer.query_pixels, theta=shop.theta, category="bottom", k=5,
                                               exclude=[answer.query.item_id])  # fmt: skip
    assert ids == [i for i, _ in reference]  # every design retrieves all 12 bottoms: the re-rank is exhaustive
    assert scores == pytest.approx([s for _, s in reference], rel=1e-5)
    again = service.recommend("fan", shop.top, "bottom", k=5, n_designs=2, seed=0, exclude=[ids[0]])
    assert ids[0] not in [m.item_id for m in again.matches]


def test_items_deactivated_since_the_index_was_synced_are_not_recommended(shop: Shop, service: Recommender) -> None:
    ids = [m.item_id for m in service.recommend("fan", shop.top, "bottom", k=5, n_designs=2, seed=0).matches]
    withdrawn = ids[:2]
    with shop.db.transaction() as session:  # as `DELETE /v1/items/{id}` does; no index sync runs
        session.execute(update(Item).where(Item.id.in_(withdrawn)).values(is_active=False))
    try:
        kept = [m.item_id for m in service.recommend("fan", shop.top, "bottom", k=5, n_designs=2, seed=0).matches]
        assert len(kept) == 5 and not set(kept) & set(withdrawn)
        assert kept[:3] == ids[2:]  # the others keep their order
    finally:
        with shop.db.transaction() as session:
            session.execute(update(Item).where(Item.id.in_(withdrawn)).values(is_active=True))


def test_items_moved_to_another_category_since_the_sync_leave_its_answers(shop: Shop, service: Recommender) -> None:
    ids = [m.item_id for m in service.recommend("fan", shop.top, "bottom", k=5, n_designs=2, seed=0).matches]
    moved = ids[1]
    with shop.db.sessions() as session:
        before = session.execute(select(Item.master_category, Item.sub_category, Item.article_type)
                                 .where(Item.id == moved)).one()  # fmt: skip
    with shop.db.transaction() as session:  # as `PATCH /v1/items/{id}` does; no index sync runs
        session.execute(update(Item).where(Item.id == moved).values(
            master_category="Apparel", sub_category="Topwear", article_type="Tshirts"))  # fmt: skip
    try:
        kept = [m.item_id for m in service.recommend("fan", shop.top, "bottom", k=5, n_designs=2, seed=0).matches]
        assert len(kept) == 5 and moved not in kept  # a T-shirt is no answer for "bottom", index or not
        assert kept[:1] == ids[:1] and kept[1:4] == ids[2:]
    finally:
        with shop.db.transaction() as session:
            session.execute(update(Item).where(Item.id == moved).values(
                master_category=before[0], sub_category=before[1], article_type=before[2]))  # fmt: skip


def test_users_without_theta_get_the_population_prior(shop: Shop, service: Recommender) -> None:
    with shop.db.sessions() as session:
        stranger = session.scalars(select(User).where(User.external_id == "stranger")).one()
        fan = session.scalars(select(User).where(User.external_id == "fan")).one()
        nobody_theta, nobody_source = service.theta(session, None)
        theta, source = service.theta(session, fan)
    assert nobody_source == "prior" and nobody_theta is service.prior
    assert source == "trained" and theta is not None and torch.allclose(theta, shop.theta)
    assert service.prior is not None and torch.allclose(service.prior, shop.prior)
    unknown = service.recommend("nobody", shop.top, "bottom", k=3, n_designs=1, seed=0)
    known = service.recommend("stranger", shop.top, "bottom", k=3, n_designs=1, seed=0)
    assert (unknown.theta_source, unknown.user_id) == ("prior", None)
    assert (known.theta_source, known.user_id) == ("prior", stranger.id)
    assert [m.item_id for m in unknown.matches] == [m.item_id for m in known.matches]


def test_unknown_item_category_or_designer_are_clear_errors(shop: Shop, service: Recommender) -> None:
    with pytest.raises(NotFoundError, match="no catalogue item 'no-such-item'"):
        service.recommend("fan", "no-such-item", "bottom")
    with pytest.raises(InvalidInputError, match=r"unknown category 'capes'.*bottom.*top"):
        service.recommend("fan", shop.top, "capes")
    with shop.db.sessions() as session, pytest.raises(NotFoundError, match="registered designers: tiny-full"):
        Recommender.open(session, shop.settings, designer="no-such-designer")


def test_latents_are_cached_and_a_changed_catalogue_recomputes_them(
    shop: Shop, service: Recommender, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = shop.settings.data_dir / "cache"
    assert len(list(cache.glob("designer-latents-*.npy"))) == 1
    encoded: list[int] = []
    real = latents_module.encode_items

    def counting(**kwargs: object) -> torch.Tensor:
        encoded.append(len(kwargs["shas"]))  # type: ignore[arg-type]
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(latents_module, "encode_items", counting)
    with shop.db.sessions() as session:
        reopened = Recommender.open(session, shop.settings, designer="tiny-full")
    assert encoded == [] and torch.equal(reopened.latents.z, service.latents.z)
    gone = min(shop.bottoms)
    _set_active(shop.db, gone, False)
    try:
        with shop.db.sessions() as session:
            changed = Recommender.open(session, shop.settings)
            entry = catalogue_latents(session=session, designer=service.designer.model, sha256=service.designer.sha256,
                                      cache_dir=tmp_path, previous=service._entry)  # fmt: skip
            answer = changed.recommend("fan", shop.top, "bottom", k=20, n_designs=1, seed=0)
        assert gone not in [m.item_id for m in answer.matches]  # still indexed, no longer served
        assert encoded == [len(service.latents.item_ids) - 1, 0]  # a fresh process encodes all; a live one reuses
        assert gone not in changed.latents.item_ids.tolist() and len(list(cache.glob("designer-latents-*.npy"))) == 2
        assert torch.equal(entry.latents.z, changed.latents.z)
        _sync(shop)
        service.serving.refresh_s = 0.0  # a long-lived service picks up the new index version and its latents
        service.recommend("fan", shop.top, "bottom", k=3, n_designs=1, seed=0)
        assert gone not in service.latents.item_ids.tolist() and len(encoded) == 2
    finally:
        _set_active(shop.db, gone, True)
        _sync(shop)


def test_an_unreadable_latents_cache_is_computed_again(shop: Shop, service: Recommender, tmp_path: Path) -> None:
    """A cache file cut short (a full disk, a crash before the rename reached the disk) failed every start."""
    with shop.db.sessions() as session:
        first = catalogue_latents(session=session, designer=service.designer.model, sha256=service.designer.sha256,
                                  cache_dir=tmp_path)  # fmt: skip
        (cached,) = tmp_path.glob("designer-latents-*.npy")
        cached.write_bytes(cached.read_bytes()[:100])
        again = catalogue_latents(session=session, designer=service.designer.model, sha256=service.designer.sha256,
                                  cache_dir=tmp_path)  # fmt: skip
        np.save(cached, np.zeros(len(first.latents.item_ids), np.float32))  # a readable file of the wrong shape
        third = catalogue_latents(session=session, designer=service.designer.model, sha256=service.designer.sha256,
                                  cache_dir=tmp_path)  # fmt: skip
    assert torch.equal(again.latents.z, first.latents.z) and torch.equal(third.latents.z, first.latents.z)
    assert np.array_equal(np.load(cached), first.latents.z.numpy())  # written again, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [cached.name]  # no temp files left behind


def test_a_changing_catalogue_keeps_only_the_last_few_latents_files(shop: Shop, service: Recommender,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    """Every change to the served catalogue wrote two whole-catalogue arrays (9.8 MiB each on Myntra) for good."""
    gone = sorted(shop.bottoms)[: KEEP + 2]
    embedder = PixelEmbedder(image_size=32)
    entry = None
    try:
        for n in range(len(gone) + 1):
            with shop.db.sessions() as session:
                entry = catalogue_latents(session=session, designer=service.designer.model, embedder=embedder,
                                          sha256=service.designer.sha256, cache_dir=tmp_path,
                                          previous=entry)  # fmt: skip
            if n < len(gone):
                _set_active(shop.db, gone[n], False)
    finally:
        for item in gone:
            _set_active(shop.db, item, True)
    assert entry is not None and not set(gone) & set(entry.latents.item_ids.tolist())
    for family in LATENTS_FAMILIES:
        files = sorted(tmp_path.glob(f"{family}*.npy"))
        assert len(files) == KEEP and tmp_path / f"{family}{entry.key}.npy" in files
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _sync(shop: Shop) -> None:
    sync_index(db=shop.db, root=shop.settings.indexes_dir, embedder=PixelEmbedder(image_size=32))


def _set_active(db: Database, item_id: int, active: bool) -> None:
    with db.transaction() as session:
        session.execute(update(Item).where(Item.id == item_id).values(is_active=active))


def test_cli_prints_the_table_and_draws_the_picture(shop: Shop, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    env = {"RECENGINE_DATA_DIR": str(shop.settings.data_dir), "RECENGINE_DATABASE_URL": str(shop.settings.database_url),
           "COLUMNS": "200"}  # fmt: skip
    picture = tmp_path / "grid.png"
    args = ["recommend", "--user", "fan", "--item", shop.top, "--category", "bottom", "-k", "6", "--designs", "2",
            "--seed", "0", "--designer", "tiny-full", "--out", str(picture)]  # fmt: skip
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "6 bottom for" in result.output and "θu trained" in result.output and "similarity" in result.output
    assert picture.stat().st_size > 0
    from PIL import Image as PILImage

    with PILImage.open(picture) as img:
        assert img.size[1] == 3 * (96 + 14)  # query and designs, then two rows of matches
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["recengine", "recommend", "--item", shop.top, "--category", "capes"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2 and "unknown category 'capes'" in capsys.readouterr().err


def test_registering_a_designer_file_stores_the_theta_of_its_users_that_exist(session: Session, tmp_path: Path) -> None:
    model = designer()
    assert model.compatibility.theta is not None
    path = tmp_path / "designer-shipped.pt"
    save_checkpoint(path, family="designer", config=model.config.as_dict(), state_dict=model.state_dict(),
                    extra={"user_external_ids": ["shipped:a", "shipped:absent", "shipped:b"]})  # fmt: skip
    a, b = User(external_id="shipped:a"), User(external_id="shipped:b")
    session.add_all([a, b])
    session.flush()
    version = register_checkpoint(session=session, path=path)
    rows = {p.user_id: p for p in session.scalars(select(UserPreference).where(
        UserPreference.model_version_id == version.id))}  # fmt: skip
    assert set(rows) == {a.id, b.id}
    weights = model.compatibility.theta.weight.detach()
    assert rows[b.id].vector == pytest.approx(weights[2].tolist(), rel=1e-6)
    assert not rows[b.id].is_prior and rows[b.id].loss is None  # "trained": the recommender serves it as such
    assert version.config["dataset"] == "default"  # the file records none: newcomers are fitted on `default`
    named = register_checkpoint(session=session, path=path, name="other", dataset="stylist")
    assert named.config["dataset"] == "stylist"
