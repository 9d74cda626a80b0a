"""Indexes: used when they fit, moved by tree diffs, rebuilt when lost; unique values;
queries at old revisions and with pending changes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pygit2
import pytest

from gitmodel import IntegrityError, Q, Workspace, fields
from gitmodel.query.indexes import indexed_fields, store_for, update_index


def declare(ws, shard=0):
    class Page(ws.GitModel):
        title = fields.CharField(index=True)
        code = fields.CharField(unique=True, required=False)
        rank = fields.IntegerField(default=0)
        tag = fields.CharField(required=False)

        class Meta:
            indexes = ["rank"]

    Page._meta.shard = shard
    return Page


def slot_rows(ws):
    db = sqlite3.connect(store_for(ws).path)
    try:
        return db.execute("SELECT lane, tree FROM slot").fetchall()
    finally:
        db.close()


def titles(qs):
    return sorted(p.title for p in qs)


def test_index_options(ws):
    Page = declare(ws)
    assert [f.name for f in indexed_fields(Page)] == ["title", "code", "rank"]
    assert Page.filter(title="a").explain() == "index only: Page.title (exact)"
    assert Page.filter(rank__gt=3).explain() == "index only: Page.rank (gt)"
    assert Page.filter(title="a", tag="x").explain() == "index, rows checked: Page.title (exact)"
    assert Page.filter(tag="x").explain() == "scan"
    assert Page.filter(Q(title="a") | Q(rank=1)).explain() == "scan"
    assert Page.filter(title__icontains="a").explain() == "scan"


def test_index_file_lives_in_the_git_folder(ws):
    Page = declare(ws)
    Page(title="a").save(commit=True)
    assert Page.filter(title="a").count() == 1
    path = store_for(ws).path
    assert os.path.dirname(os.path.dirname(path)) == os.path.normpath(ws.repo.path)
    assert os.path.exists(path)
    assert slot_rows(ws) == [("refs/heads/master", str(ws.index["page"].id))]


@pytest.mark.parametrize("shard", [0, 2])
def test_index_follows_saves_commits_and_deletes(ws, shard):
    Page = declare(ws, shard)
    pages = [Page(title=f"t{i % 3}", rank=i) for i in range(9)]
    for page in pages:
        page.save()
    assert titles(Page.filter(title="t1")) == ["t1"] * 3  # pending, never committed
    ws.commit("nine")
    assert Page.filter(title="t1").count() == 3
    pages[1].title = "t2"
    pages[1].save()
    assert Page.filter(title="t1").count() == 2  # a pending edit hides the old value
    assert Page.filter(title="t2").count() == 4
    Page.delete(pages[2].id)
    assert Page.filter(title="t2").count() == 3
    ws.commit("edit and delete")
    stats = update_index(Page)
    # pending edits were checked one by one; the commit moves the index by its diff:
    # one file changed (out and in) and one deleted
    assert stats is not None and stats.changed == 3
    assert Page.filter(title="t1").count() == 2
    # index results come in path order, like a scan
    assert Page.filter(rank__gte=7).ids() == [p.id for p in Page.all() if p.rank >= 7]
    assert sorted(p.rank for p in Page.filter(rank__gte=7)) == [7, 8]
    # and the index agrees with a scan
    for value in ("t0", "t1", "t2"):
        scanned = sorted(p.id for p in Page.all() if p.title == value)
        assert sorted(Page.filter(title=value).ids()) == scanned


def test_update_reads_only_the_changed_files(ws):
    Page = declare(ws, shard=1)
    for i in range(200):
        Page(title=f"t{i}", rank=i).save()
    ws.commit("200")
    first = update_index(Page)
    assert first is not None and first.changed == 200
    for page in Page.filter(rank__lt=10):
        page.title = "moved"
        page.save()
    ws.commit("move ten")
    again = update_index(Page)
    assert again is not None
    assert again.changed == 20  # ten old files out, ten new files in
    assert Page.filter(title="moved").count() == 10


def test_many_pending_edits_write_trees_and_stay_right(ws):
    Page = declare(ws)
    for i in range(300):  # more than the pending limit, never committed
        Page(title=f"t{i % 7}", rank=i).save()
    assert Page.filter(title="t3").count() == len([i for i in range(300) if i % 7 == 3])
    assert not ws.repo.references.get("refs/heads/master")  # nothing was committed
    assert ws.has_changes()
    ws.commit("300")
    assert Page.filter(title="t3").count() == 43


def test_pending_folder_removal_and_readd(ws):
    Page = declare(ws)
    a = Page(title="a")
    b = Page(title="b")
    a.save()
    b.save()
    ws.commit("a and b")
    ws.remove("page")  # the whole model folder, staged
    assert Page.all().count() == 0
    assert Page.filter(title="a").count() == 0
    c = Page(title="a")
    c.save()
    assert Page.filter(title="a").ids() == [c.id]
    ws.reset()
    assert sorted(Page.filter(title__in=["a", "b"]).ids()) == sorted([a.id, b.id])


def test_pending_removal_of_a_data_file_alone(ws):
    Page = declare(ws)
    a = Page(title="a")
    a.save()
    Page(title="b").save()
    ws.commit("two")
    assert Page.filter(title="a").count() == 1
    ws.remove(a.get_data_path())  # the file, not its folder
    assert Page.filter(title="a").count() == 0
    assert Page.filter(title__in=["a", "b"]).count() == 1
    assert Page.all().count() == 1


def test_queries_at_old_revisions(ws, run_git):
    Page = declare(ws)
    one = Page(title="one", rank=1)
    one.save(commit=True, message="v1")
    ws.repo.references.create("refs/tags/v1.0", ws.branch.oid)
    one.title = "uno"
    one.save()
    Page(title="two", rank=2).save()
    ws.commit("v2")
    Page(title="three", rank=3).save()  # pending
    assert titles(Page.all(treeish="v1.0")) == ["one"]
    assert titles(Page.all(treeish="v1.0").filter(title="one")) == ["one"]
    assert Page.all(treeish="v1.0").filter(title="uno").count() == 0
    assert titles(Page.all(treeish="master").filter(rank__gte=1)) == ["two", "uno"]
    assert titles(Page.all().filter(rank__gte=1)) == ["three", "two", "uno"]
    first = run_git(ws.path, "rev-list", "--max-parents=0", "master").strip()
    assert titles(Page.all(treeish=first).filter(title__startswith="o")) == ["one"]
    assert Page.all(treeish="v1.0").get(title="one").rank == 1
    # the workspace's own index was not disturbed by the old revision
    assert titles(Page.filter(title="uno")) == ["uno"]
    lanes = {lane for lane, _tree in slot_rows(ws)}
    assert lanes == {"refs/heads/master", "@rev"}


def test_branch_switch(ws):
    Page = declare(ws)
    Page(title="base").save(commit=True)
    ws.create_branch("feature")
    ws.set_branch("feature")
    Page(title="feature only").save(commit=True)
    assert titles(Page.filter(title__in=["base", "feature only"])) == ["base", "feature only"]
    ws.set_branch("master")
    assert Page.filter(title="feature only").count() == 0
    assert titles(Page.filter(title="base")) == ["base"]
    ws.set_branch("feature")
    assert Page.filter(title="feature only").count() == 1
    assert Page.all(treeish="master").filter(title="feature only").count() == 0


def test_commit_by_a_second_workspace(ws):
    Page = declare(ws)
    Page(title="mine").save(commit=True)
    assert Page.filter(title="mine").count() == 1
    other = Workspace(ws.repo.path)
    OtherPage = declare(other)
    theirs = OtherPage(title="theirs")
    theirs.save(commit=True)
    assert OtherPage.filter(title="theirs").count() == 1
    # a workspace with nothing pending follows its branch: it sees their commit
    assert Page.filter(title="theirs").count() == 1
    assert Page.all(treeish="master").filter(title="theirs").count() == 1
    ws.set_branch("master")
    assert Page.filter(title="theirs").ids() == [theirs.id]
    # a unique value committed by the other writer is refused here
    OtherPage(title="y", code="c").save(commit=True)
    ws.set_branch("master")
    with pytest.raises(IntegrityError):
        Page(title="z", code="c").save()


def test_fast_forward_with_plain_git(tmp_path, run_git):
    path = tmp_path / "repo"
    pygit2.init_repository(str(path), bare=False)
    ws = Workspace(str(path / ".git"))
    Page = declare(ws)
    Page(title="first").save(commit=True, message="first")
    ws.create_branch("topic")
    ws.set_branch("topic")
    added = Page(title="from topic")
    added.save(commit=True, message="topic")
    ws.set_branch("master")
    assert Page.filter(title="from topic").count() == 0
    git = ["git", "-C", str(path)]
    subprocess.run([*git, "checkout", "-q", "-f", "master"], check=True)
    subprocess.run([*git, "merge", "-q", "--ff-only", "topic"], check=True)
    assert run_git(path / ".git", "rev-parse", "master") == run_git(path / ".git", "rev-parse", "topic")
    ws.set_branch("master")
    assert Page.filter(title="from topic").ids() == [added.id]
    run_git(path / ".git", "fsck", "--strict")


def test_deleted_index_file_is_rebuilt(ws):
    Page = declare(ws)
    Page(title="a").save()
    Page(title="b").save()
    ws.commit("a and b")
    assert Page.filter(title="a").count() == 1
    store = store_for(ws)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(store.path + suffix):
            os.unlink(store.path + suffix)
    assert Page.filter(title="a").count() == 1
    assert os.path.exists(store.path)
    fresh = Workspace(ws.repo.path)
    FreshPage = declare(fresh)
    assert FreshPage.filter(title="b").count() == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-schema"])
def test_corrupt_index_file_is_rebuilt(ws, damage):
    Page = declare(ws)
    for title in ("a", "b", "b"):
        Page(title=title).save()
    ws.commit("three")
    assert Page.filter(title="b").count() == 2
    store = store_for(ws)
    store.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(store.path + suffix):
            os.unlink(store.path + suffix)
    if damage == "garbage":
        with open(store.path, "wb") as fh:
            fh.write(b"this is not a database" * 100)
    elif damage == "truncated":
        with open(store.path, "r+b") as fh:
            fh.truncate(1000)
    else:
        db = sqlite3.connect(store.path)
        db.execute("UPDATE val SET value = 'a' WHERE field = 'title'")  # lies
        db.execute("PRAGMA user_version = 99")
        db.commit()
        db.close()
    assert Page.filter(title="b").count() == 2
    assert Page.filter(title="a").count() == 1
    fresh = Workspace(ws.repo.path)
    assert declare(fresh).filter(title="b").count() == 2


def test_unusable_index_falls_back_to_scan(ws, monkeypatch):
    Page = declare(ws)
    Page(title="a").save(commit=True)
    from gitmodel import indexes

    monkeypatch.setattr(indexes.IndexStore, "_connect", lambda self: (_ for _ in ()).throw(OSError("read-only")))
    assert Page.filter(title="a").count() == 1
    assert update_index(Page) is None


def test_new_process_reuses_the_index(ws):
    Page = declare(ws)
    for i in range(30):
        Page(title=f"t{i % 3}", rank=i).save()
    ws.commit("thirty")
    assert update_index(Page).changed == 30
    script = textwrap.dedent(
        """
        import sys
        from gitmodel import Workspace, fields
        from gitmodel.query.indexes import update_index
        ws = Workspace(sys.argv[1])
        class Page(ws.GitModel):
            title = fields.CharField(index=True)
            code = fields.CharField(unique=True, required=False)
            rank = fields.IntegerField(default=0)
            tag = fields.CharField(required=False)
            class Meta:
                indexes = ["rank"]
        print(update_index(Page).changed, Page.filter(title="t1").count())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, ws.repo.path], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out == ["0", "10"]


