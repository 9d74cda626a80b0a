"""Old commits read in the layout they record, after an ``AlterModelLayout``.

A model declaring ``Meta.shard`` whose objects a migration moved (flat to
sharded, or back) still reads every older commit: ``get``/``all``/``filter``
at a treeish, ``history``, ``diff``, ``changes``, ``restore``, ``revert``
and ``blame`` find each object where that commit keeps it.
"""

from __future__ import annotations

import pygit2
import pytest

from gitmodel import MergeConflict, Workspace, fields
from gitmodel.migrations import AlterModelLayout, Migration


def declare(ws: Workspace, shard: int) -> type:
    meta = type("Meta", (), {"shard": shard})
    return type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "views": fields.IntegerField(default=0), "Meta": meta})


@pytest.fixture(params=[(0, 2), (2, 0), (1, 3)], ids=["flat-to-2", "2-to-flat", "1-to-3"])
def moved(request: pytest.FixtureRequest, ws: Workspace) -> dict:
    """Pages a, b, c written in one layout, b edited, then moved to another."""
    before, after = request.param
    Page = declare(ws, before)
    for key in "abc":
        Page(id=key, title=key.upper()).save()
    first = ws.commit("first")
    ws.create_tag("v1", first)
    page = Page.get("b")
    page.title = "B2"
    page.save()
    edit = ws.commit("edit b")
    ws.migrate(Migration("0001_layout", [AlterModelLayout("Page", shard=after)]))
    ws = Workspace(ws.path)
    return {"ws": ws, "Page": declare(ws, after), "first": first, "edit": edit,
            "before": before, "after": after}


def test_reads_at_an_old_commit_find_the_old_layout(moved: dict, run_git) -> None:
    ws, Page, first = moved["ws"], moved["Page"], moved["first"]
    assert Page._meta.get_data_path("a").count("/") == moved["after"] + 2  # today's layout
    assert Page.get("a", treeish=first).title == "A"
    assert Page.get("b", treeish="v1").title == "B"
    assert Page.get("b", treeish=moved["edit"]).title == "B2"
    assert sorted(Page.all(treeish=first).ids()) == ["a", "b", "c"]
    assert [p.id for p in Page.all(treeish=first).filter(title="C")] == ["c"]
    assert Page.get("b").title == "B2"  # and today's reads today's layout
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", str(first)).split()
    assert f"page/{'86/f7/' if moved['before'] == 2 else ''}a/data.json" in listing or moved["before"] == 1


def test_history_and_blame_cross_the_move(moved: dict, run_git) -> None:
    ws, Page = moved["ws"], moved["Page"]
    page = Page.get("b")
    page.views = 5
    page.save(commit=True, message="views")
    history = Page.history("b")
    assert [v.commit.message.strip() for v in history] == ["views", "edit b", "first"]
    assert [v.change for v in history] == ["modified", "modified", "added"]
    assert history[1].changes == {"title": ("B", "B2")}
    blame = Page.blame("b")
    assert blame["title"].commit.id == moved["edit"]
    assert blame["views"].commit.message.strip() == "views"
    assert run_git(ws.path, "log", "-1", "--format=%s", str(moved["edit"])).strip() == "edit b"


def test_diffs_and_changes_see_only_real_edits(moved: dict) -> None:
    ws, Page, first = moved["ws"], moved["Page"], moved["first"]
    change = Page.diff("b", first)
    assert change is not None and sorted(change.changes) == ["title"]
    assert Page.diff("a", first) is None  # moved, not changed
    objects = [c for c in ws.changes(first) if getattr(c, "model", None) is Page]
    assert [(c.id, c.kind) for c in objects] == [("b", "modified")]
    paths = [c.path for c in ws.changes(first) if not hasattr(c, "model")]
    assert not [p for p in paths if p.startswith("page/")]  # no object "deleted" by the move


def test_restore_lands_in_todays_layout_and_a_conflicting_revert_changes_nothing(
        moved: dict, run_git) -> None:
    ws, Page = moved["ws"], moved["Page"]
    restored = Page.restore("b", moved["first"])
    assert restored.title == "B"
    ws.commit("restore b")
    assert Page.get("b").title == "B"
    today = Page._meta.get_data_path("b")
    assert today in run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    page = Page.get("b")
    page.title = "B3"
    page.save(commit=True)
    head = ws.branch.commit.id
    with pytest.raises(MergeConflict, match="Page 'b' field 'title'"):
        ws.revert(moved["edit"])  # B -> B2 reverted, but b's title is B3 since
    assert not ws.has_changes() and ws.branch.commit.id == head
    assert Page.get("b").title == "B3"
    run_git(ws.path, "fsck", "--strict")


def test_revert_of_an_old_edit_applies_to_the_moved_object(moved: dict, run_git) -> None:
    ws, Page = moved["ws"], moved["Page"]
    changes = ws.revert(moved["edit"])
    assert not ws.merging
    assert Page.get("b").title == "B"
    assert [c.id for c in changes if getattr(c, "model", None) is Page] == ["b"]
    tree = run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert sorted(p for p in tree if p.startswith("page/")) == sorted(
        Page._meta.get_data_path(k) for k in "abc")
    run_git(ws.path, "fsck", "--strict")


def test_a_tree_without_a_schema_record_reads_in_the_declared_layout(ws: Workspace) -> None:
    """python-gitmodel 0.1 recorded no schema: its flat trees read as declared."""
    repo = pygit2.Repository(ws.path)
    blob = repo.create_blob(b'{\n    "model": "Page",\n    "fields": {\n        "id": "a",\n'
                            b'        "title": "A"\n    }\n}\n')
    inner = repo.TreeBuilder()
    inner.insert("data.json", blob, pygit2.GIT_FILEMODE_BLOB)
    folder = repo.TreeBuilder()
    folder.insert("a", inner.write(), pygit2.GIT_FILEMODE_TREE)
    root = repo.TreeBuilder()
    root.insert("page", folder.write(), pygit2.GIT_FILEMODE_TREE)
    sig = pygit2.Signature("t", "t@example.com")
    old = repo.create_commit(None, sig, sig, "0.1", root.write(), [])
    Page = declare(ws, 0)
    assert Page.get("a", treeish=old).title == "A"
