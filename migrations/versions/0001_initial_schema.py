"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 07:22:47.607948
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_images_sha256_hex")),
        sa.CheckConstraint("width > 0 AND height > 0", name=op.f("ck_images_positive_size")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_images")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_jobs_status_known"),
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_jobs_progress_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("task_id", name=op.f("uq_jobs_task_id")),
    )
    op.create_index(op.f("ix_jobs_kind"), "jobs", ["kind"], unique=False)
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"], unique=False)
    op.create_table(
        "model_versions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("family", "name", name="uq_model_versions_family_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("external_id", name=op.f("uq_users_external_id")),
    )
    # JPEG/PNG bytes are already compressed: store them out of line without another compression attempt.
    op.execute("ALTER TABLE images ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "index_versions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("embedder_version_id", sa.BigInteger(), nullable=True),
        sa.Column("factory", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=16), server_default="ip", nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="building", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('building', 'ready', 'failed', 'retired')",
            name=op.f("ck_index_versions_status_known"),
        ),
        sa.CheckConstraint("item_count >= 0 AND dim > 0", name=op.f("ck_index_versions_counts_positive")),
        sa.ForeignKeyConstraint(
            ["embedder_version_id"],
            ["model_versions.id"],
            name=op.f("fk_index_versions_embedder_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_versions")),
    )
    op.create_index(
        op.f("ix_index_versions_embedder_version_id"), "index_versions", ["embedder_version_id"], unique=False
    )
    op.create_table(
        "items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("gender", sa.String(length=32), nullable=True),
        sa.Column("master_category", sa.String(length=64), nullable=True),
        sa.Column("sub_category", sa.String(length=64), nullable=True),
        sa.Column("article_type", sa.String(length=64), nullable=True),
        sa.Column("colour", sa.String(length=64), nullable=True),
        sa.Column("season", sa.String(length=32), nullable=True),
        sa.Column("usage", sa.String(length=32), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=True),
        sa.Column("image_source", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["image_sha256"], ["images.sha256"], name=op.f("fk_items_image_sha256_images")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("external_id", name=op.f("uq_items_external_id")),
    )
    op.create_index(op.f("ix_items_article_type"), "items", ["article_type"], unique=False)
    op.create_index(op.f("ix_items_image_sha256"), "items", ["image_sha256"], unique=False)
    op.create_index(op.f("ix_items_source"), "items", ["source"], unique=False)
    op.create_table(
        "outfits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("owner_user_id", sa.BigInteger(), nullable=True),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_outfits_owner_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outfits")),
        sa.UniqueConstraint("external_id", name=op.f("uq_outfits_external_id")),
    )
    op.create_index(op.f("ix_outfits_owner_user_id"), "outfits", ["owner_user_id"], unique=False)
    op.create_index(op.f("ix_outfits_source"), "outfits", ["source"], unique=False)
    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("dim", sa.SmallInteger(), nullable=False),
        sa.Column("vector", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("is_prior", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("n_examples", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "dim > 0 AND array_ndims(vector) = 1 AND array_length(vector, 1) = dim",
            name=op.f("ck_user_preferences_vector_dim"),
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_user_preferences_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "model_version_id", name=op.f("pk_user_preferences")),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), server_default="1.0", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_interactions_item_id_items")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_interactions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    op.create_index(op.f("ix_interactions_item_id"), "interactions", ["item_id"], unique=False)
    op.create_index("ix_interactions_user_id_occurred_at", "interactions", ["user_id", "occurred_at"], unique=False)
    op.create_table(
        "outfit_items",
        sa.Column("outfit_id", sa.BigInteger(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("slot >= 0", name=op.f("ck_outfit_items_slot_non_negative")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_outfit_items_item_id_items")),
        sa.ForeignKeyConstraint(
            ["outfit_id"], ["outfits.id"], name=op.f("fk_outfit_items_outfit_id_outfits"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("outfit_id", "slot", name=op.f("pk_outfit_items")),
    )
    op.create_index(op.f("ix_outfit_items_item_id"), "outfit_items", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outfit_items_item_id"), table_name="outfit_items")
    op.drop_table("outfit_items")
    op.drop_index("ix_interactions_user_id_occurred_at", table_name="interactions")
    op.drop_index(op.f("ix_interactions_item_id"), table_name="interactions")
    op.drop_table("interactions")
    op.drop_table("user_preferences")
    op.drop_index(op.f("ix_outfits_source"), table_name="outfits")
    op.drop_index(op.f("ix_outfits_owner_user_id"), table_name="outfits")
    op.drop_table("outfits")
    op.drop_index(op.f("ix_items_source"), table_name="items")
    op.drop_index(op.f("ix_items_image_sha256"), table_name="items")
    op.drop_index(op.f("ix_items_article_type"), table_name="items")
    op.drop_table("items")
    op.drop_index(op.f("ix_index_versions_embedder_version_id"), table_name="index_versions")
    op.drop_table("index_versions")
    op.drop_table("users")
    op.drop_table("model_versions")
    op.drop_index(op.f("ix_jobs_status"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_kind"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("images")
