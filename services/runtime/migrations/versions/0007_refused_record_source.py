"""Refused records looked up by where they came from: ingest keeps a record it refuses once,
however often it is delivered (at-least-once: an ingest batch read again after a rebalance).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_refused_record_source"), "refused_record", ["source"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refused_record_source"), table_name="refused_record")
