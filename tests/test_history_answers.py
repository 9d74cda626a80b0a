"""History, revert and restore answer as plain git does, and as today's schema reads.

Each test compares with what git itself shows (``git log -- <path>``,
``git log --follow``, ``git show``) on a real repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pygit2
import pytest

from gitmodel import Workspace, fields
from gitmodel.exceptions import SchemaMismatch, ValidationError
from gitmodel.migrations import AlterField, Migration, RemoveField, RenameField

T0 = 1_700_000_000


def at(minute: int) -> pygit2.Signature:
    """An author and committer ``minute`` minutes after T0: git log orders by it."""
    return pygit2.Signature("Test Author", "author@example.com", T0 + 60 * minute, 0)


def commit(ws: Workspace, message: str, minute: int) -> pygit2.Oid:
    return ws.commit(message, author=at(minute), committer=at(minute))


def git_log(run_git, ws: Workspace, *args: str) -> list[str]:
    return run_git(ws.path, "log", "--format=%H", *args).split()


def shown(run_git, ws: Workspace, spec: str) -> dict:
    return json.loads(run_git(ws.path, "show", spec))["fields"]


def ids(versions: list) -> list[str]:
    return [str(v.commit.id) for v in versions]


# -- history through merges: git's simplification -----------------------------------------
def conflicting_merge(ws: Workspace, Page: type, delete_on_master: bool) -> tuple[pygit2.Oid, ...]:
    """``f`` edits p; master deletes it (or edits it too); the merge keeps f's version."""
    Page(id="p", title="v1").save()
    base = commit(ws, "base", 1)
    ws.create_branch("f")
    ws.set_branch("f")
    page = Page.get("p")
    page.title = "theirs"
    page.save()
    edit = commit(ws, "f edits p", 2)
    ws.set_branch("master")
    if delete_on_master:
        Page.delete("p")
    else:
        page = Page.get("p")
        page.title = "ours"
        page.save()
    ours = commit(ws, "master changes p", 3)
    (conflict,) = ws.merge("f").conflicts
    ws.resolve(conflict, "theirs")
    merge = commit(ws, "merge: keep f's p", 4)
    return base, edit, ours, merge


def test_history_after_a_delete_modify_merge_that_kept_the_object_is_git_logs(ws, run_git):
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    base, edit, deleted, _merge = conflicting_merge(ws, Page, delete_on_master=True)
    assert Page.get("p").title == "theirs"
    history = Page.history("p")
    assert ids(history) == git_log(run_git, ws, "--", "page/p") == [str(edit), str(base)]
    assert history[0].change == "modified" and history[0].instance.title == "theirs"
    assert deleted not in [v.commit.id for v in history]  # never "deleted" while it exists
    run_git(ws.path, "fsck", "--strict")


def test_history_after_a_conflict_resolved_theirs_shows_the_kept_value(ws, run_git):
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    base, edit, _ours, _merge = conflicting_merge(ws, Page, delete_on_master=False)
    history = Page.history("p")
    assert ids(history) == git_log(run_git, ws, "--", "page/p") == [str(edit), str(base)]
    assert history[0].changes == {"title": ("v1", "theirs")}  # not ours' discarded value
    assert Page.blame("p")["title"].commit.id == edit


# -- history follows a move, as git log --follow ----------------------------------------------
@pytest.fixture
def Slugged(ws):
    return type("Page", (ws.GitModel,), {
        "__module__": __name__, "slug": fields.SlugField(id=True), "title": fields.CharField(),
        "body": fields.CharField(required=False)})


def test_history_follows_a_move_that_also_changes_a_field(ws, Slugged, run_git):
    Slugged(slug="old", title="Hello", body="a long body " * 20).save()
    created = commit(ws, "create", 1)
    page = Slugged.get("old")
    page.body += "!"
    page.save()
    edited = commit(ws, "edit body", 2)
    page = Slugged.get("old")
    page.slug, page.title = "new", "Hello!"
    page.save()
    moved = commit(ws, "move old->new and retitle", 3)
    history = Slugged.history("new")
    assert ids(history) == git_log(run_git, ws, "--follow", "--", "page/new/data.json") == [
        str(moved), str(edited), str(created)]
    assert history[0].change == "modified"
    assert history[0].changes == {"slug": ("old", "new"), "title": ("Hello", "Hello!")}
    assert [v.change for v in Slugged.history("new", follow=False)] == ["added"]
    run_git(ws.path, "fsck", "--strict")


