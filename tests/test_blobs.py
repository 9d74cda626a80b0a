"""Blob fields keep a file name, content type and size; plain git names the file."""

from __future__ import annotations

import io
import subprocess

import pytest

from gitmodel import CorruptObject, ValidationError, Workspace, fields
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
    assert git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD").split()[-3:] == [
        "image/a/data.json", "image/a/data/.content-type", "image/a/data/one.txt"]
    assert Image.get("a").data.content_type == "text/x-one"  # explicit: kept beside the file
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


# -- streaming reads ----------------------------------------------------------------


def test_a_large_blob_is_read_in_chunks_with_bounded_memory(images):
    import hashlib
    import os
    import tracemalloc

    ws, Image = images
    content = os.urandom(8 * 1024 * 1024)
    Image(id="big", data=BlobFile(io.BytesIO(content), name="big.bin")).save(commit=True)
    reader = open_blob(Image.get("big"), "data")
    assert (reader.name, reader.size) == ("big.bin", len(content))
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        while True:
            chunk = reader.read(64 * 1024)
            if not chunk:
                break
            assert len(chunk) <= 64 * 1024
            digest.update(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest.digest() == hashlib.sha256(content).digest()
    assert peak < 1024 * 1024  # never the whole 8 MiB
    reader.close()
    git(ws.repo.path, "repack", "-adq")  # packed: read through libgit2's stream
    packed = open_blob(Image.get("big"), "data")
    assert packed.read() == content


def test_a_loose_blob_whose_bytes_do_not_match_its_id_is_a_corrupt_object(images):
    import os
    import zlib

    from gitmodel import CorruptObject

    ws, Image = images
    Image(id="a", data=b"honest bytes").save(commit=True)
    oid = Image.get("a")._data["data"]
    path = os.path.join(ws.repo.path, "objects", str(oid)[:2], str(oid)[2:])
    os.chmod(path, 0o644)
    with open(path, "wb") as out:  # another tool swapped the bytes, same length
        out.write(zlib.compress(b"blob 12\0tampered!!!"))
    with pytest.raises(CorruptObject, match="do not match"):
        open_blob(Image.get("a"), "data").read()


# -- content types ----------------------------------------------------------------------


def test_an_explicit_content_type_is_kept_and_a_guessed_one_is_not_stored(images):
    ws, Image = images
    Image(id="a", data=BlobFile(b"{}", name="a.json", content_type="application/vnd.x+json")).save()
    Image(id="b", data=BlobFile(b"{}", name="b.json")).save()
    Image(id="c", data=BlobFile(b"{}", name="c.json", content_type="application/json")).save()
    ws.commit("typed")
    files = git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert "image/a/data/.content-type" in files
    assert "image/b/data/.content-type" not in files and "image/c/data/.content-type" not in files
    assert Image.get("a").data.content_type == "application/vnd.x+json"
    assert blob_info(Image.get("a"), "data").content_type == "application/vnd.x+json"
    assert open_blob(Image.get("a"), "data").content_type == "application/vnd.x+json"
    assert Image.get("b").data.content_type == "application/json"
    for bad in ("no slash", "a/b\nc", "x" * 300 + "/y", 42):
        with pytest.raises(ValidationError):
            BlobFile(b"x", name="x.bin", content_type=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        BlobFile(b"x", name=".content-type")
    assert not ws.has_changes()


# -- merges, races, history and restores keep the real name ------------------------------


def test_a_merge_keeps_named_files_under_their_names(images):
    ws, Image = images
    Image(id="a", data=BlobFile(b"one", name="one.txt"), title="t").save()
    Image(id="b", data=b"plain", title="t").save()
    ws.commit("start")
    main = ws.branch.name
    ws.create_branch("other")
    img = Image.get("a")
    img.title = "ours"
    img.save()
    ws.commit("ours: a title")
    ws.set_branch("other")
    img = Image.get("a")
    img.data = BlobFile(b"two", name="two.md", content_type="text/x-two")
    img.save()
    img = Image.get("b")
    img.data = BlobFile(b"named now", name="b.txt")
    img.save()
    ws.commit("theirs: new files")
    ws.set_branch(main)
    result = ws.merge("other", fast_forward=False)
    assert result.commit is not None and not result.conflicts
    stat = git(ws.repo.path, "log", "-m", "--first-parent", "--stat", "--format=%s", "-1")
    assert "image/a/data/two.md" in stat and "image/b/data/b.txt" in stat
    assert "data.data" not in git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD")
    a = Image.get("a")
    assert (a.title, a.data.name, a.data.content_type, a.data.read()) == ("ours", "two.md", "text/x-two", b"two")
    git(ws.repo.path, "fsck", "--strict")


def test_both_sides_changing_a_named_file_is_a_conflict_settled_with_its_name(images):
    ws, Image = images
    Image(id="a", data=BlobFile(b"one", name="one.txt")).save(commit=True)
    main = ws.branch.name
    ws.create_branch("other")
    img = Image.get("a")
    img.data = BlobFile(b"ours", name="ours.txt")
    img.save(commit=True)
    ws.set_branch("other")
    img = Image.get("a")
    img.data = BlobFile(b"theirs", name="theirs.txt")
    img.save(commit=True)
    ws.set_branch(main)
    result = ws.merge("other")
    [conflict] = result.conflicts
    assert conflict.field == "data"
    assert (conflict.ours.name, conflict.theirs.name, conflict.base.name) == ("ours.txt", "theirs.txt", "one.txt")
    ws.resolve(conflict, "theirs")
    ws.commit("merged")
    assert Image.get("a").data.name == "theirs.txt"
    assert git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD").split() [-1] == "image/a/data/theirs.txt"


def test_a_save_merged_after_another_writer_keeps_the_real_name(images):
    ws, Image = images
    Image(id="a", data=b"plain", title="t").save(commit=True)
    stale = Image.get("a")
    other = Image.get("a")
    other.title = "changed meanwhile"
    other.save(commit=True)
    stale.data = BlobFile(b"\x89PNG", name="photo.png")
    stale.save(commit=True)  # merged onto the other writer's change
    files = git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert "image/a/data/photo.png" in files and "image/a/data.data" not in files
    assert "image/a/data/photo.png" in git(ws.repo.path, "log", "--stat", "--format=%s", "-1")
    fresh = Image.get("a")
    assert (fresh.title, fresh.data.name, fresh.data.content_type) == ("changed meanwhile", "photo.png", "image/png")
    assert stale.data.name == "photo.png"


def test_history_and_restore_follow_a_named_file(images):
    ws, Image = images
    Image(id="a", data=BlobFile(b"one", name="one.txt")).save(commit=True)
    first = ws.branch.commit.id
    img = Image.get("a")
    img.data = BlobFile(b"two", name="two.txt")
    img.save(commit=True)
    versions = Image.history("a")
    assert [v.change for v in versions] == ["modified", "added"]
    assert "data" in versions[0].changes
    assert versions[1].instance.data.name == "one.txt"
    restored = Image.restore("a", first)
    assert restored.data.name == "one.txt" and restored.data.read() == b"one"
    ws.commit("restored")
    files = git(ws.repo.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert files[-1] == "image/a/data/one.txt" and "image/a/data/two.txt" not in files


def test_a_named_file_folder_written_by_another_tool_is_read_safely(images):
    ws, Image = images
    repo = ws.repo
    huge = repo.create_blob(b"text/" + b"x" * 1000)
    for case, entries in {
        "big-type": [("a.txt", repo.create_blob(b"a")), (".content-type", huge)],
        "bad-type": [("a.txt", repo.create_blob(b"a")), (".content-type", repo.create_blob(b"not a type"))],
        "two-files": [("a.txt", repo.create_blob(b"a")), ("b.txt", repo.create_blob(b"b"))],
    }.items():
        Image(id=case, data=b"x").save()
        builder = repo.TreeBuilder()
        for name, oid in entries:
            builder.insert(name, oid, 0o100644)
        ws.remove(f"image/{case}/data.data")
        ws._unit.write(f"image/{case}/data", (builder.write(), 0o040000))
    ws.commit("folders from elsewhere")
    assert Image.get("big-type").data.content_type == "text/plain"  # the guess: the stored one is ignored
    assert Image.get("bad-type").data.content_type == "text/plain"
    with pytest.raises(CorruptObject, match="image/two-files/data"):  # not one named file
        Image.get("two-files").data
