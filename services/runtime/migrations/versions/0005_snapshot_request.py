"""Retry-safe snapshots: an optional request id, unique, so a retried request returns the
snapshot it already made instead of writing a second one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot") as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_snapshot_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("snapshot") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_snapshot_request_id"), type_="unique")
        batch_op.drop_column("request_id")
