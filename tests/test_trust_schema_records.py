"""gitmodel's own records in a repository are untrusted input: a stored
schema (``.gitmodel/schema/<Model>.json``) or a migration record
(``.gitmodel/migrations/<name>.json``) a collaborator crafted is refused
naming its file -- a :class:`CorruptObject` for a record of the wrong shape,
an unreadable model (listed by ``gitmodel models``, exit code 10) for an
option its field refuses, a :class:`MigrationError` for a migration record a
merge would replay -- and a refused merge or pull changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pygit2
import pytest

import gitmodel
from attacker import fsck
from gitmodel import CorruptObject, MigrationError, ModelNotFound, Workspace, fields
from gitmodel.cli.context import get_model, open_workspace

ROOT = Path(gitmodel.__file__).resolve().parents[1]
PAGE_SCHEMA = ".gitmodel/schema/Page.json"
NOTE_SCHEMA = ".gitmodel/schema/Note.json"
RECORD = ".gitmodel/migrations/0001_evil.json"
MALLORY = pygit2.Signature("Mallory", "m@example.com")


def gm(*args: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gitmodel", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


def craft(path: Any, files: dict[str, bytes], ref: str = "refs/heads/master",
          message: str = "evil\n") -> pygit2.Oid:
    """A commit on ``ref`` (plain pygit2, as an attacker makes it) that writes ``files``."""
    repo = pygit2.Repository(str(path))
    tip = repo.references[ref].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(tip.tree)
    for name, data in files.items():
        index.add(pygit2.IndexEntry(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    commit = repo.create_commit(None, MALLORY, MALLORY, message, index.write_tree(repo), [tip.id])
    repo.references[ref].set_target(commit)
    return commit


def schema_doc(path: Any, name: str = PAGE_SCHEMA, ref: str = "master") -> dict[str, Any]:
    repo = pygit2.Repository(str(path))
    return json.loads(repo.revparse_single(f"{ref}:{name}").data)  # type: ignore[attr-defined]


def refs(path: Any) -> dict[str, str]:
    repo = pygit2.Repository(str(path))
    return {r: str(repo.references[r].target) for r in repo.references}


def declare(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(required=False)
    return Page


def unchanged(ws: Workspace, before: dict[str, str], path: Any) -> None:
    """The repository, staging and merge state are as they were, and it passes fsck."""
    assert refs(path) == before
    assert not ws.has_changes() and not ws.merging
    assert fsck(path).returncode == 0, fsck(path).stderr


# -- 1. a schema record of the wrong shape -------------------------------------------------
WRONG_SHAPES = {
    "ListField of whose options are a list": (
        "tags", {"type": "ListField", "of": {"type": "CharField", "options": [1, 2]}, "required": False}),
    "ListField of that is a string": ("tags", {"type": "ListField", "of": "CharField", "required": False}),
    "ListField of with an unknown key": (
        "tags", {"type": "ListField", "of": {"type": "CharField", "extra": 1}, "required": False}),
    "ListField kind a number": ("tags", {"type": "ListField", "kind": 5, "required": False}),
    "RelatedField to a list": ("author", {"type": "RelatedField", "to": ["Page"], "required": False}),
    "RelatedField to an object": ("author", {"type": "RelatedField", "to": {"a": 1}, "required": False}),
    "ManyToManyField to a list": ("tags", {"type": "ManyToManyField", "to": ["Page"], "required": False}),
    "on_delete a list": ("author", {"type": "RelatedField", "to": "Page", "on_delete": ["CASCADE"],
                                    "required": False}),
    "related_name a number": ("author", {"type": "RelatedField", "to": "Page", "related_name": 3,
                                         "required": False}),
    "previous_names a number": ("title", {"type": "CharField", "required": True, "previous_names": 5}),
    "previous_names a string": ("title", {"type": "CharField", "required": True, "previous_names": "abc"}),
    "previous_names of numbers": ("title", {"type": "CharField", "required": True, "previous_names": [1]}),
    "required a string": ("title", {"type": "CharField", "required": "yes"}),
    "unique a list": ("title", {"type": "CharField", "unique": [1]}),
    "choices a number": ("title", {"type": "CharField", "choices": 5}),
    "default_factory a list": ("title", {"type": "CharField", "default_factory": ["x"]}),
    "base a list": ("w", {"type": "my.X", "base": ["x"], "required": False}),
    "schemes a number": ("u", {"type": "URLField", "schemes": 5, "required": False}),
    "type a number": ("w", {"type": 5, "required": False}),
    "field record a string": ("w", "CharField"),
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    ws = Workspace.init(tmp_path / "site.git")
    Page = declare(ws)
    Page(id="p0", title="ok").save(commit=True, message="first")
    return tmp_path / "site.git"


def break_page(path: Path, name: str, record: Any, ref: str = "refs/heads/master") -> None:
    doc = schema_doc(path, ref=ref.rsplit("/", 1)[-1])
    doc["fields"][name] = record
    craft(path, {PAGE_SCHEMA: json.dumps(doc).encode()}, ref)


@pytest.mark.parametrize("label", sorted(WRONG_SHAPES))
def test_a_schema_record_of_the_wrong_shape_is_a_corrupt_object_naming_its_file(site: Path, label: str) -> None:
    break_page(site, *WRONG_SHAPES[label])
    with pytest.raises(CorruptObject) as found:
        Workspace(site).schemas()
    assert found.value.path == PAGE_SCHEMA
    with pytest.raises(CorruptObject, match="Page.json"):
        open_workspace(site)   # the command line and the admin open it so
    with pytest.raises(CorruptObject, match="Page.json"):
        declare(Workspace(site))
    done = gm("-C", site, "models")
    assert done.returncode == 10 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert PAGE_SCHEMA in done.stderr


def test_the_admin_names_a_schema_record_of_the_wrong_shape(site: Path) -> None:
    pytest.importorskip("starlette")
    from gitmodel.web.models import admin_models

    break_page(site, *WRONG_SHAPES["RelatedField to a list"])
    models, problems = admin_models(Workspace(site))
    assert models == {} and PAGE_SCHEMA in problems["(schema)"]


@pytest.mark.parametrize("label", ["RelatedField to a list", "ListField of whose options are a list",
                                   "previous_names a number"])
def test_a_merge_refuses_a_schema_record_it_cannot_decode(site: Path, label: str) -> None:
    ws = Workspace(site)
    ws.create_branch("evil")
    break_page(site, *WRONG_SHAPES[label], ref="refs/heads/evil")
    Page = declare(ws)
    page = Page.get("p0")
    page.title = "our edit"
    page.save(commit=True, message="ours")   # the merge is three-way, not a fast-forward
    before = refs(site)
    with pytest.raises(CorruptObject) as found:
        ws.merge("evil")
    assert found.value.path == PAGE_SCHEMA
    unchanged(ws, before, site)
    assert Page.get("p0").title == "our edit"
    assert Workspace(site).schemas()["Page"].fields["title"].type == "CharField"


def _victim_of_a_broken_hub(tmp_path: Path) -> tuple[Workspace, type]:
    """A victim pushed to a hub, and a collaborator who then pushed a Page.json of the wrong shape."""
    hub = tmp_path / "hub.git"
    Workspace.init(hub)
    victim = Workspace.init(tmp_path / "victim.git")
    Page = declare(victim)
    Page(id="p0", title="t0").save(commit=True, message="first")
    victim.add_remote("origin", str(hub))
    victim.push(set_upstream=True)
    evil = pygit2.clone_repository(str(hub), str(tmp_path / "evil.git"), bare=True)
    break_page(Path(evil.path), *WRONG_SHAPES["RelatedField to a list"])
    evil.remotes["origin"].push(["refs/heads/master"])
    return victim, Page


def test_a_pull_refuses_a_schema_record_it_cannot_decode(tmp_path: Path) -> None:
    victim, Page = _victim_of_a_broken_hub(tmp_path)
    page = Page.get("p0")
    page.title = "victim edit"
    page.save(commit=True, message="victim")
    before = local_refs(victim.path)
    with pytest.raises(CorruptObject, match="Page.json"):
        victim.pull()
    assert local_refs(victim.path) == before
    assert not victim.has_changes() and not victim.merging
    assert fsck(victim.path).returncode == 0
    assert [p.title for p in declare(Workspace(victim.path)).all()] == ["victim edit"]


def test_a_fast_forward_pull_refuses_a_schema_record_it_cannot_decode(tmp_path: Path) -> None:
    victim, _Page = _victim_of_a_broken_hub(tmp_path)
    before = local_refs(victim.path)  # nothing of its own since: the pull would be a fast-forward
    with pytest.raises(CorruptObject, match="Page.json"):
        victim.pull()
    assert local_refs(victim.path) == before
    assert [p.title for p in declare(Workspace(victim.path)).all()] == ["t0"]


# -- 2. an option value a field refuses -----------------------------------------------------
REFUSED = {
    "on_delete EXPLODE": {"type": "RelatedField", "to": "Page", "on_delete": "EXPLODE", "required": False},
    "ListField kind zzz": {"type": "ListField", "kind": "zzz", "of": {"type": "CharField", "options": {}},
                           "required": False},
    "ListField of a ListField": {"type": "ListField", "of": {"type": "ListField", "options": {}},
                                 "required": False},
    "related_name not an identifier": {"type": "RelatedField", "to": "Page", "related_name": "a b",
                                       "required": False},
}


@pytest.fixture
def two_models(tmp_path: Path) -> Path:
    ws = Workspace.init(tmp_path / "two.git")

    class Page(ws.GitModel):
        title = fields.CharField()

    class Note(ws.GitModel):
        text = fields.CharField()

    Page(id="p0", title="ok").save()
    Note(id="n0", text="ok").save()
    ws.commit("two models")
    return tmp_path / "two.git"


def break_note(path: Path, label: str) -> None:
    doc = schema_doc(path, NOTE_SCHEMA)
    doc["fields"]["link"] = REFUSED[label]
    craft(path, {NOTE_SCHEMA: json.dumps(doc).encode()})


@pytest.mark.parametrize("label", sorted(REFUSED))
def test_a_model_whose_field_refuses_its_stored_options_is_listed_unreadable(two_models: Path,
                                                                               label: str) -> None:
    break_note(two_models, label)
    ws = open_workspace(two_models)
    assert "Page" in ws.models and "Note" not in ws.models
    with pytest.raises(ModelNotFound, match="Note.json"):
        get_model(ws, "Note")
    done = gm("-C", two_models, "models")
    assert done.returncode == 10 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "Page\t1\t" in done.stdout
    assert "Note: cannot be read" in done.stdout and NOTE_SCHEMA in done.stdout
    listed = gm("-C", two_models, "models", "--json")
    by_name = {m["model"]: m for m in json.loads(listed.stdout)}
    assert listed.returncode == 10 and by_name["Page"]["count"] == 1
    assert by_name["Note"]["count"] is None and NOTE_SCHEMA in by_name["Note"]["error"]
    assert gm("-C", two_models, "ls", "Page").returncode == 0
    shown = gm("-C", two_models, "show", "Page", "p0")
    assert shown.returncode == 0 and "ok" in shown.stdout
    refused = gm("-C", two_models, "ls", "Note")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert NOTE_SCHEMA in refused.stderr


def test_the_admin_still_shows_the_healthy_model(two_models: Path) -> None:
    pytest.importorskip("starlette")
    from gitmodel.web.models import admin_models

    break_note(two_models, "on_delete EXPLODE")
    models, problems = admin_models(Workspace(two_models))
    assert list(models) == ["Page"] and NOTE_SCHEMA in problems["Note"]


# -- 3. a crafted migration record, replayed by a merge ----------------------------------------
CRAFTED = {
    "RenameField new_name a list": {"operation": "RenameField", "model": "Page", "old_name": "title",
                                    "new_name": ["x"]},
    "RenameField new_name a number": {"operation": "RenameField", "model": "Page", "old_name": "title",
                                      "new_name": 5},
    "RenameField old_name a list": {"operation": "RenameField", "model": "Page", "old_name": ["title"],
                                    "new_name": "x"},
    "RenameField new_name __x": {"operation": "RenameField", "model": "Page", "old_name": "title",
                                 "new_name": "__x"},
    "RenameField new_name shadows the API": {"operation": "RenameField", "model": "Page",
                                             "old_name": "title", "new_name": "save"},
    "RemoveField name a list": {"operation": "RemoveField", "model": "Page", "name": ["title"]},
    "AlterField to a RelatedField whose to is a list": {
        "operation": "AlterField", "model": "Page", "name": "title",
        "field": {"type": "RelatedField", "to": ["x"]}},
    "AlterField to a field that refuses its options": {
        "operation": "AlterField", "model": "Page", "name": "title",
        "field": {"type": "RelatedField", "to": "Page", "on_delete": "BOOM"}},
    "AddField name a list": {"operation": "AddField", "model": "Page", "name": ["z"],
                             "field": {"type": "CharField", "required": False}},
    "AlterModelLayout shard 1.5": {"operation": "AlterModelLayout", "model": "Page", "shard": 1.5},
    "AlterModelLayout shard true": {"operation": "AlterModelLayout", "model": "Page", "shard": True},
    "AlterModelLayout shard 9": {"operation": "AlterModelLayout", "model": "Page", "shard": 9},
    "RenameModel new_name a list": {"operation": "RenameModel", "model": "Page", "new_name": ["P"]},
    "RenameModel new_name ../x": {"operation": "RenameModel", "model": "Page", "new_name": "../x",
                                  "folder": "x"},
    "RenameModel folder a number": {"operation": "RenameModel", "model": "Page", "new_name": "Post",
                                    "folder": 5},
    "RenameModel folder .gitmodel": {"operation": "RenameModel", "model": "Page", "new_name": "Post",
                                     "folder": ".gitmodel"},
    "model a list": {"operation": "RemoveField", "model": ["Page"], "name": "title"},
    "operation a string": "RemoveField",
}


def evil_record(*operations: Any) -> bytes:
    return json.dumps({"name": "0001_evil", "dependencies": [], "operations": list(operations)}).encode()


@pytest.fixture
def pulled(tmp_path: Path) -> Any:
    """A victim with an edit of its own, and a hub it pushed to (then ``push(record)``
    has a collaborator push a commit adding only that migration record)."""
    hub = tmp_path / "hub.git"
    Workspace.init(hub)
    victim = Workspace.init(tmp_path / "victim.git")
    Page = declare(victim)
    Page(id="p0", title="t0").save(commit=True, message="first")
    victim.add_remote("origin", str(hub))
    victim.push(set_upstream=True)

    def push(record: bytes) -> None:
        evil = pygit2.clone_repository(str(hub), str(tmp_path / "evil.git"), bare=True)
        craft(evil.path, {RECORD: record})
        evil.remotes["origin"].push(["refs/heads/master"])

    page = Page.get("p0")
    page.title = "victim edit"
    page.save(commit=True, message="victim")
    return victim, push


def local_refs(path: Any) -> dict[str, str]:
    return {k: v for k, v in refs(path).items() if not k.startswith("refs/remotes/")}


@pytest.mark.parametrize("label", sorted(CRAFTED))
def test_a_pull_refuses_a_crafted_migration_record(pulled: Any, label: str) -> None:
    victim, push = pulled
    push(evil_record(CRAFTED[label]))
    before = local_refs(victim.path)
    with pytest.raises(MigrationError) as found:
        victim.pull()
    assert RECORD in str(found.value) and "nothing was merged" in str(found.value)
    assert local_refs(victim.path) == before
    assert not victim.has_changes() and not victim.merging
    assert fsck(victim.path).returncode == 0
    assert [(p.id, p.title) for p in declare(Workspace(victim.path)).all()] == [("p0", "victim edit")]


@pytest.mark.parametrize("doc", [b"[1, 2]", b'{"operations": {"a": 1}}', b'{"operations": 5}',
                                 b"not json", b'{"operations": ' + b"[" * 100000 + b"]" * 100000 + b"}"])
def test_a_pull_refuses_a_migration_record_that_is_not_one(pulled: Any, doc: bytes) -> None:
    victim, push = pulled
    push(doc)
    before = local_refs(victim.path)
    with pytest.raises(MigrationError, match="0001_evil.json"):
        victim.pull()
    assert local_refs(victim.path) == before and not victim.has_changes()


#: records that are well formed but do not match the tree they were added to
MISMATCHED = {
    "RenameField to a name the branch does not store": (
        {"operation": "RenameField", "model": "Page", "old_name": "title", "new_name": "headline"},
        "no field \"headline\""),
    "RenameModel to a model the branch does not store": (
        {"operation": "RenameModel", "model": "Page", "new_name": "Post", "folder": "post"},
        "does not store"),
    "AlterField to another type than stored": (
        {"operation": "AlterField", "model": "Page", "name": "title",
         "field": {"type": "BooleanField", "required": False}}, "BooleanField"),
    "RemoveField of a field the branch still stores": (
        {"operation": "RemoveField", "model": "Page", "name": "title"}, "still has"),
    "AlterModelLayout the branch did not apply": (
        {"operation": "AlterModelLayout", "model": "Page", "shard": 2}, "shard"),
    "RenameField of the id field": (
        {"operation": "RenameField", "model": "Page", "old_name": "id", "new_name": "ident"}, "id field"),
}


@pytest.mark.parametrize("label", sorted(MISMATCHED))
def test_a_merge_refuses_a_record_that_does_not_match_its_branch(tmp_path: Path, label: str) -> None:
    op, said = MISMATCHED[label]
    ws = Workspace.init(tmp_path / "site.git")
    Page = declare(ws)
    Page(id="p0", title="t0").save(commit=True, message="first")
    ws.create_branch("evil")
    craft(ws.path, {RECORD: evil_record(op)}, "refs/heads/evil")
    page = Page.get("p0")
    page.title = "victim edit"
    page.save(commit=True, message="victim")
    before = refs(ws.path)
    with pytest.raises(MigrationError) as found:
        ws.merge("evil")
    assert RECORD in str(found.value) and said in str(found.value)
    unchanged(ws, before, ws.path)
    tree = pygit2.Repository(ws.path).revparse_single("master").peel(pygit2.Tree)
    assert "x" not in tree and "post" not in tree
    assert [(p.id, p.title) for p in declare(Workspace(ws.path)).all()] == [("p0", "victim edit")]


MIGRATE = """
import sys
from gitmodel import Workspace, fields
from gitmodel.migrations import AddField, AlterModelLayout, Migration, RenameField, RenameModel
ws = Workspace(sys.argv[1], "migrated")
ws.migrate(Migration("0001_reshape", [
    RenameField("Page", "title", "headline"),
    AddField("Page", "score", fields.IntegerField(default=0)),
    AlterModelLayout("Page", 1),
    RenameModel("Page", "Post"),
]))
"""


def test_a_migration_this_process_never_loaded_still_replays_from_its_record(tmp_path: Path) -> None:
    """The checks refuse no record that matches the branch that applied it."""
    ws = Workspace.init(tmp_path / "site.git")
    Page = declare(ws)
    Page(id="p0", title="t0").save(commit=True, message="first")
    ws.create_branch("migrated")
    subprocess.run([sys.executable, "-c", MIGRATE, ws.path], check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})   # another process: not loaded here
    page = Page.get("p0")
    page.title = "victim edit"
    page.save(commit=True, message="victim")
    result = ws.merge("migrated")
    assert result.commit is not None and not result.conflicts and not result.dropped_edits
    merged = Workspace(ws.path)

    class Post(merged.GitModel):
        headline = fields.CharField(required=False)
        score = fields.IntegerField(default=0)

        class Meta:
            shard = 1

    assert [(p.id, p.headline, p.score) for p in Post.all()] == [("p0", "victim edit", 0)]
    assert fsck(ws.path).returncode == 0


def check_record(record: Optional[dict[str, Any]]) -> Optional[str]:
    from gitmodel.schema.records import operation_problem

    return operation_problem(record)


def test_the_records_gitmodel_writes_pass_its_checks() -> None:
    from gitmodel.migrations import (AddField, AlterField, AlterModelLayout, RemoveField,
                                     RenameField, RenameModel)

    for op in (RenameField("Page", "title", "headline"), RemoveField("Page", "title"),
               AddField("Page", "tags", fields.ListField(fields.IntegerField(), kind="set")),
               AlterField("Page", "author", fields.RelatedField("Author", on_delete="cascade",
                                                                required=False, related_name="pages")),
               RenameModel("Page", "Post"), AlterModelLayout("Page", 2)):
        assert check_record(json.loads(json.dumps(op.describe()))) is None, op


def test_a_declaration_with_loose_option_values_still_reads_its_store(tmp_path: Path) -> None:
    """What a declaration wrote (``index=1``, ``max_length=10.0``) is no corrupt record."""
    def declare_loose(ws: Workspace) -> type:
        class Page(ws.GitModel):
            title = fields.CharField(index=1, max_length=10.0, required=0)
        return Page

    ws = Workspace.init(tmp_path / "loose.git")
    declare_loose(ws)(id="p0", title="ok").save(commit=True, message="first")
    again = Workspace(tmp_path / "loose.git")
    assert again.schemas()["Page"].fields["title"].options["index"] == 1
    assert declare_loose(again).get("p0").title == "ok"
    assert "Page" in open_workspace(tmp_path / "loose.git").models
