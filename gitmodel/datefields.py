"""Date, time and date-time fields: what they accept, store and compare.

One rule per field, the same for saving, filtering, ordering and indexes:

- **DateField** holds a calendar date. A datetime given to it keeps its date.
- **DateTimeField** holds a date and time. An aware value keeps its UTC offset
  exactly (a named zone is stored as the offset it has at that instant). A
  naive value stays naive, unless the field declares ``timezone=``: then it
  is read in that zone and stored with its offset. A date given to it is
  midnight of that day, read the same way. For filters and ordering a naive
  value counts as UTC (or as the declared zone), so naive and aware values
  in one field compare, order and match without error.
- **TimeField** holds a time of day, optionally with a fixed UTC offset. A
  named zone has no offset without a date, so a time carrying one is refused
  rather than stored without it. A naive time counts as UTC when compared.

Strings are read as ISO 8601, and also in the forms python-gitmodel 0.1
read: one-digit month, day and hour (``1978-12-7``, ``9:23:48Z``,
``2001-9-11 8:46:00-0400``), a space between date and time, and offsets
written ``-0400``. Values are stored as ``isoformat()``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Optional, TypeVar

from .fields import Field, T

__all__ = ["DateField", "DateTimeField", "TimeField"]

_DATE = r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
_TIME = (
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,6}))?)?"
    r"\s*(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_DATE_RE = re.compile(_DATE + r"\Z")
_TIME_RE = re.compile(_TIME + r"\Z")
_DATETIME_RE = re.compile(_DATE + r"(?:[Tt ]" + _TIME + r")?\Z")


def _zone(text: Optional[str]) -> Optional[dt.tzinfo]:
    if text is None:
        return None
    if text in ("Z", "z"):
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0)
    return dt.timezone(sign * dt.timedelta(minutes=minutes))


def _time_parts(match: re.Match[str]) -> dict[str, Any]:
    fraction = match.group("fraction") or "0"
    return {
        "hour": int(match.group("hour") or 0),
        "minute": int(match.group("minute") or 0),
        "second": int(match.group("second") or 0),
        "microsecond": int(fraction.ljust(6, "0")),
        "tzinfo": _zone(match.group("zone")),
    }


def _iso(kind: Any, text: str) -> Any:
    if text.endswith(("Z", "z")):  # Python 3.10 does not read the "Z" suffix
        text = text[:-1] + "+00:00"
    return kind.fromisoformat(text)


def parse_date(text: str) -> dt.date:
    """``YYYY-MM-DD`` (ISO 8601) or ``YYYY-M-D``; ``ValueError`` otherwise."""
    text = text.strip()
    try:
        return _iso(dt.date, text)  # type: ignore[no-any-return]
    except ValueError:
        match = _DATE_RE.match(text)
        if match is None:
            raise
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))


def parse_datetime(text: str) -> dt.datetime:
    """ISO 8601, or ``YYYY-M-D[ H:MM[:SS[.ffffff]]][Z|±HH[:]MM]``; a date alone is midnight."""
    text = text.strip()
    try:
        return _iso(dt.datetime, text)  # type: ignore[no-any-return]
    except ValueError:
        match = _DATETIME_RE.match(text)
        if match is None:
            raise
        day = dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
        return dt.datetime(day.year, day.month, day.day, **_time_parts(match))


def parse_time(text: str) -> dt.time:
    """ISO 8601, or ``H:MM[:SS[.ffffff]][Z|±HH[:]MM]``; ``ValueError`` otherwise."""
    text = text.strip()
    try:
        return _iso(dt.time, text)  # type: ignore[no-any-return]
    except ValueError:
        match = _TIME_RE.match(text)
        if match is None:
            raise
        return dt.time(**_time_parts(match))


_TimeValue = TypeVar("_TimeValue", dt.datetime, dt.time)

_OFFSET_MESSAGE = "has a UTC offset that cannot be stored exactly (use whole seconds)"


def _whole_second_offset(field: Field[Any], value: _TimeValue) -> _TimeValue:
    """``value`` if its UTC offset is whole seconds; Python's ``fromisoformat``
    would read a fractional-second offset back wrong."""
    offset = value.utcoffset()
    if offset is not None and offset.microseconds:
        raise field.error("invalid_offset")
    return value


class _ISOField(Field[T]):
    """Dates and times: ISO 8601 strings in, ``isoformat()`` out."""

    def parse(self, text: str) -> Any:
        """Read one string (``ValueError`` if it is not a value of this field)."""
        raise NotImplementedError

    def from_string(self, value: str) -> Any:
        try:
            return self.parse(value)
        except ValueError:
            raise self.error("invalid_format") from None

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()


class DateField(_ISOField[dt.date]):
    """A calendar date; ``YYYY-MM-DD`` (or ``YYYY-M-D``) strings are parsed."""

    default_error_messages = {"invalid_format": "must be a date in the format YYYY-MM-DD"}

    def parse(self, text: str) -> dt.date:
        return parse_date(text)

    def to_python(self, value: Any) -> dt.date | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            return self.from_string(value)  # type: ignore[no-any-return]
        raise self.error("invalid_format")


class DateTimeField(_ISOField[dt.datetime]):
    """A date and time; an aware value keeps its UTC offset exactly.

    ``timezone``: the zone a naive value (or a date) is read in; without
    it a naive value stays naive and counts as UTC in comparisons.
    """

    default_error_messages = {
        "invalid_format": "must be an ISO 8601 date/time (YYYY-MM-DD[THH:MM[:SS][+HH:MM]])",
        "invalid_offset": _OFFSET_MESSAGE,
    }

    def __init__(self, *, timezone: Optional[dt.tzinfo] = None, **kwargs: Any) -> None:
        self.timezone = timezone
        super().__init__(**kwargs)

    def parse(self, text: str) -> dt.datetime:
        return parse_datetime(text)

    def to_python(self, value: Any) -> dt.datetime | None:
        if value is None:
            return value
        if isinstance(value, str):
            value = self.from_string(value)
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        elif not isinstance(value, dt.datetime):
            raise self.error("invalid_format")
        if value.tzinfo is None and self.timezone is not None:
            value = value.replace(tzinfo=self.timezone)
        return _whole_second_offset(self, value)

    def comparable(self, value: Any) -> Any:
        """``value`` as filters and ordering compare it: naive read as UTC
        (or the declared zone), so every value of the field compares."""
        if isinstance(value, dt.datetime) and value.utcoffset() is None:
            return value.replace(tzinfo=self.timezone or dt.timezone.utc)
        return value


class TimeField(_ISOField[dt.time]):
    """A time of day, optionally with a fixed UTC offset (a named zone is refused)."""

    default_error_messages = {
        "invalid_format": "must be a time in the format HH:MM[:SS]",
        "invalid_offset": _OFFSET_MESSAGE,
        "named_zone": (
            "has the time zone {zone}, whose offset depends on the date; "
            "give a fixed offset (datetime.timezone) or use a DateTimeField"
        ),
    }

    def parse(self, text: str) -> dt.time:
        return parse_time(text)

    def to_python(self, value: Any) -> dt.time | None:
        if value is None:
            return value
        if isinstance(value, str):
            return self.from_string(value)  # type: ignore[no-any-return]
        if not isinstance(value, dt.time):
            raise self.error("invalid_format")
        if value.tzinfo is not None and value.utcoffset() is None:
            raise self.error("named_zone", zone=value.tzinfo)
        return _whole_second_offset(self, value)

    def comparable(self, value: Any) -> Any:
        """``value`` as filters and ordering compare it: a naive time counts as UTC."""
        if isinstance(value, dt.time) and value.utcoffset() is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value
