"""New-user preference fitting against the database: load a trained model once, fit θu, upsert it.

``ModelContext`` holds what every fit needs and is built once per process (a worker keeps it warm): the
frozen model, the embeddings of the items fits have read so far (each fit encodes the rest of what it reads),
and the pools of Eq. 6 (training bottoms) and Eq. 7 (other users' training pairs) negatives.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from recengine.compatibility.scoring import embed_images
from recengine.compatibility.train import joint_user_rows
from recengine.datasets.image_cache import photo_shas
from recengine.embedding.catalogue import load_prepared
from recengine.errors import InvalidInputError, NotFoundError
from recengine.evaluation.protocol_data import ProtocolData, load_protocol_data
from recengine.nets.compatibility import CompatibilityConfig, CompatibilityModel
from recengine.preferences.theta import DEFAULT_FIT, FitConfig, FitResult, Progress, fit_theta
from recengine.store.models import (
    Interaction,
    ModelVersion,
    Outfit,
    OutfitItem,
    SplitAssignment,
    User,
    UserPreference,
    get_row,
)
from recengine.store.users import lookup_user
from recengine.training.checkpoints import load_checkpoint
from recengine.training.compatibility_recipe import NegativeMix

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class NegativeRows:
    """The item rows of a fit's negatives (Eq. 6 bottoms, Eq. 7 pairs) and the loss weight of each column."""

    eq6: IntArray  # (P, k6) bottoms paired with each positive's query
    eq7_queries: IntArray  # (P, k7) other users' training pairs
    eq7_targets: IntArray
    weights: torch.Tensor  # (k6 + k7,)

    def rows(self) -> IntArray:
        return np.concatenate([self.eq6.ravel(), self.eq7_queries.ravel(), self.eq7_targets.ravel()])


