"""Object locks for every id that saves (long ones too), lock waits that
are numbers of seconds, and one defined order for lists, objects and
date-times of mixed frames (element by element, never as JSON text)."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gitmodel import KeysetPaginator, LockWaitTimeoutExceeded, Paginator, ValidationError, fields
from gitmodel.git import locks
from gitmodel.listfield import ListField
from gitmodel.workspace import Workspace
from test_keyset_pages import walk
from test_locks import start_holder

#: ids that save but whose lock name ``page-<id>`` is too long for a ref
#: part, or whose hex (for an id git refuses in a ref) would be
LONG_IDS = ["x" * 255, "é" * 127, "a b" * 60, "a b" * 60 + "!"]

HOLD_OBJECT_LOCK = textwrap.dedent("""
    import sys
    from gitmodel import fields
    from gitmodel.workspace import Workspace
    ws = Workspace(sys.argv[1])
    Page = type("Page", (ws.GitModel,), {"__module__": "holder", "slug": fields.CharField(id=True)})
    with Page.get(sys.argv[2]).lock(timeout=10):
        print("held", flush=True)
        sys.stdin.read()
    print("released", flush=True)
""")


def pages(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {"__module__": __name__, "slug": fields.CharField(id=True)})


def lock_refs(run_git, path) -> list[str]:
    return run_git(path, "for-each-ref", "--format=%(refname)", "refs/locks/").split()


# -- locks ---------------------------------------------------------------------------


def test_objects_with_long_ids_each_get_their_own_lock(bare_repo_path, run_git) -> None:
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    for ident in LONG_IDS:
        Page(slug=ident).save()
    ws.commit("pages")
    with Page.get(LONG_IDS[0]).lock(timeout=1), Page.get(LONG_IDS[1]).lock(timeout=1), \
            Page.get(LONG_IDS[2]).lock(timeout=1), Page.get(LONG_IDS[3]).lock(timeout=1):
        held = lock_refs(run_git, bare_repo_path)
        expected = {"refs/locks/page-/sha256-" + hashlib.sha256(i.encode()).hexdigest() for i in LONG_IDS}
        assert set(held) == expected and len(held) == 4  # ids differing in one letter: two locks
        with pytest.raises(LockWaitTimeoutExceeded):
            with Page.get(LONG_IDS[3]).lock(timeout=0.1):
                pass
    assert lock_refs(run_git, bare_repo_path) == []
    run_git(bare_repo_path, "fsck", "--strict")


def test_a_long_id_lock_excludes_another_process(bare_repo_path, run_git) -> None:
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    ident = LONG_IDS[2]
    Page(slug=ident).save(commit=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OBJECT_LOCK, str(bare_repo_path), ident],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock_refs(run_git, bare_repo_path) == [
            "refs/locks/page-/sha256-" + hashlib.sha256(ident.encode()).hexdigest()]
        with pytest.raises(LockWaitTimeoutExceeded, match=str(holder.pid)):
            with Page.get(ident).lock(timeout=0.2):
                pass
    finally:
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait(10)
    with Page.get(ident).lock(timeout=1):
        assert len(lock_refs(run_git, bare_repo_path)) == 1


@pytest.mark.parametrize("timeout", [10**400, decimal.Decimal("1e999")])
def test_a_timeout_too_big_for_a_float_waits_without_limit(bare_repo_path, timeout) -> None:
    ws = Workspace(bare_repo_path)
    with ws.lock("job", timeout=timeout):
        assert ws.locked("job")
    assert not ws.locked("job")


def test_a_decimal_timeout_is_a_number_of_seconds(bare_repo_path) -> None:
    ws = Workspace(bare_repo_path)
    holder = start_holder(bare_repo_path, "job")
    try:
        with pytest.raises(LockWaitTimeoutExceeded, match=str(holder.pid)):
            with ws.lock("job", timeout=decimal.Decimal("0.2")):
                pass
    finally:
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait(10)


@pytest.mark.parametrize("age", [float("nan"), -1, "5", decimal.Decimal("sNaN")])
def test_a_stale_lock_age_that_is_not_seconds_never_breaks_a_live_lock_file(bare_repo_path, age) -> None:
    """A NaN or negative age took every lock file as stale: a fresh one,
    another process's, was removed and its lock taken."""
    ws = Workspace(bare_repo_path)
    with pytest.raises(ValidationError, match="stale_lock_age must be a number of seconds"):
        Workspace(bare_repo_path, stale_lock_age=age)  # refused when opened: commits use it too
    lock_file = Path(ws.path) / "refs" / "locks" / "job.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock_file.write_text("being taken by a live process")
    with pytest.raises(ValidationError, match="stale_lock_age must be a number of seconds"):
        with locks.hold(ws.repo, "job", 0.2, stale_lock_age=age):  # the lock layer checks it itself
            pass
    assert lock_file.exists() and not ws.locked("job")


