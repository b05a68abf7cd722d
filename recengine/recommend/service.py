"""The recommendation service that a shop's backend and ``recengine recommend`` both use.

:class:`Recommender` wires the stored pieces around :class:`~recengine.recommend.design_retrieve.DesignRetriever`:
a registered designer (or a checkpoint file), the serving index with the embedder that built it, the designer's
own F(x_c) of every served item (cached on disk, because encoding a 40k-item catalogue takes minutes on a CPU and
a restarted process should not pay it again), the user's θu from ``user_preferences`` and the query item's
prepared pixels. It answers in item ids *and* the metadata a shop shows next to them.

Users the designer never saw (newcomers, anonymous visitors, a typo in an external id) still get designs: they
are served with the population prior θ̄, and the answer says so (``theta_source="prior"``), so a shop can tell a
personal answer from a generic one and fit the user (``recengine users fit``) when it wants the former.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy import not_, or_, select
from sqlalchemy.orm import Session

from recengine.config import Settings
from recengine.datasets.outfits.templates import load_category_map
from recengine.designer.train import load_designer
from recengine.embedding.catalogue import category_clause, load_prepared
from recengine.embedding.embedder import ImageEmbedder, PixelEmbedder, embedder_kind, resolve_embedder
from recengine.errors import ConfigurationError, InvalidInputError, NotFoundError
from recengine.index import CatalogueIndex, index_path
from recengine.indexing.service import DEFAULT_NAME
from recengine.indexing.serving import ServingIndex
from recengine.nets.designer import Designer
from recengine.preferences.theta import population_prior
from recengine.recommend.design_retrieve import CatalogueLatents, DesignRetriever, Match, Recommendation
from recengine.recommend.latents import LatentsEntry, catalogue_latents
from recengine.store.bulk import any_of
from recengine.store.catalogue import matching_item_ids
from recengine.store.models import IndexVersion, Item, ModelVersion, User, UserPreference, row_id
from recengine.store.users import lookup_user
from recengine.training.checkpoints import file_sha256

_log = logging.getLogger(__name__)

#: Where θu came from: trained with the model, fitted later for a newcomer, the population prior (no usable
#: history), or nowhere (a designer trained without θu).
ThetaSource = Literal["trained", "fitted", "prior", "none"]
_PIXELS_VERSION = re.compile(r"pixels:(\d+)x\1@(\d+)")


@dataclass(frozen=True)
class ItemInfo:
    """What a shop shows next to an item id."""

    item_id: int
    external_id: str
    name: str | None
    article_type: str | None
    colour: str | None
    image_sha256: str | None

    @classmethod
    def of(cls, item: Item) -> ItemInfo:
        return cls(item.id, item.external_id, item.name, item.article_type, item.colour, item.image_sha256)


@dataclass(frozen=True)
class Recommended:
    """One answer: the matches (best first) with their metadata, the designs, and where θu came from."""

    recommendation: Recommendation
    query: ItemInfo | None  # None: the query was a photo, not a catalogue item
    query_pixels: NDArray[np.uint8]  # (S, S, 3) as the designer saw it
    category: str
    user_id: int | None  # None: no such user in the database
    theta_source: ThetaSource
    items: dict[int, ItemInfo]  # metadata of every match, by item id

    @property
    def matches(self) -> list[Match]:
        return self.recommendation.matches

    def rows(self) -> list[tuple[Match, ItemInfo]]:
        """Each match with its item's metadata, best first."""
        return [(m, self.items[m.item_id]) for m in self.matches]


@dataclass(frozen=True)
class LoadedDesigner:
    model: Designer
    sha256: str  # of the checkpoint file: keys the latents cache
    label: str  # model version name, or the file's path
    model_version_id: int | None  # whose ``user_preferences`` hold θu; None for an unregistered file


# --- resolving the parts ------------------------------------------------------------------------------------


def _newest_designer(session: Session) -> ModelVersion:
    newest = ModelVersion.created_at.desc(), ModelVersion.id.desc()
    version = session.scalar(select(ModelVersion).where(ModelVersion.family == "designer").order_by(*newest))
    if version is None:
        raise NotFoundError("no designer registered: `recengine train designer` or `recengine models register`")
    return version


def designer_version(session: Session, designer: str | None) -> tuple[ModelVersion | None, Path]:
    """The model version (if any) and the checkpoint file that ``designer`` (a name, a path or None) names."""
    if designer is None:
        version: ModelVersion | None = _newest_designer(session)
    else:
        version = session.scalar(select(ModelVersion).where(ModelVersion.family == "designer",
                                                            ModelVersion.name == designer))  # fmt: skip
    if version is not None:
        if not version.checkpoint_path:
            raise NotFoundError(f"designer model version {version.name!r} has no checkpoint file")
        return version, Path(version.checkpoint_path)
    path = Path(str(designer))
    if not path.is_file():
        names = session.scalars(select(ModelVersion.name).where(ModelVersion.family == "designer")).all()
        raise NotFoundError(f"no designer model version or checkpoint file {designer!r}; registered designers: "
                            f"{', '.join(sorted(names)) or 'none'}")  # fmt: skip
    return None, path


