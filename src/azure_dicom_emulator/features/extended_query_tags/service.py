"""Extended query tags: add (with a reindex operation), list, get, update, delete and errors (spec §8)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Row

from ...dicom.attribute_ids import dictionary_vrs, is_private, is_private_creator, parse_attribute_id, path_of
from ...dicom.core_attributes import CORE_ATTRIBUTES
from ...dicom.value_kinds import KINDS
from ...dicom.value_rules import minimal_value_problem
from ...errors import BadRequest, Conflict, NotFound, ServiceError
from ...storage import operations, reindexing, tag_values
from ...storage.tag_values import TagLevel, TagStatus
from .. import partitions
from ..json_body import body_error, case_insensitive, load_json
from ..operations import REINDEX, operation_url
from ..scope import Scope
from ..services import Services
from ..timestamps import utc_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

MAX_TAGS = 128
MISSING_TAGS = "The extended query tag(s) is missing."
ALREADY_EXIST = "One or more extended query tags already exist."
ACTIVE_REINDEX = "There is already an active re-index operation with ID '{id}'."
TOO_MANY = "Extended query tags exceeds max allowed count '{limit}'."
NOT_FOUND = "The specified extended query tag with tag path {path} cannot be found."
_LEVELS = {"study": TagLevel.STUDY, "series": TagLevel.SERIES, "instance": TagLevel.INSTANCE}
_STATUSES = {TagStatus.ADDING: "adding", TagStatus.READY: "ready", TagStatus.DELETING: "deleting"}
_ALL_VRS = frozenset(
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()  # noqa: SIM905
)


class TooManyTags(ServiceError):
    """More tags than Azure allows: Azure answers 503 here."""

    status = 503


@dataclass(frozen=True)
class NewTag:
    """A validated tag to add."""

    tag: int
    path: str
    vr: str
    private_creator: str | None
    level: TagLevel


def parse_new_tags(body: bytes) -> list[NewTag]:
    """The tags of an add request, validated in Azure's order (body first, then each entry)."""
    entries = load_json(body)
    if not isinstance(entries, list):
        raise body_error("$", "The JSON value could not be converted to a list of extended query tags.")
    bound = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise body_error(f"$[{position}]", "The JSON value could not be converted to an extended query tag.")
        fields = case_insensitive(entry)
        for name in ("Path", "Level"):
            value = fields.get(name.lower())
            if value is None or (isinstance(value, str) and not value.strip()):
                raise body_error(
                    f"[{position}].{name}",
                    f"The Dicom Tag Property {name} must be specified and must not be null, empty or whitespace",
                )
        level = fields["level"]
        if not isinstance(level, str) or level.lower() not in _LEVELS:
            raise body_error(
                f"$[{position}].Level",
                f"Expected value '{level}' to be one of the following values: ['Instance', 'Series', 'Study']",
            )
        bound.append(fields)
    if not bound:
        raise BadRequest(MISSING_TAGS)
    tags: list[NewTag] = []
    for fields in bound:
        new_tag = _validated(fields)
        if any(existing.tag == new_tag.tag for existing in tags):
            raise BadRequest(f"The extended query tag '{fields['path']}' has been specified before.")
        tags.append(new_tag)
    return tags


def _validated(fields: dict) -> NewTag:
    written = str(fields["path"]).strip()
    tag = parse_attribute_id(written)
    if tag is None:
        raise BadRequest(
            f"The extended query tag '{written}' is invalid as it cannot be parsed into a valid Dicom Tag."
        )
    if tag in CORE_ATTRIBUTES:
        raise BadRequest(f"The query tag '{written}' is already supported.")
    creator = fields.get("privatecreator")
    creator = creator.strip() if isinstance(creator, str) and creator.strip() else None
    _check_private_creator(tag, creator, written)
    return NewTag(
        tag, path_of(tag), _checked_vr(tag, fields.get("vr"), written), creator, _LEVELS[fields["level"].lower()]
    )


def _check_private_creator(tag: int, creator: str | None, written: str) -> None:
    if not is_private(tag):
        if creator is not None:
            raise BadRequest(f"The private creator is not empty for standard tag '{written}'.")
        return
    if is_private_creator(tag):
        if creator is not None:
            raise BadRequest(f"The private creator is not empty for private identification code '{written}'.")
        return
    if creator is None:
        raise BadRequest(f"The private creator for private tag '{written}' is missing.")
    if minimal_value_problem("LO", creator):
        raise BadRequest(f"The private creator for private tag '{written}' is not a valid LO value.")


def _checked_vr(tag: int, vr: object, written: str) -> str:
    given = vr.strip().upper() if isinstance(vr, str) and vr.strip() else None
    if given is not None and given not in _ALL_VRS:
        raise BadRequest(f"The VR code '{vr}' for tag '{written}' is invalid.")
    allowed = ("LO",) if is_private_creator(tag) else dictionary_vrs(tag)
    if allowed is None:
        if given is None:
            raise BadRequest(f"The vr for tag '{written}' is missing.")
    elif given is None:
        given = allowed[0]
    elif given not in allowed:
        raise BadRequest(
            f"The VR code '{vr}' is incorrectly specified for '{written}'. The expected VR code for it is "
            f"'{allowed[0]}'. Retry this request either with the correct VR code or without specifying it."
        )
    if given not in KINDS:
        raise BadRequest(f"The VR code '{given}' specified for tag '{written}' is not supported.")
    return given


