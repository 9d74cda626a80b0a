"""Merging a migrated branch with one that edited data in the old shape."""

from __future__ import annotations

import json

import pytest

from gitmodel import Workspace, fields
from gitmodel.migrations import AlterModelLayout, Migration, RemoveField, RenameField, applied

MIGRATION = Migration("0001_reshape", [
    RenameField("Page", "headline", "summary"),
    RemoveField("Page", "obsolete"),
])


def old_page(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {
        "__module__": __name__, "slug": fields.SlugField(id=True),
        "headline": fields.CharField(required=False), "obsolete": fields.CharField(required=False),
        "views": fields.IntegerField(default=0)})


def new_page(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {
        "__module__": __name__, "slug": fields.SlugField(id=True),
        "summary": fields.CharField(required=False, previous_names=["headline"]),
        "views": fields.IntegerField(default=0)})


@pytest.fixture
def diverged(ws: Workspace) -> Workspace:
    """master edited three pages in the old shape after ``reshape`` migrated them."""
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, headline=f"h-{s}", obsolete="o") for s in "abcd"], commit=True)
    ws.create_branch("reshape")
    ws.migrate(MIGRATION, branch="reshape")
    a, b, c = Page.get("a"), Page.get("b"), Page.get("c")
    a.headline = "edited on master"
    b.obsolete = "changed on master"
    c.views = 9
    Page.bulk_save([a, b, c])
    Page(slug="e", headline="new on master").save()
    ws.commit("old-shape edits")
    return ws


def stored(run_git, ws: Workspace, spec: str) -> dict:
    return json.loads(run_git(ws.path, "show", spec))["fields"]


def test_merging_the_migrated_branch_lands_old_edits_on_new_names(diverged: Workspace, run_git) -> None:
    ws = Workspace(diverged.path)
    old_page(ws)  # master's application, still in the old shape
    result = ws.merge("reshape")
    assert result.commit is not None and not result.conflicts
    assert stored(run_git, ws, "master:page/a/data.json") == {
        "slug": "a", "summary": "edited on master", "views": 0}
    assert stored(run_git, ws, "master:page/c/data.json") == {"slug": "c", "summary": "h-c", "views": 9}
    assert stored(run_git, ws, "master:page/e/data.json") == {"slug": "e", "summary": "new on master",
                                                               "views": 0}
    assert "obsolete" not in stored(run_git, ws, "master:page/d/data.json")
    assert result.dropped_edits == [
        "Page 'b': the edit of field 'obsolete' on ours was not applied: migration "
        "0001_reshape removed the field"]
    assert applied(ws) == ["0001_reshape"]
    assert "headline" not in ws.schemas()["Page"].fields
    Page = new_page(Workspace(ws.path))  # today's class reads the merged branch
    assert Page.get("a").summary == "edited on master"
    run_git(ws.path, "fsck", "--strict")


def test_merging_old_shape_edits_into_the_migrated_branch(diverged: Workspace, run_git) -> None:
    ws = Workspace(diverged.path, "reshape")
    new_page(ws)
    result = ws.merge("master")
    assert result.commit is not None and not result.conflicts
    assert stored(run_git, ws, "reshape:page/a/data.json")["summary"] == "edited on master"
    assert "headline" not in stored(run_git, ws, "reshape:page/a/data.json")
    assert result.dropped_edits and "on theirs" in result.dropped_edits[0]


def test_an_edit_after_the_migration_merges_with_an_old_shape_edit(diverged: Workspace, run_git) -> None:
    migrated = Workspace(diverged.path, "reshape")
    Page = new_page(migrated)
    page = Page.get("a")
    page.views = 3
    page.save(commit=True)
    ws = Workspace(diverged.path)
    old_page(ws)
    assert not ws.merge("reshape").conflicts
    assert stored(run_git, ws, "master:page/a/data.json") == {
        "slug": "a", "summary": "edited on master", "views": 3}