def test_each_added_object_follows_the_removed_one_most_like_it_as_git_follow_does(
        ws, Slugged, run_git):
    body = "the same long body " * 10
    Slugged(slug="a", title="A", body=body).save()
    Slugged(slug="z", title="Z", body="something else entirely " * 10).save()
    first = commit(ws, "create", 1)
    Slugged.delete("a")
    Slugged.delete("z")
    Slugged(slug="b", title="A, moved", body=body).save()  # most of a
    Slugged(slug="c", title="A, copied", body=body).save()  # so is this (git --follow follows it too)
    Slugged(slug="d", title="D", body="nothing like the others " * 10).save()
    second = commit(ws, "re-key", 2)
    assert ids(Slugged.history("b")) == ids(Slugged.history("c")) == [str(second), str(first)]
    assert ids(Slugged.history("d")) == [str(second)]  # z is not like d
    assert Slugged.history("b")[0].changes == {"slug": ("a", "b"), "title": ("A", "A, moved")}
    for slug in "bcd":
        follow = git_log(run_git, ws, "--follow", "--", f"page/{slug}/data.json")
        assert ids(Slugged.history(slug)) == follow, slug


def test_history_follows_a_move_that_kept_its_blob_files(ws, run_git):
    Doc = type("Doc", (ws.GitModel,), {
        "__module__": __name__, "slug": fields.SlugField(id=True), "title": fields.CharField(),
        "attachment": fields.BlobField()})
    Doc(slug="draft", title="Draft", attachment=b"x" * 4000).save()
    created = commit(ws, "create", 1)
    doc = Doc.get("draft")
    doc.slug, doc.title = "final", "Final version"
    doc.save()
    moved = commit(ws, "publish", 2)
    history = Doc.history("final")
    assert ids(history) == [str(moved), str(created)]
    assert history[1].instance.attachment.read() == b"x" * 4000
    assert run_git(ws.path, "show", f"{created}:doc/draft/attachment.data") == "x" * 4000


# -- revert across migrations --------------------------------------------------------------
CONVERT = Migration("0001_reshape", [
    RenameField("Page", "content", "body"),
    AlterField("Page", "rating", fields.IntegerField(required=False), convert=int)])


def launched(ws: Workspace) -> dict:
    """Two pages; home's content edited, old deleted; then content renamed to
    body and rating (text) made an integer."""
    Page = type("Page", (ws.GitModel,), {
        "__module__": __name__, "title": fields.CharField(), "content": fields.CharField(),
        "rating": fields.CharField(required=False)})
    Page(id="home", title="Home", content="Hello", rating="4").save()
    Page(id="old", title="Old", content="Old body", rating="3").save()
    commit(ws, "launch", 1)
    page = Page.get("home")
    page.content = "Hello!"
    page.save()
    edit = commit(ws, "edit home content", 2)
    Page.delete("old")
    oops = commit(ws, "delete old (oops)", 3)
    ws.migrate(CONVERT)
    return {"edit": edit, "oops": oops}


def todays_page(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {
        "__module__": __name__, "title": fields.CharField(), "body": fields.CharField(),
        "rating": fields.IntegerField(required=False)})


def test_revert_of_a_commit_from_before_a_migration_writes_todays_shape(ws, run_git):
    made = launched(ws)
    ws = Workspace(ws.path)
    Page = todays_page(ws)
    ws.revert(made["oops"])
    commit(ws, "undo the delete", 4)
    assert shown(run_git, ws, "HEAD:page/old/data.json") == {
        "body": "Old body", "id": "old", "rating": 3, "title": "Old"}
    assert Page.get("old").body == "Old body" and Page.get("old").rating == 3
    changes = ws.revert(made["edit"])  # body only renamed since: no conflict
    assert [(c.id, c.changes) for c in changes] == [("home", {"body": ("Hello!", "Hello")})]
    commit(ws, "undo the edit", 5)
    assert shown(run_git, ws, "HEAD:page/home/data.json") == {
        "body": "Hello", "id": "home", "rating": 4, "title": "Home"}
    run_git(ws.path, "fsck", "--strict")