@dataclass(frozen=True)
class ModelContext:
    model_version_id: int
    model: CompatibilityModel
    data: ProtocolData
    z: torch.Tensor  # (I, z_dim) F(x) of every item index of ``data`` (rows still ``missing`` are zeros)
    index: dict[int, int]  # database item id -> item index
    pair_queries: IntArray  # Eq. 7 pool: training pairs of the model's users
    pair_targets: IntArray
    pair_users: IntArray  # database user ids of those pairs
    bottoms: IntArray  # Eq. 6 pool: training items of the target slot
    mix: NegativeMix = field(default_factory=NegativeMix.in_batch_even)  # the negatives the model trained with
    #: Rows of ``z`` not encoded yet; None: every row is. A fit encodes only the rows it reads (:meth:`encode`).
    missing: NDArray[np.bool_] | None = None
    #: The photo of each row, for :meth:`encode`.
    shas: tuple[str, ...] = ()

    def encode(self, session: Session | None, rows: IntArray) -> None:
        """Fill the rows of ``z`` among ``rows`` that are still missing: their photos, read through ``session``
        now, through F. Without a session, a missing row is an error.

        Two threads encoding the same row write the same values; contexts are per process and a worker runs one
        fit at a time.
        """
        if self.missing is None:
            return
        need = np.unique(rows)
        need = need[self.missing[need]]
        if not len(need):
            return
        if session is None:
            raise InvalidInputError("this model context encodes items on demand: pass a session")
        images = load_prepared(session, [self.shas[i] for i in need], self.model.config.image_size)
        self.z[torch.as_tensor(need)] = embed_images(self.model, images)
        self.missing[need] = False

    def negative_rows(self, rng: np.random.Generator, queries: IntArray, k: int, user_id: int,
                      complements: IntArray | None = None) -> NegativeRows:  # fmt: skip
        """The rows of k negative outfits for each positive with these queries, half Eq. 6 and half Eq. 7,
        and the (k,) weight of each column in the loss: the two kinds mixed as the model was trained. With
        ``exclude_own`` in the mix, no negative's bottom is one of the user's ``complements``."""
        p = len(queries)
        bottoms, others = self.bottoms, self.pair_users != user_id
        if self.mix.exclude_own and complements is not None and len(complements):
            bottoms = np.setdiff1d(bottoms, complements)
            others &= ~np.isin(self.pair_targets, complements)
        k6, k7 = k - k // 2, k // 2
        eq6 = bottoms[rng.integers(0, len(bottoms), size=(p, k6))]
        rows = np.flatnonzero(others)[rng.integers(0, int(others.sum()), size=(p, k7))]
        w7 = self.mix.eq7_weight if k7 else 0.0
        weights = torch.cat([torch.full((k6,), (1.0 - w7) / k6), torch.full((k7,), w7 / max(k7, 1))])
        return NegativeRows(eq6, self.pair_queries[rows], self.pair_targets[rows], weights)

    def negatives(self, rng: np.random.Generator, queries: IntArray, k: int, user_id: int,
                  complements: IntArray | None = None, *,
                  session: Session | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """(P, k, z_dim) negative outfits (:meth:`negative_rows`) and their weights; a context with missing rows
        encodes those it reads through ``session``."""
        neg = self.negative_rows(rng, queries, k, user_id, complements)
        self.encode(session, np.concatenate([queries, neg.rows()]))
        return self.negative_outfits(queries, neg), neg.weights

    def negative_outfits(self, queries: IntArray, neg: NegativeRows) -> torch.Tensor:
        """(P, k, z_dim) zq ⊙ zc of the negatives ``neg`` drawn for these queries; their rows must be encoded."""
        z = self.z
        eq6 = z[torch.as_tensor(queries)][:, None, :] * z[torch.as_tensor(neg.eq6)]
        eq7 = z[torch.as_tensor(neg.eq7_queries)] * z[torch.as_tensor(neg.eq7_targets)]
        return torch.cat([eq6, eq7], dim=1)


def load_model_context(*, session: Session, model_version_id: int) -> ModelContext:
    """The context of a compatibility or designer version, its items not encoded yet (a fit encodes what it reads)."""
    version = get_row(session, ModelVersion, model_version_id)
    if version is None or version.family not in FITTABLE or not version.checkpoint_path:
        raise NotFoundError(f"no compatibility or designer model version {model_version_id} with a checkpoint")
    return _context(session, version.id, Path(version.checkpoint_path), str(version.config.get("dataset")),
                    version.family)  # fmt: skip


#: Families whose checkpoints hold a compatibility model (F, M, θu) that newcomers can be fitted against: a
#: designer fine-tunes its own, and its designs must be conditioned on a θu from that same model.
FITTABLE = ("compatibility", "designer")


def load_compatibility_part(checkpoint: Path, family: str = "compatibility") -> CompatibilityModel:
    """The compatibility model (eval mode) of a compatibility or designer checkpoint."""
    return compatibility_part(load_checkpoint(checkpoint, family=family), family)


def trained_negative_mix(payload: dict[str, Any]) -> NegativeMix:
    """The negatives a checkpoint's F, M and θu were trained with (older and designer checkpoints: in-batch,
    even mix)."""
    saved = payload.get("extra", {}).get("negatives")
    return NegativeMix.in_batch_even() if saved is None else NegativeMix(**saved)


def compatibility_part(payload: dict[str, Any], family: str = "compatibility") -> CompatibilityModel:
    """The compatibility model (eval mode) of a loaded compatibility or designer checkpoint."""
    config, state = payload["config"], payload["state_dict"]
    if family == "designer":
        prefix = "compatibility."
        config = config["compatibility"]
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    model = CompatibilityModel(CompatibilityConfig.from_dict(config))
    model.load_state_dict(state)
    return model.eval()


def _context(session: Session, version_id: int, checkpoint: Path, dataset: str,
             family: str = "compatibility") -> ModelContext:  # fmt: skip
    payload = load_checkpoint(checkpoint, family=family)
    model = compatibility_part(payload, family)
    data = load_protocol_data(session=session, dataset=dataset)
    # Nothing is encoded yet: a fit reads its positives and a few hundred sampled negatives, and encodes those.
    # Encoding the whole dataset first (34,404 photos decoded, then F) made the first fit after a deploy or a
    # new model take 60 s.
    shas = tuple(photo_shas(session, data.item_ids))
    z = torch.zeros(len(shas), model.config.z_dim)
    context = build_context(version_id, model, data, z, trained_negative_mix(payload))
    return replace(context, missing=np.ones(len(shas), dtype=bool), shas=shas)


def build_context(version_id: int, model: CompatibilityModel, data: ProtocolData, z: torch.Tensor,
                  mix: NegativeMix | None = None) -> ModelContext:  # fmt: skip
    """A context from parts already in memory (benchmarks and tests reuse loaded data); ``mix``: the negatives
    the model was trained with (default: :meth:`NegativeMix.in_batch_even`)."""
    rows = joint_user_rows(data)
    users, queries, targets, _ = data.pairs("train")
    joint = rows[users] >= 0
    train_items = np.unique(data.outfit_items[data.outfit_part == 0])
    bottoms = np.intersect1d(data.slot_items(data.target_slot), train_items)
    return ModelContext(version_id, model, data, z, {int(i): n for n, i in enumerate(data.item_ids)},
                        queries[joint], targets[joint], data.user_ids[users[joint]], bottoms,
                        mix or NegativeMix.in_batch_even())  # fmt: skip


#: Interaction kinds that make an example of the item: the user chose it.
CHOICES = ("like", "purchase")


def user_examples(*, session: Session, ctx: ModelContext, user_id: int,
                  rng: np.random.Generator) -> tuple[IntArray, IntArray]:  # fmt: skip
    """(queries, complements) item indices of a user's history: pairs from the outfits they own that no split
    holds out (valid/test), plus each distinct liked or bought item of the target slot with a random query."""
    held_out = select(SplitAssignment.entity_id).where(
        SplitAssignment.entity == "outfit", SplitAssignment.part.in_(("valid", "test"))
    )
    stmt = (
        select(OutfitItem.outfit_id, OutfitItem.item_id)
        .join(Outfit, Outfit.id == OutfitItem.outfit_id)
        .where(Outfit.owner_user_id == user_id, Outfit.id.not_in(held_out))
        .order_by(OutfitItem.outfit_id, OutfitItem.slot)
    )
    by_outfit: dict[int, list[int]] = {}
    for outfit_id, item_id in session.execute(stmt):
        if item_id in ctx.index:
            by_outfit.setdefault(outfit_id, []).append(ctx.index[item_id])
    slot = ctx.data.item_slot
    q, c = [], []
    for items in by_outfit.values():
        tops = [i for i in items if slot[i] == ctx.data.query_slot]
        bottoms = [i for i in items if slot[i] == ctx.data.target_slot]
        if tops and bottoms:
            q.append(tops[0])
            c.append(bottoms[0])
    # A purchase is a choice as a like is (a view is not). Either is a state, not an event: liked twice (a client's
    # retried call), or liked then bought, is one example. Ordered by the first such interaction, so the random
    # queries drawn below are the same whatever order the database returns rows in.
    liked = session.scalars(select(Interaction.item_id)
                            .where(Interaction.user_id == user_id, Interaction.kind.in_(CHOICES))
                            .group_by(Interaction.item_id).order_by(func.min(Interaction.id)))  # fmt: skip
    for item_id in liked:
        i = ctx.index.get(item_id)
        if i is not None and slot[i] == ctx.data.target_slot:
            q.append(int(ctx.pair_queries[rng.integers(0, len(ctx.pair_queries))]))
            c.append(i)
    return np.asarray(q, dtype=np.int64), np.asarray(c, dtype=np.int64)


def fit_examples(ctx: ModelContext, queries: IntArray, complements: IntArray, *, user_id: int,
                 config: FitConfig = DEFAULT_FIT, progress: Progress | None = None,
                 session: Session | None = None) -> FitResult:  # fmt: skip
    """θu from (query, complement) item indices, with negatives from the context's pools; ``session`` reads the
    photos of rows a lazily built context has not encoded yet."""
    rng = np.random.default_rng([config.seed, user_id])
    neg = ctx.negative_rows(rng, queries, config.negatives_per_positive, user_id, complements)
    ctx.encode(session, np.concatenate([queries, complements, neg.rows()]))  # one read of the photos it lacks
    z_neg, weights = ctx.negative_outfits(queries, neg), neg.weights
    z_pos = ctx.z[torch.as_tensor(queries)] * ctx.z[torch.as_tensor(complements)]
    return fit_theta(ctx.model, z_pos, z_neg, config=config, progress=progress, weights=weights)


def fit_user(*, session: Session, ctx: ModelContext, user_id: int, config: FitConfig = DEFAULT_FIT,
             progress: Progress | None = None) -> FitResult:  # fmt: skip
    if get_row(session, User, user_id) is None:
        raise NotFoundError(f"no user with id {user_id}")
    queries, complements = user_examples(session=session, ctx=ctx, user_id=user_id,
                                         rng=np.random.default_rng([config.seed, user_id]))  # fmt: skip
    return fit_examples(ctx, queries, complements, user_id=user_id, config=config, progress=progress,
                        session=session)  # fmt: skip


def store_preferences(*, session: Session, user_id: int, model_version_id: int, result: FitResult) -> None:
    """Upsert θu of (user, model version): one row per pair, replaced in place by a newer fit."""
    if not np.isfinite(result.theta).all():
        raise InvalidInputError(f"refusing to store a non-finite θu for user {user_id}")
    values = {"user_id": user_id, "model_version_id": model_version_id, "dim": len(result.theta),
              "vector": result.theta.astype(np.float32).tolist(), "is_prior": result.is_prior,
              "loss": None if np.isnan(result.loss) else result.loss, "n_examples": result.n_examples}  # fmt: skip
    stmt = pg_insert(UserPreference).values(**values, fitted_at=func.now())
    update = {k: stmt.excluded[k] for k in ("dim", "vector", "is_prior", "loss", "n_examples", "fitted_at")}
    session.execute(stmt.on_conflict_do_update(index_elements=["user_id", "model_version_id"], set_=update))


def resolve_user(*, session: Session, user: str) -> User:
    """A user by external id, or by database id when ``user`` is a number and no external id matches."""
    found = lookup_user(session=session, user=user)
    if found is None:
        raise NotFoundError(f"no user with external id or id {user!r}")
    return found


def default_model_version(*, session: Session) -> ModelVersion:
    """The newest compatibility model that has θu (the model new users are fitted against by default)."""
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.family == "compatibility", ModelVersion.config["model"]["user_mode"].astext == "theta")
        .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
        .limit(1)
    )
    version = session.scalar(stmt)
    if version is None:
        raise NotFoundError("no compatibility model with θu: train one with `recengine train compatibility`")
    return version


