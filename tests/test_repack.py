"""Packing loose objects (``ws.pack()`` and auto-pack): each changed folder
and data file is stored as a delta against its version in the parent
commit. Every object reads back byte for byte, plain git verifies the packs,
and damaged input is refused with nothing removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gitmodel import fields
from gitmodel.exceptions import CorruptObject, RepositoryError
from gitmodel.git import repack
from gitmodel.git.packs import loose_object_ids
from gitmodel.workspace import Workspace

SIG = pygit2.Signature("t", "t@example.com", 0, 0)


def git(path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={path}", *args], check=True,
                          capture_output=True, text=True).stdout


def store(path, shard=None) -> tuple[Workspace, type]:
    Workspace.init(path, bare=True)
    pygit2.Repository(str(path)).config["gitmodel.autoPack"] = 0
    ws = Workspace(str(path))

    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

        class Meta:
            pass

    if shard is not None:
        Page.Meta.shard = shard
    return ws, Page


def every_object(path) -> dict[str, bytes]:
    """``id -> type and content`` of every object, as plain git reads them."""
    listing = git(path, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    out = subprocess.run(["git", f"--git-dir={path}", "cat-file", "--batch"], input=("\n".join(listing) + "\n").encode(),
                         check=True, capture_output=True, text=False).stdout
    found, at = {}, 0
    for oid in listing:
        header_end = out.index(b"\n", at)
        _oid, kind, size = out[at:header_end].split()
        start = header_end + 1
        found[oid] = kind + b" " + out[start : start + int(size)]
        at = start + int(size) + 1
    return found


def chains(path) -> list[int]:
    """The delta chain length of every deltified object in the packs."""
    lengths = []
    for idx in (path / "objects" / "pack").glob("*.idx"):
        for line in git(path, "verify-pack", "-v", str(idx)).splitlines():
            parts = line.split()
            if len(parts) == 7 and len(parts[0]) == 40:
                lengths.append(int(parts[5]))
    return lengths


@pytest.mark.parametrize("shard", [2, None])
def test_single_commits_pack_as_deltas_and_read_back_unchanged(tmp_path, shard) -> None:
    path = tmp_path / "s.git"
    ws, Page = store(path, shard)
    Page.bulk_save([Page(id=f"p{i:04d}", title=f"page {i}") for i in range(300)], commit=True)
    for i in range(120):  # new objects, and one object changed again and again
        Page(id=f"n{i:04d}", title=f"new {i}").save(commit=True)
        hot = Page.get("p0007")
        hot.views += 1
        hot.save(commit=True)
    before = every_object(path)
    loose = len(loose_object_ids(ws.repo))
    assert ws.pack() == loose > 900
    assert not loose_object_ids(ws.repo)
    git(path, "fsck", "--strict", "--no-dangling")
    assert every_object(path) == before
    lengths = chains(path)
    assert len(lengths) > 240  # at least the root and the model's folder of each commit
    assert max(lengths) <= repack.MAX_DEPTH
    fresh = Workspace(str(path))
    assert fresh.models  # the schema reads back
    assert Page.get("p0007").views == 120 and Page.get("n0119").title == "new 119"


def test_the_pack_is_smaller_than_libgit2s_and_close_to_git(tmp_path) -> None:
    path = tmp_path / "s.git"
    ws, Page = store(path, 2)
    Page.bulk_save([Page(id=f"p{i:04d}", title=f"page {i}") for i in range(2000)], commit=True)
    for i in range(300):
        Page(id=f"n{i:04d}", title=f"new {i}").save(commit=True)
    copies = {}
    for name in ("ours", "libgit2", "git", "none"):
        copies[name] = tmp_path / f"{name}.git"
        shutil.copytree(path, copies[name])
    packs_before = set(os.listdir(path / "objects" / "pack"))

    def new_pack_size(where) -> int:
        return sum(os.path.getsize(where / "objects" / "pack" / n)
                   for n in os.listdir(where / "objects" / "pack") if n.endswith(".pack") and n not in packs_before)

    repack.pack_loose(pygit2.Repository(str(copies["ours"])))
    other = pygit2.Repository(str(copies["libgit2"]))
    ids = loose_object_ids(other)
    other.pack(pack_delegate=lambda builder: [builder.add(oid) for oid in ids])
    git(copies["git"], "-c", "pack.threads=1", "repack", "-dq")
    git(copies["none"], "-c", "pack.threads=1", "repack", "-dq", "--window=0")
    sizes = {name: new_pack_size(where) for name, where in copies.items()}
    assert sizes["ours"] <= sizes["libgit2"]
    assert sizes["ours"] <= sizes["none"] / 3
    assert sizes["ours"] <= 2 * sizes["git"]
    git(copies["ours"], "fsck", "--strict", "--no-dangling")


def raw_commit(repo: pygit2.Repository, files: dict[str, bytes], parent) -> pygit2.Oid:
    """A commit of ``files`` (paths of one or two parts), written loose by libgit2."""
    folders: dict[str, pygit2.TreeBuilder] = {}
    root = repo.TreeBuilder()
    for name, data in sorted(files.items()):
        folder, _, leaf = name.rpartition("/")
        blob = repo.create_blob(data)
        if folder:
            folders.setdefault(folder, repo.TreeBuilder()).insert(leaf, blob, pygit2.GIT_FILEMODE_BLOB)
        else:
            root.insert(leaf, blob, pygit2.GIT_FILEMODE_BLOB)
    for folder, builder in folders.items():
        root.insert(folder, builder.write(), pygit2.GIT_FILEMODE_TREE)
    parents = [parent] if parent is not None else []
    return repo.create_commit("refs/heads/main", SIG, SIG, "c", root.write(), parents)


_contents = st.binary(max_size=600) | st.sampled_from([b"", b"a" * 300, b"a" * 299 + b"b", b"ab" * 200])
_names = st.sampled_from(["f", "g", "d/f", "d/g", "e/f"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.dictionaries(_names, _contents, min_size=1, max_size=4), min_size=1, max_size=8))
def test_any_history_reads_back_byte_for_byte(tmp_path_factory, history) -> None:
    path = tmp_path_factory.mktemp("h") / "r.git"
    repo = pygit2.init_repository(str(path), bare=True)
    parent = None
    for files in history:  # successive versions of the same paths: delta candidates
        parent = raw_commit(repo, files, parent)
    before = every_object(path)
    moved = repack.pack_loose(repo)
    assert moved == len(before) and not loose_object_ids(repo)
    assert every_object(path) == before
    git(path, "fsck", "--strict")
    fresh = pygit2.Repository(str(path))
    for oid, content in before.items():
        assert fresh[oid].read_raw() == content.split(b" ", 1)[1]


def test_a_deep_history_of_one_file_keeps_chains_short(tmp_path) -> None:
    path = tmp_path / "r.git"
    repo = pygit2.init_repository(str(path), bare=True)
    parent = None
    text = b"line\n" * 400
    for i in range(130):  # a revert now and then: an old version comes back
        version = text + b"edit %d\n" % (i % 40)
        parent = raw_commit(repo, {"doc/page": version, "doc/other": b"fixed"}, parent)
    before = every_object(path)
    repack.pack_loose(repo)
    assert every_object(path) == before
    lengths = chains(path)
    assert lengths and max(lengths) <= repack.MAX_DEPTH
    git(path, "fsck", "--strict")


def test_a_damaged_loose_object_is_refused_and_nothing_is_removed(tmp_path) -> None:
    path = tmp_path / "s.git"
    ws, Page = store(path)
    for i in range(5):
        Page(id=f"p{i}", title="x").save(commit=True)
    ids = loose_object_ids(ws.repo)
    victim = str(ws.repo.revparse_single("HEAD").id)  # the last commit, loose
    with open(path / "objects" / victim[:2] / victim[2:], "r+b") as f:
        f.write(zlib.compress(b"commit 5\0trunc")[:8])
    with pytest.raises(CorruptObject, match=victim):
        ws.pack()
    assert sorted(loose_object_ids(ws.repo)) == sorted(ids)
    assert not list((path / "objects" / "pack").glob("*.pack"))


def test_a_pack_that_cannot_be_written_is_a_repository_error(tmp_path) -> None:
    path = tmp_path / "s.git"
    ws, Page = store(path)
    Page(id="a", title="x").save(commit=True)
    ids = loose_object_ids(ws.repo)
    shutil.rmtree(path / "objects" / "pack")
    (path / "objects" / "pack").write_text("not a folder")
    with pytest.raises(RepositoryError, match="cannot write to the object store"):
        ws.pack()
    assert sorted(loose_object_ids(ws.repo)) == sorted(ids)
    assert Page.get("a").title == "x"


def _pack_in_a_loop(path: str, stop, queue) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(path)
    raw: list[str] = []
    while not stop.is_set():
        try:
            ws.pack()
        except Exception as exc:  # noqa: BLE001 - what leaks is the finding
            raw.append(f"{type(exc).__name__}: {exc}")
    queue.put(raw)


def test_packs_of_several_processes_at_once_wait_for_each_other(tmp_path) -> None:
    """Two processes call ``ws.pack()`` over and over while a third commits
    (auto-packing every 20 loose objects): each pack waits for the other's,
    none fails on the files the other removed, and nothing is lost."""
    import multiprocessing as mp

    path = tmp_path / "store.git"
    ws = Workspace.init(path)
    ws.repo.config["gitmodel.autoPack"] = "20"

    class Rec(ws.GitModel):
        text = fields.CharField(required=False)

    context = mp.get_context("spawn")
    stop, queue = context.Event(), context.Queue()
    packers = [context.Process(target=_pack_in_a_loop, args=(str(path), stop, queue)) for _ in range(2)]
    for p in packers:
        p.start()
    for i in range(400):
        Rec(id=f"r{i}", text=str(i)).save(commit=True, message=f"r{i}")
    stop.set()
    leaked = [queue.get(timeout=120) for _ in packers]
    for p in packers:
        p.join(timeout=60)
    assert leaked == [[], []]
    assert sorted(Rec.all().ids()) == sorted(f"r{i}" for i in range(400))
    git(path, "fsck", "--strict")
