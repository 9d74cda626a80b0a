"""Blob fields keep a file name, content type and size; plain git names the file."""

from __future__ import annotations

import io
import subprocess

import pytest

from gitmodel import ValidationError, Workspace, fields
from gitmodel.blobs import BlobFile, blob_info, open_blob


def git(path, *args):
    return subprocess.run(["git", f"--git-dir={path}", *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def images(tmp_path):
    ws = Workspace.init(tmp_path / "img.git")

    class Image(ws.GitModel):
        data = fields.BlobField()
        title = fields.CharField(required=False)

    return ws, Image


def test_a_named_file_is_stored_under_its_name_and_read_back_with_it(images):
    ws, Image = images
    Image(id="logo", data=BlobFile(io.BytesIO(b"\x89PNG" + b"x" * 100_000), name="logo.png")).save()
    Image(id="old", data=b"no name").save()
    ws.commit("images")
    stat = git(ws.repo.path, "log", "--stat", "--format=%s", "-1")
    assert "image/logo/data/logo.png" in stat and "image/old/data.data" in stat
    logo = Image.get("logo").data
    assert (logo.name, logo.content_type, logo.size) == ("logo.png", "image/png", 100_004)
    assert logo.read(4) == b"\x89PNG"
    info = blob_info(Image.get("logo"), "data")
    assert (info.name, info.content_type, info.size) == ("logo.png", "image/png", 100_004)
    assert open_blob(Image.get("logo"), "data").read() == logo.getvalue()
    old = Image.get("old").data
    assert (old.read(), old.name, old.content_type) == (b"no name", None, "application/octet-stream")
    git(ws.repo.path, "fsck", "--strict")


def test_replacing_a_named_file_leaves_no_old_copy_and_history_keeps_it(images):
    ws, Image = images
    Image(id="a", data=BlobFile(b"one", name="one.txt", content_type="text/x-one")).save(commit=True)
    img = Image.get("a")
    img.title = "kept"
    img.save(commit=True)  # an untouched file stays where it was
    assert git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD").split()[-2:] == [
        "image/a/data.json", "image/a/data/one.txt"]
    img = Image.get("a")
    img.data = BlobFile(b"two", name="two.txt")
    img.save(commit=True)
    assert "image/a/data/one.txt" not in git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD")
    assert Image.get("a").data.read() == b"two"
    assert Image.get("a", treeish="HEAD~1").data.name == "one.txt"
    img = Image.get("a")
    img.data = None
    img.save(commit=True)
    assert Image.get("a").data is None


def test_a_bad_file_name_is_refused_before_anything_is_staged(images):
    ws, Image = images
    for name in ("../x", "a/b", ".git", "data"):
        with pytest.raises(ValidationError):
            Image(id="x", data=BlobFile(b"x", name=name)).save()
    with pytest.raises(ValidationError):
        BlobFile(42)  # type: ignore[arg-type]
    assert not ws.has_changes()
