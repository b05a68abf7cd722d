"""Typed ORM of recengine's state in PostgreSQL; Alembic migrations are checked against this metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JOB_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
INDEX_STATUSES = ("building", "ready", "failed", "retired")
SPLIT_ENTITIES = ("user", "item", "outfit")
SPLIT_PARTS = ("train", "valid", "test")
API_ROLES = ("writer", "admin")
#: Interactions a shop reports through the API (``outfit`` rows come from simulated and imported outfits).
INTERACTION_KINDS = ("view", "like", "purchase")


#: Largest primary key (BIGINT): a larger number cannot name a row, and PostgreSQL refuses to compare with it.
MAX_ROW_ID = 2**63 - 1


def row_id(value: str | int) -> int | None:
    """The database id ``value`` spells (an int, or a string of ASCII digits), None when it cannot be one."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value)
    return value if 1 <= value <= MAX_ROW_ID else None


_Row = TypeVar("_Row")


def get_row(session: Session, model: type[_Row], value: int) -> _Row | None:
    """``session.get`` for an id that came from outside: None, not a database error, when it cannot be one
    (PostgreSQL rejects an integer beyond BIGINT instead of finding nothing)."""
    number = row_id(value)
    return None if number is None else session.get(model, number)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB}


class Image(Base):
    """A content-addressed image: its bytes, keyed by their sha256 (see ``recengine.store.images``)."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("width > 0 AND height > 0", name="positive_size"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
    )


class Item(Base):
    """A catalogue item. ``external_id`` is the shop's (or the dataset's) own id and never changes."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    gender: Mapped[str | None] = mapped_column(String(32))
    master_category: Mapped[str | None] = mapped_column(String(64))
    sub_category: Mapped[str | None] = mapped_column(String(64))
    article_type: Mapped[str | None] = mapped_column(String(64), index=True)
    colour: Mapped[str | None] = mapped_column(String(64))
    season: Mapped[str | None] = mapped_column(String(32))
    usage: Mapped[str | None] = mapped_column(String(32))
    year: Mapped[int | None] = mapped_column(SmallInteger)
    attributes: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    image_sha256: Mapped[str | None] = mapped_column(ForeignKey("images.sha256"), index=True)
    image_source: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    image: Mapped[Image | None] = relationship(lazy="joined")


class ItemMask(Base):
    """Holes to repair in an item's photo before it is embedded (``recengine.inpainting.repair``).

    Kept with the item, so every later build and sync of any index repairs the photo the same way, with the same
    model. The mask holds for the photo it was drawn on (``image_sha256``): once the item's photo changes it no
    longer applies, and the new photo is embedded as it is.
    """

    __tablename__ = "item_masks"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    mask_png: Mapped[bytes] = mapped_column(LargeBinary)  # white = hole, black = keep, the photo's size
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (CheckConstraint("image_sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),)


class Dataset(Base):
    """A generated or imported body of users and outfits, with everything needed to rebuild it."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    stats: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    created_at: Mapped[datetime] = _now()


class SplitAssignment(Base):
    """Which part (train/valid/test) of a named split an entity (user, item, outfit) belongs to."""

    __tablename__ = "split_assignments"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    split: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint(f"entity IN {SPLIT_ENTITIES!r}", name="entity_known"),
        CheckConstraint(f"part IN {SPLIT_PARTS!r}", name="part_known"),
        Index("ix_split_assignments_lookup", "dataset_id", "split", "entity", "part"),
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    created_at: Mapped[datetime] = _now()


class Outfit(Base):
    """An ordered set of items; ``owner_user_id`` is set when a user composed it."""

    __tablename__ = "outfits"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    created_at: Mapped[datetime] = _now()

    slots: Mapped[list[OutfitItem]] = relationship(
        order_by="OutfitItem.slot", cascade="all, delete-orphan", back_populates="outfit"
    )


class OutfitItem(Base):
    __tablename__ = "outfit_items"

    outfit_id: Mapped[int] = mapped_column(ForeignKey("outfits.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)

    outfit: Mapped[Outfit] = relationship(back_populates="slots")

    __table_args__ = (CheckConstraint("slot >= 0", name="slot_non_negative"),)


class Interaction(Base):
    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    weight: Mapped[float] = mapped_column(Float, server_default="1.0")
    occurred_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_interactions_user_id_occurred_at", "user_id", "occurred_at"),)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    family: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    config: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    metrics: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (UniqueConstraint("family", "name", name="uq_model_versions_family_name"),)


class UserPreference(Base):
    """θu of one user under one model version; the vector's length is checked against ``dim``."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    dim: Mapped[int] = mapped_column(SmallInteger)
    vector: Mapped[list[float]] = mapped_column(ARRAY(REAL))
    is_prior: Mapped[bool] = mapped_column(Boolean, server_default="false")
    loss: Mapped[float | None] = mapped_column(Float)
    n_examples: Mapped[int] = mapped_column(Integer, server_default="0")
    fitted_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("dim > 0 AND array_ndims(vector) = 1 AND array_length(vector, 1) = dim", name="vector_dim"),
    )


class IndexVersion(Base):
    __tablename__ = "index_versions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), server_default="catalogue", index=True)
    embedder_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), index=True)
    embedder: Mapped[str | None] = mapped_column(String(200))  # the embedder's version string (manifest's)
    version_name: Mapped[str | None] = mapped_column(String(64))  # the artifact directory under the index root
    # The sync watermark: every catalogue change stamped (items.updated_at) before it is in this version.
    synced_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    factory: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(16), server_default="ip")
    dim: Mapped[int] = mapped_column(Integer)
    item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="building")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        CheckConstraint(f"status IN {INDEX_STATUSES!r}", name="status_known"),
        CheckConstraint("item_count >= 0 AND dim > 0", name="counts_positive"),
    )


class Job(Base):
    """A background job as the shop sees it: Celery's task id plus recengine's own progress and outcome."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    task_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", index=True)
    progress: Mapped[float] = mapped_column(Float, server_default="0")
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status_known"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    )


class ApiKey(Base):
    """An HTTP API key: only its sha256 is stored (the key itself is shown once, at creation).

    A name has at most one live key (a partial unique index); a revoked key keeps its row, so the name can be
    given to a new key while logs that name the old one stay explainable.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"role IN {API_ROLES!r}", name="role_known"),
        CheckConstraint("key_sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        Index("uq_api_keys_live_name", "name", unique=True, postgresql_where=text("revoked_at IS NULL")),
    )


class Design(Base):
    """A design image (PNG) a recommendation returned, served at ``/v1/designs/{id}.png`` until it expires.

    The id is random and unguessable, so the link itself is the permission to fetch it (an ``<img>`` tag needs
    no API key); rows older than the API's retention are deleted (``recengine.store.designs``).
    """

    __tablename__ = "designs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
