"""Index answers equal scan answers, for every value a stored blob can hold:
values written by someone else with the wrong JSON type, integers beyond 64
bits, NaN, missing fields read as a default that changed, blobs of another
model. Listings yield only what ``get()`` returns; ``count()``, ``ids()``
and iteration agree."""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from attacker import build_tree, commit_files
from gitmodel import CorruptObject, GitModelError, fields
from gitmodel.workspace import Workspace

FIELDS = ["n", "s", "f", "b"]


def define(ws: Workspace, indexed: bool, default: int = 0) -> type:
    class Page(ws.GitModel):
        n = fields.IntegerField(default=default, index=indexed, required=False)
        s = fields.CharField(default="", index=indexed, required=False)
        f = fields.FloatField(default=0.0, index=indexed, required=False)
        b = fields.BooleanField(default=False, index=indexed, required=False)

    return Page


@pytest.fixture
def pair(tmp_path):
    """The same repository seen through an indexed and an unindexed model."""
    path = tmp_path / "store.git"
    ws = Workspace.init(path)
    scan_ws = Workspace(path)
    return ws, define(ws, True), define(scan_ws, False)


def outcome(run: Callable[[], Any]) -> Any:
    try:
        return ("ok", run())
    except GitModelError as exc:
        return ("error", type(exc).__name__)


def answers(model: type, lookup: dict[str, Any]) -> list[Any]:
    """Everything a listing can say about one query."""

    def skip():
        qs = model.filter(**lookup).all()
        qs.errors = "skip"
        listed = sorted(p.id for p in qs)
        return listed, sorted(e.path for e in qs.skipped)

    return [
        outcome(lambda: sorted(model.filter(**lookup).ids())),
        outcome(lambda: model.filter(**lookup).count()),
        outcome(lambda: sorted(p.id for p in model.filter(**lookup))),
        outcome(skip),
    ]


#: JSON values a stranger may store in any field
foreign_value = st.one_of(
    st.integers(min_value=-3, max_value=13),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**70, 10**30, -(10**25)]),
    st.sampled_from(["12", "1", "", "a", "0", "1e3", "true", "NaN"]),
    st.sampled_from([0.0, 1.0, 1.5, 12.0, -0.0, 1e300, float("nan"), float("inf")]),
    st.booleans(),
    st.none(),
    st.sampled_from([[1], {"a": 1}, [], {}]),
)
MISSING = object()
#: values of each field's own type, as gitmodel writes them
NATIVE = {
    "n": st.one_of(st.integers(min_value=-3, max_value=13), st.sampled_from([2**63, 2**70, -(2**64)])),
    "s": st.sampled_from(["", "a", "12", "b", "é"]),
    "f": st.sampled_from([0.0, 1.5, -2.25, 12.0, 1e300]),
    "b": st.booleans(),
}
stored_object = st.fixed_dictionaries(
    {name: st.one_of(st.just(MISSING), NATIVE[name], NATIVE[name], foreign_value) for name in FIELDS}
)
query_value = st.sampled_from(
    [0, 1, 12, -1, 2**63, 2**70, 1.5, 12.0, "12", "a", "", True, False, None, float("nan")]
)
LOOKUPS = ["exact", "in", "gt", "gte", "lt", "lte", "range", "isnull"]