# -- order ---------------------------------------------------------------------------


def every_order(Model: type, name: str, values: bool = True) -> list[list[str]]:
    """The ids in ``name``'s order by every way of reading it: a query, a
    slice, numbered pages, keyset pages (both ways round) and values()."""
    qs = Model.all().order_by(name)
    numbered = Paginator(qs, 2)
    return [
        qs.ids(),
        [o.id for o in qs[:1]] + [o.id for o in qs[1:]],
        [o.id for p in numbered.page_range for o in numbered.page(p)],
        walk(KeysetPaginator(Model.all(), 2, order_by=(name,))),
        walk(KeysetPaginator(Model.all(), 3, order_by=("-" + name,)))[::-1],
        [r["id"] for r in Model.all().values("id", name).order_by(name)] if values else qs.ids(),
        Model.all().order_by("-" + name).ids()[::-1],
    ]


def test_lists_sort_element_by_element_everywhere(ws: Workspace) -> None:
    Item = type("Item", (ws.GitModel,), {"__module__": __name__,
                                         "n": ListField(fields.IntegerField())})
    for ident, value in (("ten", [10]), ("nine", [9]), ("one-two", [1, 2]), ("one", [1]), ("none", [])):
        Item(id=ident, n=value).save()
    ws.commit("items")
    for order in every_order(Item, "n"):  # as Python compares lists: [9] < [10], a prefix first
        assert order == ["none", "one", "one-two", "nine", "ten"]


def test_json_arrays_and_objects_sort_by_their_elements(ws: Workspace) -> None:
    Item = type("Item", (ws.GitModel,), {"__module__": __name__, "data": fields.JSONField(required=False)})
    values = {"arr10": [10], "arr9": [9], "arr1a": [1, "a"], "arr12": [1, 2], "arra": ["a"],
              "a2": {"a": 2}, "a1z": {"a": 1, "z": 0}, "a1": {"a": 1}, "b": {"b": 1}, "n": 5}
    for ident, value in values.items():
        Item(id=ident, data=value).save()
    ws.commit("items")
    # numbers < arrays < objects; in an array text comes before numbers;
    # objects compare by their (key, value) pairs in key order, a prefix first
    expected = ["n", "arra", "arr1a", "arr12", "arr9", "arr10", "a1", "a1z", "a2", "b"]
    for order in every_order(Item, "data"):
        assert order == expected


def test_lists_of_decimals_and_of_date_times_sort_by_value(ws: Workspace) -> None:
    Item = type("Item", (ws.GitModel,), {
        "__module__": __name__,
        "amounts": ListField(fields.DecimalField()),
        "times": ListField(fields.DateTimeField()),
    })
    plus5 = dt.timezone(dt.timedelta(hours=5))
    Item(id="a", amounts=[decimal.Decimal("10")], times=[dt.datetime(2020, 1, 1, 1)]).save()  # naive: 01:00 UTC
    Item(id="b", amounts=[decimal.Decimal("9.5")], times=[dt.datetime(2020, 1, 1, 5, tzinfo=plus5)]).save()  # 00:00 UTC
    ws.commit("items")
    for order in every_order(Item, "amounts"):
        assert order == ["b", "a"]  # 9.5 < 10, not "10" < "9.5"
    for order in every_order(Item, "times"):
        assert order == ["b", "a"]  # by the instant, naive read as UTC


def test_order_across_a_relation_reads_naive_date_times_as_utc(ws: Workspace) -> None:
    Author = type("Author", (ws.GitModel,), {"__module__": __name__, "name": fields.CharField(id=True),
                                             "born": fields.DateTimeField(required=False)})
    Book = type("Book", (ws.GitModel,), {"__module__": __name__,
                                         "author": fields.RelatedField(Author, required=False)})
    Author(name="naive", born=dt.datetime(2020, 1, 1, 1)).save()
    Author(name="aware", born=dt.datetime(2020, 1, 1, 0, 30, tzinfo=dt.timezone.utc)).save()
    Author(name="unknown").save()
    for ident, author in (("n", "naive"), ("a", "aware"), ("u", "unknown"), ("x", None)):
        Book(id=ident, author=author).save()
    ws.commit("books")
    assert Book.all().order_by("author__born", "pk").ids() == ["u", "x", "a", "n"]
    assert Book.all().order_by("-author__born", "pk").ids() == ["n", "a", "u", "x"]
