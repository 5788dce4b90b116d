"""WADO-RS metadata of studies, series and instances, with ETags (spec §4.6)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import resource_not_found
from ...storage import index
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid


@dataclass
class MetadataResult:
    """The stored DICOM JSON of each instance, and the ETag of the whole answer."""

    etag: str
    datasets: list[str]
    not_modified: bool = False


async def metadata(
    services: Services,
    scope: Scope,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    if_none_match: str | None = None,
    original: bool = False,
) -> MetadataResult:
    """The metadata of every instance in the scope; ``not_modified`` when ``if_none_match`` is its ETag.

    With ``original``, that of the original version of each instance an update changed (spec §10);
    the ETag follows the versions served.
    """
    require_valid(study_uid, series_uid, sop_uid)
    async with services.db.read() as conn:
        rows = await index.instance_metadata(
            conn, scope.partition_key, normalized(study_uid), normalized(series_uid), normalized(sop_uid), original
        )
    if not rows:
        raise resource_not_found(series_uid, sop_uid)
    if sop_uid:
        etag = str(rows[0].version)
    else:
        etag = f"{max(row.version for row in rows)}-{len(rows)}"
    if if_none_match is not None and if_none_match.strip().lower() == etag.lower():
        return MetadataResult(etag, [], not_modified=True)
    return MetadataResult(etag, [row.metadata for row in rows])
