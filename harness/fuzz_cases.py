"""Fuzzing the running emulator over HTTP: hypothesis strategies for hostile requests of every kind (judged by
the oracle of harness/fuzz_oracle.py).
"""

from __future__ import annotations

import contextlib
import json
import uuid
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .factories import make_dataset, multipart, to_bytes, with_meta_transfer_syntax

DICOM_JSON = "application/dicom+json"
BOUNDARY = "fuzz-boundary"
UID_ROOT = f"2.25.{uuid.uuid4().int % 10**20}"
"""Every UID the fuzzer makes starts with this root, new in each run."""

# ---------------------------------------------------------------------------------------------- values

_UID_CHARACTERS = "0123456789.0123456789.a-_/\\ \0%é"
odd_uids = st.one_of(
    st.text(_UID_CHARACTERS, max_size=70),
    st.sampled_from(["", "..", "1.2.", ".1.2", "1" * 65, "1.2.3%2F..", "0.0", "1.2.3\\4", "1.02.3"]),
)
"""UIDs as a client might send them: valid ones now and then, mostly not."""

number_texts = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "1.0", "2e0", "(1)", "1-", "+1", "0x10", "١", "9" * 5000, "0" * 5000 + "1"]),
    st.text("0123456789,. +-eE()", max_size=12),
)
"""Numbers, and texts that look a little like numbers."""

free_text = st.text(max_size=40)
frame_lists = st.one_of(
    st.lists(number_texts, min_size=1, max_size=4).map(",".join),
    st.sampled_from(["1", "1,1", "%2C", "1%2C2"]),
)


