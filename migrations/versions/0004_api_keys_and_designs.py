"""HTTP API: api_keys (hashed keys with a role) and designs (PNG of served designs, kept for a while)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('writer', 'admin')", name=op.f("ck_api_keys_role_known")),
        sa.CheckConstraint("key_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_api_keys_sha256_hex")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_keys_key_sha256")),
    )
    op.create_index(
        "uq_api_keys_live_name", "api_keys", ["name"], unique=True, postgresql_where=sa.text("revoked_at IS NULL")
    )
    op.create_table(
        "designs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_designs")),
    )
    op.create_index(op.f("ix_designs_created_at"), "designs", ["created_at"], unique=False)
    # PNG bytes are already compressed: keep TOAST from trying again (as for images.data).
    op.execute("ALTER TABLE designs ALTER COLUMN png SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_index(op.f("ix_designs_created_at"), table_name="designs")
    op.drop_table("designs")
    op.drop_index("uq_api_keys_live_name", table_name="api_keys", postgresql_where=sa.text("revoked_at IS NULL"))
    op.drop_table("api_keys")
