"""What a write leaves behind when it fails, is rolled back or is dropped.

A failed save or bulk stages nothing; instances saved into staging that is
dropped uncommitted (a rolled back block, a reset, the end of a unit of
work) get back the version they had, so their next save writes their values
or conflicts, never silently does nothing; ``commit=True`` inside
``commit_on_success`` joins the block; an interrupted commit leaves the unit
on the commit that landed. Plain git checks what is on the branch.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import pytest

import gitmodel.worktree
from gitmodel import IntegrityError, MergeConflict, RepositoryError, fields
from gitmodel.schema import codec
from gitmodel.workspace import Workspace


def pages(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        body = fields.CharField(required=False)

    return Page


def users(ws: Workspace) -> Any:
    class User(ws.GitModel):
        email = fields.CharField(unique=True)
        name = fields.CharField(required=False)
        bio = fields.CharField(required=False)

    return User


def two_writers(path: Path, declare: Callable[[Workspace], Any]) -> tuple[Workspace, Any, Workspace, Any]:
    first, second = Workspace.init(path), Workspace(path)
    return first, declare(first), second, declare(second)


def block_blob(ws: Workspace, data: bytes) -> str:
    """A file where the loose folder of blob ``data`` goes: that blob cannot be written."""
    oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    folder = os.path.join(ws.repo.path, "objects", oid[:2])
    assert not os.path.exists(folder), "pick other data"
    with open(folder, "w") as f:
        f.write("not a folder")
    return folder


def log(run_git: Any, ws: Workspace) -> list[str]:
    return run_git(ws.path, "log", "--format=%s").split()


def ids(run_git: Any, ws: Workspace, folder: str = "page") -> list[str]:
    return sorted(run_git(ws.path, "ls-tree", "--name-only", f"HEAD:{folder}").split())


# -- a failed save stages nothing ------------------------------------------------------------
def test_a_failed_save_that_moves_an_object_stages_nothing(ws: Workspace, run_git: Any) -> None:
    Page = pages(ws)
    Page(slug="old", title="T").save(commit=True, message="old")
    Page(slug="other", title="o").save(commit=True, message="other")
    page = Page.get("old")
    page.slug = "new"
    blocked = block_blob(ws, codec.encode("Page", {"slug": "new", "title": "T", "body": None}))
    with pytest.raises(RepositoryError, match="cannot write to the object store"):
        page.save()
    os.remove(blocked)
    assert not ws.has_changes() and ws.changed_paths() == set()
    other = Page.get("other")
    other.title = "o2"
    other.save()
    ws.commit("unrelated")
    assert ids(run_git, ws) == ["old", "other"]  # the old object was not deleted with it
    page.save(commit=True, message="moved")  # the same save goes through now
    assert ids(run_git, ws) == ["new", "other"]
    run_git(ws.path, "fsck", "--strict")


def test_a_save_whose_blob_field_cannot_be_written_stages_nothing(ws: Workspace, run_git: Any) -> None:
    class Note(ws.GitModel):
        text = fields.CharField()
        attachment = fields.BlobField(required=False)

    Note(id="n", text="one", attachment=b"first").save(commit=True, message="n")
    note = Note.get("n")
    note.text, note.attachment = "two", b"second attachment"
    blocked = block_blob(ws, b"second attachment")
    with pytest.raises(RepositoryError, match="cannot write to the object store"):
        note.save()
    os.remove(blocked)
    assert not ws.has_changes()
    note.save(commit=True, message="edit")
    assert '"text": "two"' in run_git(ws.path, "show", "HEAD:note/n/data.json")
    assert Note.get("n").attachment.read() == b"second attachment"
    run_git(ws.path, "fsck", "--strict")


def test_a_save_whose_conflict_cannot_join_the_open_merge_stages_nothing(tmp_path: Path, run_git: Any) -> None:
    """The lost race's merge record moved meanwhile (another process resolved):
    a clashing save cannot record its conflict, and leaves the merge as it was."""
    w1, P1, w2, P2 = two_writers(tmp_path / "s.git", pages)
    P1(slug="x", title="t0").save()
    P1(slug="y", title="y0").save()
    w1.commit("base")
    x, y = P1.get("x"), P1.get("y")
    for slug in ("x", "y"):
        theirs = P2.get(slug)
        theirs.title = "theirs"
        theirs.save()
    w2.commit("theirs")
    x.title = "mine"
    x.save()
    with pytest.raises(MergeConflict):
        w1.commit("mine")  # lost the race: an open merge
    third = Workspace(w1.path)
    pages(third)
    third.resolve(third.conflicts[0], "theirs")  # another process moves the merge record
    staged, version = w1.index.id, y.oid
    y.title = "mine too"
    with pytest.raises(RepositoryError, match="changed by another workspace"):
        y.save()  # its conflict cannot be recorded
    assert w1.index.id == staged and y.oid == version
    third.commit("settled")
    assert log(run_git, third)[:2] == ["settled", "theirs"]
    run_git(third.path, "fsck", "--strict")


# -- bulk saves are all or nothing ------------------------------------------------------------
def test_bulk_save_refused_on_a_later_unique_value_stages_nothing(tmp_path: Path, run_git: Any) -> None:
    w1, U1, w2, U2 = two_writers(tmp_path / "s.git", users)
    U1(id="a", email="a@x", name="A").save(commit=True, message="a")
    U1(id="b", email="b@x", name="B").save(commit=True, message="b")
    a, b = U2.get("a"), U2.get("b")
    other = U1.get("a")
    other.name = "A2"
    other.save(commit=True, message="other renames a")
    U2.get("a")  # the second writer follows: a changed since it was read, so it is merged
    a.bio, b.email = "hello", "a@x"  # a's own edit merges; b takes a's unique email
    version = a.oid
    with pytest.raises(IntegrityError, match="already exists"):
        U2.bulk_save([a, b])
    assert not w2.has_changes() and a.oid == version
    w2.commit("unrelated")
    assert log(run_git, w1)[0] == "other"  # nothing committed: a.bio is not in the branch
    assert U1.get("a").bio is None


def test_bulk_save_with_a_later_conflict_stages_nothing(tmp_path: Path, run_git: Any) -> None:
    w1, P1, w2, P2 = two_writers(tmp_path / "s.git", pages)
    P1(slug="a", title="A", body="x").save(commit=True, message="a")
    P1(slug="b", title="B", body="x").save(commit=True, message="b")
    a, b = P2.get("a"), P2.get("b")
    other = P1.get("b")
    other.title = "B by other"
    other.save(commit=True, message="theirs")
    P2.get("a")
    a.body, b.title = "mine", "B mine"  # b.title clashes with the other writer's
    with pytest.raises(MergeConflict):
        P2.bulk_save([a, b])
    assert not w2.has_changes() and w2.changed_paths() == set()
    b.title = "B by other"
    a.save(commit=True, message="a alone")
    assert (P1.get("a").body, P1.get("b").title) == ("mine", "B by other")
    run_git(w1.path, "fsck", "--strict")


# -- a rolled back block gives bulk saves back as it gives saves back (save() did already) ----
@pytest.mark.parametrize("how", ["bulk_save", "bulk_create"])
def test_a_rolled_back_block_gives_bulk_saved_instances_their_version_back(
        ws: Workspace, run_git: Any, how: str) -> None:
    Page = pages(ws)
    Page(slug="a", title="old", body="").save(commit=True, message="a")
    page = Page.get("a") if how == "bulk_save" else Page(slug="n", title="new")
    page.title = "new title"
    with pytest.raises(RuntimeError):
        with ws.commit_on_success("block"):
            Page.bulk_save([page]) if how == "bulk_save" else Page.bulk_create([page])
            raise RuntimeError("the request failed after saving")
    assert log(run_git, ws) == ["a"]
    page.body = "new body"
    page.save(commit=True, message="retry")  # writes every edit: no conflict, nothing reverted
    stored = Page.get(page.slug)
    assert (stored.title, stored.body) == ("new title", "new body")
    run_git(ws.path, "fsck", "--strict")


# -- dropped staging gives saved instances their version back ---------------------------------
@pytest.mark.parametrize("how", ["reset", "reset_object", "reset_bulk", "unit_of_work"])
def test_a_save_dropped_uncommitted_is_written_by_the_next_save(
        ws: Workspace, run_git: Any, how: str) -> None:
    Page = pages(ws)
    Page(slug="a", title="T0").save(commit=True, message="a")
    page = Page.get("a")
    page.title = "X"
    if how == "unit_of_work":
        with ws.unit_of_work():
            page.save()  # the request ends without a commit: dropped
    else:
        Page.bulk_save([page]) if how == "reset_bulk" else page.save()
        ws.reset(page) if how == "reset_object" else ws.reset()
    assert not ws.has_changes() and Page.get("a").title == "T0"
    page.save(commit=True, message="again")
    assert Page.get("a").title == "X"
    assert log(run_git, ws) == ["again", "a"]
    assert '"title": "X"' in run_git(ws.path, "show", "HEAD:page/a/data.json")


def test_a_reset_after_a_lost_race_leaves_a_conflict_not_a_silent_no_op(tmp_path: Path, run_git: Any) -> None:
    w1, P1, w2, P2 = two_writers(tmp_path / "s.git", pages)
    P1(slug="home", title="Welcome").save(commit=True, message="home")
    mine = P2.get("home")
    theirs = P1.get("home")
    theirs.title = "Their title"
    theirs.save(commit=True, message="theirs")
    mine.title = "My title"
    with pytest.raises(MergeConflict):
        mine.save(commit=True, message="mine")
    w2.reset()
    with pytest.raises(MergeConflict):  # the instance is again the version it was read as
        mine.save(commit=True, message="mine again")
    assert log(run_git, w1)[0] == "theirs" and P1.get("home").title == "Their title"
    w2.reset()
    mine.refresh_from_db()
    mine.title = "My title"
    mine.save(commit=True, message="mine, read again")
    assert P1.get("home").title == "My title"


def test_a_delete_dropped_by_reset_leaves_the_instance_stored(ws: Workspace, run_git: Any) -> None:
    Page = pages(ws)
    Page(slug="a", title="T0").save(commit=True, message="a")
    page = Page.get("a")
    page.delete()
    ws.reset()
    assert page.oid is not None  # stored again, as the reset left the object
    page.title = "edited"
    page.save(commit=True, message="edit")  # an edit of the object, not a new one taking its id
    assert log(run_git, ws) == ["edit", "a"]
    assert '"title": "edited"' in run_git(ws.path, "show", "HEAD:page/a/data.json")


# -- commit=True inside a block joins it; ws.commit() is refused ------------------------------
JOINING = {
    "save": lambda P: _edit(P).save(commit=True, message="inner"),
    "save_update_fields": lambda P: _edit(P).save(commit=True, update_fields=["title"], message="inner"),
    "update": lambda P: P.filter(pk="a").update(commit=True, title="in block"),
    "bulk_save": lambda P: P.bulk_save([_edit(P)], commit=True, message="inner"),
    "bulk_update": lambda P: P.bulk_update([_edit(P)], ["title"], commit=True, message="inner"),
    "bulk_create": lambda P: P.bulk_create([P(slug="new", title="in block")], commit=True, message="inner"),
    "delete": lambda P: P.get("a").delete(commit=True, message="inner"),
    "queryset_delete": lambda P: P.filter(pk="a").delete(commit=True, message="inner"),
}


def _edit(Page: Any) -> Any:
    page = Page.get("a")
    page.title = "in block"
    return page


@pytest.mark.parametrize("how", sorted(JOINING))
def test_commit_true_inside_a_block_joins_it(ws: Workspace, run_git: Any, how: str) -> None:
    Page = pages(ws)
    Page(slug="a", title="T0").save(commit=True, message="a")
    with pytest.raises(RuntimeError):
        with ws.commit_on_success("block"):
            Page(slug="b", title="other edit").save()  # pending: a commit=True joins, not refused
            JOINING[how](Page)
            raise RuntimeError("boom")
    assert log(run_git, ws) == ["a"] and ids(run_git, ws) == ["a"]  # nothing landed
    assert not ws.has_changes() and Page.get("a").title == "T0"
    with ws.commit_on_success("block"):
        Page(slug="b", title="other edit").save()
        JOINING[how](Page)
    assert log(run_git, ws) == ["block", "a"]  # one commit: the block's
    expected = {"delete": ["b"], "queryset_delete": ["b"],
                "bulk_create": ["a", "b", "new"]}.get(how, ["a", "b"])
    assert ids(run_git, ws) == expected
    run_git(ws.path, "fsck", "--strict")


def test_commit_inside_a_block_is_refused_and_changes_nothing(ws: Workspace, run_git: Any) -> None:
    Page = pages(ws)
    Page(slug="a", title="T0").save(commit=True, message="a")
    with ws.commit_on_success("block"):
        page = Page.get("a")
        page.title = "T1"
        page.save()
        with ws.commit_on_success():  # a nested block (a savepoint) too
            with pytest.raises(RepositoryError, match="inside a commit_on_success"):
                ws.commit("inner")
        assert ws.has_changes() and log(run_git, ws) == ["a"]
    assert log(run_git, ws) == ["block", "a"] and Page.get("a").title == "T1"
    with pytest.raises(RepositoryError, match="inside a commit_on_success"):
        with ws.commit_on_success("block"):
            page.title = "T2"
            page.save()
            ws.commit("inner")
    assert log(run_git, ws) == ["block", "a"] and Page.get("a").title == "T1"
    assert not ws.has_changes()


# -- an interrupted commit ------------------------------------------------------------------
def test_an_interrupt_after_the_branch_moved_leaves_the_unit_on_the_new_commit(
        ws: Workspace, run_git: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    Page = pages(ws)
    Page(slug="a", title="T0").save(commit=True, message="a")
    real = gitmodel.worktree.move_branch

    def moved_then_interrupted(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C right after the ref moved

    monkeypatch.setattr(gitmodel.worktree, "move_branch", moved_then_interrupted)
    page = Page.get("a")
    page.title = "T1"
    page.save()
    with pytest.raises(KeyboardInterrupt):
        ws.commit("edit")
    monkeypatch.setattr(gitmodel.worktree, "move_branch", real)
    assert log(run_git, ws) == ["edit", "a"]
    assert not ws.has_changes()  # the unit stands on the commit that landed
    page.body = "more"
    page.save()
    Page(slug="b", title="new").save()
    ws.commit("next")  # no conflict with its own earlier commit
    assert log(run_git, ws) == ["next", "edit", "a"]
    head = run_git(ws.path, "show", "HEAD:page/a/data.json")
    assert '"title": "T1"' in head and '"body": "more"' in head
    run_git(ws.path, "fsck", "--strict")


def test_a_merge_pull_sync_or_migration_inside_a_block_is_refused(ws: Workspace, run_git: Any,
                                                                   tmp_path: Any) -> None:
    """Each of them commits, and a block commits only at its end (as Django's atomic)."""
    from gitmodel.migrations import AddField, Migration

    Page = pages(ws)
    Page(slug="a", title="T0").save(commit=True, message="a")
    ws.create_branch("side")
    ws.add_remote("origin", str(tmp_path / "nowhere.git"))  # refused before it is reached
    attempts = {
        "merge": lambda: ws.merge("side"),
        "pull": lambda: ws.pull(),
        "sync": lambda: ws.sync(),
        "migrate": lambda: ws.migrate(Migration("0001", [AddField("Page", "extra",
                                                                   fields.CharField(required=False))])),
    }
    for name, attempt in attempts.items():
        with ws.commit_on_success("block"):
            with pytest.raises(RepositoryError, match="inside a commit_on_success"):
                attempt()
        assert log(run_git, ws) == ["a"], name
    assert not ws.has_changes()