def served_model_version_id(session: Session, designer: str | None = None) -> int | None:
    """The model version whose θu recommendations read: that of ``designer`` (a name, as
    ``RECENGINE_API_DESIGNER`` gives it; None: the newest), or None when no registered designer answers to it.
    New users are fitted against it by default, by the API and the command line alike."""
    try:
        version, _path = designer_version(session, designer)
    except NotFoundError:
        return None
    return None if version is None else version.id


def resolve_designer(*, session: Session, designer: str | None = None) -> LoadedDesigner:
    """A designer in eval mode by model version name, checkpoint path, or (None) the newest registered one.

    A checkpoint file that is registered under some name is found by its sha256, so its θu rows still apply.
    """
    version, path = designer_version(session, designer)
    sha = file_sha256(path)
    if version is None:
        same_file = ModelVersion.family == "designer", ModelVersion.checkpoint_sha256 == sha
        version = session.scalar(select(ModelVersion).where(*same_file).limit(1))
    elif version.checkpoint_sha256 and version.checkpoint_sha256 != sha:
        _log.warning("designer %s: %s changed since it was registered; its θu may not fit", version.name, path)
    model = load_designer(path)
    if model.config.user_mode == "label":
        raise InvalidInputError(f"designer {path} addresses users by training label, which a shop's user lacks: "
                                "serve a designer trained with θu (variant full) or without (no-theta)")  # fmt: skip
    label = version.name if version is not None else str(path)
    return LoadedDesigner(model, sha, label, None if version is None else version.id)


def index_embedder(*, session: Session, index_name: str, embedder_version: str) -> ImageEmbedder:
    """The embedder that wrote the index's vectors: designs must be embedded the same way to find neighbours."""
    match = _PIXELS_VERSION.fullmatch(embedder_version)
    if match:  # the baseline has no registry row; its version string says everything
        return PixelEmbedder(side=int(match[1]), image_size=int(match[2]))
    row = session.scalar(select(IndexVersion).where(IndexVersion.name == index_name, IndexVersion.status == "ready"))
    emb = resolve_embedder(session=session, kind=embedder_kind(embedder_version),
                           model_version_id=row.embedder_version_id if row else None)  # fmt: skip
    if emb.version != embedder_version:
        raise ConfigurationError(f"index {index_name!r} was built by {embedder_version}, which is not registered "
                                 f"here (found {emb.version}): rebuild the index")  # fmt: skip
    return emb


def _live_index(serving: ServingIndex, index_name: str) -> CatalogueIndex:
    index = serving.current().index
    if not isinstance(index, CatalogueIndex):
        raise ConfigurationError(f"index {index_name!r} is not a catalogue index")
    return index


def index_categories(index: CatalogueIndex) -> list[str]:
    """Categories the index can answer (partitions with at least one item)."""
    return sorted(name for name, (_, count) in index.partitions().items() if count)


# --- users and items ------------------------------------------------------------------------------------------


def find_user(session: Session, user: str | None) -> User | None:
    """A user by external id, or by database id when ``user`` is a number that no external id matches."""
    return None if user is None else lookup_user(session=session, user=user)


def find_item(session: Session, item: str | int) -> Item:
    """The query item by external id (or database id); it needs a photo, but may be inactive (it is the user's)."""
    found = session.scalar(select(Item).where(Item.external_id == item)) if isinstance(item, str) else None
    number = row_id(item)
    if found is None and number is not None:
        found = session.get(Item, number)
    if found is None or found.image_sha256 is None:
        raise NotFoundError(f"no catalogue item {item!r} with an image")
    return found


def _stored_theta(pref: UserPreference, z_dim: int) -> tuple[torch.Tensor, ThetaSource]:
    if pref.dim != z_dim:
        raise ConfigurationError(f"θu of user {pref.user_id} has {pref.dim} dims, the designer needs {z_dim}")
    source: ThetaSource = "prior" if pref.is_prior else "trained" if pref.loss is None else "fitted"
    return torch.tensor(pref.vector, dtype=torch.float32), source


# --- the service ----------------------------------------------------------------------------------------------


