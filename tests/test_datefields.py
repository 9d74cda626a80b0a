"""Date, time and date-time fields: the forms they read and their one rule
for naive and aware values, in saves, filters, ordering and indexes."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from gitmodel import fields
from gitmodel.exceptions import ValidationError
from gitmodel.workspace import Workspace

UTC = dt.timezone.utc
MINUS_4 = dt.timezone(dt.timedelta(hours=-4))


@pytest.fixture
def Person(ws: Workspace):
    class Person(ws.GitModel):
        birth_date = fields.DateField(required=False)
        date_joined = fields.DateTimeField(required=False)
        wake_up_call = fields.TimeField(required=False)

    return Person


def round_trip(model, name, value):
    obj = model(**{name: value})
    obj.save()
    return getattr(model.get(obj.id), name)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1978-12-7", dt.date(1978, 12, 7)),
        ("1850-05-05", dt.date(1850, 5, 5)),
        ("2020-1-02", dt.date(2020, 1, 2)),
    ],
)
def test_date_forms(Person, text, expected) -> None:
    assert round_trip(Person, "birth_date", text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2012-05-30 14:32", dt.datetime(2012, 5, 30, 14, 32)),
        ("1820-8-13 9:23:48Z", dt.datetime(1820, 8, 13, 9, 23, 48, tzinfo=UTC)),
        ("2001-9-11 8:46:00-0400", dt.datetime(2001, 9, 11, 8, 46, tzinfo=MINUS_4)),
        ("2012-05-05 14:32:02.012345", dt.datetime(2012, 5, 5, 14, 32, 2, 12345)),
        ("2012-05-05T14:32:02+05:30", dt.datetime(2012, 5, 5, 14, 32, 2, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))),
        ("2012-01-01", dt.datetime(2012, 1, 1)),
        ("2012-1-1", dt.datetime(2012, 1, 1)),
    ],
)
def test_datetime_forms(Person, text, expected) -> None:
    value = round_trip(Person, "date_joined", text)
    assert value == expected and value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("14:32", dt.time(14, 32)),
        ("9:23:48Z", dt.time(9, 23, 48, tzinfo=UTC)),
        ("8:46:00-0400", dt.time(8, 46, tzinfo=MINUS_4)),
        ("08:46:00.5+01:00", dt.time(8, 46, 0, 500000, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
    ],
)
def test_time_forms(Person, text, expected) -> None:
    value = round_trip(Person, "wake_up_call", text)
    assert value == expected and value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "name,text",
    [
        ("birth_date", "12/7/1978"),
        ("birth_date", "1978-13-01"),
        ("date_joined", "12/8/2012 4:53pm"),
        ("date_joined", "2012-5-30 25:00"),
        ("wake_up_call", "9am"),
        ("wake_up_call", "2012-08-10 09:00"),
        ("wake_up_call", "9:60"),
    ],
)
def test_other_forms_are_refused(Person, name, text) -> None:
    with pytest.raises(ValidationError) as info:
        Person(**{name: text}).save()
    assert info.value.field == name and info.value.code == "invalid_format"


def test_a_date_given_to_a_datetime_field_is_midnight_by_the_field_rule(ws: Workspace) -> None:
    class Event(ws.GitModel):
        naive = fields.DateTimeField(required=False)
        zoned = fields.DateTimeField(required=False, timezone=MINUS_4)

    event = Event(naive=dt.date(2020, 3, 1), zoned=dt.date(2020, 3, 1))
    event.save()
    loaded = Event.get(event.id)
    assert loaded.naive == dt.datetime(2020, 3, 1) and loaded.naive.tzinfo is None
    assert loaded.zoned == dt.datetime(2020, 3, 1, tzinfo=MINUS_4)
    assert json.loads(ws.repo[event.oid].data)["fields"]["zoned"] == "2020-03-01T00:00:00-04:00"


def test_a_declared_zone_reads_naive_values_in_it(ws: Workspace) -> None:
    paris = ZoneInfo("Europe/Paris")

    class Event(ws.GitModel):
        at = fields.DateTimeField(timezone=paris)

    event = Event(at="2020-07-01 12:00")
    event.save()
    loaded = Event.get(event.id).at
    assert loaded == dt.datetime(2020, 7, 1, 10, 0, tzinfo=UTC)
    assert loaded.utcoffset() == dt.timedelta(hours=2)  # the offset of that instant, kept


def test_a_time_with_a_named_zone_is_refused_not_stripped(Person) -> None:
    with pytest.raises(ValidationError, match="Europe/Paris, whose offset depends on the date"):
        Person(wake_up_call=dt.time(9, 0, tzinfo=ZoneInfo("Europe/Paris"))).save()
    assert round_trip(Person, "wake_up_call", dt.time(9, 0, tzinfo=MINUS_4)).utcoffset() == dt.timedelta(hours=-4)


@pytest.fixture
def mixed(Person):
    """Naive and aware values in one field, and one object without a value."""
    values = {
        "naive-early": dt.datetime(2020, 1, 1, 8, 0),  # counts as 08:00 UTC
        "aware-middle": dt.datetime(2020, 1, 1, 5, 0, tzinfo=MINUS_4),  # 09:00 UTC
        "aware-late": dt.datetime(2020, 1, 1, 10, 0, tzinfo=UTC),
        "naive-latest": dt.datetime(2020, 1, 1, 11, 0),
    }
    for key, value in values.items():
        Person(id=key, date_joined=value, wake_up_call=value.timetz()).save()
    Person(id="none").save()
    return Person


def test_mixed_naive_and_aware_values_order_without_error(mixed) -> None:
    order = ["none", "naive-early", "aware-middle", "aware-late", "naive-latest"]
    assert [p.id for p in mixed.all().order_by("date_joined")] == order
    assert [p.id for p in mixed.all().order_by("-date_joined")] == order[::-1]
    assert [p.id for p in mixed.all().order_by("wake_up_call")] == order


def test_mixed_naive_and_aware_values_filter_without_dropping_rows(mixed) -> None:
    pivot = dt.datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
    after = {p.id for p in mixed.filter(date_joined__gte=pivot)}
    before = {p.id for p in mixed.filter(date_joined__lt=pivot)}
    assert after == {"aware-middle", "aware-late", "naive-latest"}
    assert before == {"naive-early"}
    assert {p.id for p in mixed.filter(date_joined__gte="2020-01-01 09:00")} == after  # naive: UTC
    assert [p.id for p in mixed.filter(date_joined=dt.datetime(2020, 1, 1, 10, 0))] == ["aware-late"]
    assert {p.id for p in mixed.filter(date_joined__range=("2020-01-01 08:30", pivot))} == {"aware-middle"}
    assert {p.id for p in mixed.filter(date_joined__in=[pivot, dt.datetime(2020, 1, 1, 8)])} == {
        "naive-early", "aware-middle",
    }
    assert {p.id for p in mixed.filter(wake_up_call__gt=dt.time(8, 30))} == after
    assert [p.id for p in mixed.filter(date_joined__isnull=True)] == ["none"]


def test_an_indexed_date_time_field_agrees_with_a_scan(ws: Workspace, mixed) -> None:
    class Indexed(ws.GitModel):
        date_joined = fields.DateTimeField(required=False, index=True)
        wake_up_call = fields.TimeField(required=False, index=True)

    for person in mixed.all():
        Indexed(id=person.id, date_joined=person.date_joined, wake_up_call=person.wake_up_call).save()
    ws.commit("both")
    pivot = dt.datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
    for lookups in (
        {"date_joined__gte": pivot},
        {"date_joined": dt.datetime(2020, 1, 1, 10, 0)},
        {"wake_up_call__lt": dt.time(9, 30, tzinfo=UTC)},
    ):
        assert sorted(p.id for p in Indexed.filter(**lookups)) == sorted(p.id for p in mixed.filter(**lookups))
    assert [p.id for p in Indexed.all().order_by("date_joined")] == [
        p.id for p in mixed.all().order_by("date_joined")
    ]


@pytest.mark.parametrize("indexed", [False, True])
def test_min_max_and_sorted_values_of_naive_and_aware_date_times(tmp_path, indexed):
    """A naive date-time counts as UTC in comparisons: Min/Max and
    values().order_by() compare in that frame too, as order_by() does."""
    from gitmodel import Max, Min

    ws = Workspace.init(tmp_path / "s.git")

    class Ev(ws.GitModel):
        when = fields.DateTimeField(required=False, index=indexed)

    noon = dt.datetime(2024, 1, 1, 12, 0)  # naive: 12:00 UTC
    later = dt.datetime(2024, 1, 1, 13, 0, tzinfo=dt.timezone.utc)
    earlier = dt.datetime(2024, 1, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 10:30 UTC
    for object_id, when in (("a", noon), ("b", later), ("c", earlier), ("d", None)):
        Ev(id=object_id, when=when).save()
    ws.commit("events")
    assert [e.id for e in Ev.all().order_by("when")] == ["d", "c", "a", "b"]
    assert Ev.all().aggregate(first=Min("when"), last=Max("when")) == {"first": earlier, "last": later}
    assert [v["when"] for v in Ev.all().values("when").order_by("-when")] == [later, noon, earlier, None]
