"""Instance files that the index names but the blob store no longer holds: a warning in the log, and Azure's 404."""

from __future__ import annotations

import logging

from ...errors import NotFound
from ...storage.blob_store import BlobNotFound
from ..services import Services

log = logging.getLogger(__name__)


async def require_stored(services: Services, blob_key: str, not_found: NotFound) -> None:
    """Raises ``not_found`` when the blob store holds no file for ``blob_key`` (see `missing`)."""
    try:
        await services.blobs.size(blob_key)
    except BlobNotFound as exc:
        raise missing(exc, not_found) from None


def missing(error: BlobNotFound, not_found: NotFound) -> NotFound:
    """``not_found``, once the missing file of ``error`` is logged as an inconsistency of the index and the blobs."""
    log.warning("The index has an instance whose file %s the blob store does not hold.", error.key)
    return not_found
