"""Searches record the time they spent paused, so that a wall-time budget counts running time only.

`paused_at` is set while a search is paused; `paused_seconds` accumulates every finished pause.
The wall-time deadline is then `started_at + budget + paused_seconds`. Existing searches start
with no paused time; one paused at upgrade time counts as paused since its last update.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.add_column(
            sa.Column("paused_seconds", sa.Float(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    searches = sa.table(
        "searches",
        sa.column("state", sa.String(16)),
        sa.column("paused_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.get_bind().execute(
        searches.update()
        .where(searches.c.state == "paused")
        .values(paused_at=searches.c.updated_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("paused_at")
        batch.drop_column("paused_seconds")
