"""The inspector's HTML: one page layout, tables, links and DICOM JSON values, every text escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import urlencode

from starlette.responses import HTMLResponse

NAVIGATION = [
    ("/emulator/", "Studies"),
    ("/emulator/pages/changefeed", "Change feed"),
    ("/emulator/pages/events", "Events"),
    ("/emulator/pages/operations", "Operations"),
    ("/emulator/pages/workitems", "Workitems"),
    ("/emulator/pages/faults", "Faults"),
    ("/emulator/pages/requests", "Requests"),
]
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24; }
header { background: #0b5cab; color: white; padding: 0.6rem 1rem; }
header a { color: white; margin-right: 1rem; text-decoration: none; }
header strong { margin-right: 2rem; }
main { padding: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.thumbs figure { margin: 0; font-size: 0.75rem; max-width: 140px; word-break: break-all; }
.thumbs img { width: 128px; height: 128px; object-fit: contain; background: #000; }
.empty { color: #57606a; font-style: italic; }
code { font-size: 0.85rem; }
"""


class Html(str):
    """Text that is already HTML: ``cell`` and ``page`` do not escape it again."""


def text(value: object) -> Html:
    """``value`` as escaped HTML text (nothing for None)."""
    return Html("" if value is None else escape(str(value)))


def link(href: str, label: object) -> Html:
    """An ``<a>`` to ``href`` showing ``label``."""
    return Html(f'<a href="{escape(href, quote=True)}">{_html(label)}</a>')


def query_string(**params: object) -> str:
    """``?name=value&...`` of the params that are not None (empty when none are)."""
    kept = {name: value for name, value in params.items() if value is not None}
    return "?" + urlencode(kept) if kept else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "Nothing yet.") -> Html:
    """A table of ``rows`` under ``headers``; a note saying ``empty`` when there are no rows."""
    body = "".join("<tr>" + "".join(f"<td>{_html(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return Html(f'<p class="empty">{escape(empty)}</p>')
    head = "".join(f"<th>{escape(name)}</th>" for name in headers)
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def section(title: str, *parts: object) -> Html:
    """A headed section of ``parts``."""
    return Html(f"<section><h2>{escape(title)}</h2>{''.join(_html(part) for part in parts)}</section>")


def page(title: str, *parts: object) -> HTMLResponse:
    """A whole page: the navigation, ``title`` and ``parts``."""
    navigation = "".join(f'<a href="{href}">{escape(label)}</a>' for href, label in NAVIGATION)
    content = "".join(_html(part) for part in parts)
    return HTMLResponse(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · DICOM emulator</title><style>{STYLE}</style></head>"
        f"<body><header><strong>DICOM emulator</strong>{navigation}</header>"
        f"<main><h1>{escape(title)}</h1>{content}</main></body></html>"
    )


def dicom_value(dataset: dict, tag: str) -> str:
    """The values of ``tag`` in a DICOM JSON object as text; person names by their alphabetic group."""
    values = dataset.get(tag, {}).get("Value", [])
    return ", ".join(str(value.get("Alphabetic", "")) if isinstance(value, dict) else str(value) for value in values)


def _html(part: object) -> str:
    return part if isinstance(part, Html) else escape("" if part is None else str(part))
