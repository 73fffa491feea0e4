"""Figures per campaign wave, with a text label (band, quadrant, survey status).

The latest figures are materialised from the benchmarks topic; they become one document per
scope and wave (`scope_state.document`) instead of one `figure` row per number, and start
empty (the stream positions are forgotten, so the materialiser re-reads the topic).
Snapshots are immutable: their figures keep their values and get campaign '' and wave 0.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCOPE = ("scope_kind", "scope_id", "campaign", "wave")


def _scope_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=120), nullable=False),
        sa.Column("wave", sa.Integer(), autoincrement=False, nullable=False),
    ]


def upgrade() -> None:
    op.drop_table("figure")
    op.drop_table("scope_state")
    op.execute(sa.text("DELETE FROM stream_position"))
    op.create_table(
        "scope_state",
        *_scope_columns(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(*_SCOPE, name=op.f("pk_scope_state")),
    )
    with op.batch_alter_table("snapshot_figure", recreate="always") as batch_op:
        batch_op.add_column(
            sa.Column("campaign", sa.String(length=120), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("wave", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("label", sa.String(length=200), nullable=True))
        batch_op.drop_constraint("pk_snapshot_figure", type_="primary")
        batch_op.create_primary_key(
            "pk_snapshot_figure", ["snapshot_id", *_SCOPE, "breakdown", "metric"]
        )
    with op.batch_alter_table("snapshot_figure") as batch_op:  # defaults only for old rows
        batch_op.alter_column("campaign", server_default=None)
        batch_op.alter_column("wave", server_default=None)


def downgrade() -> None:
    op.drop_table("scope_state")
    op.execute(sa.text("DELETE FROM stream_position"))
    op.create_table(
        "figure",
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("breakdown", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "scope_kind", "scope_id", "breakdown", "metric", name=op.f("pk_figure")
        ),
    )
    op.create_table(
        "scope_state",
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope_kind", "scope_id", name=op.f("pk_scope_state")),
    )
    op.execute(sa.text("DELETE FROM snapshot_figure WHERE wave <> 0"))
    with op.batch_alter_table("snapshot_figure", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_snapshot_figure", type_="primary")
        batch_op.drop_column("label")
        batch_op.drop_column("wave")
        batch_op.drop_column("campaign")
        batch_op.create_primary_key(
            "pk_snapshot_figure",
            ["snapshot_id", "scope_kind", "scope_id", "breakdown", "metric"],
        )