def test_processes_writing_concurrently(ws):
    Page = declare(ws)
    Page(title="seed").save(commit=True)
    script = textwrap.dedent(
        """
        import sys
        from gitmodel import Workspace, fields
        ws = Workspace(sys.argv[1], initial_branch=sys.argv[2])
        class Page(ws.GitModel):
            title = fields.CharField(index=True)
            code = fields.CharField(unique=True, required=False)
            rank = fields.IntegerField(default=0)
            tag = fields.CharField(required=False)
            class Meta:
                indexes = ["rank"]
        for i in range(15):
            Page(title=sys.argv[2], rank=i).save(commit=True)
            assert Page.filter(title=sys.argv[2]).count() == i + 1
        print("ok")
        """
    )
    for name in ("b1", "b2", "b3"):
        ws.create_branch(name)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, ws.repo.path, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("b1", "b2", "b3")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    for name in ("b1", "b2", "b3"):
        ws.set_branch(name)
        assert Page.filter(title=name).count() == 15
        assert Page.filter(title="seed").count() == 1


# -- unique ----------------------------------------------------------------------------


def test_unique_committed_and_staged(ws):
    Page = declare(ws)
    Page(title="a", code="x").save(commit=True)
    with pytest.raises(IntegrityError, match='"code"'):
        Page(title="b", code="x").save()
    Page(title="c", code="y").save()  # staged, not committed
    with pytest.raises(IntegrityError, match="'y'"):
        Page(title="d", code="y").save()
    assert Page.all().count() == 2  # the refused saves staged nothing
    assert sorted(Page.all().values_list("code", flat=True)) == ["x", "y"]
    Page(title="e").save()  # None is not a duplicate
    Page(title="f").save()