def test_revert_from_before_a_model_rename_and_a_new_layout_lands_where_today_reads(ws, run_git):
    from gitmodel.migrations import AddField, AlterModelLayout, RenameModel

    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    Page(id="a", title="A").save()
    Page(id="b", title="B").save()
    commit(ws, "create", 1)
    page = Page.get("a")
    page.title = "A2"
    page.save()
    edit = commit(ws, "edit a", 2)
    Page.delete("b")
    removed = commit(ws, "remove b", 3)
    ws.migrate(Migration("0001_article", [
        RenameModel("Page", "Article"), AddField("Article", "views", fields.IntegerField(default=0)),
        AlterModelLayout("Article", shard=1)]))
    ws = Workspace(ws.path)
    Article = type("Article", (ws.GitModel,), {
        "__module__": __name__, "title": fields.CharField(), "views": fields.IntegerField(default=0),
        "Meta": type("Meta", (), {"shard": 1})})
    ws.revert(removed)
    ws.revert(edit)
    commit(ws, "undo both", 4)
    files = run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert sorted(f for f in files if not f.startswith(".gitmodel/")) == sorted(
        Article._meta.get_data_path(k) for k in "ab")
    assert shown(run_git, ws, f"HEAD:{Article._meta.get_data_path('b')}") == {
        "id": "b", "title": "B", "views": 0}
    assert Article.get("a").title == "A"
    run_git(ws.path, "fsck", "--strict")


