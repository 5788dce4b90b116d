"""Workitems (UPS-RS): the workitem table and the values of its sequence search keys.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MATCH_KEY = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
WORKITEM_INDEXES = [
    ["partition_key", "workitem_key"],
    ["partition_key", "patient_name_key", "workitem_key"],
    ["partition_key", "patient_id_key", "workitem_key"],
    ["partition_key", "start_date_time", "workitem_key"],
    ["partition_key", "state", "workitem_key"],
    ["partition_key", "study_uid", "workitem_key"],
]


def upgrade() -> None:
    op.create_table(
        "workitem",
        sa.Column("workitem_key", KEY, autoincrement=True, nullable=False),
        sa.Column("partition_key", KEY, nullable=False),
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("transaction_uid", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("patient_name_key", MATCH_KEY, nullable=True),
        sa.Column("patient_name_words", MATCH_KEY, nullable=True),
        sa.Column("patient_id_key", MATCH_KEY, nullable=True),
        sa.Column("start_date_time", MATCH_KEY, nullable=True),
        sa.Column("study_uid", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["partition_key"], ["partition.partition_key"], name=op.f("fk_workitem_partition_key_partition")
        ),
        sa.PrimaryKeyConstraint("workitem_key", name=op.f("pk_workitem")),
        sa.UniqueConstraint("partition_key", "sop_uid", name=op.f("uq_workitem_partition_key_sop_uid")),
    )
    for columns in WORKITEM_INDEXES:
        op.create_index(op.f("ix_workitem_" + "_".join(columns)), "workitem", columns)
    op.create_table(
        "workitem_sequence_value",
        sa.Column("workitem_key", KEY, nullable=False),
        sa.Column("path", sa.String(length=17), nullable=False),
        sa.Column("value", MATCH_KEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["workitem_key"],
            ["workitem.workitem_key"],
            name=op.f("fk_workitem_sequence_value_workitem_key_workitem"),
        ),
        sa.PrimaryKeyConstraint("workitem_key", "path", "value", name=op.f("pk_workitem_sequence_value")),
    )
    op.create_index(
        op.f("ix_workitem_sequence_value_path_value_workitem_key"),
        "workitem_sequence_value",
        ["path", "value", "workitem_key"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_workitem_sequence_value_path_value_workitem_key"), table_name="workitem_sequence_value")
    op.drop_table("workitem_sequence_value")
    for columns in WORKITEM_INDEXES:
        op.drop_index(op.f("ix_workitem_" + "_".join(columns)), table_name="workitem")
    op.drop_table("workitem")
