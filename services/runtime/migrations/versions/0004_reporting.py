"""De-identified contact texts for the reports (call reports, mail replies, mail reviews).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_text",
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("contact_id", sa.String(length=120), nullable=False),
        sa.Column("municipality", sa.String(length=6), nullable=False),
        sa.Column("campaign", sa.String(length=120), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("case", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("deidentified_with", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_contact_text")),
    )
    op.create_index(
        op.f("ix_contact_text_contact_id"), "contact_text", ["contact_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_text_municipality"), "contact_text", ["municipality"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_text_municipality"), table_name="contact_text")
    op.drop_index(op.f("ix_contact_text_contact_id"), table_name="contact_text")
    op.drop_table("contact_text")