_CONTEXTS: dict[tuple[str, int, str], ModelContext] = {}


def cached_model_context(*, session: Session, model_version_id: int) -> ModelContext:
    """:func:`load_model_context`, kept per process (a worker fits many users with the same model)."""
    version = get_row(session, ModelVersion, model_version_id)
    key = (str(session.get_bind().engine.url), model_version_id, str(version.checkpoint_sha256 if version else ""))
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # one model at a time: a context holds a row per item of its dataset
        _CONTEXTS[key] = load_model_context(session=session, model_version_id=model_version_id)
    return _CONTEXTS[key]


def forget_model_contexts() -> None:
    """Drop the process's cached context, as a restart would (benchmarks time a worker's first fit with it)."""
    _CONTEXTS.clear()


def fit_and_store(*, sessions: sessionmaker[Session], user_id: int, model_version_id: int | None,
                  config: FitConfig = DEFAULT_FIT, progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Fit θu of one user and upsert it; the previous θu stays until the new one is committed.

    Returns a JSON-able summary (the job result of the Celery task).
    """
    with sessions() as session:
        version_id = model_version_id or default_model_version(session=session).id
        ctx = cached_model_context(session=session, model_version_id=version_id)
        result = fit_user(session=session, ctx=ctx, user_id=user_id, config=config, progress=progress)
    with sessions.begin() as session:
        store_preferences(session=session, user_id=user_id, model_version_id=version_id, result=result)
    return {"user_id": user_id, "model_version_id": version_id, "loss": None if result.is_prior else result.loss,
            "n_examples": result.n_examples, "is_prior": result.is_prior, "steps": result.steps,
            "seconds": round(result.seconds, 4)}  # fmt: skip