def test_a_merge_across_a_layout_migration_made_after_other_commits_lands_in_the_new_layout(
        ws, run_git):
    """The migration is not right on the merge base, so the old-shape side is
    passed through it object by object (not onto the migration commit)."""
    from gitmodel.migrations import AlterModelLayout

    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    Page(id="a", title="A").save()
    Page(id="b", title="B").save()
    commit(ws, "create", 1)
    ws.create_branch("sharded")
    branch = Workspace(ws.path, "sharded")
    On = type("Page", (branch.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    page = On.get("b")
    page.title = "B on the branch"
    page.save(commit=True)
    branch.migrate(Migration("0001_shard", [AlterModelLayout("Page", shard=1)]))
    page = Page.get("a")
    page.title = "A on master"
    page.save(commit=True)
    merger = Workspace(ws.path)
    type("Page", (merger.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    result = merger.merge("sharded")
    assert result.commit is not None and not result.conflicts
    files = run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    Sharded = type("Page", (Workspace(ws.path).GitModel,), {
        "__module__": __name__, "title": fields.CharField(), "Meta": type("Meta", (), {"shard": 1})})
    assert sorted(f for f in files if f.startswith("page/")) == sorted(
        Sharded._meta.get_data_path(k) for k in "ab")
    assert shown(run_git, ws, f"master:{Sharded._meta.get_data_path('a')}")["title"] == "A on master"
    assert shown(run_git, ws, f"master:{Sharded._meta.get_data_path('b')}")["title"] == "B on the branch"
    run_git(ws.path, "fsck", "--strict")


def test_a_change_to_a_field_removed_since_is_not_reverted_silently(ws, run_git):
    Page = type("Page", (ws.GitModel,), {
        "__module__": __name__, "title": fields.CharField(), "note": fields.CharField(required=False)})
    Page(id="p", title="P", note="first").save()
    Page(id="q", title="Q", note="kept").save()
    commit(ws, "create", 1)
    page = Page.get("p")
    page.note = "second"
    page.save()
    noted = commit(ws, "edit note", 2)
    Page.delete("q")
    dropped = commit(ws, "delete q", 3)
    ws.migrate(Migration("0001_drop_note", [RemoveField("Page", "note")]))
    ws = Workspace(ws.path)
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    head = ws.branch.oid
    with pytest.raises(SchemaMismatch, match=r"Page 'p': the edit of field 'note' .* removed the field"):
        ws.revert(noted)
    assert not ws.has_changes() and ws.branch.oid == head
    ws.revert(dropped)  # a whole object comes back as the migration left the others
    commit(ws, "undo delete q", 4)
    assert shown(run_git, ws, "HEAD:page/q/data.json") == {"id": "q", "title": "Q"}
    run_git(ws.path, "fsck", "--strict")


REVERT_WITHOUT_CODE = """
import sys
from gitmodel import MigrationError, Workspace, fields
from gitmodel.migrations import AlterField, Migration, RenameField, load
ws = Workspace(sys.argv[1])
Page = type("Page", (ws.GitModel,), {"__module__": "app", "title": fields.CharField(),
            "body": fields.CharField(), "rating": fields.IntegerField(required=False)})
head = ws.branch.oid
try:
    ws.revert(sys.argv[2])
except MigrationError as exc:
    assert ws.branch.oid == head and not ws.has_changes()
    print("refused:", exc)
load(Migration("0001_reshape", [RenameField("Page", "content", "body"),
     AlterField("Page", "rating", fields.IntegerField(required=False), convert=int)]))
ws.revert(sys.argv[2])
print("reverted:", Page.get("old").body, repr(Page.get("old").rating))
"""


def test_a_converter_only_the_application_has_must_be_loaded_to_revert(ws):
    made = launched(ws)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", REVERT_WITHOUT_CODE, ws.path, str(made["oops"])],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ("refused: reverting needs the code of migration '0001_reshape' (AlterField on Page)"
            in done.stdout) and "nothing was staged" in done.stdout
    assert "reverted: Old body 3" in done.stdout  # once loaded, the converter runs


# -- restore is checked as save() checks ----------------------------------------------------
def test_restore_of_a_version_save_would_refuse_stages_nothing(ws, run_git):
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})
    Page(id="p", title="a very long title").save()
    old = commit(ws, "c1", 1)
    Page.delete("p")
    commit(ws, "delete p", 2)
    ws = Workspace(ws.path)
    Page = type("Page", (ws.GitModel,), {"__module__": __name__,
                                         "title": fields.CharField(max_length=5)})
    head = ws.branch.oid
    with pytest.raises(ValidationError, match='"title" must be at most 5 characters'):
        Page.restore("p", old)
    assert not ws.has_changes() and ws.branch.oid == head
    assert "page/p/data.json" not in run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD")


def test_restore_of_a_version_todays_class_cannot_read_stages_nothing(ws, run_git):
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "content": fields.CharField()})
    Page(id="old", title="Old", content="precious text").save()
    old = commit(ws, "launch", 1)
    Page.delete("old")
    commit(ws, "delete old", 2)
    ws.migrate(Migration("0001", [RenameField("Page", "content", "body")]))
    ws = Workspace(ws.path)
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "body": fields.CharField()})  # no previous_names
    with pytest.raises(ValidationError, match='"body"'):
        Page.restore("old", old)
    assert not ws.has_changes()
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "body": fields.CharField(previous_names=["content"])})
    assert Page.restore("old", old).body == "precious text"
    commit(ws, "restore", 3)
    assert shown(run_git, ws, "HEAD:page/old/data.json") == {
        "body": "precious text", "id": "old", "title": "Old"}
    run_git(ws.path, "fsck", "--strict")


def test_restore_may_not_change_a_read_only_field(ws):
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "code": fields.CharField(readonly=True)})
    Page(id="p", title="P", code="first").save()
    old = commit(ws, "create", 1)
    Page.delete("p")
    Page(id="p", title="P again", code="second").save()
    commit(ws, "made again", 2)
    with pytest.raises(ValidationError, match='"code" is read-only'):
        Page.restore("p", old)
    assert not ws.has_changes() and Page.get("p").code == "second"