def test_a_layout_change_moves_the_old_shape_edits_too(ws: Workspace, run_git) -> None:
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, headline=s) for s in "ab"], commit=True)
    ws.create_branch("sharded")
    ws.migrate(Migration("0001_shard", [AlterModelLayout("Page", shard=1)]), branch="sharded")
    page = Page.get("a")
    page.headline = "edited flat"
    page.save(commit=True)
    merger = Workspace(ws.path)
    result = merger.merge("sharded")
    assert not result.conflicts
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    objects = sorted(p for p in listing if p.startswith("page/"))
    assert len(objects) == 2 and all(p.count("/") == 3 for p in objects)
    moved_a = next(p for p in objects if p.endswith("/a/data.json"))
    assert stored(run_git, ws, f"master:{moved_a}")["headline"] == "edited flat"


def test_schema_changes_on_both_sides_that_disagree_are_a_schema_conflict(ws: Workspace) -> None:
    Page = old_page(ws)
    Page(slug="a").save(commit=True)
    ws.create_branch("left")
    ws.create_branch("right")
    ws.migrate(Migration("0001_left", [RemoveField("Page", "obsolete")]), branch="left")
    ws.migrate(Migration("0001_right", [RenameField("Page", "obsolete", "note")]), branch="right")
    merger = Workspace(ws.path, "left")
    result = merger.merge("right")
    paths = sorted(c.id for c in result.conflicts if c.model is None)
    assert ".gitmodel/schema/Page.json" in paths
    schema_conflict = next(c for c in result.conflicts if c.id == ".gitmodel/schema/Page.json")
    merger.resolve(schema_conflict, "theirs")
    for conflict in list(merger.conflicts):
        merger.resolve(conflict, "theirs")
    assert merger.commit("take right's schema") is not None
    assert "note" in merger.schemas()["Page"].fields
    assert applied(merger) == ["0001_left", "0001_right"]


def test_a_migration_after_other_commits_on_its_branch_merges_the_same(ws: Workspace, run_git) -> None:
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, headline=f"h-{s}", obsolete="o") for s in "ab"], commit=True)
    ws.create_branch("reshape")
    branch = Workspace(ws.path, "reshape")
    OnBranch = old_page(branch)
    page = OnBranch.get("b")
    page.views = 4
    page.save(commit=True, message="before migrating")  # the migration is not on the base
    branch.migrate(MIGRATION)
    a = Page.get("a")
    a.headline = "edited on master"
    a.save(commit=True)
    result = Workspace(ws.path).merge("reshape")
    assert not result.conflicts and result.commit is not None
    assert stored(run_git, ws, "master:page/a/data.json") == {
        "slug": "a", "summary": "edited on master", "views": 0}
    assert stored(run_git, ws, "master:page/b/data.json") == {"slug": "b", "summary": "h-b", "views": 4}


def test_an_edit_on_both_sides_of_the_same_field_across_a_rename_conflicts(diverged: Workspace) -> None:
    migrated = Workspace(diverged.path, "reshape")
    Page = new_page(migrated)
    page = Page.get("a")
    page.summary = "edited on the branch"
    page.save(commit=True)
    ws = Workspace(diverged.path)
    old_page(ws)
    result = ws.merge("reshape")
    assert [(c.id, c.field) for c in result.conflicts] == [("a", "summary")]
    conflict = result.conflicts[0]
    assert (conflict.ours, conflict.theirs) == ("edited on master", "edited on the branch")
    ws.resolve(conflict, "theirs")
    ws.commit()
    assert new_page(Workspace(ws.path)).get("a").summary == "edited on the branch"


def test_an_old_shape_edit_of_a_blob_field_survives_the_merge(ws: Workspace, run_git) -> None:
    Doc = type("Doc", (ws.GitModel,), {"__module__": __name__, "name": fields.CharField(),
                                       "body": fields.BlobField()})
    Doc(id="d", name="n", body=b"v1").save(commit=True)
    ws.create_branch("renamed")
    ws.migrate(Migration("0001", [RenameField("Doc", "name", "title")]), branch="renamed")
    doc = Doc.get("d")
    doc.body = b"v2"
    doc.save(commit=True)
    result = Workspace(ws.path).merge("renamed")
    assert not result.conflicts
    assert run_git(ws.path, "show", "master:doc/d/body.data") == "v2"
    assert stored(run_git, ws, "master:doc/d/data.json") == {"id": "d", "title": "n"}
