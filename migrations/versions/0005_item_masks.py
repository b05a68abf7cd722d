"""Inpainting masks kept with the catalogue's items, so every index build and sync repairs the same photos

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_masks",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("mask_png", sa.LargeBinary(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("image_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_item_masks_sha256_hex")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_masks_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"], name=op.f("fk_item_masks_model_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_item_masks")),
    )
    op.create_index(op.f("ix_item_masks_model_version_id"), "item_masks", ["model_version_id"], unique=False)
    # PNG bytes are already compressed: keep TOAST from trying again (as for images.data).
    op.execute("ALTER TABLE item_masks ALTER COLUMN mask_png SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_index(op.f("ix_item_masks_model_version_id"), table_name="item_masks")
    op.drop_table("item_masks")
