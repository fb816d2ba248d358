"""Batches keep the id of the report that completed them, for idempotent report retries.

The worker protocol promises that a report retried with the same ``report_id`` (after a timeout,
say) is answered as a duplicate. With the id stored, the controller checks exactly that instead
of comparing the retried results with the stored ones. Batches reported before this revision
have no id: a retry of such an old report is refused as ``already_reported``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("report_id", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("report_id")
