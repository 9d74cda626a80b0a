"""Merging a migrated branch with one that edited data in the old shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gitmodel import Workspace, fields
from gitmodel.migrations import (
    AddField,
    AlterField,
    AlterModelLayout,
    Migration,
    RemoveField,
    RenameField,
    RenameModel,
    RunPython,
    applied,
)
from gitmodel.versions.schemas import SchemaConflict

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


def shout(stored: dict) -> None:
    stored["headline"] = str(stored.get("headline", "")).upper()


def to_int(value: str) -> int:
    return 5 if value == "great" else int(value)


CODE_MIGRATION = Migration("0001_code", [
    RunPython(shout, "Page"),
    AddField("Page", "length", fields.IntegerField(), value=lambda s: len(s.get("headline", ""))),
    AlterField("Page", "rating", fields.IntegerField(required=False), convert=to_int),
])


def rated_page(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {
        "__module__": __name__, "slug": fields.SlugField(id=True),
        "headline": fields.CharField(required=False), "rating": fields.CharField(required=False)})


@pytest.fixture
def coded(ws: Workspace) -> Workspace:
    """``code`` ran functions over every page; master then edited and added
    pages in the old shape, and an author (a model no migration touched)."""
    Page = rated_page(ws)
    Author = type("Author", (ws.GitModel,), {"__module__": __name__, "name": fields.CharField()})
    Page.bulk_save([Page(slug=s, headline=f"h-{s}", rating="3") for s in "abc"], commit=True)
    Author(id="ann", name="Ann").save(commit=True)
    ws.create_branch("code")
    ws.migrate(CODE_MIGRATION, branch="code")
    a = Page.get("a")
    a.headline, a.rating = "edited on master", "great"
    a.save()
    Page(slug="new", headline="new on master", rating="4").save()
    ann = Author.get("ann")
    ann.name = "Ann (edited on master)"
    ann.save()
    ws.commit("old-shape edits")
    return ws


def test_functions_of_a_migration_replay_on_the_other_sides_edits(coded: Workspace, run_git) -> None:
    ws = Workspace(coded.path)
    rated_page(ws)
    result = ws.merge("code")
    assert result.commit is not None and not result.conflicts and not result.dropped_edits
    assert stored(run_git, ws, "master:page/a/data.json") == {
        "slug": "a", "headline": "EDITED ON MASTER", "length": 16, "rating": 5}
    assert stored(run_git, ws, "master:page/new/data.json") == {
        "slug": "new", "headline": "NEW ON MASTER", "length": 13, "rating": 4}
    assert stored(run_git, ws, "master:page/b/data.json") == {
        "slug": "b", "headline": "H-B", "length": 3, "rating": 3}
    assert stored(run_git, ws, "master:author/ann/data.json")["name"] == "Ann (edited on master)"
    run_git(ws.path, "fsck", "--strict")


def test_the_other_direction_replays_the_functions_too(coded: Workspace, run_git) -> None:
    ws = Workspace(coded.path, "code")
    result = ws.merge("master")
    assert result.commit is not None and not result.conflicts
    assert stored(run_git, ws, "code:page/new/data.json")["rating"] == 4
    assert stored(run_git, ws, "code:page/a/data.json")["headline"] == "EDITED ON MASTER"


def test_an_edit_the_converter_refuses_is_reported_not_merged(coded: Workspace, run_git) -> None:
    Page = rated_page(coded)
    b = Page.get("b")
    b.rating = "not a number"
    b.save(commit=True)
    result = Workspace(coded.path).merge("code")
    assert not result.conflicts and result.commit is not None
    assert [d.split(":")[0] for d in result.dropped_edits] == ["Page 'b'"]
    assert "converting \"rating\" 'not a number' failed" in result.dropped_edits[0]
    assert stored(run_git, coded, "master:page/b/data.json")["rating"] == 3  # as migrated


MERGE_WITHOUT_CODE = """
import sys
from gitmodel import MigrationError, Workspace
ws = Workspace(sys.argv[1])
head = ws.branch.oid
try:
    ws.merge("code")
except MigrationError as exc:
    assert ws.branch.oid == head and not ws.merging and not ws.has_changes()
    print("refused:", exc)
