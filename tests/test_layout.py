"""The adaptive layout: flat (python-gitmodel 0.1's paths) while a model's
folder is small, fanned out to ``shard=2`` in the commit that takes it past
the bound, with the layout recorded in the stored schema; old commits read
flat; lost races and merges across a fan-out lose nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import SchemaMismatch
from gitmodel.schema import layout
from gitmodel.schema.options import _shard_digest
from gitmodel.workspace import Workspace


def declare(ws: Workspace, meta: dict | None = None) -> type:
    attrs = {"__module__": __name__, "id": fields.CharField(id=True), "name": fields.CharField(),
             "rank": fields.IntegerField(default=0, index=True)}
    if meta is not None:
        attrs["Meta"] = type("Meta", (), meta)
    return type("Person", (ws.GitModel,), attrs)


def sharded(object_id: str) -> str:
    digest = _shard_digest(object_id)
    return f"person/{digest[:2]}/{digest[2:4]}/{object_id}/data.json"


def stored_shard(run_git, ws: Workspace, rev: str = "HEAD") -> int:
    return json.loads(run_git(ws.path, "show", f"{rev}:.gitmodel/schema/Person.json"))["layout"]["shard"]


def person_paths(run_git, ws: Workspace, rev: str = "HEAD") -> list[str]:
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", rev).split()
    return sorted(p for p in listing if p.startswith("person/"))


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> int:
    """A bound of 8 objects, so the tests fan out small folders."""
    monkeypatch.setattr(layout, "FAN_OUT_AT", 8)
    return 8


def fill(Person: type, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        Person(id=str(i), name=f"n{i}").save(commit=True, message=f"save {i}")


def test_a_small_store_keeps_the_flat_paths_of_0_1(ws: Workspace, run_git) -> None:
    Person = declare(ws)
    Person(id="1", name="Ada").save(commit=True)
    assert Person.get("1").get_data_path() == "person/1/data.json"
    assert json.loads(run_git(ws.path, "show", "HEAD:person/1/data.json"))["fields"]["name"] == "Ada"
    assert stored_shard(run_git, ws) == 0


def test_the_commit_past_the_real_bound_fans_out_and_records_it(ws: Workspace, run_git) -> None:
    Person = declare(ws)
    Person.bulk_save([Person(id=str(i), name=f"n{i}") for i in range(layout.FAN_OUT_AT - 1)],
                     commit=True)
    assert person_paths(run_git, ws)[0].count("/") == 2  # still flat
    Person(id="last", name="L").save(commit=True, message="past the bound")
    paths = person_paths(run_git, ws)
    assert len(paths) == layout.FAN_OUT_AT and all(p.count("/") == 4 for p in paths)
    assert sharded("last") in paths and sharded("0") in paths
    assert stored_shard(run_git, ws) == 2
    changed = run_git(ws.path, "show", "--no-renames", "--name-only", "--format=", "HEAD").split()
    assert ".gitmodel/schema/Person.json" in changed and "person/0/data.json" in changed
    assert Person.get("0").get_data_path() == sharded("0")
    run_git(ws.path, "fsck", "--strict")


def test_fan_out_through_save_commit_and_plain_git(ws: Workspace, run_git, small_bound) -> None:
    Person = declare(ws)
    fill(Person, small_bound - 1)
    flat = run_git(ws.path, "rev-parse", "HEAD").strip()
    assert stored_shard(run_git, ws) == 0
    assert Person.get("3").get_data_path() == "person/3/data.json"  # a path remembered flat...
    fill(Person, 3, start=small_bound - 1)
    assert person_paths(run_git, ws) == sorted(sharded(str(i)) for i in range(small_bound + 2))
    assert Person.get("3").get_data_path() == sharded("3")  # ...is not reused once fanned out
    assert Person.get("3", treeish=flat).name == Person.get("3").name == "n3"
    assert stored_shard(run_git, ws) == 2
    shown = json.loads(run_git(ws.path, "show", f"HEAD:{sharded('3')}"))
    assert shown["fields"]["name"] == "n3"
    run_git(ws.path, "fsck", "--strict")
    # a new workspace reads the recorded layout
    again = declare(Workspace(ws.path))
    assert again.get("3").name == "n3" and len(again.all()) == small_bound + 2
    # old commits still read flat
    assert Person.get("3", treeish=flat).name == "n3"
    assert sorted(Person.all(treeish=flat).ids()) == sorted(str(i) for i in range(small_bound - 1))
    assert Person.all(treeish=flat).filter(rank=0).count() == small_bound - 1  # the index, at a flat tree
    assert Person.all().filter(rank=0).count() == small_bound + 2
    changes = ws.changes(flat, "HEAD")
    ids = sorted(c.id for c in changes if c.model is Person)
    assert ids == [str(i) for i in range(small_bound - 1, small_bound + 2)]  # only what was added
    assert [v.change for v in Person.history("3")] == ["added"]
    obj = Person.get("3")
    obj.name = "changed"
    obj.save(commit=True)
    assert [v.change for v in Person.history("3")] == ["modified", "added"]
    assert Person.blame("3")["name"].commit.id == ws.repo.head.target


def test_explicit_shard_zero_stays_flat(ws: Workspace, run_git, small_bound) -> None:
    Person = declare(ws, {"shard": 0})
    fill(Person, small_bound + 3)
    assert all(p.count("/") == 2 for p in person_paths(run_git, ws))
    assert stored_shard(run_git, ws) == 0


def test_a_declared_layout_must_match_but_adaptive_reads_any(ws: Workspace, run_git, small_bound) -> None:
    fill(declare(ws), small_bound)
    with pytest.raises(SchemaMismatch, match="AlterModelLayout"):
        declare(Workspace(ws.path), {"shard": 0})
    assert declare(Workspace(ws.path), {"shard": 2}).get("1").name == "n1"


def test_a_0_1_flat_folder_reads_and_fans_out_on_the_next_commit(ws: Workspace, run_git,
                                                                  small_bound) -> None:
    repo = ws.repo  # written as python-gitmodel 0.1 did: flat, no stored schema
    folder = repo.TreeBuilder()
    for i in range(small_bound + 1):
        doc = {"model": "Person", "fields": {"id": str(i), "name": f"old{i}", "rank": 0}}
        blob = repo.create_blob(json.dumps(doc, indent=4).encode())
        sub = repo.TreeBuilder()
        sub.insert("data.json", blob, pygit2.enums.FileMode.BLOB)
        folder.insert(str(i), sub.write(), pygit2.enums.FileMode.TREE)
    root = repo.TreeBuilder()
    root.insert("person", folder.write(), pygit2.enums.FileMode.TREE)
    sig = pygit2.Signature("old", "old@example.com")
    repo.create_commit("refs/heads/master", sig, sig, "0.1", root.write(), [])
    fresh = Workspace(ws.path)
    Person = declare(fresh)
    assert Person.get("2").name == "old2" and Person.get("2").get_data_path() == "person/2/data.json"
    Person(id="new", name="N").save(commit=True)
    assert person_paths(run_git, fresh) == sorted(
        [sharded(str(i)) for i in range(small_bound + 1)] + [sharded("new")])
    assert Person.get("2").name == "old2" and stored_shard(run_git, fresh) == 2
    run_git(fresh.path, "fsck", "--strict")


def test_a_flat_save_that_loses_the_race_to_a_fan_out_lands_sharded(ws: Workspace, run_git,
                                                                     small_bound) -> None:
    fill(declare(ws), small_bound - 2)
    mine = Workspace(ws.path)
    Mine = declare(mine)
    kept = Mine.get("1")  # read flat
    other = Workspace(ws.path)
    fill(declare(other), 3, start=small_bound - 2)  # another writer fans the folder out
    assert stored_shard(run_git, ws) == 2
    kept.name = "edited while flat"
    Mine(id="late", name="added while flat").save()
    kept.save()
    mine.commit("lost the race")
    paths = person_paths(run_git, ws)
    assert all(p.count("/") == 4 for p in paths)
    assert sharded("late") in paths and len(paths) == small_bound + 2
    assert json.loads(run_git(ws.path, "show", f"HEAD:{sharded('1')}"))["fields"]["name"] == "edited while flat"
    assert run_git(ws.path, "log", "-1", "--format=%s").strip() == "lost the race"
    assert stored_shard(run_git, ws) == 2
    run_git(ws.path, "fsck", "--strict")


@pytest.mark.parametrize("fanned_on", ["ours", "theirs"])
def test_a_branch_merge_across_a_fan_out_loses_nothing(ws: Workspace, run_git, small_bound,
                                                       fanned_on: str) -> None:
    Person = declare(ws)
    fill(Person, small_bound - 2)
    ws.create_branch("feature")
    # one side grows past the bound (fans out), the other edits while flat
    ws.set_branch("feature")
    if fanned_on == "theirs":
        fill(Person, 3, start=100)
    edit = Person.get("1")
    edit.name = "edited on feature"
    edit.save()
    Person(id="feat", name="F").save()
    ws.commit("feature work")
    ws.set_branch("master")
    if fanned_on == "ours":
        fill(Person, 3, start=100)
    edit = Person.get("2")
    edit.name = "edited on master"
    edit.save(commit=True)
    assert person_paths(run_git, ws, "feature" if fanned_on == "ours" else "master")[0].count("/") == 2
    result = ws.merge("feature")
    assert result.commit is not None and not result.conflicts
    paths = person_paths(run_git, ws)
    assert all(p.count("/") == 4 for p in paths), paths
    assert len(paths) == small_bound + 2 and sharded("feat") in paths
    assert Person.get("1").name == "edited on feature" and Person.get("2").name == "edited on master"
    assert stored_shard(run_git, ws) == 2
    run_git(ws.path, "fsck", "--strict")
