"""Loose objects are written at git's level (``core.looseCompression``)."""

from __future__ import annotations

import zlib

import pygit2
import pytest

from gitmodel import ConfigurationError, fields
from gitmodel.workspace import Workspace

from conftest import git

#: the level bits of a zlib header (its second byte's top two): 0 for levels
#: 0 and 1, 1 for 2 to 5, 2 for 6 (zlib's default), 3 for 7 to 9
LEVEL_BITS = {0: 0, 1: 0, 3: 1, 6: 2, 9: 3, -1: 2}


def store(tmp_path, **config: str) -> Workspace:
    path = tmp_path / "store.git"
    repo = pygit2.init_repository(str(path), bare=True)
    repo.config["gitmodel.autoPack"] = "0"
    for name, value in config.items():
        repo.config[name] = value
    return Workspace(str(path))


def commit_one(ws: Workspace) -> pygit2.Oid:
    class Note(ws.GitModel):
        text = fields.CharField()

    Note(id="a", text="some text " * 40).save(commit=True, message="a note")
    head = ws.store.read_ref(ws.head)
    assert head is not None
    return head


def level_bits(ws: Workspace, oid: pygit2.Oid) -> int:
    hexid = str(oid)
    with open(f"{ws.store.objects_dir}{hexid[:2]}/{hexid[2:]}", "rb") as handle:
        header = handle.read(2)
    assert header[0] == 0x78 and (header[0] * 256 + header[1]) % 31 == 0  # a zlib stream
    return header[1] >> 6


def written(ws: Workspace, head: pygit2.Oid) -> list[pygit2.Oid]:
    """The commit and every object of its tree: all loose, all written by it."""
    repo = ws.store.repo
    found = [head]
    stack = [repo[head].tree]
    while stack:
        tree = stack.pop()
        found.append(tree.id)
        for entry in tree:
            found.append(entry.id)
            if entry.type_str == "tree":
                stack.append(repo[entry.id])
    return found


def test_git_s_default_level_one(tmp_path):
    ws = store(tmp_path)
    head = commit_one(ws)
    objects = written(ws, head)
    assert len(objects) >= 5
    assert {level_bits(ws, oid) for oid in objects} == {LEVEL_BITS[1]}
    assert git(ws.path, "fsck", "--strict") is not None
    assert "some text" in git(ws.path, "show", f"{head}:note/a/data.json")


@pytest.mark.parametrize("config, level", [
    ({"core.looseCompression": "9"}, 9),
    ({"core.compression": "6"}, 6),
    ({"core.compression": "-1"}, -1),
    ({"core.compression": "9", "core.looseCompression": "3"}, 3),
    ({"core.looseCompression": "0"}, 1),  # libgit2's 0 is no zlib stream: git could not read it
])
def test_the_configured_level(tmp_path, config, level):
    ws = store(tmp_path, **config)
    head = commit_one(ws)
    assert {level_bits(ws, oid) for oid in written(ws, head)} == {LEVEL_BITS[level]}
    data = ws.store.repo[head].tree["note/a/data.json"].id
    hexid = str(data)
    with open(f"{ws.store.objects_dir}{hexid[:2]}/{hexid[2:]}", "rb") as handle:
        raw = zlib.decompress(handle.read())
    assert raw.startswith(b"blob ") and b"some text" in raw
    git(ws.path, "fsck", "--strict")


@pytest.mark.parametrize("value", ["10", "-2", "fast"])
def test_a_level_git_would_refuse(tmp_path, value):
    path = tmp_path / "store.git"
    pygit2.init_repository(str(path), bare=True).config["core.looseCompression"] = value
    with pytest.raises(ConfigurationError, match="core.looseCompression"):
        Workspace(str(path))


def test_a_store_with_alternates_reads_their_objects(tmp_path):
    first = store(tmp_path)
    head = commit_one(first)
    borrower = tmp_path / "borrower.git"
    repo = pygit2.init_repository(str(borrower), bare=True)
    (borrower / "objects" / "info" / "alternates").write_text(f"{first.store.objects_dir}\n")
    repo.references.create("refs/heads/master", head)
    ws = Workspace(str(borrower))

    class Note(ws.GitModel):
        text = fields.CharField()

    assert Note.get("a").text.startswith("some text")
    Note(id="b", text="more").save(commit=True, message="b")
    assert Note.get("b").text == "more"
    git(str(borrower), "fsck", "--strict")
