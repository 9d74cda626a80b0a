"""An object store that cannot be written (a full disk, a file where a folder
should be) gives a RepositoryError naming the store, never a raw OSError or
pygit2 error, and loses nothing: what was staged stays staged, the branch
does not move, and once the store is repaired the same write goes through."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gitmodel import fields
from gitmodel.exceptions import RepositoryError
from gitmodel.workspace import Workspace


def git(path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={path}", *args], check=True,
                          capture_output=True, text=True).stdout


def declare(ws: Workspace) -> type:
    class Note(ws.GitModel):
        text = fields.CharField()
        attachment = fields.BlobField(required=False)

    return Note


def block_packs(ws: Workspace) -> str:
    """A file where ``objects/pack`` should be: no pack can be written."""
    pack_dir = os.path.join(ws.repo.path, "objects", "pack")
    shutil.rmtree(pack_dir)
    with open(pack_dir, "w") as f:
        f.write("not a folder")
    return pack_dir


def unblock_packs(pack_dir: str) -> None:
    os.unlink(pack_dir)
    os.mkdir(pack_dir)


def block_loose(ws: Workspace) -> list[str]:
    """Every object packed, then a file for each loose-object folder: reads
    still work, no loose object can be written."""
    ws.pack()
    root = os.path.join(ws.repo.path, "objects")
    blocked = []
    for prefix in (f"{i:02x}" for i in range(256)):
        folder = os.path.join(root, prefix)
        if os.path.isdir(folder):
            os.rmdir(folder)  # empty after the pack
        with open(folder, "w") as f:
            f.write("not a folder")
        blocked.append(folder)
    return blocked


def unblock_loose(blocked: list[str]) -> None:
    for folder in blocked:
        os.unlink(folder)


def test_a_large_commit_that_cannot_write_its_pack_loses_nothing(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Note = declare(ws)
    Note(id="first", text="kept").save()
    first = ws.commit("first")
    for i in range(400):  # past the size at which a commit's trees go into one pack
        Note(id=f"n{i:03d}", text=f"note {i}").save()
    pack_dir = block_packs(ws)
    with pytest.raises(RepositoryError, match="cannot write to the object store"):
        ws.commit("many")
    assert ws.repo.head.target == first
    assert Note.get("n123").text == "note 123"  # still staged
    unblock_packs(pack_dir)
    assert ws.has_changes()
    ws.commit("many")
    git(ws.path, "fsck", "--strict", "--no-dangling")
    listing = git(ws.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert len([p for p in listing if p.endswith("/data.json")]) == 401


def test_a_bulk_save_that_cannot_write_its_pack_stages_nothing(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Note = declare(ws)
    pack_dir = block_packs(ws)
    notes = [Note(id=f"n{i}", text="x", attachment=b"%d" % i) for i in range(50)]
    with pytest.raises(RepositoryError, match="cannot write to the object store"):
        Note.bulk_save(notes)
    with pytest.raises(Note.DoesNotExist):
        Note.get("n3")
    unblock_packs(pack_dir)
    assert not ws.has_changes()
    Note.bulk_save(notes)
    ws.commit("bulk")
    git(ws.path, "fsck", "--strict")
    assert Note.get("n3").attachment.read() == b"3"


@pytest.mark.parametrize("what", ["save", "blob", "commit"])
def test_loose_writes_that_fail_are_a_repository_error(tmp_path, what) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Note = declare(ws)
    Note(id="a", text="one").save()
    first = ws.commit("first")
    if what == "commit":
        Note(id="b", text="two").save()  # staged before the store breaks
    blocked = block_loose(ws)
    with pytest.raises(RepositoryError, match="cannot write to the object store") as caught:
        if what == "save":
            Note(id="b", text="two").save()
        elif what == "blob":
            Note(id="b", text="two", attachment=b"\x00\x01").save()
        else:
            ws.commit("second")
    assert "objects" in str(caught.value)
    assert ws.repo.head.target == first
    assert Note.get("a").text == "one"
    if what == "commit":
        assert Note.get("b").text == "two"
    else:
        with pytest.raises(Note.DoesNotExist):
            Note.get("b")
    unblock_loose(blocked)
    assert ws.has_changes() == (what == "commit")
    if what != "commit":
        Note(id="b", text="two").save()
    ws.commit("second")
    git(ws.path, "fsck", "--strict", "--no-dangling")
    assert git(ws.path, "show", "HEAD:" + Note._meta.get_data_path("b")).count("two") == 1