def store(ws: Workspace, objects: list[dict[str, Any]]) -> None:
    files = {}
    for i, obj in enumerate(objects):
        values = {k: v for k, v in obj.items() if v is not MISSING}
        doc = json.dumps({"model": "Page", "fields": {"id": f"p{i}", **values}}, indent=1)
        files[f"page/p{i}/data.json"] = doc.encode()
    commit_files(ws.repo, files, base=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    objects=st.lists(stored_object, max_size=6),
    field=st.sampled_from(FIELDS),
    lookup=st.sampled_from(LOOKUPS),
    value=query_value,
    other=query_value,
)
def test_indexed_and_scanned_queries_agree_on_foreign_json(pair, objects, field, lookup, value, other):
    ws, Indexed, Scanned = pair
    store(ws, objects)
    arg: Any = value
    if lookup == "in":
        arg = [value, other]
    elif lookup == "range":
        arg = (value, other)
    elif lookup == "isnull":
        arg = bool(value)
    query = {f"{field}__{lookup}": arg}
    try:
        Scanned.filter(**query)
    except (GitModelError, TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            Indexed.filter(**query)
        event("the query itself is refused")
        return
    indexed = answers(Indexed, query)
    assert indexed == answers(Scanned, query)
    event(f"compared: {indexed[0][0]}")


@pytest.mark.parametrize(
    "raw, query, expected",
    [
        ('"12"', {"n": 12}, ["p"]),
        ("12", {"n": 12}, ["p"]),
        ("12.0", {"n": 12}, None),
        ("true", {"n": 1}, None),
        (str(2**70), {"n": 2**70}, ["p"]),
        (str(2**70), {"n__gt": 2**63}, ["p"]),
        (str(2**63), {"n__gt": 2**63 - 1}, ["p"]),
        (str(-(2**63) - 1), {"n__lt": -(2**63)}, ["p"]),
        ("12", {"s": "12"}, None),
        ('"1"', {"b": True}, None),
        ("1", {"f": 1.0}, None),
        ("NaN", {"f__gt": 0}, None),
    ],
)
def test_wrong_json_types_and_huge_ints_give_the_scan_answer(pair, raw, query, expected):
    """``expected`` None: whatever the scan says (matching, or CorruptObject)."""
    ws, Indexed, Scanned = pair
    field = next(iter(query)).split("__")[0]
    doc = f'{{"model": "Page", "fields": {{"id": "p", "{field}": {raw}}}}}'
    commit_files(ws.repo, {"page/p/data.json": doc.encode()}, base=False)
    scan = answers(Scanned, query)
    assert answers(Indexed, query) == scan
    if expected is not None:
        assert scan[0] == ("ok", expected)


def test_five_thousand_digit_ints_and_nan_in_unknown_fields_are_gitmodel_errors(pair):
    ws, Indexed, Scanned = pair
    huge = "9" * 5000
    commit_files(ws.repo, {
        "page/big/data.json": f'{{"model": "Page", "fields": {{"id": "big", "n": {huge}}}}}'.encode(),
        "page/nan/data.json": b'{"model": "Page", "fields": {"id": "nan", "extra": NaN}}',
        "page/ok/data.json": b'{"model": "Page", "fields": {"id": "ok", "n": 1}}',
    }, base=False)
    for model in (Indexed, Scanned):
        with pytest.raises(CorruptObject) as exc:
            model.get("big")
        assert exc.value.path == "page/big/data.json"
        with pytest.raises(GitModelError):
            list(model.all())
        assert answers(model, {"n": 1})[0] == answers(Scanned, {"n": 1})[0]
        # an unknown field is kept as it was; saving it again refuses NaN clearly or keeps it
        try:
            obj = model.get("nan")
        except CorruptObject:
            continue
        try:
            obj.save(commit=True)
        except GitModelError:
            pass
    assert answers(Indexed, {"n": 1}) == answers(Scanned, {"n": 1})


def test_a_changed_default_is_answered_as_a_scan_would(tmp_path):
    path = tmp_path / "store.git"
    ws = Workspace.init(path)
    commit_files(ws.repo, {f"page/p{i}/data.json": b'{"model": "Page", "fields": {}}' for i in range(3)})
    Old = define(ws, True, default=0)
    assert sorted(Old.filter(n=0).ids()) == ["p0", "p1", "p2"]
    New = define(Workspace(path), True, default=5)  # a later version of the model
    assert New.filter(n=0).ids() == []
    assert sorted(New.filter(n=5).ids()) == ["p0", "p1", "p2"]
    assert New.filter(n__gt=4).count() == 3
    Callable_ = define(Workspace(path), True)
    Callable_._meta.get_field("n")._default = lambda: 7
    assert Callable_.filter(n=7).count() == 3


def test_a_blob_of_another_model_is_not_served_from_the_cache(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")

    class Author(ws.GitModel):
        name = fields.CharField(required=False)

    class Page(ws.GitModel):
        name = fields.CharField(required=False, index=True)

    Author(id="a", name="x").save()
    author = Author.get("a")  # cached
    oid = ws.lookup("author/a/data.json")[0]
    ws.add("page/a", {"data.json": oid})
    assert author.oid == oid
    with pytest.raises(CorruptObject, match="Author"):
        Page.get("a")
    for run in (lambda: Page.all().count(), lambda: list(Page.all()), lambda: Page.filter(name="x").ids()):
        try:
            result = run()
        except CorruptObject:
            continue
        assert not result
    ws.commit("shared blob")
    for run in (lambda: Page.all().count(), lambda: Page.filter(name="x").count()):
        with pytest.raises(CorruptObject):
            run()


NFD = unicodedata.normalize("NFD", "café")
FOREIGN_NAMES = [b"..", b".", b"a\\b", b"x" * 300, b"\xff\xfe", NFD.encode(), b"git~1", b"CON", b"a:b"]


@pytest.mark.parametrize("name", FOREIGN_NAMES + [b"nested/b"], ids=repr)
@pytest.mark.parametrize("indexed", [True, False])
def test_listings_yield_only_what_get_returns(tmp_path, name, indexed):
    ws = Workspace.init(tmp_path / "store.git")
    Page = define(ws, indexed)
    commit_files(ws.repo, {
        b"page/ok/data.json": b'{"model": "Page", "fields": {"id": "ok", "n": 1}}',
        b"page/" + name + b"/data.json": b'{"model": "Page", "fields": {"n": 1}}',
    })
    for listing in (lambda: Page.all().ids(), lambda: Page.all().count(), lambda: list(Page.all()),
                    lambda: Page.filter(n=1).ids(), lambda: Page.filter(n=1).count()):
        with pytest.raises(CorruptObject) as exc:
            listing()
        assert exc.value.path.encode("utf-8", "surrogateescape") == b"page/" + name + b"/data.json"
    qs = Page.filter(n=1)
    qs.errors = "skip"
    assert [p.id for p in qs] == ["ok"] and len(qs.skipped) == 1
    skipping = Page.all(errors="skip")
    assert skipping.count() == 1 and skipping.ids() == ["ok"]
    assert [Page.get(i).id for i in skipping.ids()] == ["ok"]


def test_an_empty_tree_entry_name_is_a_corrupt_object(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")
    Page = define(ws, True)
    commit_files(ws.repo, {
        b"page/ok/data.json": b'{"model": "Page", "fields": {"id": "ok"}}',
        b"page//data.json": b'{"model": "Page", "fields": {}}',
    })
    for run in (lambda: Page.get("ok"), lambda: Page.all().count(), lambda: Page.filter(n=0).ids(),
                lambda: list(Page.all())):
        with pytest.raises(CorruptObject):
            run()


def test_nan_in_queries_matches_like_python():
    assert math.isnan(float("nan"))  # the hypothesis test covers NaN on both sides


@pytest.mark.parametrize("kind", ["commit", "blob", "missing"])
@pytest.mark.parametrize("indexed", [True, False])
def test_a_model_folder_entry_naming_no_tree_is_corrupt_not_empty(tmp_path, kind, indexed):
    """A folder-mode entry whose id is a commit, a blob or nothing would
    read as an empty folder and hide every object; it is a CorruptObject."""
    import pygit2

    from attacker import ATTACKER, TREE, page_json, raw_tree

    ws = Workspace.init(tmp_path / "store.git")
    Item = define(ws, indexed)
    Item(id="a", n=1).save(commit=True)
    repo = ws.repo
    target = {"commit": ws.branch.oid, "blob": repo.create_blob(page_json("a")),
              "missing": pygit2.Oid(hex="3" * 40)}[kind]
    root = raw_tree(repo, [(b"page", TREE, target)])
    commit = repo.create_commit(None, ATTACKER, ATTACKER, "hide them\n", root, [ws.branch.oid])
    repo.references["refs/heads/master"].set_target(commit)
    fresh = Workspace(ws.path)
    FreshItem = define(fresh, indexed)
    for call in (lambda: FreshItem.all().count(), lambda: FreshItem.all().ids(), lambda: list(FreshItem.all()),
                 lambda: FreshItem.filter(n=1).ids()):
        with pytest.raises(GitModelError) as exc:
            call()
        assert isinstance(exc.value, CorruptObject) and exc.value.path.startswith("page")


NO_TREE = ["commit", "blob", "missing"]


def _hide_in_folder(ws: Workspace, kind: str) -> None:
    """Commit, as another tool would, an object folder ``page/c`` whose
    folder-mode entry names a commit, a blob (holding valid data) or nothing."""
    import pygit2

    from attacker import ATTACKER, TREE, page_json, raw_tree

    repo = ws.repo
    head = repo[ws.branch.oid]
    folder = head.tree["page"]
    target = {"commit": head.id, "blob": repo.create_blob(page_json("c", n=1)),
              "missing": pygit2.Oid(hex="3" * 40)}[kind]
    entries = [(e.name.encode(), e.filemode, e.id) for e in folder] + [(b"c", TREE, target)]
    root = raw_tree(repo, [(b"page", TREE, raw_tree(repo, entries))])
    commit = repo.create_commit(None, ATTACKER, ATTACKER, "hide one\n", root, [head.id])
    repo.references["refs/heads/master"].set_target(commit)


@pytest.mark.parametrize("kind", NO_TREE)
@pytest.mark.parametrize("indexed", ["scan", "index built after", "index built before"])
def test_an_object_folder_naming_no_tree_is_reported_by_every_listing(tmp_path, kind, indexed):
    """``page/c`` with the folder mode but naming a commit (read as a tree
    this crashed the interpreter), a blob or nothing: get() refuses it, so
    count(), ids(), iteration and filters raise CorruptObject naming it, and
    ``errors="skip"`` lists the others and reports it in ``skipped``; an
    index (built before the damage, or after) agrees with the scan."""
    ws = Workspace.init(tmp_path / "store.git")
    Page = define(ws, indexed != "scan")
    Page(id="a", n=1).save(commit=True)
    Page(id="b", n=2).save(commit=True)
    if indexed == "index built before":
        assert Page.filter(n=1).ids() == ["a"]  # the index holds the good tree
    _hide_in_folder(ws, kind)
    fresh = Workspace(ws.path)
    Fresh = define(fresh, indexed != "scan")
    with pytest.raises(CorruptObject):
        Fresh.get("c")
    if indexed == "index built after":
        with pytest.raises(CorruptObject):
            fresh.sync_repo_index()
    for call in (lambda: Fresh.all().count(), lambda: Fresh.all().ids(), lambda: list(Fresh.all()),
                 lambda: Fresh.filter(n=1).ids(), lambda: Fresh.all().order_by("-n").ids()):
        with pytest.raises(CorruptObject) as exc:
            call()
        assert exc.value.path == "page/c/data.json", exc.value
    qs = Fresh.all()
    qs.errors = "skip"
    assert sorted(p.id for p in qs) == ["a", "b"]
    assert [e.path for e in qs.skipped] == ["page/c/data.json"]
    assert Fresh.get("a").n == 1  # the readable objects stay readable