async def add(services: Services, scope: Scope, body: object) -> str:
    """Adds the tags of the request and starts the reindex of existing instances; returns the operation id.

    409 when a reindex is already running (with its URL) or a tag exists; 503 past 128 tags.
    """
    new_tags = parse_new_tags(body)
    operation_id = uuid.uuid4().hex
    async with services.db.write() as conn:
        await tag_values.lock_tag_set(conn, exclusive=True)
        active = await operations.active_of_type(conn, REINDEX)
        if active is not None:
            location = operation_url(scope, active.operation_id)
            raise Conflict(ACTIVE_REINDEX.format(id=active.operation_id), headers={"Location": location})
        if await tag_values.count_tags(conn) + len(new_tags) > MAX_TAGS:
            raise TooManyTags(TOO_MANY.format(limit=MAX_TAGS))
        if any([await tag_values.find_tag(conn, new_tag.path) for new_tag in new_tags]):
            raise Conflict(ALREADY_EXIST)
        tag_keys = await tag_values.add_tags(
            conn,
            [
                {"path": t.path, "vr": t.vr, "private_creator": t.private_creator, "level": int(t.level)}
                for t in new_tags
            ],
            operation_id,
        )
        last_key, total = await reindexing.last_instance_key(conn)
        await operations.create(
            conn,
            operation_id,
            REINDEX,
            [t.path for t in new_tags],
            {"tag_keys": tag_keys, "after_key": 0, "up_to_key": last_key, "total": total, "done": 0},
        )
    services.operations_wake.set()
    return operation_id


def tag_json(scope: Scope, tag: Row) -> dict:
    """A tag as Azure's JSON resource (null fields left out)."""
    root = f"{scope.base_url}/{scope.version_segment}"
    resource = {
        "path": tag.path,
        "vr": tag.vr,
        "privateCreator": tag.private_creator,
        "level": TagLevel(tag.level).name.lower(),
        "status": _STATUSES[TagStatus(tag.status)],
        "queryStatus": "enabled" if tag.query_status else "disabled",
    }
    if tag.private_creator is None:
        del resource["privateCreator"]
    if tag.error_count:
        resource["errors"] = {"count": tag.error_count, "href": f"{root}/extendedquerytags/{tag.path}/errors"}
    if tag.operation_id:
        resource["operation"] = {"id": tag.operation_id, "href": operation_url(scope, tag.operation_id)}
    return resource


async def list_tags(services: Services, scope: Scope, limit: int, offset: int) -> list[dict]:
    """A page of the tags, in the order they were added."""
    async with services.db.read() as conn:
        rows = await tag_values.page_of_tags(conn, limit, offset)
    return [tag_json(scope, row) for row in rows]


def _path(written: str) -> str:
    tag = parse_attribute_id(written)
    if tag is None:
        raise BadRequest(
            f"The extended query tag '{written}' is invalid as it cannot be parsed into a valid Dicom Tag."
        )
    return path_of(tag)


async def _existing(conn: AsyncConnection, written: str) -> Row:
    row = await tag_values.find_tag(conn, _path(written))
    if row is None:
        raise NotFound(NOT_FOUND.format(path=written))
    return row


async def get_tag(services: Services, scope: Scope, written: str) -> dict:
    """The tag named by a path or keyword; 400 for an invalid one, 404 when it does not exist."""
    async with services.db.read() as conn:
        return tag_json(scope, await _existing(conn, written))


async def delete_tag(services: Services, written: str) -> None:
    """Removes the tag, its values and its errors."""
    async with services.db.write() as conn:
        await tag_values.lock_tag_set(conn, exclusive=True)
        await tag_values.delete_tag(conn, await _existing(conn, written))


def parse_query_status(body: bytes) -> bool:
    """The ``queryStatus`` of an update body: True for enabled; 400 in Azure's words otherwise."""
    document = load_json(body)
    if not isinstance(document, dict):
        raise body_error("$", "The JSON value could not be converted to an extended query tag update.")
    fields = case_insensitive(document)
    for name in fields:
        if name != "querystatus":
            raise body_error(name, f'The field is not supported: "{name}".')
    value = fields.get("querystatus")
    if value is None:
        raise body_error("QueryStatus", "The QueryStatus field is required.")
    if not isinstance(value, str) or value.lower() not in ("enabled", "disabled"):
        raise body_error("QueryStatus", 'The value is not valid. It need to be one of "Disabled","Enabled".')
    return value.lower() == "enabled"


async def update_tag(services: Services, scope: Scope, written: str, body: object) -> dict:
    """Enables or disables searching on the tag; returns the updated tag."""
    enabled = parse_query_status(body)
    async with services.db.write() as conn:
        row = await _existing(conn, written)
        await tag_values.set_query_status(conn, row.tag_key, enabled)
        return tag_json(scope, await tag_values.find_tag(conn, row.path))


async def list_errors(services: Services, written: str, limit: int, offset: int) -> list[dict]:
    """A page of the tag's indexing errors."""
    async with services.db.read() as conn:
        row = await _existing(conn, written)
        errors = await tag_values.page_of_errors(conn, row.tag_key, limit, offset)
    names = await _partition_names(services)
    return [
        {
            "studyInstanceUid": error.study_uid,
            "seriesInstanceUid": error.series_uid,
            "sopInstanceUid": error.sop_uid,
            "createdTime": utc_text(error.created_time),
            "errorMessage": error.error_message,
            "partitionName": names.get(error.partition_key),
        }
        for error in errors
    ]


async def _partition_names(services: Services) -> dict[int, str]:
    return {item["partitionKey"]: item["partitionName"] for item in await partitions.list_all(services)}
