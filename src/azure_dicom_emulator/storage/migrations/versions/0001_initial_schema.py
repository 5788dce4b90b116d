"""Initial schema: partitions, studies, series, instances, change feed and counters.

Revision ID: 0001
Revises:
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_feed",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("action", sa.SmallInteger(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_change_feed")),
    )
    with op.batch_alter_table("change_feed", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_change_feed_partition_key_study_uid_series_uid_sop_uid"),
            ["partition_key", "study_uid", "series_uid", "sop_uid"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_change_feed_timestamp"), ["timestamp"], unique=False)

    op.create_table(
        "counter",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counter")),
    )
    op.create_table(
        "partition",
        sa.Column(
            "partition_key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition_name", sa.String(length=64), nullable=False),
        sa.Column("created_date", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partition_key", name=op.f("pk_partition")),
        sa.UniqueConstraint("partition_name", name=op.f("uq_partition_partition_name")),
    )
    op.create_table(
        "study",
        sa.Column(
            "study_key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Text(), nullable=True),
        sa.Column("patient_name", sa.Text(), nullable=True),
        sa.Column("patient_birth_date", sa.Text(), nullable=True),
        sa.Column("referring_physician_name", sa.Text(), nullable=True),
        sa.Column("study_date", sa.Text(), nullable=True),
        sa.Column("study_description", sa.Text(), nullable=True),
        sa.Column("accession_number", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partition_key"], ["partition.partition_key"], name=op.f("fk_study_partition_key_partition")
        ),
        sa.PrimaryKeyConstraint("study_key", name=op.f("pk_study")),
        sa.UniqueConstraint("partition_key", "study_uid", name=op.f("uq_study_partition_key_study_uid")),
    )
    op.create_table(
        "series",
        sa.Column(
            "series_key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("study_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("partition_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.Text(), nullable=True),
        sa.Column("performed_procedure_step_start_date", sa.Text(), nullable=True),
        sa.Column("manufacturer_model_name", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["study_key"], ["study.study_key"], name=op.f("fk_series_study_key_study")),
        sa.PrimaryKeyConstraint("series_key", name=op.f("pk_series")),
        sa.UniqueConstraint("study_key", "series_uid", name=op.f("uq_series_study_key_series_uid")),
    )
    op.create_table(
        "instance",
        sa.Column(
            "instance_key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partition_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("study_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("series_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("transfer_syntax_uid", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["series_key"], ["series.series_key"], name=op.f("fk_instance_series_key_series")),
        sa.ForeignKeyConstraint(["study_key"], ["study.study_key"], name=op.f("fk_instance_study_key_study")),
        sa.PrimaryKeyConstraint("instance_key", name=op.f("pk_instance")),
        sa.UniqueConstraint(
            "partition_key",
            "study_uid",
            "series_uid",
            "sop_uid",
            name=op.f("uq_instance_partition_key_study_uid_series_uid_sop_uid"),
        ),
    )
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instance_series_key"), ["series_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_instance_study_key"), ["study_key"], unique=False)

    op.bulk_insert(
        sa.table("counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "version", "value": 0}],
    )
    op.bulk_insert(
        sa.table(
            "partition",
            sa.column("partition_key", sa.BigInteger),
            sa.column("partition_name", sa.String),
            sa.column("created_date", sa.DateTime(timezone=True)),
        ),
        [{"partition_key": 1, "partition_name": "Microsoft.Default", "created_date": datetime.now(UTC)}],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('partition', 'partition_key'), 1)")


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instance_study_key"))
        batch_op.drop_index(batch_op.f("ix_instance_series_key"))

    op.drop_table("instance")
    op.drop_table("series")
    op.drop_table("study")
    op.drop_table("partition")
    op.drop_table("counter")
    with op.batch_alter_table("change_feed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_feed_timestamp"))
        batch_op.drop_index(batch_op.f("ix_change_feed_partition_key_study_uid_series_uid_sop_uid"))

    op.drop_table("change_feed")
