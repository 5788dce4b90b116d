"""WADO-RS frames (spec §4.4): ranged reads of the stored file, transcoded only when asked."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ...dicom.media_types import negotiate_frames
from ...dicom.pixel_errors import TranscodeError
from ...errors import BadRequest, NotAcceptable
from ..model_binding import int32_list_parameter
from ..scope import Scope
from ..services import Services
from ..uids import require_valid
from . import pixel_jobs, stored_pixels
from .instances import ANY_TRANSFER_SYNTAX, TRANSCODE_FAILED, require_transcodable_size
from .negotiation import negotiated

INVALID_FRAMES = (
    "The specified frames value is not valid. At least one frame must be present, and all requested frames "
    "must have value greater than 0."
)
SINGLE_FRAME_ONLY = "The accept header is supported for single frame retrieval, use multi-part accept header instead."
# Native frames in these syntaxes are the same bytes as in Explicit VR Little Endian.
_LITTLE_ENDIAN_NATIVE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})


@dataclass
class FramesResult:
    """The frames to send, their media type and transfer syntax, and whether as multipart/related."""

    multipart: bool
    media_type: str
    transfer_syntax_uid: str
    frames: list[bytes]


def parse_frame_numbers(text: str) -> list[int]:
    """The frame numbers of a comma-separated list, bound as Azure binds them (400 for an entry that is no Int32)."""
    return int32_list_parameter("frames", text)


def require_frame_numbers(numbers: list[int]) -> None:
    """400 "The specified frames value is not valid. ..." unless there is a frame number and each is above 0."""
    if not numbers or any(number < 1 for number in numbers):
        raise BadRequest(INVALID_FRAMES)


async def retrieve_frames(
    services: Services, scope: Scope, accept: list[str], study_uid: str, series_uid: str, sop_uid: str, frames: str
) -> FramesResult:
    """The requested frames of one instance in the negotiated media type and transfer syntax.

    Frames in the stored syntax (or in Explicit VR Little Endian from a little-endian native file)
    are ranged reads of the stored file; any other syntax is decoded and re-encoded in the CPU pool.
    """
    numbers = parse_frame_numbers(frames)
    require_valid(study_uid, series_uid, sop_uid)
    require_frame_numbers(numbers)
    media = negotiated(negotiate_frames, accept)
    if not media.multipart and len(numbers) > 1:
        raise BadRequest(SINGLE_FRAME_ONLY)
    stored = await stored_pixels.load(services, scope, study_uid, series_uid, sop_uid)
    stored.require_frames(numbers)
    source = stored.transfer_syntax_uid
    target = media.transfer_syntax
    if _stored_bytes_serve(source, target):
        label = ExplicitVRLittleEndian if source == DeflatedExplicitVRLittleEndian else source
        data = await stored_pixels.stored_frames(services, stored, numbers)
        return FramesResult(media.multipart, media.media_type, label if target == ANY_TRANSFER_SYNTAX else target, data)
    require_transcodable_size(stored.size)
    try:
        data = await stored_pixels.in_worker(
            services,
            services.pixel_pool,
            stored.blob_key,
            pixel_jobs.transcode_frames,
            stored.frame_index_json,
            numbers,
            source,
            target,
        )
    except TranscodeError as exc:
        raise NotAcceptable(TRANSCODE_FAILED) from exc
    return FramesResult(media.multipart, media.media_type, target, data)


def _stored_bytes_serve(source: str, target: str) -> bool:
    """Whether frames asked for in ``target`` are the stored frames of a ``source`` file, as they are."""
    if target in (ANY_TRANSFER_SYNTAX, source):
        return True
    return target == ExplicitVRLittleEndian and source in _LITTLE_ENDIAN_NATIVE
