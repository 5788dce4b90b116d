"""Events: the outbox written with the change feed, each sink's cursor, and dead-lettered events.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_event_outbox")),
    )
    op.create_table(
        "event_sink",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validated_endpoint", sa.Text(), nullable=True),
        sa.Column("validation_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_sink")),
    )
    op.create_table(
        "event_dead_letter",
        sa.Column("id", KEY, autoincrement=True, nullable=False),
        sa.Column("sink", sa.String(length=300), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dead_letter")),
    )
    with op.batch_alter_table("event_dead_letter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_dead_letter_sink_sequence"), ["sink", "sequence"], unique=False)
    op.bulk_insert(
        sa.table("counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "inspector_cleared", "value": 0}],
    )


def downgrade() -> None:
    op.execute("DELETE FROM counter WHERE name = 'inspector_cleared'")
    with op.batch_alter_table("event_dead_letter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_dead_letter_sink_sequence"))
    op.drop_table("event_dead_letter")
    op.drop_table("event_sink")
    op.drop_table("event_outbox")
