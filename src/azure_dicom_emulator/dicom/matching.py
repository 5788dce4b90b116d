"""How attribute values are compared in searches (spec §5.4), as keys computed once from each value.

Stored values and query values go through the same functions, so a match is an equality or a
range comparison of keys, on any database:

* strings compare case-insensitively (`text_key`); person names also ignore accents
  (`person_name_key`) and can be matched word by word from the start of each word
  (`person_name_words`, `fuzzy_pattern`);
* dates, date-times and times become fixed-width digit strings that sort in time order
  (`date_key`, `date_time_key`, `time_key`);
* trailing spaces and NUL padding never count.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = [
    "DATE_TIME_MAX",
    "DATE_TIME_MIN",
    "TIME_MAX",
    "TIME_MIN",
    "date_key",
    "date_time_key",
    "fuzzy_pattern",
    "has_offset",
    "person_name_key",
    "person_name_words",
    "text_key",
    "time_key",
    "words_column",
]

_PADDING = " \0"
_WORD_BREAK = re.compile(r"[\W_]+")
_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")
_DATE_TIME = re.compile(
    r"([0-9]{4})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?))?)?)?"
)
_OFFSET = re.compile(r"(.*)[+-][0-9]{4}")

TIME_MIN = "000000.000000"
TIME_MAX = "235959.999999"
DATE_TIME_MIN = "00010101" + TIME_MIN
DATE_TIME_MAX = "99991231" + TIME_MAX


def text_key(value: str) -> str:
    """The case-insensitive key of a string value, padding removed."""
    return value.rstrip(_PADDING).casefold()


def _without_accents(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def person_name_key(value: str) -> str:
    """The case- and accent-insensitive key of a whole person name (``Hall^Tá`` and ``hall^ta`` agree)."""
    return unicodedata.normalize("NFC", _without_accents(value.rstrip(_PADDING)).casefold())


def person_name_words(value: str) -> list[str]:
    """The words of a person name, in order, as keys: split at ``^``, ``=``, spaces and punctuation."""
    return [word for word in _WORD_BREAK.split(person_name_key(value)) if word]


def words_column(words: list[str]) -> str:
    """The words as one string, each preceded by a space, for `fuzzy_pattern` to match."""
    return "".join(" " + word for word in words)


def fuzzy_pattern(value: str) -> str | None:
    """A LIKE pattern over `words_column` matching names with a word starting with each query word, in order.

    ``None`` when the value has no word at all (it can match nothing). Words hold only letters
    and digits, so the pattern needs no escaping.
    """
    words = person_name_words(value)
    if not words:
        return None
    return "".join(f"% {word}" for word in words) + "%"


def date_key(value: str) -> str | None:
    """``yyyyMMdd`` for a valid date (padding removed), else ``None``."""
    text = value.rstrip(_PADDING)
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        date(*map(int, match.groups()))
    except ValueError:
        return None
    return text


def time_key(value: str) -> str | None:
    """``HHmmss.ffffff`` for a valid time (missing parts are zero), else ``None``."""
    match = _TIME.fullmatch(value.rstrip(_PADDING))
    if match is None:
        return None
    hour, minute, second, fraction = match.groups()
    if int(hour) > 23 or int(minute or 0) > 59 or int(second or 0) > 59:
        return None
    return f"{hour}{minute or '00'}{second or '00'}.{(fraction or '').ljust(6, '0')}"


def date_time_key(value: str, allow_offset: bool = True) -> str | None:
    """``yyyyMMddHHmmss.ffffff`` for a valid date-time (missing parts are their minimum), else ``None``.

    A UTC offset suffix is dropped when `allow_offset`, and makes the value invalid otherwise.
    """
    text = value.rstrip(_PADDING)
    with_offset = _OFFSET.fullmatch(text)
    if with_offset is not None:
        if not allow_offset:
            return None
        text = with_offset.group(1)
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, clock = match.groups()
    day_key = date_key(f"{year}{month or '01'}{day or '01'}")
    if day_key is None:
        return None
    clock_key = time_key(clock) if clock else TIME_MIN
    return None if clock_key is None else day_key + clock_key


def has_offset(value: str) -> bool:
    """Whether a date-time value ends with a UTC offset (``+hhmm`` / ``-hhmm``)."""
    return _OFFSET.fullmatch(value.rstrip(_PADDING)) is not None