class Recommender:
    """Everything one process needs to answer design-and-retrieve requests; open once, call many times.

    The index is served through :class:`ServingIndex`, so published syncs are picked up without a restart; the
    latents follow the index (refreshed when its version changes). Items the index holds but the catalogue no
    longer serves are never returned.
    """

    def __init__(self, session: Session, designer: LoadedDesigner, embedder: ImageEmbedder, serving: ServingIndex,
                 *, index_name: str, cache_dir: Path, per_design: int = 50) -> None:  # fmt: skip
        self.session, self.designer, self.embedder, self.serving = session, designer, embedder, serving
        self.index_name, self.cache_dir, self.per_design = index_name, cache_dir, per_design
        compatibility = designer.model.compatibility
        self.prior = None if compatibility.theta is None else torch.as_tensor(population_prior(compatibility)).float()
        self._entry: LatentsEntry | None = None
        self._index_version: str | None = None
        self._retriever: DesignRetriever | None = None
        self._stale = np.empty(0, np.int64)
        self._categories = load_category_map()  # the map served_items classified the index's items by
        self._lock = threading.Lock()
        self._sync(session)

    @classmethod
    def open(cls, session: Session, settings: Settings, *, designer: str | None = None,
             index_name: str = DEFAULT_NAME, per_design: int = 50) -> Recommender:  # fmt: skip
        """Load the designer (name, checkpoint path, or the newest registered), the index ``index_name`` and
        its embedder, and the designer's latents of the catalogue (cached under ``<data dir>/cache``).

        ``session`` serves every later call that passes none, so it must stay open as long as the recommender;
        a backend that opens a session per request passes that one to :meth:`recommend` instead.
        """
        loaded = resolve_designer(session=session, designer=designer)
        serving = ServingIndex(index_path(settings.indexes_dir, index_name))
        index = _live_index(serving, index_name)
        emb = index_embedder(session=session, index_name=index_name, embedder_version=index.embedder_version)
        return cls(session, loaded, emb, serving, index_name=index_name, cache_dir=settings.data_dir / "cache",
                   per_design=per_design)  # fmt: skip

    @property
    def latents(self) -> CatalogueLatents:
        if self._entry is None:
            raise RuntimeError("Recommender used before open()")
        return self._entry.latents

    def retriever(self, session: Session | None = None) -> DesignRetriever:
        """The retriever over the live index version (latents refreshed first when the index changed)."""
        return self._sync(session or self.session)

    def _sync(self, session: Session) -> DesignRetriever:
        index = _live_index(self.serving, self.index_name)
        if self._retriever is not None and self.serving.version == self._index_version:
            return self._retriever
        with self._lock:
            if index.embedder_version != self.embedder.version:
                raise ConfigurationError(f"index {self.index_name!r} is now built by {index.embedder_version}, "
                                         f"not {self.embedder.version}: open the recommender again")  # fmt: skip
            self._entry = catalogue_latents(session=session, designer=self.designer.model, sha256=self.designer.sha256,
                                            cache_dir=self.cache_dir, embedder=self.embedder,
                                            previous=self._entry)  # fmt: skip
            self._stale = np.setdiff1d(index.ids(), self._entry.latents.item_ids)
            retriever = DesignRetriever(self.designer.model, self.embedder, self.serving, self._entry.latents,
                                        per_design=self.per_design)  # fmt: skip
            self._retriever, self._index_version = retriever, self.serving.version
            return retriever

    def theta(self, session: Session, user: User | None) -> tuple[torch.Tensor | None, ThetaSource]:
        """θu of ``user`` for this designer's model version, or the population prior when there is none."""
        if self.prior is None:
            return None, "none"
        version = self.designer.model_version_id
        pref = None if user is None or version is None else session.get(UserPreference, (user.id, version))
        if pref is None:
            return self.prior, "prior"
        return _stored_theta(pref, int(self.prior.shape[0]))

    @property
    def image_size(self) -> int:
        """Side of the pixels the designer takes (see :meth:`recommend_pixels`)."""
        return self.designer.model.config.image_size

    def categories(self) -> dict[str, int]:
        """The categories a request may name (those of the live index with items), each with its item count."""
        index = _live_index(self.serving, self.index_name)
        return {name: count for name, (_, count) in sorted(index.partitions().items()) if count}

    def recommend(self, user: str | None, item: str | int, category: str, *, k: int = 10, n_designs: int = 4,
                  seed: int | None = None, exclude: Sequence[int] = (),
                  filters: Mapping[str, Sequence[str]] | None = None,
                  session: Session | None = None) -> Recommended:  # fmt: skip
        """Real items of ``category`` that go with ``item`` for ``user`` (external ids; database ids work too).

        Args:
            user: the user's external id; unknown or None means the population prior.
            item: the query item (never returned itself).
            exclude: item ids never returned (items already bought).
            filters: item columns (:data:`~recengine.store.catalogue.FILTERABLE`) to their allowed values;
                items of the category that do not match are excluded inside the index search.
            session: a per-request session (a backend's); default the one the recommender was opened with.
        """
        db = session or self.session
        self.retriever(db)
        self._check_category(category)
        query = find_item(db, item)
        pixels = load_prepared(db, [str(query.image_sha256)], self.image_size)
        repairs = None if self._entry is None else self._entry.repairs
        if repairs is not None and query.id in repairs.stamps:  # a kept mask: the photo as the index saw it
            pixels = repairs(db, np.array([query.id], np.int64), pixels)
        return self.recommend_pixels(user, pixels[0], category, k=k, n_designs=n_designs, seed=seed,
                                     exclude=[query.id, *exclude], filters=filters, query=ItemInfo.of(query),
                                     session=db)  # fmt: skip

    def recommend_pixels(self, user: str | None, pixels: NDArray[np.uint8], category: str, *, k: int = 10,
                         n_designs: int = 4, seed: int | None = None, exclude: Sequence[int] = (),
                         filters: Mapping[str, Sequence[str]] | None = None, query: ItemInfo | None = None,
                         session: Session | None = None) -> Recommended:  # fmt: skip
        """:meth:`recommend` for a query given as pixels: a shopper's photo rather than a catalogue item.

        Args:
            pixels: (S, S, 3) uint8 prepared as :func:`~recengine.datasets.image_cache.prepare_image` does, S
                being :attr:`image_size`.
            query: the catalogue item the pixels show, if any (reported back; None for a photo).
        """
        db = session or self.session
        retriever = self.retriever(db)
        self._check_category(category)
        if pixels.shape != (self.image_size, self.image_size, 3):
            raise InvalidInputError(f"query pixels must be ({self.image_size}, {self.image_size}, 3), "
                                    f"got {pixels.shape}")  # fmt: skip
        found = find_user(db, user)
        theta, source = self.theta(db, found)
        unwanted = self._filtered_out(db, category, filters) if filters else []
        banned = sorted({*map(int, exclude), *self._stale.tolist(), *unwanted})
        result = retriever.recommend(query=pixels, theta=theta, category=category, k=k, n_designs=n_designs,
                                     exclude=banned, seed=seed)  # fmt: skip
        infos = self._infos(db, [m.item_id for m in result.matches], category)
        if len(infos) < len(result.matches):
            # Some were deactivated, or moved to another category, since the index was synced: the shop changed
            # them, so the answer follows now, not when a worker gets to the sync job. One more search without
            # any of the category's withdrawn items; only an answer that held one pays it.
            banned = sorted({*banned, *self._withdrawn(db, category)})
            result = retriever.recommend(query=pixels, theta=theta, category=category, k=k, n_designs=n_designs,
                                         exclude=banned, seed=seed)  # fmt: skip
            infos = self._infos(db, [m.item_id for m in result.matches], category)
            # One withdrawn in the meantime is left out (an answer one item short, not a withdrawn item).
            result = replace(result, matches=[m for m in result.matches if m.item_id in infos])
        return Recommended(result, query, pixels, category, None if found is None else found.id, source,
                           infos)  # fmt: skip

    def _in_category(self, category: str) -> NDArray[np.int64]:
        """Ids of the served items of ``category``."""
        latents = self.latents
        ids: NDArray[np.int64] = latents.item_ids[latents.categories == category]
        return ids

    def _withdrawn(self, session: Session, category: str) -> list[int]:
        """Items of ``category`` in the served latents that are inactive now, or of another category."""
        moved = not_(category_clause(category, self._categories))
        stmt = select(Item.id).where(any_of(Item.id, self._in_category(category).tolist()),
                                     or_(Item.is_active.is_(False), moved))  # fmt: skip
        return list(session.scalars(stmt))

    def _filtered_out(self, session: Session, category: str, filters: Mapping[str, Sequence[str]]) -> list[int]:
        """Items of ``category`` that fail ``filters``: handed to the index as exclusions, so that a filter
        still returns k matches when k exist (the index widens its search around exclusions)."""
        in_category = self._in_category(category)
        keep = matching_item_ids(session=session, filters=filters)
        return [int(i) for i in np.setdiff1d(in_category, keep, assume_unique=True)]

    def _check_category(self, category: str) -> None:
        valid = index_categories(_live_index(self.serving, self.index_name))
        if category not in valid:
            raise InvalidInputError(f"unknown category {category!r}; index {self.index_name!r} has "
                                    f"{', '.join(valid) or 'no items'}")  # fmt: skip

    def _infos(self, session: Session, ids: list[int], category: str) -> dict[int, ItemInfo]:
        """The items among ``ids`` that are active and of ``category`` now."""
        current = category_clause(category, self._categories)
        stmt = select(Item).where(Item.id.in_(ids), Item.is_active.is_(True), current)
        return {it.id: ItemInfo.of(it) for it in session.scalars(stmt)}
