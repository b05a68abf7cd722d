"""datasets and splits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:44:27.296769
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("stats", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_table(
        "split_assignments",
        sa.Column("dataset_id", sa.BigInteger(), nullable=False),
        sa.Column("split", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.CheckConstraint("entity IN ('user', 'item', 'outfit')", name=op.f("ck_split_assignments_entity_known")),
        sa.CheckConstraint("part IN ('train', 'valid', 'test')", name=op.f("ck_split_assignments_part_known")),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_split_assignments_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_id", "split", "entity", "entity_id", name=op.f("pk_split_assignments")),
    )
    op.create_index(
        "ix_split_assignments_lookup", "split_assignments", ["dataset_id", "split", "entity", "part"], unique=False
    )
    op.add_column("outfits", sa.Column("dataset_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_outfits_dataset_id"), "outfits", ["dataset_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_outfits_dataset_id_datasets"), "outfits", "datasets", ["dataset_id"], ["id"], ondelete="CASCADE"
    )
    op.add_column("users", sa.Column("dataset_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_users_dataset_id"), "users", ["dataset_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_users_dataset_id_datasets"), "users", "datasets", ["dataset_id"], ["id"], ondelete="CASCADE"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_users_dataset_id_datasets"), "users", type_="foreignkey")
    op.drop_index(op.f("ix_users_dataset_id"), table_name="users")
    op.drop_column("users", "dataset_id")
    op.drop_constraint(op.f("fk_outfits_dataset_id_datasets"), "outfits", type_="foreignkey")
    op.drop_index(op.f("ix_outfits_dataset_id"), table_name="outfits")
    op.drop_column("outfits", "dataset_id")
    op.drop_index("ix_split_assignments_lookup", table_name="split_assignments")
    op.drop_table("split_assignments")
    op.drop_table("datasets")
