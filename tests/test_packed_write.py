"""A write of many folders (a bulk import, a fan-out) goes into one pack
instead of one loose file per tree: the same trees, the same commit ids,
the same checks as libgit2's tree builder, and plain git reads it all."""

from __future__ import annotations

import subprocess

import pygit2
import pytest
from hypothesis import given, settings, strategies as st

from gitmodel import fields
from gitmodel.exceptions import CorruptObject
from gitmodel.git import tree as tree_module
from gitmodel.git.tree import BLOB_MODE, TREE_MODE, StagingTree
from gitmodel.workspace import Workspace


def git(path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={path}", *args], check=True,
                          capture_output=True, text=True).stdout


def loose_count(path) -> int:
    counts = dict(line.split(": ") for line in git(path, "count-objects", "-v").splitlines())
    return int(counts["count"])


def declare(ws: Workspace) -> type:
    class Note(ws.GitModel):
        text = fields.CharField()
        tags = fields.ListField(fields.CharField(), required=False)

    return Note


def fresh_store(path) -> Workspace:
    """A store whose loose objects stay loose (auto-pack off), so counts compare."""
    Workspace.init(path, bare=True)
    pygit2.Repository(str(path)).config["gitmodel.autoPack"] = 0
    return Workspace(str(path))


def save_notes(ws: Workspace, count: int) -> pygit2.Oid:
    Note = declare(ws)
    for i in range(count):
        Note(id=f"n{i:05d}", text=f"note {i}", tags=["a", f"t{i % 7}"]).save()
    return ws.commit("notes")


def test_a_large_commit_is_packed_and_identical_to_a_loose_one(tmp_path, monkeypatch) -> None:
    packed = fresh_store(tmp_path / "packed.git")
    packed_commit = save_notes(packed, 1500)  # past the fan-out bound too
    monkeypatch.setattr(tree_module, "PACKED_WRITE_AT", 10**9)  # every tree a loose file
    loose = fresh_store(tmp_path / "loose.git")
    loose_commit = save_notes(loose, 1500)
    assert packed.repo[packed_commit].tree_id == loose.repo[loose_commit].tree_id
    # the packed store holds its 3,000 trees in packs: its loose objects are the blobs
    assert loose_count(packed.path) < 1600 < 3000 < loose_count(loose.path)
    git(packed.path, "fsck", "--strict", "--no-dangling")
    listing = git(packed.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert len([p for p in listing if p.endswith("data.json")]) == 1500
    again = declare(Workspace(str(packed.path)))
    assert again.get("n01234").text == "note 1234" and len(again.all()) == 1500


def test_a_large_update_of_an_existing_store_keeps_the_rest(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    save_notes(ws, 1200)
    Note = declare(ws)
    for i in range(0, 1200, 2):
        note = Note.get(f"n{i:05d}")
        note.text = "changed"
        note.save()
    Note.delete("n00001")
    Note(id="extra", text="new").save()
    ws.commit("update half")
    git(ws.path, "fsck", "--strict", "--no-dangling")
    assert Note.get("n00004").text == "changed" and Note.filter(text="changed").count() == 600
    fresh = declare(Workspace(str(ws.path)))
    assert fresh.get("n00002").text == "changed" and fresh.get("n00003").text == "note 3"
    assert fresh.get("extra").text == "new"
    with pytest.raises(fresh.DoesNotExist):
        fresh.get("n00001")
    assert len(fresh.all()) == 1200
    changed = [c.id for c in ws.changes("HEAD~1", "HEAD")]
    assert len(changed) == 600 + 2


@pytest.mark.parametrize("bad", ["missing", "wrong kind"])
def test_a_large_write_refuses_what_the_tree_builder_refuses(tmp_path, bad) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    repo = ws.repo
    stage = StagingTree(repo, None)
    for i in range(400):
        stage.set(f"m/f{i}/data.json", repo.create_blob(b"%d" % i))
    target = (pygit2.Oid(hex="1" * 40), BLOB_MODE) if bad == "missing" else (repo.create_blob(b"x"), TREE_MODE)
    stage.set("m/odd/data.json", *target)
    before = loose_count(ws.path)
    with pytest.raises(CorruptObject, match="invalid object"):
        stage.write()
    assert stage.is_dirty and stage.lookup("m/f7/data.json") is not None  # nothing lost
    assert loose_count(ws.path) == before and not list((tmp_path / "s.git" / "objects" / "pack").glob("*.pack"))
    stage.remove("m/odd/data.json")
    written = stage.write()
    assert repo[written]["m/f399/data.json"].data == b"399"


@pytest.mark.parametrize("size", [3, 400])  # a loose write, then a packed one
@pytest.mark.parametrize("name,mode", [(".git", BLOB_MODE), (".GIT", BLOB_MODE), ("git~1", BLOB_MODE),
                                       ("ok", 0o100664), ("ok", 0o100600)])
def test_bad_names_and_modes_are_refused_the_same_way_at_any_size(tmp_path, size, name, mode) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    repo = ws.repo
    stage = StagingTree(repo, None)
    for i in range(size):
        stage.set(f"m/f{i}/data.json", repo.create_blob(b"%d" % i))
    stage.set(f"m/odd/{name}", repo.create_blob(b"x"), mode)  # below ws.add's own path checks
    with pytest.raises(CorruptObject, match="invalid (name|filemode)"):
        stage.write()
    assert stage.is_dirty and stage.lookup(f"m/odd/{name}") is not None
    if name == ".git":  # a folder of that name, too
        folder = StagingTree(repo, None)
        for i in range(size):
            folder.set(f"m/f{i}/data.json", repo.create_blob(b"%d" % i))
        folder.set("m/.git/data.json", repo.create_blob(b"y"))
        with pytest.raises(CorruptObject, match="invalid name"):
            folder.write()


_names = st.sampled_from(["a", "b", "c", "a.b", "a-b", "z", "é", "ab"])
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join)
_edits = st.lists(st.tuples(_paths, st.one_of(st.none(), st.binary(max_size=3))), max_size=25)


@settings(max_examples=120, deadline=None)
@given(base_edits=_edits, edits=_edits)
def test_packed_and_loose_writes_give_the_same_trees(tmp_path_factory, base_edits, edits) -> None:
    repo = pygit2.init_repository(str(tmp_path_factory.mktemp("r") / "r.git"), bare=True)

    def apply(stage: StagingTree, changes) -> None:
        for path, content in changes:
            try:
                if content is None:
                    stage.remove(path)
                else:
                    stage.set(path, repo.create_blob(content), written=True)
            except (ValueError, CorruptObject):
                pass  # a file where a folder is wanted (or the reverse): both ways refuse it

    start = StagingTree(repo, None)
    apply(start, base_edits)
    base = repo[start.write()]
    results = []
    for limit in (1, 10**9):  # every write packed, then none
        tree_module.PACKED_WRITE_AT, saved = limit, tree_module.PACKED_WRITE_AT
        try:
            stage = StagingTree(repo, base)
            apply(stage, edits)
            results.append(stage.write())
        finally:
            tree_module.PACKED_WRITE_AT = saved
    assert results[0] == results[1]
