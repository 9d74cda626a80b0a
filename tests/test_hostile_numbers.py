"""Hostile numbers and instants a repository may hold (committed by another
tool, or saved through the API, which takes them): decimals such as
``1E+999999999``, date-times at the ends of time with a large UTC offset,
JSON nested far deeper than a field accepts. Queries, aggregates and the
command line answer them or refuse them with a gitmodel error naming what
is wrong, never a raw ``decimal.Overflow``, ``OverflowError`` or
``RecursionError``."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import zoneinfo
from pathlib import Path
from typing import Any

import pygit2
import pytest

import gitmodel
from gitmodel import F, FieldError, ValidationError, Workspace, fields
from gitmodel.aggregates import Avg, Count, Max, Min, Sum
from gitmodel.cli.output import jsonable, text

ROOT = Path(gitmodel.__file__).resolve().parents[1]
D = decimal.Decimal
UTC = dt.timezone.utc
#: how the command line shows what lies past the depth it shows
TOO_DEEP = "<nested deeper than"


def gm(*args: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gitmodel", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


def plant(path: Path, folder: str, docs: dict[str, bytes]) -> None:
    """Commit ``docs`` (object id -> data.json bytes) under ``folder``, as another tool would."""
    repo = pygit2.Repository(str(path))
    head = repo[repo.references["refs/heads/master"].target]
    tree = repo.TreeBuilder(head.tree[folder])
    for object_id, doc in docs.items():
        inner = repo.TreeBuilder()
        inner.insert("data.json", repo.create_blob(doc), pygit2.GIT_FILEMODE_BLOB)
        tree.insert(object_id, inner.write(), pygit2.GIT_FILEMODE_TREE)
    root = repo.TreeBuilder(head.tree)
    root.insert(folder, tree.write(), pygit2.GIT_FILEMODE_TREE)
    sig = pygit2.Signature("Mallory", "m@example.com")
    repo.references["refs/heads/master"].set_target(
        repo.create_commit(None, sig, sig, "planted\n", root.write(), [head.id]))


def doc(model: str, object_id: str, **values: Any) -> bytes:
    return json.dumps({"model": model, "fields": {"id": object_id, **values}}).encode()


# -- decimals ----------------------------------------------------------------------


def items(tmp_path: Path, prices: dict[str, str], index: bool = False, kind: Any = fields.DecimalField) -> Any:
    path = tmp_path / "shop.git"
    ws = Workspace.init(path)

    def declare(ws: Workspace) -> Any:
        class Item(ws.GitModel):
            price = kind(required=False, index=index)
            group = fields.CharField(default="g")
        return Item

    declare(ws)(id="a", price="1.00").save(commit=True, message="one item")
    plant(path, "item", {k: doc("Item", k, price=v, group="g") for k, v in prices.items()})
    return declare(Workspace(path))


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("agg", [Sum, Avg])
def test_sum_and_avg_over_a_huge_decimal_are_a_field_error(tmp_path: Path, index: bool, agg: Any) -> None:
    Item = items(tmp_path, {"z": "1E+999999999"}, index)
    assert Item.get("z").price == D("1E+999999999")  # still read
    with pytest.raises(FieldError, match=rf"{agg.__name__}\('price'\) of Item cannot be computed: "
                                         "its values are too far apart in magnitude"):
        Item.all().aggregate(x=agg("price"))
    with pytest.raises(FieldError, match=rf"{agg.__name__}\('price'\)"):
        list(Item.all().values("group").annotate(x=agg("price")))


@pytest.mark.parametrize("index", [False, True])
def test_a_huge_decimal_alone_sums_exactly(tmp_path: Path, index: bool) -> None:
    Item = items(tmp_path, {"y": "1E+999999999", "z": "3E+999999999"}, index)
    found = Item.filter(pk__in=["y", "z"]).aggregate(Sum("price"), Avg("price"), Min("price"), Max("price"))
    assert found == {"price__sum": D("4E+999999999"), "price__avg": D("2E+999999999"),
                     "price__min": D("1E+999999999"), "price__max": D("3E+999999999")}
    assert str(found["price__sum"]) == "4E+999999999"


def test_a_sum_past_the_largest_decimal_is_a_field_error(tmp_path: Path) -> None:
    Item = items(tmp_path, {"y": "9E+999999999999999999", "z": "9E+999999999999999999"})
    with pytest.raises(FieldError, match=r"Sum\('price'\) of Item cannot be computed: the result is too large"):
        Item.filter(pk__in=["y", "z"]).aggregate(Sum("price"))
    assert Item.all().aggregate(Max("price"), Count("price")) == {
        "price__max": D("9E+999999999999999999"), "price__count": 3}


def test_a_huge_decimal_saved_through_the_api(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "api.git")

    class Item(ws.GitModel):
        price = fields.DecimalField(required=False)

    Item(id="a", price="1.00").save()
    Item(id="z", price=D("1E+999999999")).save()
    ws.commit("two")
    assert Item.get("z").price == D("1E+999999999")
    with pytest.raises(FieldError, match=r"Avg\('price'\) of Item"):
        Item.all().aggregate(Avg("price"))


def test_decimal_sums_are_exact(tmp_path: Path) -> None:
    Item = items(tmp_path, {"y": "1234567890123456789012345678.9", "z": "0.01"})
    assert Item.all().aggregate(Sum("price"))["price__sum"] == D("1234567890123456789012345679.91")  # (with a: 1.00)


@pytest.mark.parametrize("index", [False, True])
def test_f_filters_compute_huge_and_tiny_decimals(tmp_path: Path, index: bool) -> None:
    Item = items(tmp_path, {"n": "-1E+999999999", "t": "1E-999999999"}, index)
    # -1E+999999999 > -1E+1000000000: the product is past the default context's range
    assert Item.filter(price__gt=F("price") * 10).ids() == ["n"]
    # 1E-999999999 < 2E-999999999: the sum is not rounded to zero
    assert Item.filter(price__lt=F("price") + F("price")).ids() == ["a", "t"]


def test_update_with_f_past_the_decimal_range_is_a_validation_error(tmp_path: Path) -> None:
    Item = items(tmp_path, {"z": "9E+999999999999999999"})
    with pytest.raises(ValidationError, match=r"F\('price'\) \* 10"):
        Item.all().update(price=F("price") * 10)


def test_update_with_f_computes_a_tiny_decimal_instead_of_rounding_it_to_zero(tmp_path: Path) -> None:
    Item = items(tmp_path, {"z": "1E-999999999"})
    Item.filter(id="z").update(price=F("price") * 10, commit=True)
    assert Item.get("z").price == decimal.Decimal("1E-999999998")


def test_a_mean_of_huge_integers_is_a_field_error(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ints.git")

    class Item(ws.GitModel):
        n = fields.IntegerField()

    Item(id="a", n=10**400).save()
    Item(id="b", n=10**400).save()
    ws.commit("two")
    assert Item.all().aggregate(Sum("n"))["n__sum"] == 2 * 10**400
    with pytest.raises(FieldError, match=r"Avg\('n'\) of Item cannot be computed: the mean is too large"):
        Item.all().aggregate(Avg("n"))


def test_floats_whose_sum_overflows(tmp_path: Path) -> None:
    Item = items(tmp_path, {"y": 1.7e308, "z": 1.7e308}, kind=fields.FloatField)  # type: ignore[dict-item]
    with pytest.raises(FieldError, match=r"Sum\('price'\) of Item cannot be computed: the sum is too large"):
        Item.all().aggregate(Sum("price"))
    mean = Item.filter(pk__in=["y", "z"]).aggregate(Avg("price"))["price__avg"]
    assert mean == pytest.approx(1.7e308)


# -- date-times at the ends of time ---------------------------------------------------

#: valid ISO 8601 instants whose UTC (or other frame) date is outside years 1..9999
ENDS = {"z": "9999-12-31T23:59:59-23:59", "y": "0001-01-01T00:00:00+23:59"}


def events(tmp_path: Path, index: bool = False, zone: Any = None) -> Any:
    path = tmp_path / "events.git"
    ws = Workspace.init(path)

    def declare(ws: Workspace) -> Any:
        class Event(ws.GitModel):
            when = fields.DateTimeField(required=False, index=index, timezone=zone)
        return Event

    declare(ws)(id="a", when=dt.datetime(2024, 1, 1, tzinfo=UTC)).save(commit=True, message="one")
    plant(path, "event", {k: doc("Event", k, when=v) for k, v in ENDS.items()})
    return declare(Workspace(path))


@pytest.mark.parametrize("zone", [None, zoneinfo.ZoneInfo("Pacific/Kiritimati")])
@pytest.mark.parametrize("index", [False, True])
def test_date_parts_of_an_instant_outside_the_calendar_match_nothing(tmp_path: Path, index: bool,
                                                                     zone: Any) -> None:
    Event = events(tmp_path, index, zone)
    day = dt.date(2024, 1, 1)  # (at 14:00 at Kiritimati)
    assert Event.filter(when__year=2024).ids() == ["a"]
    assert Event.filter(when__year__gte=1).ids() == ["a"]
    assert Event.filter(when__month__in=[1, 12]).ids() == ["a"]
    assert Event.filter(when__day__range=(1, 31)).ids() == ["a"]
    assert Event.filter(when__date=day).ids() == ["a"]
    assert Event.filter(when__date__lt=dt.date(9999, 12, 31)).ids() == ["a"]
    assert Event.exclude(when__year=2024).ids() == ["y", "z"]
    assert Event.filter(when__year__lt=3000).count() == 1
    for kind in ("year", "month", "week", "day"):
        assert len(Event.all().dates("when", kind)) == 1
    # the instants themselves still compare, order and aggregate
    assert Event.all().order_by("when").ids() == ["y", "a", "z"]
    assert Event.filter(when__gt=dt.datetime(2000, 1, 1, tzinfo=UTC)).ids() == ["a", "z"]
    found = Event.all().aggregate(Min("when"), Max("when"))
    assert (found["when__min"].isoformat(), found["when__max"].isoformat()) == (ENDS["y"], ENDS["z"])


def test_a_date_part_that_is_no_number_is_a_field_error(tmp_path: Path) -> None:
    Event = events(tmp_path)
    for bad in ("\u00b2", "9" * 5000):  # a superscript two is a digit; int() reads no more than 4300
        with pytest.raises(FieldError, match="takes a whole number"):
            Event.filter(when__year=bad).ids()


def test_cli_where_a_date_part_with_an_instant_outside_the_calendar(tmp_path: Path) -> None:
    events(tmp_path)
    done = gm("-C", tmp_path / "events.git", "ls", "Event", "--where", "when__year=2024")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert [line.split("\t")[0] for line in done.stdout.splitlines()[1:]] == ["a"]


# -- JSON nested deeper than a field accepts ----------------------------------------


@pytest.fixture
def deep_page(tmp_path: Path) -> Path:
    path = tmp_path / "site.git"
    ws = Workspace.init(path)

    class Page(ws.GitModel):
        data = fields.JSONField(default=dict, required=False)

    Page(id="p0").save(commit=True, message="first")
    plant(path, "page", {"p0": b'{"model": "Page", "fields": {"id": "p0", "data": '
                                + b"[" * 600 + b'{"k": ' * 300 + b"1" + b"}" * 300 + b"]" * 600 + b"}}"})
    return path


def test_cli_log_shows_a_value_nested_too_deep(deep_page: Path) -> None:
    done = gm("-C", deep_page, "log", "Page", "p0")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "data: {} -> [[[" in done.stdout and TOO_DEEP in done.stdout
    done = gm("-C", deep_page, "log", "--json", "Page", "p0")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    entries = json.loads(done.stdout)
    assert entries[0]["fields"]["data"][0] == {} and TOO_DEEP in done.stdout


@pytest.mark.parametrize("args", [["show", "Page", "p0"], ["ls", "Page"], ["blame", "Page", "p0"],
                                  ["diff"], ["diff", "--json"], ["export", "Page"]])
def test_cli_reading_a_value_nested_too_deep_is_one_error_line(deep_page: Path, args: list[str]) -> None:
    done = gm("-C", deep_page, *args)
    assert done.returncode == 10 and "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitmodel: error: ") and "nested deeper" in lines[0]


def test_jsonable_and_text_of_a_value_nested_far_too_deep() -> None:
    value: Any = 1
    for level in range(50_000):
        value = [value] if level % 2 else {"k": value}
    shown = jsonable(value)
    assert isinstance(shown, list) and TOO_DEEP in text(value)
    json.dumps(shown, indent=2)  # as --json prints it
