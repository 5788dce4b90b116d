"""The emulator's tools: fault injection rules with their firing counts, and the count of data resets.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fault_rule",
        sa.Column("rule_id", KEY, autoincrement=True, nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("max_count", sa.BigInteger(), nullable=True),
        sa.Column("fired", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_fault_rule")),
    )
    op.bulk_insert(
        sa.table("counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "data_resets", "value": 0}],
    )


def downgrade() -> None:
    op.execute("DELETE FROM counter WHERE name = 'data_resets'")
    op.drop_table("fault_rule")
