"""Typed conversions by the schema (contract section 2).

Each converter takes a value as the front matter gave it (str or None from YAML; native types
from JSON and TOML) and returns (value, problem): problem is None, or the `field_issues.problem`
to report, in which case value is None. A missing value (None or "") is None with no problem.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from email.utils import parsedate_to_datetime

Converted = tuple[object, str | None]

_INTEGER = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_INT64 = (-(2**63), 2**63 - 1)
# The words to_boolean reads, lower-case, and what each means (transforms.batch reads them
# too).
BOOLEAN_WORDS = dict.fromkeys(("true", "yes", "on", "1"), True) | dict.fromkeys(
    ("false", "no", "off", "0"), False
)


def is_missing(value: object) -> bool:
    return value is None or value == ""


def is_container(value: object) -> bool:
    return isinstance(value, dict | list)


def raw_text(value: object) -> str | None:
    """A value as text for `field_issues.raw_value`: strings as read, the rest as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def to_text(value: object) -> Converted:
    if type(value) is str:  # the common case first: this runs for most values of a file
        return (value or None), None
    if value is None:
        return None, None
    if is_container(value):
        return None, "wrong_shape"
    if isinstance(value, dt.date | dt.time):  # TOML dates and times
        return value.isoformat(), None
    return json.dumps(value), None  # JSON/TOML numbers and booleans, written as JSON would


def to_integer(value: object) -> Converted:
    if isinstance(value, str):  # the common cases first: this runs for several values a file
        if value.isascii() and value.isdigit() and len(value) < 19:  # 18 digits always fit
            return int(value), None
        if _INTEGER.fullmatch(value):
            number = int(value.partition(".")[0])
            return (number, None) if _INT64[0] <= number <= _INT64[1] else (None, "not_an_integer")
    if is_missing(value):
        return None, None
    if is_container(value):
        return None, "wrong_shape"
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) and value.is_integer() else None
    if number is None or not _INT64[0] <= number <= _INT64[1]:
        return None, "not_an_integer"
    return number, None


def to_boolean(value: object) -> Converted:
    if type(value) is str and value in BOOLEAN_WORDS:  # the common case first: a word as listed
        return BOOLEAN_WORDS[value], None
    if is_missing(value):
        return None, None
    if is_container(value):
        return None, "wrong_shape"
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[word], None
    return None, "not_a_boolean"


def to_timestamp(value: object) -> Converted:
    """ISO 8601 as `datetime.fromisoformat` reads it, or RFC 2822; always returned in UTC."""
    moment: dt.datetime | None = None
    if isinstance(value, str) and value:  # the common case first
        moment = _parse_timestamp(value)
    elif is_missing(value):
        return None, None
    elif is_container(value):
        return None, "wrong_shape"
    elif isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    if moment is None:
        return None, "bad_timestamp"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # no offset means UTC
    try:
        return moment.astimezone(dt.UTC), None
    except OverflowError:  # an offset that pushes year 1 or 9999 out of range
        return None, "bad_timestamp"


def _parse_timestamp(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