def _now_and_then(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws (hypothesis favours the first choice: False)."""
    return draw(st.sampled_from([False] * (one_in - 1) + [True]))


def _uid(draw) -> str:
    return f"{UID_ROOT}.{draw(st.integers(1, 10**9))}"


# ---------------------------------------------------------------------------------------------- DICOM files


@st.composite
def datasets(draw) -> Dataset:
    """A small instance under fresh UIDs, with odd attributes, deep sequences or bad UIDs now and then."""
    syntax = draw(
        st.sampled_from(
            [ExplicitVRLittleEndian] * 4 + [ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]
        )
    )
    rows, columns = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    ds = make_dataset(_uid(draw), _uid(draw), _uid(draw), rows=rows, columns=columns, transfer_syntax=syntax)
    ds.SpecificCharacterSet = "ISO_IR 192"  # any text can be written
    if draw(st.booleans()):
        ds.NumberOfFrames = draw(st.integers(1, 3))
        ds.PixelData = bytes(rows * columns * 2 * ds.NumberOfFrames)
    if _now_and_then(draw, 5):
        setattr(ds, draw(st.sampled_from(["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])), draw(odd_uids))
    if _now_and_then(draw, 10):
        del ds.PatientID
    for keyword, strategy in draw(
        st.lists(
            st.sampled_from(
                [
                    ("StudyDate", free_text),
                    ("PatientName", free_text),
                    ("AccessionNumber", free_text),
                    ("Modality", free_text),
                    ("InstanceNumber", number_texts.map(lambda text: text[:12])),
                    ("PatientAge", free_text),
                ]
            ),
            max_size=3,
        )
    ):
        value = draw(strategy)
        with contextlib.suppress(Exception):  # pydicom refuses some values outright (an IS that is no number)
            setattr(ds, keyword, value)
    depth = draw(st.sampled_from([0, 0, 0, 0, 0, 1, 5, 70]))
    inner = ds
    for _ in range(depth):
        item = Dataset()
        item.CodeValue = "X"
        inner.ReferencedStudySequence = Sequence([item])
        inner = item
    return ds


def _encoded(ds: Dataset) -> bytes | None:
    try:
        return to_bytes(ds)
    except Exception:  # pydicom refuses to write some odd values: that file is simply not sent
        return None


@st.composite
def dicom_files(draw) -> bytes:
    """A Part 10 file, often with its bytes damaged: flipped, cut short, grown, lengths and VRs overwritten."""
    data = _encoded(draw(datasets()))
    if data is None:
        return b"\0" * 128 + b"DICM"
    if _now_and_then(draw, 10):
        odd_syntax = draw(
            st.sampled_from(
                [b"1.2.840.10008.1.2.1\\1.2.840.10008.1.2", b"", b"1.2.840.10008.1.2.4.100", b"1.2.840", b"\xff\xfe"]
            )
        )
        data = with_meta_transfer_syntax(data, odd_syntax)
    if _now_and_then(draw, 15):  # a deflated data set whose element VRs are no letters
        head = with_meta_transfer_syntax(data, DeflatedExplicitVRLittleEndian.encode())
        body = b"\x10\x00\x10\x00\x01\x02\x04\x00Doe^" + draw(st.binary(max_size=40))
        squeezer = zlib.compressobj(wbits=-15)
        data = head[: _meta_end(head)] + squeezer.compress(body) + squeezer.flush()
    data = bytearray(data)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        if not data:
            break
        near_header = draw(st.booleans())
        position = draw(st.integers(0, min(len(data), 600) - 1 if near_header else len(data) - 1))
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "length", "vr"]))
        if kind == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "length":
            data[position : position + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
        else:
            data[position : position + 2] = draw(st.binary(min_size=2, max_size=2))
    return bytes(data)


def _meta_end(data: bytes) -> int:
    """Where the file meta of ``data`` ends (its group length says)."""
    return 132 + 12 + int.from_bytes(data[140:144], "little")


# ---------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """One HTTP request to send."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


_ACCEPTS = st.sampled_from(
    [
        DICOM_JSON,
        "*/*",
        "application/json",
        "application/dicom",
        "application/dicom; transfer-syntax=*",
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90",
        'multipart/related; type="application/dicom"; transfer-syntax=*',
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
        'multipart/related; type="application/octet-stream"',
        'multipart/related; type="image/jp2"',
        "application/octet-stream",
        "image/jpeg",
        "image/png",
        "image/jpeg, image/png",
        "",
    ]
)
accepts = st.one_of(_ACCEPTS, st.text(max_size=30))


@st.composite
def stow_requests(draw) -> Request:
    """A STOW-RS request of mutated files, its framing, headers and URL sometimes damaged too."""
    parts = draw(st.lists(dicom_files(), max_size=3))
    framing = draw(st.sampled_from(["plain"] * 6 + ["empty parts", "no close", "junk", "part type", "single"]))
    content_type = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    if framing == "single":
        body, content_type = (parts[0] if parts else b""), "application/dicom"
    elif framing == "empty parts":
        body = multipart([b""] * draw(st.integers(1, 250)), BOUNDARY) + b"--" + BOUNDARY.encode() + b"\r\n"
    else:
        body = multipart(parts, BOUNDARY, content_type=draw(st.sampled_from(["application/dicom"] * 4 + [None])))
        if framing == "no close":
            body = body[: -len(f"--{BOUNDARY}--\r\n")]
        elif framing == "junk":
            position = draw(st.integers(0, len(body)))
            body = body[:position] + draw(st.binary(max_size=64)) + body[position:]
        elif framing == "part type":
            body = body.replace(b"Content-Type: application/dicom", draw(st.binary(max_size=30)), 1)
    if _now_and_then(draw, 10):
        content_type = draw(st.one_of(st.text(max_size=60), st.sampled_from(["multipart/related", "text/plain"])))
    headers = {"Content-Type": content_type, "Accept": draw(st.sampled_from([DICOM_JSON] * 8 + ["", "*/*"]))}
    version = draw(st.sampled_from(["v2", "v2", "v2", "v1", "v1.0-prerelease", "v3"]))
    study = draw(odd_uids) if _now_and_then(draw, 5) else None
    path = f"/{version}/studies" + (f"/{_quoted(study)}" if study is not None else "")
    return Request("POST", path, _sendable_headers(headers), body)


@st.composite
def read_requests(draw, known_uids: list[tuple[str, str, str]]) -> Request:
    """A WADO-RS or DELETE request with UIDs known or odd in every position, odd frame lists and Accept headers."""
    if known_uids and draw(st.booleans()):
        study, series, sop = known_uids[draw(st.integers(0, len(known_uids) - 1))]
        replaced = draw(st.sampled_from([None, 0, 1, 2]))
        uids = [study, series, sop]
        if replaced is not None:
            uids[replaced] = draw(odd_uids)
        study, series, sop = uids
    else:
        study, series, sop = draw(odd_uids), draw(odd_uids), draw(odd_uids)
    level = draw(st.sampled_from(["study", "series", "instance", "frames", "rendered", "frame rendered", "metadata"]))
    path = f"/v2/studies/{study}"
    if level != "study":
        path += f"/series/{series}"
    if level not in ("study", "series"):
        path += f"/instances/{sop}"
    if level == "frames":
        path += f"/frames/{draw(frame_lists)}"
    elif level == "rendered":
        path += "/rendered"
    elif level == "frame rendered":
        path += f"/frames/{draw(frame_lists)}/rendered"
    elif level == "metadata" and draw(st.booleans()):
        path = path.rsplit("/instances/", 1)[0] + "/metadata"
    query = ""
    if level in ("rendered", "frame rendered") and draw(st.booleans()):
        query = "?quality=" + _escape(draw(number_texts))
    method = "DELETE" if level in ("study", "series", "instance") and _now_and_then(draw, 10) else "GET"
    if method == "DELETE" and any(study == known[0] for known in known_uids):
        method = "GET"  # acknowledged instances stay: the oracle counts them
    return Request(method, _quoted(path) + query, _sendable_headers({"Accept": draw(accepts)}))


_QUERY_KEYS = st.sampled_from(
    [
        "PatientID",
        "PatientName",
        "StudyDate",
        "00080020",
        "StudyInstanceUID",
        "Modality",
        "ModalitiesInStudy",
        "SOPInstanceUID",
        "includefield",
        "limit",
        "offset",
        "fuzzymatching",
        "patientid",
        "Bogus",
        "0008002",
        "00089459",
    ]
)


@st.composite
def search_requests(draw) -> Request:
    """A QIDO-RS request at any level with any mix of filters and reserved parameters."""
    level = draw(st.sampled_from(["studies", "series", "instances", "studies/{s}/series", "studies/{s}/instances"]))
    pairs = draw(st.lists(st.tuples(st.one_of(_QUERY_KEYS, free_text), st.one_of(free_text, number_texts))))
    query = "&".join(f"{_escape(key)}={_escape(value)}" for key, value in pairs)
    path = "/v2/" + level.replace("{s}", _quoted(draw(odd_uids)))
    return Request("GET", path + ("?" + query if query else ""), _sendable_headers({"Accept": draw(accepts)}))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_EQT_ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        "path": st.one_of(st.sampled_from(["PatientSex", "00100040", "00111001", "NotATag", ""]), free_text),
        "vr": st.one_of(st.sampled_from(["CS", "LO", "DS", "XX"]), json_values),
        "level": st.one_of(st.sampled_from(["Study", "series", "Studys"]), json_values),
        "privateCreator": json_values,
    },
)


