"""Mail ingestion: raw message archive, IMAP checkpoints, sent mystery mails, message outcomes
(the holding pen).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_raw",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_mail_raw")),
    )
    with op.batch_alter_table("mail_raw") as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_raw_message_id"), ["message_id"], unique=False)

    op.create_table(
        "mail_checkpoint",
        sa.Column("account", sa.String(length=300), nullable=False),
        sa.Column("folder", sa.String(length=300), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "folder", name=op.f("pk_mail_checkpoint")),
    )

    op.create_table(
        "mail_sent",
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=False),
        sa.Column("contact_id", sa.String(length=120), nullable=False),
        sa.Column("municipality", sa.String(length=6), nullable=False),
        sa.Column("campaign", sa.String(length=120), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("case", sa.String(length=120), nullable=False),
        sa.Column("to_domain", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("thread_index", sa.String(length=200), nullable=True),
        sa.Column("persona", sa.String(length=200), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_mail_sent")),
    )
    with op.batch_alter_table("mail_sent") as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_sent_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "mail_message",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("kind_override", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("contact_id", sa.String(length=120), nullable=True),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("sender", sa.String(length=300), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"], ["mail_raw.sha256"], name=op.f("fk_mail_message_sha256_mail_raw")
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_mail_message")),
    )
    with op.batch_alter_table("mail_message") as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_message_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_message") as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_message_status"))
    op.drop_table("mail_message")
    with op.batch_alter_table("mail_sent") as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_sent_contact_id"))
    op.drop_table("mail_sent")
    op.drop_table("mail_checkpoint")
    with op.batch_alter_table("mail_raw") as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_raw_message_id"))
    op.drop_table("mail_raw")
