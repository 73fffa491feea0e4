"""A scope's wave can be retracted: when every contact and response of a published wave moved
to another wave, the aggregator publishes a retraction (a higher version, without figures). The
row keeps that version, so an older update read again never brings the wave back, and readers
(snapshots, the latest figures) leave it out.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "scope_state",
        sa.Column("retracted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # an earlier version knows no retraction: a retracted wave's row would read as figures
    op.execute(sa.text("DELETE FROM scope_state WHERE retracted"))
    with op.batch_alter_table("scope_state") as batch:
        batch.drop_column("retracted")
