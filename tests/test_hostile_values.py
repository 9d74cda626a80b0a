"""Values: a clear ValidationError naming the field, or an exact round trip."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel import ValidationError, fields
from gitmodel.workspace import Workspace

D = decimal.Decimal


def _cycle() -> list:
    items: list = []
    items.append(items)
    return items


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


BAD_VALUES = {
    "integer": (fields.IntegerField, [
        "abc", "1.5", 1.5, math.nan, math.inf, -math.inf, True, [1], {}, b"1", "",
        "1e5000", 10**5000, -(10**4001), D("NaN"), D("Infinity"), D("1.5"), object(), 1j,
    ]),
    "float": (fields.FloatField, [
        math.nan, math.inf, -math.inf, "nan", "inf", "-Infinity", 10**400, True, [], "x",
        D("Infinity"), D("NaN"), b"1.0", object(), 1j,
    ]),
    "decimal": (fields.DecimalField, [
        math.nan, math.inf, "NaN", "sNaN", "Infinity", "-inf", True, [], "1,5", "x", b"1",
        1j, object(),
    ]),
    "boolean": (fields.BooleanField, ["maybe", 2, -1, [], 1.5, "", b"true", object()]),
    "char": (fields.CharField, [
        b"bytes", [], {}, True, "\ud800", "a\udfffb", object(), ("a",), 10**5000,
    ]),
    # the base class checks nothing itself: what JSON cannot hold is refused when stored
    "base": (fields.Field, [b"bytes", math.nan, math.inf, {1, 2}, "\ud800", object(), 10**5000, 1j]),
    "email": (fields.EmailField, ["no-at", "a@b", "a b@c.com", "\ud800@x.com", "@x.com", 5.5]),
    "url": (fields.URLField, [
        "not a url", "http://", "javascript:alert(1)", "http://exa mple.com", "//x", "http://[::1",
    ]),
    "slug": (fields.SlugField, ["a b", "a/b", "a.b", "x!", "\ud800"]),
    "date": (fields.DateField, ["2020-13-01", "yesterday", 20200101, [], "2020-02-30", dt.time()]),
    "datetime": (fields.DateTimeField, [
        "2020-01-01T25:00", "nope", 1.5, [], "2020-01-01T00:00+25:00", dt.time(),
    ]),
    "time": (fields.TimeField, ["25:00", "noon", 12, [], dt.date(2020, 1, 1)]),
    "json": (fields.JSONField, [
        math.nan, math.inf, -math.inf, {1: "x"}, {(1,): "x"}, (1, 2), {1, 2}, object(),
        _deep(101), "\ud800", {"\ud800": 1}, [1, "\udc00"], 10**4000, _cycle(), b"bytes",
        {"a": [1, {"b": math.nan}]}, D("1.5"), dt.date(2020, 1, 1),
    ]),
    "blob": (fields.BlobField, [5, [], 1.5, {"a": 1}]),
    "gitobject": (fields.GitObjectField, ["xyz", "0" * 39, "g" * 40, 5, "0" * 40]),
    "related": (fields.RelatedField, [5, [], 1.5]),
}

CASES = [
    (kind, value) for kind, (_, values) in BAD_VALUES.items() for value in values
]


def make_model(ws: Workspace, kind: str) -> type:
    field_class = BAD_VALUES[kind][0]
    if field_class is fields.RelatedField:
        field = fields.RelatedField("Other")
    else:
        field = field_class()
    attrs = {"value": field, "__module__": __name__, "__qualname__": f"M_{kind}"}

    if field_class is fields.RelatedField:
        type("Other", (ws.GitModel,), {"__module__": __name__})
    return type(f"M_{kind}", (ws.GitModel,), attrs)


def _case_id(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1000:
        return f"int({value.bit_length()}bits)"
    return repr(value)[:25]


@pytest.mark.parametrize("kind,value", CASES, ids=_case_id)
def test_bad_values_raise_validation_error_naming_the_field(bare_repo_path, kind, value):
    ws = Workspace(bare_repo_path)
    model = make_model(ws, kind)
    obj = model()
    obj.value = value
    with pytest.raises(ValidationError) as exc:
        obj.save(commit=True)
    assert exc.value.message_dict.keys() == {"value"}
    assert '"value"' in str(exc.value)
    assert not ws.has_changes()
    assert ws.branch is None  # nothing committed


def test_huge_and_odd_strings_round_trip(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)

    class Doc(ws.GitModel):
        text = fields.CharField()
        data = fields.JSONField(required=False)

    values = [
        "x" * 5_000_000,
        "\x00nul\x00 inside",
        "😀 astral \U0010ffff and \ufeff BOM",
        "line\nbreaks\r\nand \u2028 separators",
        '"quotes" and \\backslashes\\ and </script>',
    ]
    for i, text in enumerate(values):
        Doc(id=f"d{i}", text=text, data=_deep(100)).save()
    ws.commit("odd strings")
    fresh = Workspace(bare_repo_path, object_cache_size=0)
    Fresh = type("Doc", (fresh.GitModel,), {
        "text": fields.CharField(), "data": fields.JSONField(required=False),
        "__module__": __name__,
    })
    for i, text in enumerate(values):
        obj = Fresh.get(f"d{i}")
        assert obj.text == text
        assert obj.data == _deep(100)
    run_git(bare_repo_path, "fsck", "--strict")


# -- property: every field type round-trips exactly --------------------------------------
_offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text().filter(lambda s: "\ud800" > s or True),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
VALID = {
    "char": (fields.CharField, st.text(min_size=1)),
    "integer": (fields.IntegerField, st.integers() | st.integers(min_value=-(10**3999), max_value=10**3999)),
    "float": (fields.FloatField, st.floats(allow_nan=False, allow_infinity=False)),
    "decimal": (fields.DecimalField, st.decimals(allow_nan=False, allow_infinity=False)),
    "boolean": (fields.BooleanField, st.booleans()),
    "date": (fields.DateField, st.dates()),
    "datetime": (fields.DateTimeField, st.datetimes() | st.datetimes(timezones=_offsets)),
    "time": (fields.TimeField, st.times() | st.times(timezones=_offsets)),
    "json": (fields.JSONField, _json),
    "blob": (fields.BlobField, st.binary(min_size=1)),
    "slug": (fields.SlugField, st.from_regex(r"\A[-a-zA-Z0-9_]+\Z")),
    "uuid": (fields.UUIDField, st.uuids().map(lambda u: u.hex)),
}


def _same(a, b) -> bool:
    if isinstance(a, float):
        return type(b) is float and (a == b) and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, decimal.Decimal):
        return isinstance(b, decimal.Decimal) and a.as_tuple() == b.as_tuple()
    if isinstance(a, (dt.datetime, dt.time)):
        return type(a) is type(b) and a == b and a.utcoffset() == b.utcoffset() and (
            a.replace(tzinfo=None) == b.replace(tzinfo=None)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class RoundTrip:
    """One repository per test; every example saves then reads from a fresh workspace."""

    def __init__(self, kind: str) -> None:
        path = tempfile.mkdtemp(prefix="gitmodel-rt-")
        self.writer = Workspace.init(path)
        self.reader = Workspace(path, object_cache_size=0)
        field_class = VALID[kind][0]
        self.models = [
            type("M", (ws.GitModel,), {"value": field_class(required=False), "__module__": __name__})
            for ws in (self.writer, self.reader)
        ]
        self.count = 0

    def check(self, value) -> None:
        writer_model, reader_model = self.models
        obj = writer_model(id=f"o{self.count}")
        self.count += 1
        obj.value = value
        try:
            obj.save()
        except ValidationError as exc:  # refused values must name the field
            assert exc.message_dict.keys() == {"value"}
            return
        expected = writer_model._meta.get_field("value").clean(obj._data["value"])
        self.writer.commit(f"{obj.id}")
        got = reader_model.get(obj.id).value
        if isinstance(expected, bytes):
            got = got.read()
        assert _same(expected, got), (expected, got)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_values_round_trip_exactly(kind):
    checker = RoundTrip(kind)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(VALID[kind][1])
    def run(value):
        checker.check(value)

    run()
    assert checker.count > 0


_anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(),
    st.decimals(), st.dates(), st.datetimes(), st.times(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_any_value_is_refused_or_round_trips(kind):
    checker = RoundTrip(kind)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_anything)
    def run(value):
        checker.check(value)

    run()
