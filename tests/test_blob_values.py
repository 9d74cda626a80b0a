"""What a BlobField value is after a save, a copy and a stream: the bytes
written once stay the bytes stored."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gitmodel import Workspace, fields
from gitmodel.blobs import BlobFile, blob_info

ROOT = Path(__file__).resolve().parents[1]


def docs(ws: Workspace) -> type:
    return type("Doc", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                        "f": fields.BlobField(required=False)})


class Stream(io.RawIOBase):
    """A file object that is not in memory (an upload, a socket)."""

    def __init__(self, data: bytes) -> None:
        self.left = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        k = min(len(buffer), len(self.left))
        buffer[:k], self.left = self.left[:k], self.left[k:]
        return k


def stored(run_git, ws: Workspace, Doc: type, ident: str) -> bytes:
    path = Doc._meta.get_blob_path(ident, Doc._meta.get_field("f"))
    info = blob_info(Doc.get(ident), "f")
    if info is not None and info.name:
        path = f"{Doc._meta.get_object_folder(ident)}/f/{info.name}"
    return subprocess.run(["git", f"--git-dir={ws.path}", "show", f"HEAD:{path}"],
                          capture_output=True, check=True).stdout


@pytest.mark.parametrize("name", [None, "notes.txt"], ids=["unnamed", "named"])
@pytest.mark.parametrize("how", ["save", "bulk_save"])
def test_a_streamed_file_stays_stored_when_the_object_is_saved_again(ws: Workspace, run_git, name, how) -> None:
    Doc = docs(ws)
    objs = [Doc(id=f"d{i}", title="one", f=BlobFile(Stream(b"payload %d" % i), name=name)) for i in range(2)]
    if how == "save":
        for obj in objs:
            obj.save(commit=True, message="one")
    else:
        Doc.bulk_save(objs, commit=True, message="one")
    for obj in objs:
        obj.title = "two"
    if how == "save":
        for obj in objs:
            obj.save(commit=True, message="two")
    else:
        Doc.bulk_save(objs, commit=True, message="two")  # no conflict nobody caused
    for i, obj in enumerate(objs):
        assert Doc.get(obj.id).title == "two"
        assert Doc.get(obj.id).f.read() == b"payload %d" % i
        assert stored(run_git, ws, Doc, obj.id) == b"payload %d" % i
    run_git(ws.path, "fsck", "--strict")


def test_one_streamed_file_given_to_two_objects_is_stored_in_both(ws: Workspace, run_git) -> None:
    Doc = docs(ws)
    upload = BlobFile(Stream(b"shared"), name="s.txt")
    Doc(id="a", title="a", f=upload).save(commit=True)
    Doc(id="b", title="b", f=upload).save(commit=True)
    assert Doc.get("a").f.read() == Doc.get("b").f.read() == b"shared"
    assert stored(run_git, ws, Doc, "b") == b"shared"


def test_a_file_copied_from_another_object_keeps_its_name_and_type(ws: Workspace, run_git) -> None:
    Doc = docs(ws)
    Doc(id="a", title="a", f=BlobFile(b"%PDF-1.7", name="report.pdf", content_type="application/x-report")).save()
    ws.commit("a")
    copy = Doc(id="b", title="b")
    copy.f = Doc.get("a").f
    copy.save(commit=True)
    info = blob_info(Doc.get("b"), "f")
    assert (info.name, info.content_type) == ("report.pdf", "application/x-report")
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD")
    assert f"{Doc._meta.get_object_folder('b')}/f/report.pdf" in listing.split()
    assert stored(run_git, ws, Doc, "b") == b"%PDF-1.7"


def test_text_and_in_memory_files_are_stored_as_before(ws: Workspace) -> None:
    Doc = docs(ws)
    Doc(id="t", title="t", f=io.StringIO("héllo")).save()
    Doc(id="m", title="m", f=io.BytesIO(b"in memory")).save()
    ws.commit("both")
    assert Doc.get("t").f.read() == "héllo".encode()
    assert Doc.get("m").f.read() == b"in memory"


def test_a_plain_file_object_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    """Assigned straight to the field (``Doc(f=upload)``), not wrapped: streamed on save."""
    script = textwrap.dedent(f"""
        import io, sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_blob_values import Stream
        from gitmodel import Workspace, fields

        def peak():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024

        class Zeros(io.RawIOBase):
            def __init__(self, n): self.n = n
            def readable(self): return True
            def readinto(self, b):
                k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k

        ws = Workspace.init({str(tmp_path / "big.git")!r})
        class Doc(ws.GitModel):
            f = fields.BlobField()
        Doc(id="warm", f=b"x").save(commit=True)
        before = peak()
        Doc(id="big", f=Zeros(96 * 1024 * 1024)).save(commit=True)
        print(peak() - before)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    grew = int(done.stdout.split()[0])
    assert grew < 40, f"saving a 96 MB stream grew the process by {grew} MB"
    size = subprocess.run(["git", f"--git-dir={tmp_path / 'big.git'}", "cat-file", "-s", "HEAD:doc/big/f.data"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert size == str(96 * 1024 * 1024)
