"""index_versions.synced_through holds the sync watermark itself, no longer the sync's start less 5 minutes

Until this revision a sync recorded the time it started and the next sync looked 5 minutes further back, so
every change of those 5 minutes was embedded twice (after a fresh import and build: the whole catalogue). A
sync now records the start of the oldest transaction open at that moment and the next one looks back no
further. Rows written before keep their meaning by moving back by the 5 minutes they used to be read with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE index_versions SET synced_through = synced_through - interval '5 minutes'")


def downgrade() -> None:
    op.execute("UPDATE index_versions SET synced_through = synced_through + interval '5 minutes'")
