"""WADO-RS rendered images of an instance or one of its frames (spec §4.5)."""

from __future__ import annotations

from dataclasses import dataclass

from ...dicom.media_types import negotiate_rendered, negotiate_rendered_leniently
from ...dicom.pixel_errors import RenderError, TranscodeError
from ...errors import FRAME_NOT_FOUND, BadRequest, NotAcceptable, NotFound
from ..model_binding import bound_integer
from ..scope import Scope
from ..services import Services
from ..uids import require_valid
from . import pixel_jobs, stored_pixels
from .frames import require_frame_numbers
from .instances import MAX_TRANSCODE_BYTES
from .negotiation import negotiated

INVALID_QUALITY = "Image quality must be between 1 and 100 inclusive"
TOO_LARGE = "Requested DICOM instance size is above the supported limit of {limit} for rendering."
RENDER_FAILED = "The specified DICOM image cannot be rendered."
DEFAULT_QUALITY = 100


@dataclass
class RenderedImage:
    """An encoded image and its media type."""

    media_type: str
    data: bytes


async def rendered(
    services: Services,
    scope: Scope,
    accept: list[str],
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    frame: str | None,
    quality: str | None,
    lenient: bool = False,
) -> RenderedImage:
    """The instance's first frame, or frame ``frame`` (1-based text), rendered as ``image/jpeg`` or ``image/png``.

    ``lenient`` also accepts ``*/*`` and several media ranges (see media_types). Checks run in
    Azure's order: frame number and quality as integers (400, model binding), UIDs (400), frame
    number above 0 (400), quality from 1 to 100 (400), Accept (406), instance (404), size (406),
    frame (404); a frame that cannot be decoded or displayed is 406.
    """
    number = 1 if frame is None else bound_integer("frame", frame)
    level = DEFAULT_QUALITY if quality is None else bound_integer("quality", quality)
    require_valid(study_uid, series_uid, sop_uid)
    require_frame_numbers([number])
    if not 1 <= level <= 100:
        raise BadRequest(INVALID_QUALITY)
    media_type = negotiated(negotiate_rendered_leniently if lenient else negotiate_rendered, accept)
    stored = await stored_pixels.load(services, scope, study_uid, series_uid, sop_uid)
    if stored.size > MAX_TRANSCODE_BYTES:
        raise NotAcceptable(TOO_LARGE.format(limit=MAX_TRANSCODE_BYTES))
    if stored.frame_index.count == 0:
        raise NotFound(FRAME_NOT_FOUND)
    stored.require_frames([number])
    try:
        data = await stored_pixels.in_worker(
            services,
            services.pixel_pool,
            stored.blob_key,
            pixel_jobs.render_frame,
            stored.frame_index_json,
            number,
            stored.transfer_syntax_uid,
            media_type,
            level,
        )
    except (TranscodeError, RenderError) as exc:
        raise NotAcceptable(RENDER_FAILED) from exc
    return RenderedImage(media_type, data)
