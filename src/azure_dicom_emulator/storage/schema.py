"""The index's tables. Every table that holds DICOM data is keyed by partition."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit keys.
Key = BigInteger().with_variant(Integer(), "sqlite")
UID = String(64)
# Matching keys compare byte for byte (code point order) on both databases, so that prefix ranges work.
MatchKey = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DEFAULT_PARTITION_KEY = 1
DEFAULT_PARTITION_NAME = "Microsoft.Default"
VERSION = "version"
"""The counter of version numbers, which a reset keeps: a number, and so a blob key, is never handed out twice."""
RESETS = "data_resets"
"""The counter that a reset increments (and keeps): how processes notice a reset by another one."""
VERSION_BEFORE_RESET = "version_before_reset"
"""The last version number reserved before the latest reset: a store still in flight then never writes it."""
INSPECTOR_CLEARED = "inspector_cleared"
"""The event sequence through which the inspector was last cleared."""
COUNTERS = (VERSION, INSPECTOR_CLEARED, RESETS, VERSION_BEFORE_RESET)
"""The counters a new index holds, each at 0."""

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
    # Matching keys (dicom.matching): case-folded, person names also without accents.
    Column("patient_id_key", MatchKey),
    Column("patient_name_key", MatchKey),
    Column("patient_name_words", MatchKey),
    Column("referring_physician_name_key", MatchKey),
    Column("referring_physician_name_words", MatchKey),
    Column("study_description_key", MatchKey),
    Column("accession_number_key", MatchKey),
    # The attributes searches return, of the most recently stored instance (dicom.query_attributes).
    Column("attributes", Text),
    UniqueConstraint("partition_key", "study_uid"),
    Index(None, "partition_key", "study_key"),
    Index(None, "partition_key", "patient_id_key", "study_key"),
    Index(None, "partition_key", "patient_name_key", "study_key"),
    Index(None, "partition_key", "referring_physician_name_key", "study_key"),
    Index(None, "partition_key", "accession_number_key", "study_key"),
    Index(None, "partition_key", "study_description_key", "study_key"),
    Index(None, "partition_key", "study_date", "study_key"),
    Index(None, "partition_key", "patient_birth_date", "study_key"),
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
    Column("modality_key", MatchKey),
    Column("manufacturer_model_name_key", MatchKey),
    Column("attributes", Text),
    UniqueConstraint("study_key", "series_uid"),
    Index(None, "partition_key", "series_key"),
    Index(None, "partition_key", "modality_key", "series_key"),
    Index(None, "study_key", "modality_key"),
    Index(None, "partition_key", "manufacturer_model_name_key", "series_key"),
    Index(
        "ix_series_partition_key_pps_start_date_series_key",
        "partition_key",
        "performed_procedure_step_start_date",
        "series_key",
    ),
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
    # Where each frame lies in the file (dicom.frames.FrameIndex as JSON); NULL for rows written before it.
    Column("frame_index", Text),
    Column("attributes", Text),
    # The first version of an instance that a bulk update changed (spec §10): NULL until an update.
    Column("original_version", BigInteger),
    Column("original_blob_key", String(300)),
    Column("original_size", BigInteger),
    Column("original_transfer_syntax_uid", UID),
    Column("original_metadata", Text),
    UniqueConstraint("partition_key", "study_uid", "series_uid", "sop_uid"),
    Index(None, "series_key", "version"),
    Index(None, "study_key", "version"),
    Index(None, "partition_key", "version"),
    Index(None, "partition_key", "sop_uid"),
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

person_name_word = Table(
    "person_name_word",
    metadata,
    # One row per distinct word of a person name, for word-prefix (fuzzy) matching. ``tag`` is the
    # attribute's DICOM tag; ``owner_key`` the study, series or instance key at the attribute's level.
    Column("tag", BigInteger, nullable=False),
    Column("owner_key", Key, nullable=False),
    Column("word", MatchKey, nullable=False),
    PrimaryKeyConstraint("tag", "owner_key", "word"),
    Index(None, "tag", "word", "owner_key"),
)

extended_query_tag = Table(
    "extended_query_tag",
    metadata,
    Column("tag_key", Key, primary_key=True, autoincrement=True),
    Column("path", String(8), nullable=False, unique=True),
    Column("vr", String(2), nullable=False),
    Column("private_creator", String(64)),
    Column("level", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("query_status", SmallInteger, nullable=False),
    Column("operation_id", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

extended_query_tag_error = Table(
    "extended_query_tag_error",
    metadata,
    Column("tag_key", Key, ForeignKey("extended_query_tag.tag_key"), nullable=False),
    Column("instance_key", Key, nullable=False),
    Column("partition_key", Key, nullable=False),
    Column("study_uid", UID, nullable=False),
    Column("series_uid", UID, nullable=False),
    Column("sop_uid", UID, nullable=False),
    Column("error_message", Text, nullable=False),
    Column("created_time", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tag_key", "instance_key"),
    Index(None, "instance_key"),
)


def _extended_values(name: str, value_type: TypeEngine | type[TypeEngine], *extra: Column) -> Table:
    """A typed table of extended query tag values: one value per tag and owner (study, series or instance).

    ``version`` is the watermark of the instance the value came from: a value is only replaced by
    one from a newer instance.
    """
    return Table(
        name,
        metadata,
        Column("tag_key", Key, ForeignKey("extended_query_tag.tag_key"), nullable=False),
        Column("owner_key", Key, nullable=False),
        Column("value", value_type, nullable=False),
        Column("version", BigInteger, nullable=False),
        *extra,
        PrimaryKeyConstraint("tag_key", "owner_key"),
        Index(None, "tag_key", "value", "owner_key"),
    )


extended_query_tag_string = _extended_values("extended_query_tag_string", MatchKey)
extended_query_tag_long = _extended_values("extended_query_tag_long", BigInteger)
extended_query_tag_double = _extended_values("extended_query_tag_double", Double)
extended_query_tag_datetime = _extended_values("extended_query_tag_datetime", MatchKey)
extended_query_tag_person_name = _extended_values(
    "extended_query_tag_person_name", MatchKey, Column("words", MatchKey, nullable=False)
)

operation = Table(
    "operation",
    metadata,
    Column("operation_id", String(32), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_time", DateTime(timezone=True), nullable=False),
    Column("last_updated_time", DateTime(timezone=True), nullable=False),
    Column("percent_complete", Integer, nullable=False),
    Column("resources", Text, nullable=False),  # JSON
    Column("checkpoint", Text, nullable=False),  # JSON
    Column("owner", String(64)),
    Column("lease_expires", DateTime(timezone=True)),
    Index(None, "status", "created_time"),
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

# Workitems (UPS-RS): one row per workitem with its state, the transaction UID that claimed it, a version
# for optimistic concurrency, its DICOM JSON (without the transaction UID) and the matching keys of the
# top-level search keys (dicom.ups_search_keys); the values of sequence keys have a row each.
workitem = Table(
    "workitem",
    metadata,
    Column("workitem_key", Key, primary_key=True, autoincrement=True),
    Column("partition_key", Key, ForeignKey("partition.partition_key"), nullable=False),
    Column("sop_uid", UID, nullable=False),
    Column("state", String(16), nullable=False),
    Column("transaction_uid", UID),
    Column("version", Integer, nullable=False),
    Column("dataset", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("patient_name_key", MatchKey),
    Column("patient_name_words", MatchKey),
    Column("patient_id_key", MatchKey),
    Column("start_date_time", MatchKey),
    Column("study_uid", UID),
    UniqueConstraint("partition_key", "sop_uid"),
    Index(None, "partition_key", "workitem_key"),
    Index(None, "partition_key", "patient_name_key", "workitem_key"),
    Index(None, "partition_key", "patient_id_key", "workitem_key"),
    Index(None, "partition_key", "start_date_time", "workitem_key"),
    Index(None, "partition_key", "state", "workitem_key"),
    Index(None, "partition_key", "study_uid", "workitem_key"),
)

workitem_sequence_value = Table(
    "workitem_sequence_value",
    metadata,
    Column("workitem_key", Key, ForeignKey("workitem.workitem_key"), nullable=False),
    Column("path", String(17), nullable=False),  # e.g. 0040A370.00080050
    Column("value", MatchKey, nullable=False),
    PrimaryKeyConstraint("workitem_key", "path", "value"),
    Index(None, "path", "value", "workitem_key"),
)

# Fault injection (the emulator's own tool, not Azure's): the rules in force and how often each fired,
# shared by every server process.
fault_rule = Table(
    "fault_rule",
    metadata,
    Column("rule_id", Key, primary_key=True, autoincrement=True),
    Column("rule", Text, nullable=False),  # settings.faults.FaultRule as JSON
    Column("max_count", BigInteger),  # the rule's ``count``: the most times it fires, NULL for no limit
    Column("fired", BigInteger, nullable=False),
)
