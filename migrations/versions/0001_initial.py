"""Initial schema.

Tables: searches, architectures, workers, batches, batch members, evaluations, surrogate snapshots,
API tokens and the event log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written by hand to match service/store/tables.py as of this revision; it does not import the tables,
so later changes to them cannot silently change what this migration does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
SEARCH_STATES = "'created', 'running', 'paused', 'completed', 'cancelled', 'failed'"
BATCH_STATES = "'queued', 'leased', 'done', 'failed', 'cancelled'"
ROLES = "'admin', 'user', 'worker'"


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("space_spec", JSON, nullable=False),
        sa.Column("budget_evaluations", sa.Integer(), nullable=True),
        sa.Column("budget_wall_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("finished_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_searches"),
        sa.CheckConstraint(f"state IN ({SEARCH_STATES})", name="ck_searches_state"),
    )
    op.create_index("ix_searches_owner", "searches", ["owner"])
    op.create_index("ix_searches_state", "searches", ["state"])

    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("registered_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
        sa.UniqueConstraint("name", name="uq_workers_name"),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.CheckConstraint(f"role IN ({ROLES})", name="ck_api_tokens_role"),
    )
    op.create_index("ix_api_tokens_owner", "api_tokens", ["owner"])

    op.create_table(
        "architectures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("arch", JSON, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("predicted_mean", sa.Float(), nullable=True),
        sa.Column("predicted_std", sa.Float(), nullable=True),
        sa.Column("acquisition_value", sa.Float(), nullable=True),
        sa.Column("surrogate_version", sa.Integer(), nullable=True),
        sa.Column("proposal_info", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_architectures"),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name="fk_architectures_search_id_searches",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("search_id", "key", name="uq_architectures_search_id_key"),
    )

    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fidelity", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_worker_id", sa.Integer(), nullable=True),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("progress", JSON, nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(
            ["search_id"], ["searches.id"], name="fk_batches_search_id_searches", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lease_worker_id"],
            ["workers.id"],
            name="fk_batches_lease_worker_id_workers",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(f"state IN ({BATCH_STATES})", name="ck_batches_state"),
        sa.CheckConstraint(
            "attempts >= 0 AND attempts <= max_attempts", name="ck_batches_attempts"
        ),
    )
    op.create_index("ix_batches_search_id", "batches", ["search_id"])
    op.create_index("ix_batches_lease_worker_id", "batches", ["lease_worker_id"])
    op.create_index("ix_batches_state_id", "batches", ["state", "id"])

    op.create_table(
        "batch_members",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "architecture_id", name="pk_batch_members"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name="fk_batch_members_batch_id_batches",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["architectures.id"],
            name="fk_batch_members_architecture_id_architectures",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_batch_members_architecture_id", "batch_members", ["architecture_id"])

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("fidelity", sa.String(64), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("evaluator", sa.String(128), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=True),
        sa.Column("timings", JSON, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name="fk_evaluations_search_id_searches",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["architectures.id"],
            name="fk_evaluations_architecture_id_architectures",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
            name="fk_evaluations_worker_id_workers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name="fk_evaluations_batch_id_batches",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "architecture_id", "fidelity", name="uq_evaluations_architecture_id_fidelity"
        ),
    )
    op.create_index("ix_evaluations_search_id", "evaluations", ["search_id"])

    op.create_table(
        "surrogate_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("n_observations", sa.Integer(), nullable=False),
        sa.Column("fit_metrics", JSON, nullable=False),
        sa.Column("model_state", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_surrogate_snapshots"),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name="fk_surrogate_snapshots_search_id_searches",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "search_id", "version", name="uq_surrogate_snapshots_search_id_version"
        ),
    )

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("search_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["search_id"], ["searches.id"], name="fk_events_search_id_searches", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_search_id", "events", ["search_id"])


def downgrade() -> None:
    op.drop_index("ix_events_search_id", table_name="events")
    op.drop_table("events")
    op.drop_table("surrogate_snapshots")
    op.drop_index("ix_evaluations_search_id", table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_index("ix_batch_members_architecture_id", table_name="batch_members")
    op.drop_table("batch_members")
    op.drop_index("ix_batches_state_id", table_name="batches")
    op.drop_index("ix_batches_lease_worker_id", table_name="batches")
    op.drop_index("ix_batches_search_id", table_name="batches")
    op.drop_table("batches")
    op.drop_table("architectures")
    op.drop_index("ix_api_tokens_owner", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("workers")
    op.drop_index("ix_searches_state", table_name="searches")
    op.drop_index("ix_searches_owner", table_name="searches")
    op.drop_table("searches")