@st.composite
def json_requests(draw) -> Request:
    """An extended query tag add or update with any JSON body: arbitrary, nearly right, deeply nested or not JSON."""
    shape = draw(st.sampled_from(["value", "entries", "status", "deep", "bytes"]))
    if shape == "value":
        body = json.dumps(draw(json_values)).encode()
    elif shape == "entries":
        body = json.dumps(draw(st.lists(_EQT_ENTRIES, max_size=3))).encode()
    elif shape == "status":
        body = json.dumps({"queryStatus": draw(json_values), **draw(st.dictionaries(free_text, json_values))}).encode()
    elif shape == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 1000, 200_000]))
        body = b"[" * depth + b"]" * depth
    else:
        body = draw(st.binary(max_size=60))
    content_type = draw(st.sampled_from(["application/json"] * 5 + ["text/plain", "application/json; charset=utf-8"]))
    if draw(st.booleans()):
        return Request("POST", "/v2/extendedquerytags", {"Content-Type": content_type}, body)
    tag = draw(st.sampled_from(["PatientAge", "00101010", "NoSuchKeyword", "0010101"]))
    return Request("PATCH", f"/v2/extendedquerytags/{tag}", {"Content-Type": content_type}, body)


@st.composite
def change_feed_requests(draw) -> Request:
    """A change feed request with odd paging, time window and includeMetadata values."""
    names = st.sampled_from(["offset", "limit", "startTime", "endTime", "includeMetadata", "OFFSET"])
    pairs = draw(st.lists(st.tuples(names, st.one_of(number_texts, free_text, st.just("2024-01-01T00:00:00Z")))))
    path = draw(st.sampled_from(["/v1/changefeed", "/v2/changefeed", "/v2/changefeed/latest"]))
    query = "&".join(f"{key}={_escape(value)}" for key, value in pairs)
    return Request("GET", path + ("?" + query if query else ""))


def _escape(text: str) -> str:
    return quote(text, safe="")


def _quoted(path: str) -> str:
    return quote(path, safe="/,")


def _sendable_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers with values an HTTP client can send: printable ASCII, no white space around."""
    return {
        name: "".join(char if " " <= char <= "~" else "?" for char in value).strip() for name, value in headers.items()
    }