def test_unique_allows_resaving_and_freed_values(ws):
    Page = declare(ws)
    page = Page(title="a", code="x")
    page.save(commit=True)
    page.title = "b"
    page.save()  # same object, same code: fine
    other = Page(title="c", code="z")
    other.save()
    page.code = "w"
    page.save()
    moved = Page(title="d", code="x")  # "x" was freed by the pending edit
    moved.save()
    with pytest.raises(IntegrityError):
        other.code = "w"
        other.save()
    Page.delete(page.id)
    other.save()  # "w" is free again once the holder is deleted
    ws.commit("done")
    assert sorted(Page.all().values_list("code", flat=True)) == ["w", "x"]


def test_unique_after_branch_switch(ws):
    Page = declare(ws)
    Page(title="a", code="main-only").save(commit=True)
    ws.create_branch("empty-ish")
    ws.set_branch("empty-ish")
    Page.delete(Page.all().get(code="main-only").id, commit=True)
    Page(title="b", code="main-only").save(commit=True)  # free on this branch
    ws.set_branch("master")
    with pytest.raises(IntegrityError):
        Page(title="c", code="main-only").save()


def test_merge_commit_made_with_plain_git(tmp_path, run_git):
    path = tmp_path / "repo"
    pygit2.init_repository(str(path), bare=False)
    ws = Workspace(str(path / ".git"))
    Page = declare(ws, shard=1)
    for i in range(20):
        Page(title="old", rank=i).save()
    ws.commit("twenty")
    assert Page.filter(title="old").count() == 20
    ws.create_branch("side")
    ws.set_branch("side")
    side = Page.all().get(rank=3)
    side.title = "from side"
    side.save()
    ws.commit("side edit")
    ws.set_branch("master")
    main = Page.all().get(rank=7)
    main.title = "from master"
    main.save()
    ws.commit("master edit")
    assert Page.filter(title="old").count() == 19
    git = ["git", "-C", str(path)]
    subprocess.run([*git, "checkout", "-q", "-f", "master"], check=True)
    subprocess.run([*git, "merge", "-q", "--no-ff", "-m", "merge side", "side"], check=True)
    assert len(run_git(path / ".git", "rev-list", "--parents", "-n1", "master").split()) == 3
    ws.set_branch("master")
    stats = update_index(Page)
    assert stats is not None and stats.changed == 2  # one file out, one in
    assert Page.filter(title="from side").ids() == [side.id]
    assert Page.filter(title="from master").ids() == [main.id]
    assert Page.filter(title="old").count() == 18


def test_workspace_merge_of_two_branches(ws):
    Page = declare(ws, shard=1)
    for i in range(10):
        Page(title="old", rank=i).save()
    ws.commit("ten")
    assert Page.filter(title="old").count() == 10
    ws.create_branch("side")
    ws.set_branch("side")
    side = Page.all().get(rank=2)
    side.title = "side"
    side.save()
    Page(title="side new", rank=100).save()
    ws.commit("side work")
    assert Page.filter(title__startswith="side").count() == 2
    ws.set_branch("master")
    main = Page.all().get(rank=5)
    main.rank = 50
    main.save()
    ws.commit("main work")
    assert Page.filter(title__startswith="side").count() == 0
    ws.merge("side", message="merge side")
    assert ws.branch.commit.message.startswith("merge side")
    assert len(ws.branch.commit.parents) == 2
    assert sorted(Page.filter(title__startswith="side").values_list("rank", flat=True)) == [2, 100]
    assert Page.filter(rank=50).ids() == [main.id]
    assert Page.filter(title="old").count() == 9
    assert sorted(Page.filter(title="old").ids()) == sorted(p.id for p in Page.all() if p.title == "old")
    stats = update_index(Page)
    assert stats is not None and stats.changed == 0  # the queries above moved it
