"""index versions: name, embedder string, artifact directory, sync watermark

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("index_versions", sa.Column("name", sa.String(length=64), server_default="catalogue", nullable=False))
    op.add_column("index_versions", sa.Column("embedder", sa.String(length=200), nullable=True))
    op.add_column("index_versions", sa.Column("version_name", sa.String(length=64), nullable=True))
    op.add_column("index_versions", sa.Column("synced_through", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_index_versions_name"), "index_versions", ["name"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_index_versions_name"), table_name="index_versions")
    op.drop_column("index_versions", "synced_through")
    op.drop_column("index_versions", "version_name")
    op.drop_column("index_versions", "embedder")
    op.drop_column("index_versions", "name")
