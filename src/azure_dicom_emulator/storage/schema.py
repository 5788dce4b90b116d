"""The index's tables. Every table that holds DICOM data is keyed by partition."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit keys.
Key = BigInteger().with_variant(Integer(), "sqlite")
UID = String(64)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

counter = Table(
    "counter",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

partition = Table(
    "partition",
    metadata,
    Column("partition_key", Key, primary_key=True, autoincrement=True),
    Column("partition_name", String(64), nullable=False, unique=True),
    Column("created_date", DateTime(timezone=True), nullable=False),
)

study = Table(
    "study",
    metadata,
    Column("study_key", Key, primary_key=True, autoincrement=True),
    Column("partition_key", Key, ForeignKey("partition.partition_key"), nullable=False),
    Column("study_uid", UID, nullable=False),
    Column("patient_id", Text),
    Column("patient_name", Text),
    Column("patient_birth_date", Text),
    Column("referring_physician_name", Text),
    Column("study_date", Text),
    Column("study_description", Text),
    Column("accession_number", Text),
    UniqueConstraint("partition_key", "study_uid"),
)

series = Table(
    "series",
    metadata,
    Column("series_key", Key, primary_key=True, autoincrement=True),
    Column("study_key", Key, ForeignKey("study.study_key"), nullable=False),
    Column("partition_key", Key, nullable=False),
    Column("series_uid", UID, nullable=False),
    Column("modality", Text),
    Column("performed_procedure_step_start_date", Text),
    Column("manufacturer_model_name", Text),
    UniqueConstraint("study_key", "series_uid"),
)

instance = Table(
    "instance",
    metadata,
    Column("instance_key", Key, primary_key=True, autoincrement=True),
    Column("partition_key", Key, nullable=False),
    Column("study_key", Key, ForeignKey("study.study_key"), nullable=False),
    Column("series_key", Key, ForeignKey("series.series_key"), nullable=False),
    Column("study_uid", UID, nullable=False),
    Column("series_uid", UID, nullable=False),
    Column("sop_uid", UID, nullable=False),
    Column("sop_class_uid", UID, nullable=False),
    Column("transfer_syntax_uid", UID, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("blob_key", String(300), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("partition_key", "study_uid", "series_uid", "sop_uid"),
    Index(None, "series_key"),
    Index(None, "study_key"),
)

change_feed = Table(
    "change_feed",
    metadata,
    Column("sequence", Key, primary_key=True, autoincrement=True),
    Column("partition_key", Key, nullable=False),
    Column("study_uid", UID, nullable=False),
    Column("series_uid", UID, nullable=False),
    Column("sop_uid", UID, nullable=False),
    Column("action", SmallInteger, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Index(None, "partition_key", "study_uid", "series_uid", "sop_uid"),
    Index(None, "timestamp"),
)

# Events (DESIGN §6): each change-feed row's event, written in the same transaction, waits here
# until every sink has taken it.
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),  # the change-feed sequence
    Column("body", Text, nullable=False),  # the event in the Event Grid schema, as JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per configured sink: how far it has delivered, its retry state and who delivers it now.
event_sink = Table(
    "event_sink",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("position", BigInteger, nullable=False),  # the last sequence delivered or dead-lettered
    Column("attempts", Integer, nullable=False),  # failed attempts at the events after ``position``
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("owner", String(64)),  # the worker that holds the lease
    Column("lease_until", DateTime(timezone=True)),
    Column("validated_endpoint", Text),  # the webhook URL that passed the validation handshake
    Column("validation_code", String(64)),  # the code of a handshake awaiting manual validation
)

event_dead_letter = Table(
    "event_dead_letter",
    metadata,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("sink", String(300), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("dead_lettered_at", DateTime(timezone=True), nullable=False),
    Index(None, "sink", "sequence"),
)
