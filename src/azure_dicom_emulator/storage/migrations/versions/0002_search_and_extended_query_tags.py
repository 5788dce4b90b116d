"""Search: matching keys and indexes, person-name words, extended query tags and their values, operations.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from azure_dicom_emulator.dicom.index_values import match_keys
from azure_dicom_emulator.dicom.matching import person_name_words

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MatchKey = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

STUDY_KEYS = [
    "patient_id_key",
    "patient_name_key",
    "patient_name_words",
    "referring_physician_name_key",
    "referring_physician_name_words",
    "study_description_key",
    "accession_number_key",
]
SERIES_KEYS = ["modality_key", "manufacturer_model_name_key"]
STUDY_INDEXES = [
    ["partition_key", "study_key"],
    ["partition_key", "patient_id_key", "study_key"],
    ["partition_key", "patient_name_key", "study_key"],
    ["partition_key", "referring_physician_name_key", "study_key"],
    ["partition_key", "accession_number_key", "study_key"],
    ["partition_key", "study_description_key", "study_key"],
    ["partition_key", "study_date", "study_key"],
    ["partition_key", "patient_birth_date", "study_key"],
]
SERIES_INDEXES = [
    ["partition_key", "series_key"],
    ["partition_key", "modality_key", "series_key"],
    ["study_key", "modality_key"],
    ["partition_key", "manufacturer_model_name_key", "series_key"],
    ["partition_key", "performed_procedure_step_start_date", "series_key"],
]
INSTANCE_INDEXES = [
    ["series_key", "version"],
    ["study_key", "version"],
    ["partition_key", "version"],
    ["partition_key", "sop_uid"],
]
NAME_TAGS = {"patient_name": 0x00100010, "referring_physician_name": 0x00080090}
VALUE_TABLES = {
    "extended_query_tag_string": MatchKey,
    "extended_query_tag_long": sa.BigInteger(),
    "extended_query_tag_double": sa.Double(),
    "extended_query_tag_datetime": MatchKey,
    "extended_query_tag_person_name": MatchKey,
}


def _index_name(table: str, columns: list[str]) -> str:
    name = f"ix_{table}_{'_'.join(columns)}"
    return name.replace("performed_procedure_step_start_date", "pps_start_date")


def upgrade() -> None:
    for column in STUDY_KEYS:
        op.add_column("study", sa.Column(column, MatchKey, nullable=True))
    for column in SERIES_KEYS:
        op.add_column("series", sa.Column(column, MatchKey, nullable=True))
    for table in ("study", "series", "instance"):
        op.add_column(table, sa.Column("attributes", sa.Text(), nullable=True))
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_index("ix_instance_study_key")
        batch_op.drop_index("ix_instance_series_key")
    for table, indexes in (("study", STUDY_INDEXES), ("series", SERIES_INDEXES), ("instance", INSTANCE_INDEXES)):
        for columns in indexes:
            op.create_index(_index_name(table, columns), table, columns)

    op.create_table(
        "person_name_word",
        sa.Column("tag", sa.BigInteger(), nullable=False),
        sa.Column("owner_key", Key, nullable=False),
        sa.Column("word", MatchKey, nullable=False),
        sa.PrimaryKeyConstraint("tag", "owner_key", "word", name="pk_person_name_word"),
    )
    op.create_index("ix_person_name_word_tag_word_owner_key", "person_name_word", ["tag", "word", "owner_key"])
    op.create_table(
        "extended_query_tag",
        sa.Column("tag_key", Key, autoincrement=True, nullable=False),
        sa.Column("path", sa.String(length=8), nullable=False),
        sa.Column("vr", sa.String(length=2), nullable=False),
        sa.Column("private_creator", sa.String(length=64), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("query_status", sa.SmallInteger(), nullable=False),
        sa.Column("operation_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tag_key", name="pk_extended_query_tag"),
        sa.UniqueConstraint("path", name="uq_extended_query_tag_path"),
    )
    op.create_table(
        "extended_query_tag_error",
        sa.Column("tag_key", Key, nullable=False),
        sa.Column("instance_key", Key, nullable=False),
        sa.Column("partition_key", Key, nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_key"], ["extended_query_tag.tag_key"], name="fk_extended_query_tag_error_tag_key_extended_query_tag"
        ),
        sa.PrimaryKeyConstraint("tag_key", "instance_key", name="pk_extended_query_tag_error"),
    )
    op.create_index("ix_extended_query_tag_error_instance_key", "extended_query_tag_error", ["instance_key"])
    for table, value_type in VALUE_TABLES.items():
        op.create_table(
            table,
            sa.Column("tag_key", Key, nullable=False),
            sa.Column("owner_key", Key, nullable=False),
            sa.Column("value", value_type, nullable=False),
            sa.Column("version", sa.BigInteger(), nullable=False),
            *([sa.Column("words", MatchKey, nullable=False)] if table == "extended_query_tag_person_name" else []),
            sa.ForeignKeyConstraint(
                ["tag_key"], ["extended_query_tag.tag_key"], name=f"fk_{table}_tag_key_extended_query_tag"
            ),
            sa.PrimaryKeyConstraint("tag_key", "owner_key", name=f"pk_{table}"),
        )
        op.create_index(f"ix_{table}_tag_key_value_owner_key", table, ["tag_key", "value", "owner_key"])
    op.create_table(
        "operation",
        sa.Column("operation_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_updated_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("percent_complete", sa.Integer(), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("operation_id", name="pk_operation"),
    )
    op.create_index("ix_operation_status_created_time", "operation", ["status", "created_time"])
    _backfill_match_keys()


def _backfill_match_keys() -> None:
    """Computes the new matching keys and person-name words of studies and series stored before."""
    bind = op.get_bind()
    study = sa.table(
        "study",
        *(
            sa.column(name)
            for name in [
                "study_key",
                "patient_id",
                "patient_name",
                "referring_physician_name",
                "study_description",
                "accession_number",
                *STUDY_KEYS,
            ]
        ),
    )
    series = sa.table(
        "series", *(sa.column(name) for name in ["series_key", "modality", "manufacturer_model_name", *SERIES_KEYS])
    )
    words = sa.table("person_name_word", sa.column("tag"), sa.column("owner_key"), sa.column("word"))
    for table, key, columns in (
        (
            study,
            "study_key",
            ["patient_id", "patient_name", "referring_physician_name", "study_description", "accession_number"],
        ),
        (series, "series_key", ["modality", "manufacturer_model_name"]),
    ):
        rows = bind.execute(sa.select(table.c[key], *(table.c[name] for name in columns))).all()
        for row in rows:
            values = match_keys({name: getattr(row, name) for name in columns})
            keys = {name: value for name, value in values.items() if name not in columns}
            bind.execute(sa.update(table).where(table.c[key] == row[0]).values(**keys))
            for name, tag in NAME_TAGS.items():
                value = values.get(name)
                distinct = sorted(set(person_name_words(value))) if value else []
                if distinct:
                    bind.execute(sa.insert(words), [{"tag": tag, "owner_key": row[0], "word": w} for w in distinct])


def downgrade() -> None:
    op.drop_table("operation")
    for table in VALUE_TABLES:
        op.drop_table(table)
    op.drop_table("extended_query_tag_error")
    op.drop_table("extended_query_tag")
    op.drop_table("person_name_word")
    for table, indexes in (("study", STUDY_INDEXES), ("series", SERIES_INDEXES), ("instance", INSTANCE_INDEXES)):
        for columns in indexes:
            op.drop_index(_index_name(table, columns), table_name=table)
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.create_index("ix_instance_series_key", ["series_key"], unique=False)
        batch_op.create_index("ix_instance_study_key", ["study_key"], unique=False)
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_column("attributes")
    with op.batch_alter_table("series", schema=None) as batch_op:
        for column in [*SERIES_KEYS, "attributes"]:
            batch_op.drop_column(column)
    with op.batch_alter_table("study", schema=None) as batch_op:
        for column in [*STUDY_KEYS, "attributes"]:
            batch_op.drop_column(column)
