"""Accept-header negotiation."""

import pytest

from azure_dicom_emulator.dicom.media_types import (
    AcceptedMedia,
    BadAcceptError,
    MediaRange,
    NotAcceptableError,
    accepts_dicom_json,
    negotiate_frames,
    negotiate_rendered,
    negotiate_resource,
    parse_accept,
)

EXPLICIT = "1.2.840.10008.1.2.1"
J2K = "1.2.840.10008.1.2.4.90"
DICOM = "application/dicom"
OCTETS = "application/octet-stream"
LEVELS = ["study", "series", "instance"]


def multipart(media_type: str, transfer_syntax: str) -> AcceptedMedia:
    return AcceptedMedia(media_type, True, transfer_syntax)


# parse_accept


def test_parse_accept_lists_values_and_parameters():
    ranges = parse_accept(
        [
            'multipart/related; type="application/dicom"; transfer-syntax=*, application/dicom;q=0.5',
            "",
            "*/*; Q=0.1 , ,",
            'text/plain; x="a,b;c"',
        ]
    )
    assert ranges == [
        MediaRange("multipart/related", (("type", DICOM), ("transfer-syntax", "*")), 1.0),
        MediaRange(DICOM, (), 0.5),
        MediaRange("*/*", (), 0.1),
        MediaRange("text/plain", (("x", "a,b;c"),), 1.0),
    ]


@pytest.mark.parametrize("value", ["garbage", "*", ";q=1"])
def test_parse_accept_skips_ranges_without_a_slash(value):
    assert parse_accept([value]) == []


@pytest.mark.parametrize(("q", "expected"), [("0", 0.0), ("0.25", 0.25), ("abc", 1.0), ("nan", 1.0), ("", 1.0)])
def test_parse_accept_quality(q, expected):
    assert parse_accept([f"application/dicom; q={q}"])[0].quality == expected


# accepts_dicom_json


@pytest.mark.parametrize(
    "values",
    [
        ["application/dicom+json"],
        ["applicAtion/dICOM+Json"],
        ["application/dicom+json; transfer-syntax=*"],
        ["application/json"],
        ["application/*"],
        ["*/*"],
        ["text/html, */*;q=0.8"],
        ["application/dicom", "application/dicom+json"],
        ["image/png, application/dicom+json; charset=utf-8"],
    ],
)
def test_accepts_dicom_json(values):
    assert accepts_dicom_json(values)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["application/dicom"],
        ["application/dicom+json+something"],
        ["application/xml", "text/*"],
        ['multipart/related; type="application/dicom"'],
        ["application/dicom+json; q=0"],
    ],
)
def test_does_not_accept_dicom_json(values):
    assert not accepts_dicom_json(values)


# negotiate_resource


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ('multipart/related; type="application/dicom"; transfer-syntax=*', multipart(DICOM, "*")),
        ("multipart/related; type=application/dicom; transfer-syntax=*", multipart(DICOM, "*")),
        ("multipart/related; type=application/dicom", multipart(DICOM, EXPLICIT)),
        ('multipart/related; type="application/dicom"', multipart(DICOM, EXPLICIT)),
        (f'multipart/related; type="application/dicom"; transfer-syntax={J2K}', multipart(DICOM, J2K)),
        (
            f'multipart/related; type="application/dicom"; transfer-syntax="{EXPLICIT}"',
            multipart(DICOM, EXPLICIT),
        ),
        ('multipart/related; type="application/dicom"; transfer-syntax=""', multipart(DICOM, EXPLICIT)),
        ('MULTIPART/Related; TYPE="Application/DICOM"; Transfer-Syntax=*', multipart(DICOM, "*")),
        ("*/*", multipart(DICOM, "*")),
        ("*/*; q=0.5", multipart(DICOM, "*")),
        (f"*/*; transfer-syntax={EXPLICIT}", multipart(DICOM, EXPLICIT)),
        ('multipart/related; type="*/*"', multipart(DICOM, "*")),
    ],
)
def test_resource_accepts(level, accept, expected):
    assert negotiate_resource([accept], level) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/dicom; transfer-syntax=*", AcceptedMedia(DICOM, False, "*")),
        ("application/dicom", AcceptedMedia(DICOM, False, EXPLICIT)),
        (f"Application/Dicom; transfer-syntax={J2K}", AcceptedMedia(DICOM, False, J2K)),
    ],
)
def test_instance_accepts_single_part(accept, expected):
    assert negotiate_resource([accept], "instance") == expected


