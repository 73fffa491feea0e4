"""Initial schema: event archive, latest figures, stream positions, snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_archive",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("contact_id", sa.String(length=120), nullable=False),
        sa.Column("municipality", sa.String(length=6), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event_archive")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_archive_event_id")),
    )
    with op.batch_alter_table("event_archive") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_archive_contact_id"), ["contact_id"], unique=False
        )

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

    op.create_table(
        "stream_position",
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name=op.f("pk_stream_position")),
    )

    op.create_table(
        "snapshot",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("position", sa.JSON(), nullable=False),
        sa.Column("figure_count", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot")),
    )

    op.create_table(
        "snapshot_figure",
        sa.Column("snapshot_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("breakdown", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("scope_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshot.id"],
            name=op.f("fk_snapshot_figure_snapshot_id_snapshot"),
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id",
            "scope_kind",
            "scope_id",
            "breakdown",
            "metric",
            name=op.f("pk_snapshot_figure"),
        ),
    )


def downgrade() -> None:
    op.drop_table("snapshot_figure")
    op.drop_table("snapshot")
    op.drop_table("stream_position")
    op.drop_table("scope_state")
    op.drop_table("figure")
    with op.batch_alter_table("event_archive") as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_archive_contact_id"))
    op.drop_table("event_archive")
