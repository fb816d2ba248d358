"""Worker pools granted to users, so that a worker token serves only the searches it may see.

Before this revision any worker token could lease any user's batch. A worker token now serves
the searches of its token's owner name, and of every user an admin granted that name to as a
pool (``bonas pool grant gpu-farm alice``); this table holds the grants. No grant exists after the
upgrade: a deployment whose shared workers served everyone grants their pool to each user.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Written by hand, like 0001, so that it keeps meaning what it meant when the tables change.


def upgrade() -> None:
    op.create_table(
        "worker_pool_grants",
        sa.Column("pool", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pool", "owner", name=op.f("pk_worker_pool_grants")),
    )
    op.create_index(
        op.f("ix_worker_pool_grants_owner"), "worker_pool_grants", ["owner"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_worker_pool_grants_owner"), table_name="worker_pool_grants")
    op.drop_table("worker_pool_grants")