@pytest.mark.parametrize("level", ["study", "series"])
@pytest.mark.parametrize("accept", ["application/dicom; transfer-syntax=*", "application/dicom"])
def test_study_and_series_refuse_single_part(level, accept):
    with pytest.raises(NotAcceptableError, match="^The request headers are not acceptable$"):
        negotiate_resource([accept], level)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["application/octet-stream"],
        ['multipart/related; type="application/octet-stream"'],
        ["multipart/related"],
        ["multipart/related; transfer-syntax=*"],
        ['multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.100'],
        ['multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'],
        ["application/dicom+json"],
        ["application/*"],
        ['multipart/related; type="application/dicom"; transfer-syntax=*; q=0'],
        ["*/*; q=0"],
    ],
)
def test_resource_not_acceptable(level, values):
    with pytest.raises(NotAcceptableError, match="^The request headers are not acceptable$"):
        negotiate_resource(values, level)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # The highest quality wins.
        (
            [
                f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}; q=0.5',
                f'multipart/related; type="application/dicom"; transfer-syntax={J2K}; q=0.9',
            ],
            multipart(DICOM, J2K),
        ),
        # An unacceptable range does not hide an acceptable one, whatever its quality.
        (
            [
                'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.3',
                f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}; q=0.5',
                'multipart/related; type="application/dicom"; transfer-syntax=1.2.3; q=0.7',
            ],
            multipart(DICOM, EXPLICIT),
        ),
        # On equal quality transfer-syntax=* wins over the first listed.
        (
            [
                f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}',
                'multipart/related; type="application/dicom"; transfer-syntax=*',
            ],
            multipart(DICOM, "*"),
        ),
        # ...but not over a higher quality.
        (
            [
                f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}',
                'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.9',
            ],
            multipart(DICOM, EXPLICIT),
        ),
        # Otherwise the first listed among equals wins.
        (
            [
                f'multipart/related; type="application/dicom"; transfer-syntax={J2K}',
                f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}',
            ],
            multipart(DICOM, J2K),
        ),
        # A defaulted syntax does not count as "*" for the tie-break; */* without one is not preferred.
        (
            ['multipart/related; type="application/dicom"', "*/*"],
            multipart(DICOM, EXPLICIT),
        ),
        # q=0 ranges are never chosen.
        (
            [
                'multipart/related; type="application/dicom"; transfer-syntax=*; q=0',
                f'multipart/related; type="application/dicom"; transfer-syntax={J2K}; q=0.1',
            ],
            multipart(DICOM, J2K),
        ),
        # One header value holding a list, or several values: the same.
        (
            [
                f'multipart/related; type="application/dicom"; transfer-syntax={EXPLICIT}; q=0.4, '
                'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.8'
            ],
            multipart(DICOM, "*"),
        ),
        (["text/html", "*/*;q=0.1"], multipart(DICOM, "*")),
    ],
)
def test_resource_preference(values, expected):
    assert negotiate_resource(values, "study") == expected


def test_instance_tie_prefers_last_star_range():
    values = [
        "application/dicom; transfer-syntax=*",
        'multipart/related; type="application/dicom"; transfer-syntax=*',
    ]
    assert negotiate_resource(values, "instance") == multipart(DICOM, "*")
    assert negotiate_resource(values[::-1], "instance") == AcceptedMedia(DICOM, False, "*")


@pytest.mark.parametrize(
    "values",
    [
        ['multipart/related; type="application/dicom"; transfer-syntax=*; transfer-syntax=*'],
        [f"application/dicom; Transfer-Syntax={EXPLICIT}; transfer-syntax=*"],
        ["*/*", f'multipart/related; type="application/dicom"; transfer-syntax=*; transfer-syntax={J2K}'],
    ],
)
def test_duplicate_transfer_syntax_is_bad_request(values):
    with pytest.raises(BadAcceptError, match="^Transfer Syntax parameter is specified more than once$"):
        negotiate_resource(values, "instance")
    with pytest.raises(BadAcceptError):
        negotiate_frames(values)


# negotiate_frames


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ('multipart/related; type="application/octet-stream"', multipart(OCTETS, EXPLICIT)),
        ("multipart/related; type=application/octet-stream; transfer-syntax=*", multipart(OCTETS, "*")),
        (
            f"multipart/related; type=application/octet-stream; transfer-syntax={EXPLICIT}",
            multipart(OCTETS, EXPLICIT),
        ),
        ("application/octet-stream", AcceptedMedia(OCTETS, False, EXPLICIT)),
        ("application/octet-stream; transfer-syntax=*", AcceptedMedia(OCTETS, False, "*")),
        ('multipart/related; type="image/jp2"', multipart("image/jp2", J2K)),
        (f'multipart/related; type="image/jp2"; transfer-syntax={J2K}', multipart("image/jp2", J2K)),
        ("*/*", multipart(OCTETS, "*")),
        (f"*/*; transfer-syntax={EXPLICIT}", multipart(OCTETS, EXPLICIT)),
    ],
)
def test_frames_accepts(accept, expected):
    assert negotiate_frames([accept]) == expected


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["image/jp2"],
        ['multipart/related; type="image/jp2"; transfer-syntax=*'],
        [f'multipart/related; type="image/jp2"; transfer-syntax={EXPLICIT}'],
        [f"application/octet-stream; transfer-syntax={J2K}"],
        [f"*/*; transfer-syntax={J2K}"],
        ["application/dicom"],
        ['multipart/related; type="application/dicom"; transfer-syntax=*'],
        ["application/octet-stream; q=0"],
    ],
)
def test_frames_not_acceptable(values):
    with pytest.raises(NotAcceptableError, match="^The request headers are not acceptable$"):
        negotiate_frames(values)


def test_frames_prefers_original_on_equal_quality():
    values = ['multipart/related; type="image/jp2"', "application/octet-stream; transfer-syntax=*"]
    assert negotiate_frames(values) == AcceptedMedia(OCTETS, False, "*")


# negotiate_rendered


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], "image/jpeg"),
        ([""], "image/jpeg"),
        (["image/jpeg"], "image/jpeg"),
        (["image/png"], "image/png"),
        (["IMAGE/PNG; q=0.5"], "image/png"),
        (['multipart/related; type="image/png"'], "image/png"),
    ],
)
def test_rendered_accepts(values, expected):
    assert negotiate_rendered(values) == expected


@pytest.mark.parametrize("values", [["image/png", "image/jpeg"], ["image/png, image/jpeg"], ["image/png", "*/*"]])
def test_rendered_refuses_several_ranges(values):
    with pytest.raises(
        NotAcceptableError, match=r"^The request contains multiple accept headers, which is not supported\.$"
    ):
        negotiate_rendered(values)


@pytest.mark.parametrize("values", [["*/*"], ["image/*"], ["image/gif"], ["application/dicom"], ["image/png; q=0"]])
def test_rendered_not_acceptable(values):
    with pytest.raises(NotAcceptableError, match="^The request headers are not acceptable$"):
        negotiate_rendered(values)
