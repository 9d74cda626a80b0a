"""Lookups on a part of a date or a date-time (``published__year=2024``,
``__month``, ``__day``, ``__date``, each with ``gt``, ``gte``, ``lt``,
``lte``, ``in`` and ``range``), as Django's: a date-time's parts are read in
UTC, or in the field's declared zone; with or without an index on the field."""

from __future__ import annotations

import datetime as dt

import pytest

from gitmodel import FieldError, ValidationError, Workspace, fields
from gitmodel.lookups import filter_from_strings

UTC = dt.timezone.utc
PLUS2 = dt.timezone(dt.timedelta(hours=2))
MOMENTS = [
    dt.datetime(2023, 12, 31, 23, 30, tzinfo=UTC),
    dt.datetime(2024, 1, 1, 0, 30, tzinfo=PLUS2),  # 2023-12-31 22:30 in UTC
    dt.datetime(2024, 1, 15, 12, 0),  # naive: counts as UTC
    dt.datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
    dt.datetime(2025, 3, 1, 1, 0, tzinfo=PLUS2),  # 2025-02-28 23:00 in UTC
    None,
]


@pytest.fixture(params=[True, False], ids=["indexed", "scanned"])
def events(tmp_path, request):
    ws = Workspace.init(tmp_path / "events.git")

    class Event(ws.GitModel):
        when = fields.DateTimeField(required=False, index=request.param)
        day = fields.DateField(required=False, index=request.param)

    for i, moment in enumerate(MOMENTS):
        Event(id=f"e{i}", when=moment, day=None if moment is None else moment.date()).save()
    ws.commit("events")
    return Event


def expected(key, test):
    out = []
    for i, moment in enumerate(MOMENTS):
        if moment is None:
            continue
        utc = moment.astimezone(UTC) if moment.tzinfo else moment
        value = {"when": utc, "day": moment.date()}[key]
        if test(value):
            out.append(f"e{i}")
    return out


@pytest.mark.parametrize("lookup, test", [
    ("year", lambda v: v.year == 2024),
    ("year__gte", lambda v: v.year >= 2024),
    ("year__lt", lambda v: v.year < 2024),
    ("month", lambda v: v.month == 3),
    ("month__in", lambda v: v.month in (1, 2)),
    ("day", lambda v: v.day == 1),
    ("day__range", lambda v: 15 <= v.day <= 31),
])
def test_date_parts_match_as_python_reads_them(events, lookup, test):
    arg = {"month__in": [1, 2], "day__range": (15, 31)}.get(lookup)
    if arg is None:
        arg = {"year": 2024, "year__gte": 2024, "year__lt": 2024, "month": 3, "day": 1}[lookup]
    for key in ("when", "day"):
        got = sorted(events.filter(**{f"{key}__{lookup}": arg}).ids())
        assert got == expected(key, test), (key, lookup)


def test_a_date_time_s_date_is_its_day_in_utc(events):
    assert sorted(events.filter(when__date=dt.date(2023, 12, 31)).ids()) == ["e0", "e1"]
    assert events.filter(when__date="2025-02-28").ids() == ["e4"]
    assert sorted(events.filter(when__date__gte=dt.date(2024, 3, 1)).ids()) == ["e3", "e4"]
    assert events.exclude(when__year=2023).count() == 4  # the missing value is not 2023 either


def test_a_declared_zone_is_the_frame(tmp_path):
    ws = Workspace.init(tmp_path / "zoned.git")

    class Meeting(ws.GitModel):
        at = fields.DateTimeField(timezone=PLUS2)

    Meeting(id="m", at=dt.datetime(2023, 12, 31, 23, 0, tzinfo=UTC)).save()  # 2024-01-01 01:00 at +2
    ws.commit("one")
    assert Meeting.filter(at__year=2024).ids() == ["m"] and Meeting.filter(at__month=12).ids() == []


def test_parts_from_text_and_bad_arguments(events):
    assert sorted(filter_from_strings(events, ["day__year=2024"]).ids()) == ["e1", "e2", "e3"]
    assert sorted(filter_from_strings(events, ["when__month__in=1,2"]).ids()) == ["e2", "e4"]
    for key, value in (("when__year", "twenty"), ("when__year", 2024.5), ("when__year", True),
                       ("when__month__in", "3"), ("when__day__range", 4), ("when__year__contains", 1),
                       ("day__date", dt.date(2024, 1, 1)), ("when__year__gte__x", 1)):
        with pytest.raises(FieldError):
            events.filter(**{key: value})


def test_a_bad_date_for_a_date_time_s_date_names_the_lookup(events):
    before = events.filter(when__date__gte="2024-01-01").ids()
    for lookup, value in (("when__date", "2024-13-01"), ("when__date__gt", "junk"),
                          ("when__date__in", ["2024-02-30"]), ("when__date__range", ("2024-01-01", "soon"))):
        with pytest.raises(ValidationError, match='"when__date"'):
            events.filter(**{lookup: value}).count()
    assert events.filter(when__date__gte="2024-01-01").ids() == before


@pytest.mark.parametrize("kind", ["year", "month", "week", "day"])
def test_dates_lists_the_distinct_periods_as_the_parts_read_them(events, kind):
    def start(day):
        return {"year": day.replace(month=1, day=1), "month": day.replace(day=1),
                "week": day - dt.timedelta(days=day.weekday()), "day": day}[kind]

    for key in ("when", "day"):
        days = {value.date() if key == "when" else value
                for value in (expected_value(m, key) for m in MOMENTS) if value is not None}
        want = sorted({start(d) for d in days})
        assert events.all().dates(key, kind) == want
        assert events.all().dates(key, kind, "DESC") == want[::-1]
    in_2024 = sorted({start(m.astimezone(UTC).date() if m.tzinfo else m.date())
                      for m in MOMENTS if m is not None and events.filter(pk=f"e{MOMENTS.index(m)}",
                                                                          when__year=2024).exists()})
    assert events.filter(when__year=2024).dates("when", kind) == in_2024
    for bad in (lambda: events.all().dates("pk", kind), lambda: events.all().dates("when", "hour"),
                lambda: events.all().dates("when", kind, "up")):
        with pytest.raises(FieldError):
            bad()


def expected_value(moment, key):
    if moment is None:
        return None
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return {"when": utc, "day": moment.date()}[key]
