"""The stored JSON format, tolerance of odd data files, and lazy tree writing."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pygit2
import pytest
from hypothesis import given, settings, strategies as st

from gitmodel import fields
from gitmodel.exceptions import CorruptObject
from gitmodel.serializers import json as json_format
from gitmodel.workspace import Workspace


@pytest.fixture
def Page(ws: Workspace):
    class Page(ws.GitModel):
        slug = fields.SlugField()
        title = fields.CharField()
        tags = fields.JSONField(default=list)
        price = fields.DecimalField(required=False)
        when = fields.DateTimeField(required=False)

    return Page


def test_layout_and_exact_bytes(ws: Workspace, Page) -> None:
    page = Page(
        id="p1",
        slug="hello",
        title="Héllo",
        tags=["b", {"z": 1, "a": 2}],
        price="1.50",
        when="2020-01-02T03:04:05+01:00",
    )
    page.save()
    assert page.get_data_path() == "page/p1/data.json"
    data = ws.repo[ws.index["page/p1/data.json"].id].data.decode("utf-8")
    assert data == (
        "{\n"
        '  "model": "Page",\n'
        '  "fields": {\n'
        '    "id": "p1",\n'
        '    "price": "1.50",\n'
        '    "slug": "hello",\n'
        '    "tags": [\n'
        '      "b",\n'
        "      {\n"
        '        "a": 2,\n'
        '        "z": 1\n'
        "      }\n"
        "    ],\n"
        '    "title": "Héllo",\n'
        '    "when": "2020-01-02T03:04:05+01:00"\n'
        "  }\n"
        "}\n"
    )
    assert json.loads(data) == {
        "model": "Page",
        "fields": {
            "id": "p1",
            "price": "1.50",
            "slug": "hello",
            "tags": ["b", {"a": 2, "z": 1}],
            "title": "Héllo",
            "when": "2020-01-02T03:04:05+01:00",
        },
    }


def test_equal_objects_give_equal_blobs(ws: Workspace, Page) -> None:
    a = Page(id="same", slug="s", title="t", tags={"x": 1, "y": 2})
    a.save()
    first = a.oid
    a.delete()
    b = Page(id="same", title="t", slug="s", tags={"y": 2, "x": 1})
    b.save()
    assert b.oid == first


def test_one_changed_field_is_one_changed_line(ws: Workspace, Page) -> None:
    page = Page(id="p", slug="s", title="old", price="1")
    page.save(commit=True, message="one")
    page.title = "new"
    page.save()
    patch = ws.diff().patch
    changed = [
        line for line in patch.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ['-    "title": "old",', '+    "title": "new",']


def test_empty_fields_object() -> None:
    assert json_format.dumps("Empty", {}) == b'{\n  "model": "Empty",\n  "fields": {}\n}\n'
    assert json_format.loads(json_format.dumps("Empty", {})) == ("Empty", {})


def test_non_finite_numbers_never_reach_the_file() -> None:
    with pytest.raises(ValueError):
        json_format.dumps("X", {"a": float("nan")})


# -- reading odd data -----------------------------------------------------------------------
def stage_raw(ws: Workspace, path: str, doc) -> None:
    ws.add_blob(path, doc if isinstance(doc, str) else json.dumps(doc))


def test_missing_fields_get_their_defaults(ws: Workspace, Page) -> None:
    stage_raw(ws, "page/old/data.json", {"model": "Page", "fields": {"id": "old", "title": "T"}})
    page = Page.get("old")
    assert page.title == "T"
    assert page.tags == []
    assert page.price is None and page.slug is None


def test_missing_id_is_taken_from_the_folder(ws: Workspace, Page) -> None:
    stage_raw(ws, "page/folder-id/data.json", {"model": "Page", "fields": {"title": "T"}})
    assert Page.get("folder-id").id == "folder-id"


def test_extra_fields_are_kept_on_save(ws: Workspace, Page) -> None:
    stage_raw(
        ws,
        "page/x/data.json",
        {"model": "Page", "fields": {"id": "x", "slug": "s", "title": "T", "retired": [1, 2]}},
    )
    page = Page.get("x")
    assert not hasattr(page, "retired")
    page.title = "T2"
    page.save()
    stored = json.loads(ws.repo[page.oid].data)["fields"]
    assert stored["retired"] == [1, 2] and stored["title"] == "T2"


@pytest.mark.parametrize(
    "doc, reason",
    [
        ({"model": "Other", "fields": {"id": "x"}}, "'Other'"),
        ("not json at all", "not a valid data file"),
        ([1, 2], "not a valid data file"),
        ({"fields": {"id": "x"}}, '"model"'),
        ({"model": "Page", "fields": [1]}, '"fields"'),
        ({"model": "Page", "fields": {"id": "x", "price": "abc"}}, '"price"'),
        ({"model": "Page", "fields": {"id": "elsewhere"}}, "belongs at"),
    ],
    ids=["unknown-model", "not-json", "not-object", "no-model", "fields-not-object", "bad-value", "wrong-id"],
)
def test_unreadable_data_is_a_clear_error(ws: Workspace, Page, doc, reason: str) -> None:
    stage_raw(ws, "page/x/data.json", doc)
    with pytest.raises(CorruptObject) as info:
        Page.get("x")
    assert info.value.path == "page/x/data.json"
    assert reason in str(info.value)
    with pytest.raises(CorruptObject):
        list(Page.all())


def test_tree_where_data_file_should_be(ws: Workspace, Page) -> None:
    stage_raw(ws, "page/x/data.json/inner", "x")
    with pytest.raises(CorruptObject, match="expected a blob"):
        Page.get("x")


def test_unrelated_files_are_ignored(ws: Workspace, Page) -> None:
    Page(id="p", slug="s", title="t").save()
    stage_raw(ws, "page/README", "notes")
    stage_raw(ws, "page/p/notes.txt", "notes")
    stage_raw(ws, "other/data.json", {"model": "Page", "fields": {}})
    assert [p.id for p in Page.all()] == ["p"]


def test_values_round_trip_through_a_fresh_workspace(ws: Workspace, Page) -> None:
    tz = dt.timezone(dt.timedelta(hours=9))
    Page(
        id="p",
        slug="s",
        title="t",
        price=decimal.Decimal("0.10"),
        when=dt.datetime(2020, 5, 6, 7, 8, 9, tzinfo=tz),
    ).save(commit=True, message="p")
    fresh = Workspace(ws.path)

    class Page(fresh.GitModel):  # noqa: F811 - same declaration, fresh process state
        slug = fields.SlugField()
        title = fields.CharField()
        tags = fields.JSONField(default=list)
        price = fields.DecimalField(required=False)
        when = fields.DateTimeField(required=False)

    page = Page.get("p")
    assert str(page.price) == "0.10"
    assert page.when.utcoffset() == dt.timedelta(hours=9)


# -- staging ----------------------------------------------------------------------------------
def count_objects(repo: pygit2.Repository) -> dict[str, int]:
    counts = {"blob": 0, "tree": 0, "commit": 0, "tag": 0}
    for oid in repo:
        counts[repo[oid].type_str] += 1
    return counts


def test_saves_write_blobs_only_and_trees_when_needed(ws: Workspace, Page) -> None:
    before = count_objects(ws.repo)
    for i in range(50):
        Page(id=f"p{i:02d}", slug="s", title=f"t{i}").save()
    after_saves = count_objects(ws.repo)
    assert after_saves["tree"] == before["tree"]  # no tree object yet
    assert after_saves["blob"] - before["blob"] == 50
    assert Page.get("p07").title == "t7"  # reads see the overlay
    assert len(Page.all()) == 50
    assert count_objects(ws.repo)["tree"] == before["tree"]  # reads write nothing either
    ws.index
    after_index = count_objects(ws.repo)
    assert after_index["tree"] - before["tree"] == 50 + 2  # each folder, page/, the root
    Page.get("p07").save()  # unchanged: same blob, nothing staged
    Page(id="new", slug="s", title="t").save()
    ws.index
    # only the changed folders are written again: page/new, page/ and the root
    assert count_objects(ws.repo)["tree"] - after_index["tree"] == 3


def test_commit_writes_changed_folders_only(ws: Workspace, Page) -> None:
    for i in range(20):
        Page(id=f"p{i}", slug="s", title="t").save()
    ws.commit("twenty")
    before = count_objects(ws.repo)
    page = Page.get("p3")
    page.title = "changed"
    page.save(commit=True, message="one change")
    after = count_objects(ws.repo)
    assert after["tree"] - before["tree"] == 3
    assert after["commit"] - before["commit"] == 1


# -- the encoder's fast paths give the json module's bytes, exactly -------------------------
_line = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_nested = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, indent=2).encode


def reference_dumps(model_name: str, values: dict) -> bytes:
    """The storage format written with the json module alone, value by value."""
    lines = []
    for name in sorted(values):
        value = values[name]
        text = (_nested(value).replace("\n", "\n    ") if isinstance(value, (dict, list)) and value
                else _line(value))
        lines.append(f"    {_line(name)}: {text}")
    inner = "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"
    return f'{{\n  "model": {_line(model_name)},\n  "fields": {inner}\n}}\n'.encode()


class Text(str):
    pass


class Number(int):
    def __repr__(self) -> str:  # the json module ignores it, and so must the encoder
        return "not a number"


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**40, max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.text(max_size=5).map(Text), st.integers(-5, 5).map(Number),
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), _values, max_size=6), st.text(min_size=1, max_size=12))
def test_the_encoder_writes_exactly_the_json_modules_bytes(values, model_name) -> None:
    assert json_format.dumps(model_name, values) == reference_dumps(model_name, values)
    name, fields = json_format.loads(json_format.dumps(model_name, values))
    assert name == model_name and json.dumps(fields, sort_keys=True) == json.dumps(values, sort_keys=True)


def test_the_encoder_refuses_what_the_json_module_refuses() -> None:
    for bad in (float("nan"), [1, float("inf")], {"a": float("-inf")}, object(), [object()]):
        with pytest.raises((ValueError, TypeError)):
            json_format.dumps("Page", {"x": bad})