"""


def test_a_process_without_the_migrations_code_refuses_the_merge(coded: Workspace) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", MERGE_WITHOUT_CODE, coded.path], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: merging needs the code of migration '0001_code' (RunPython on Page)" in done.stdout


def page_as(ws: Workspace, **changed) -> type:
    """The page class of ``old_page`` with fields ``changed`` (``None``: removed)."""
    attrs = {"slug": fields.SlugField(id=True), "headline": fields.CharField(required=False),
             "obsolete": fields.CharField(required=False), "views": fields.IntegerField(default=0),
             **changed}
    return type("Page", (ws.GitModel,), {"__module__": __name__,
                                         **{k: v for k, v in attrs.items() if v is not None}})


def two_branches(ws: Workspace, left: list, right: list, **declared) -> Workspace:
    """``left`` and ``right`` each applied their own migration to the same
    pages; a workspace on ``left`` declaring its shape (``declared``)."""
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, headline=f"h-{s}") for s in "ab"], commit=True)
    ws.create_branch("left")
    ws.create_branch("right")
    ws.migrate(Migration("0001_left", left), branch="left")
    ws.migrate(Migration("0001_right", right), branch="right")
    merger = Workspace(ws.path, "left")
    page_as(merger, **declared)
    return merger


def test_two_branches_that_each_add_a_field_merge_cleanly(ws: Workspace, run_git) -> None:
    merger = two_branches(
        ws, [AddField("Page", "category", fields.CharField(default="general"))],
        [AddField("Page", "score", fields.IntegerField(default=0))],
        category=fields.CharField(default="general"))
    result = merger.merge("right")
    assert result.commit is not None and not result.conflicts
    schema = merger.schemas()["Page"]
    assert {"category", "score", "headline"} <= set(schema.fields)
    assert schema.fields["score"].type == "IntegerField"
    merged = stored(run_git, ws, "left:page/a/data.json")
    assert (merged["category"], merged["score"], merged["headline"]) == ("general", 0, "h-a")
    Page = page_as(Workspace(ws.path, "left"), category=fields.CharField(default="general"),
                   score=fields.IntegerField(default=0))  # both fields: no mismatch
    assert (Page.get("a").category, Page.get("b").score) == ("general", 0)
    assert applied(merger) == ["0001_left", "0001_right"]


def test_a_field_changed_two_ways_is_a_schema_conflict_naming_model_and_field(ws: Workspace) -> None:
    merger = two_branches(
        ws, [AlterField("Page", "views", fields.IntegerField(default=1))],
        [AlterField("Page", "views", fields.FloatField(default=0.0))],
        views=fields.IntegerField(default=1))
    head = merger.branch.oid
    result = merger.merge("right")
    assert result.commit is None and merger.branch.oid == head
    [conflict] = [c for c in result.conflicts if isinstance(c, SchemaConflict)]
    assert (conflict.model_name, conflict.field) == ("Page", "views")
    assert conflict.describe() == "schema of Page: field 'views' changed on both sides (modify/modify)"
    assert (conflict.ours["type"], conflict.theirs["type"]) == ("IntegerField", "FloatField")
    other = Workspace(ws.path, "left")  # the open merge is in the repository
    page_as(other, views=fields.IntegerField(default=1))
    assert [c.describe() for c in other.conflicts if isinstance(c, SchemaConflict)] == [
        conflict.describe()]
    [again] = [c for c in other.conflicts if isinstance(c, SchemaConflict)]
    other.resolve(again, "theirs")
    for rest in list(other.conflicts):
        other.resolve(rest, "theirs")
    assert other.commit("take the float") is not None
    assert other.schemas()["Page"].fields["views"].type == "FloatField"
    assert "headline" in other.schemas()["Page"].fields


def test_a_field_removed_on_one_side_and_renamed_on_the_other_conflicts(ws: Workspace) -> None:
    merger = two_branches(ws, [RemoveField("Page", "obsolete")],
                          [RenameField("Page", "obsolete", "note")], obsolete=None)
    result = merger.merge("right")
    [conflict] = [c for c in result.conflicts if isinstance(c, SchemaConflict)]
    assert conflict.field == "obsolete" and conflict.names == ("obsolete", "note")
    assert conflict.ours == {"obsolete": None, "note": None}
    assert conflict.theirs["note"]["type"] == "CharField" and conflict.theirs["obsolete"] is None
    assert "also as 'note'" in conflict.describe()
    merger.resolve(conflict, "ours")
    for rest in list(merger.conflicts):
        merger.resolve(rest, "ours")
    merger.commit()
    assert not {"obsolete", "note"} & set(merger.schemas()["Page"].fields)


def test_a_schema_merge_with_a_strategy_takes_that_side(ws: Workspace) -> None:
    merger = two_branches(
        ws, [AlterField("Page", "views", fields.IntegerField(default=1))],
        [AlterField("Page", "views", fields.FloatField(default=0.0)),
         AddField("Page", "score", fields.IntegerField(default=0))],
        views=fields.IntegerField(default=1))
    result = merger.merge("right", strategy="ours")
    assert result.commit is not None and not result.conflicts
    schema = merger.schemas()["Page"]
    assert schema.fields["views"].type == "IntegerField" and "score" in schema.fields


def test_old_shape_edits_follow_a_renamed_model_into_its_new_folder(ws: Workspace, run_git) -> None:
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, headline=f"h-{s}") for s in "abc"], commit=True, message="pages")
    ws.create_branch("renamed")
    ws.migrate(Migration("0001_article", [RenameModel("Page", "Article")]), branch="renamed")
    a = Page.get("a")
    a.headline = "edited as a page"
    a.save()
    Page.get("b").delete()
    Page(slug="d", headline="new page").save()
    ws.commit("page edits")
    result = Workspace(ws.path).merge("renamed")
    assert result.commit is not None and not result.conflicts
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    assert sorted(p for p in listing if not p.startswith(".gitmodel")) == [
        "article/a/data.json", "article/c/data.json", "article/d/data.json"]
    assert stored(run_git, ws, "master:article/a/data.json")["headline"] == "edited as a page"
    assert json.loads(run_git(ws.path, "show", "master:article/d/data.json"))["model"] == "Article"
    Article = type("Article", (Workspace(ws.path).GitModel,), {
        "__module__": __name__, "slug": fields.SlugField(id=True),
        "headline": fields.CharField(required=False), "obsolete": fields.CharField(required=False),
        "views": fields.IntegerField(default=0)})
    assert Article.get("a").headline == "edited as a page"
    assert [v.commit.message for v in Article.history("a")] == [  # back to when it was a page
        "page edits", "Migrate: 0001_article", "pages"]
    run_git(ws.path, "fsck", "--strict")


def test_a_refused_edit_is_dropped_when_the_migration_came_after_other_commits(ws: Workspace,
                                                                             run_git) -> None:
    Page = rated_page(ws)
    Page.bulk_save([Page(slug=s, headline=s, rating="3") for s in "ab"], commit=True)
    ws.create_branch("code")
    branch = Workspace(ws.path, "code")
    on_branch = rated_page(branch).get("a")
    on_branch.headline = "edited first"
    on_branch.save(commit=True)  # the migration is not right on the merge base
    branch.migrate(CODE_MIGRATION)
    b = Page.get("b")
    b.rating = "not a number"
    b.save(commit=True)
    result = Workspace(ws.path).merge("code")
    assert not result.conflicts and result.commit is not None
    assert len(result.dropped_edits) == 1 and result.dropped_edits[0].startswith("Page 'b'")
    assert stored(run_git, ws, "master:page/b/data.json") == {
        "slug": "b", "headline": "B", "length": 1, "rating": 3}
    assert stored(run_git, ws, "master:page/a/data.json")["headline"] == "EDITED FIRST"


def test_a_field_the_old_shape_side_added_survives_the_merge(ws: Workspace, run_git) -> None:
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, headline=f"h-{s}") for s in "ab"], commit=True)
    ws.create_branch("reshape")
    ws.migrate(MIGRATION, branch="reshape")
    live = Workspace(ws.path)  # master's application adds a field with a default meanwhile
    Tagged = page_as(live, tags=fields.CharField(default="none"))
    a = Tagged.get("a")
    a.tags = "news"
    a.save(commit=True)
    assert "tags" in live.schemas()["Page"].fields
    result = Workspace(ws.path).merge("reshape")
    assert result.commit is not None and not result.conflicts
    schema = ws.schemas("master")["Page"]
    assert {"summary", "tags"} <= set(schema.fields) and not {"headline", "obsolete"} & set(schema.fields)
    assert schema.fields["tags"].options["default"] == "none"
    assert stored(run_git, ws, "master:page/a/data.json") == {
        "slug": "a", "summary": "h-a", "views": 0, "tags": "news"}


def test_a_schema_conflict_takes_a_record_of_ones_own(ws: Workspace) -> None:
    merger = two_branches(
        ws, [AlterField("Page", "views", fields.IntegerField(default=1))],
        [AlterField("Page", "views", fields.FloatField(default=0.0))],
        views=fields.IntegerField(default=1))
    result = merger.merge("right")
    [conflict] = [c for c in result.conflicts if isinstance(c, SchemaConflict)]
    with pytest.raises(ValueError, match="a field record is a dict"):
        merger.resolve(conflict, value="IntegerField")
    assert not conflict.resolved
    merger.resolve(conflict, value={"type": "IntegerField", "default": 7})
    for rest in list(merger.conflicts):
        merger.resolve(rest, "ours")
    merger.commit()
    assert merger.schemas()["Page"].fields["views"].options == {"default": 7}
