"""Two writers on one branch: the loser's changes are rebased, never lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gitmodel import Workspace, fields
from gitmodel.exceptions import MergeConflict


def add(base, ours, theirs):
    return ours + theirs - base


def define(ws):
    class Item(ws.GitModel):
        title = fields.CharField()
        note = fields.CharField(required=False)
        count = fields.IntegerField(default=0, merge=add)

    return Item


@pytest.fixture
def writers(ws):
    Item = define(ws)
    Item(id="shared", title="start").save()
    ws.commit("base")
    other = Workspace(ws.path)
    return ws, Item, other, define(other)


def test_loser_is_rebased_field_by_field(writers, run_git):
    one, Item1, two, Item2 = writers
    a = Item1.get("shared"); a.title = "from one"; a.save()
    Item1(id="only-one", title="x").save()
    b = Item2.get("shared"); b.note = "from two"; b.save()
    Item2(id="only-two", title="y").save()
    c1 = one.commit("one")
    c2 = two.commit("two")  # the branch moved: rebased onto c1
    commit = two.repo[c2]
    assert [p.id for p in commit.parents] == [c1]  # linear, one parent
    assert two.branch.commit.id == c2 and not two.has_changes()
    merged = Item2.get("shared")
    assert (merged.title, merged.note) == ("from one", "from two")
    assert sorted(Item2.all().ids()) == ["only-one", "only-two", "shared"]
    assert run_git(two.path, "rev-list", "--count", "master").strip() == "3"
    assert run_git(two.path, "log", "--format=%s", "master").split() == ["two", "one", "base"]
    run_git(two.path, "fsck", "--strict")


def test_same_field_conflict_keeps_branch_and_pending(writers, run_git):
    one, Item1, two, Item2 = writers
    a = Item1.get("shared"); a.title = "one"; a.save()
    b = Item2.get("shared")  # read before one commits (a clean workspace reads the latest)
    c1 = one.commit("one")
    b.title = "two"; b.save()
    with pytest.raises(MergeConflict) as info:
        two.commit("two")
    message = str(info.value)
    assert "'shared'" in message and "title" in message
    (conflict,) = info.value.conflicts
    assert (conflict.field, conflict.ours, conflict.theirs) == ("title", "two", "one")
    assert run_git(two.path, "rev-parse", "master").strip() == str(c1)
    assert two.has_changes() and Item2.get("shared").title == "two"


def test_merge_rule_counter_is_exact(writers):
    one, Item1, two, Item2 = writers
    for _ in range(3):
        a = Item1.get("shared"); a.count += 1; a.save(); one.commit("+1")
        b = Item2.get("shared"); b.count += 10; b.save(); two.commit("+10")
    assert Item1.get("shared", treeish="master").count == 33
    assert Item2.get("shared").count == 33


def test_deleted_and_edited_elsewhere_conflicts(writers):
    one, Item1, two, Item2 = writers
    b = Item2.get("shared")  # read before the delete is committed
    Item1.delete("shared")
    one.commit("delete")
    b.note = "edit"; b.save()
    with pytest.raises(MergeConflict) as info:
        two.commit("edit")
    assert info.value.conflicts[0].kind == "modify/delete"


WRITER = textwrap.dedent(
    """
    import sys
    from gitmodel import Workspace, fields

    def add(base, ours, theirs):
        return ours + theirs - base

    ws = Workspace(sys.argv[1])

    class Item(ws.GitModel):
        title = fields.CharField()
        note = fields.CharField(required=False)
        count = fields.IntegerField(default=0, merge=add)

    name, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        Item(id=f"{name}-{i}", title=name).save()
        counter = Item.get("shared")
        counter.count += 1
        counter.save()
        ws.commit(f"{name} {i}")
    print("done")
    """
)


def test_two_processes_lose_nothing(writers, tmp_path, run_git):
    one, Item1, _two, _ = writers
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    n = 25
    procs = [
        subprocess.Popen([sys.executable, str(script), str(one.path), name, str(n)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("left", "right")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    ids = Item1.all(treeish="master").ids()
    assert len(ids) == 2 * n + 1
    assert Item1.get("shared", treeish="master").count == 2 * n
    assert int(run_git(one.path, "rev-list", "--count", "master")) == 2 * n + 1
    assert run_git(one.path, "rev-list", "--merges", "master").strip() == ""
    run_git(one.path, "fsck", "--strict")


def test_threads_with_their_own_workspaces_lose_nothing(writers, run_git):
    import threading

    one, Item1, _two, _ = writers
    errors = []

    def work(name):
        try:
            ws = Workspace(one.path)
            Item = define(ws)
            for i in range(15):
                Item(id=f"{name}-{i}", title=name).save()
                counter = Item.get("shared")
                counter.count += 1
                counter.save()
                ws.commit(f"{name} {i}")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("t1", "t2", "t3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(Item1.all(treeish="master")) == 46
    assert Item1.get("shared", treeish="master").count == 45
    run_git(one.path, "fsck", "--strict")
