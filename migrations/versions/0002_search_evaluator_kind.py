"""Searches record their evaluator kind, so that a lease can go only to workers that run it.

A worker says which evaluator kinds it runs (`LeaseRequest.evaluators`); with the kind in a
column of its own, the lease query filters on it in SQL on every backend, rather than reading
each queued search's JSON spec. Existing searches are filled in from their specs; a spec without
an evaluator leaves the column empty, which any worker may take.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:15:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kind(spec: Any) -> str | None:
    evaluator = spec.get("evaluator") if isinstance(spec, dict) else None
    kind = evaluator.get("kind") if isinstance(evaluator, dict) else None
    return kind if isinstance(kind, str) else None


def upgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("evaluator_kind", sa.String(32), nullable=True))
    searches = sa.table(
        "searches",
        sa.column("id", sa.Integer()),
        sa.column("spec", sa.JSON()),
        sa.column("evaluator_kind", sa.String(32)),
    )
    connection = op.get_bind()
    for search_id, spec in connection.execute(sa.select(searches.c.id, searches.c.spec)).all():
        kind = _kind(spec)
        if kind is not None:
            connection.execute(
                searches.update().where(searches.c.id == search_id).values(evaluator_kind=kind)
            )


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("evaluator_kind")
