"""Every failure on data from others is a gitmodel error (``CorruptObject``
naming the path where it is data), never a raw pygit2, OS or JSON error,
and never a hang."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pygit2
import pytest

from attacker import TREE, build_tree, commit_files, page_json
from gitmodel import CorruptObject, GitModelError, RemoteError, fields
from gitmodel.workspace import Workspace
from gitservers import GitDaemon


def define(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(required=False, index=True)
        body = fields.BlobField(required=False)

    return Page


@pytest.fixture
def store(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")
    Page = define(ws)
    Page(id="ok", title="fine", body=b"attached").save(commit=True)
    return ws, Page


def every_read(Page, object_id: str) -> list:
    return [
        lambda: Page.get(object_id),
        lambda: Page.get(object_id).body,
        lambda: list(Page.all()),
        lambda: Page.all().count(),
        lambda: Page.all().ids(),
        lambda: Page.filter(title="fine").ids(),
        lambda: Page.filter(title__contains="f").count(),
    ]


def only_gitmodel_errors(calls: list) -> int:
    """Run each call; any exception must be a GitModelError. Returns how many raised."""
    raised = 0
    for call in calls:
        try:
            call()
        except GitModelError:
            raised += 1
    return raised


def corrupt_loose(repo: pygit2.Repository, oid: pygit2.Oid, data: bytes) -> None:
    path = Path(repo.path, "objects", str(oid)[:2], str(oid)[2:])
    os.chmod(path, 0o644)
    path.write_bytes(data)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not zlib at all", zlib.compress(b"blob 999\x00short"), zlib.compress(b"nonsense header"),
     zlib.compress(b"blob 3\x00abc")[:-3]],
)
def test_a_corrupt_loose_data_blob_is_a_corrupt_object(store, garbage):
    ws, Page = store
    oid = ws.lookup("page/ok/data.json")[0]
    fresh = Workspace(ws.path)
    FreshPage = define(fresh)
    corrupt_loose(ws.repo, oid, garbage)
    with pytest.raises(CorruptObject) as exc:
        FreshPage.get("ok")
    assert exc.value.path == "page/ok/data.json"
    assert only_gitmodel_errors(every_read(FreshPage, "ok")) >= 3


def test_a_corrupt_loose_tree_is_a_corrupt_object(store):
    ws, Page = store
    tree = ws.repo[ws.lookup("page")[0]]
    fresh = Workspace(ws.path)
    FreshPage = define(fresh)
    corrupt_loose(ws.repo, tree.id, zlib.compress(b"tree 5\x00ab"))
    assert only_gitmodel_errors(every_read(FreshPage, "ok")) == len(every_read(FreshPage, "ok"))


@pytest.mark.parametrize("kind", ["missing", "folder", "corrupt"])
def test_a_bad_blob_field_entry_is_a_corrupt_object(store, kind):
    ws, Page = store
    files = {"page/ok/data.json": page_json("ok", title="fine")}
    if kind == "missing":
        files["page/ok/body.data"] = pygit2.Oid(hex="2" * 40)
    elif kind == "folder":
        files["page/ok/body.data/x"] = b"a folder where a file should be"
    commit_files(ws.repo, files, base=False)
    if kind == "corrupt":
        commit_files(ws.repo, {**files, "page/ok/body.data": b"to be broken"}, base=False)
        corrupt_loose(ws.repo, ws.repo.create_blob(b"to be broken"), b"garbage")
    fresh = Workspace(ws.path)
    FreshPage = define(fresh)
    page = FreshPage.get("ok")
    with pytest.raises(CorruptObject) as exc:
        page.body
    assert exc.value.path == "page/ok/body.data"
    assert only_gitmodel_errors(every_read(FreshPage, "ok")) >= 1


@pytest.mark.parametrize(
    "name", [b"", b"a\x00b"], ids=["empty name", "nul in name"]
)
def test_tree_entries_git_cannot_parse_are_corrupt_objects(store, name):
    ws, Page = store
    repo = ws.repo
    ok = build_tree(repo, {"data.json": page_json("ok", title="fine")})
    # a tree whose entry name is empty (or cut by a NUL): hand-written bytes
    bad = repo.odb.write(
        pygit2.enums.ObjectType.TREE,
        b"40000 " + name + b"\x00" + ok.raw + b"40000 ok\x00" + ok.raw,
    )
    root = repo.odb.write(pygit2.enums.ObjectType.TREE, b"40000 page\x00" + bad.raw)
    commit = repo.create_commit(None, *(pygit2.Signature("m", "m@x"),) * 2, "bad", root,
                                [ws.branch.oid])
    repo.references["refs/heads/master"].set_target(commit)
    fresh = Workspace(ws.path)
    FreshPage = define(fresh)
    calls = every_read(FreshPage, "ok") + [fresh.sync_repo_index, lambda: fresh.changes("HEAD~1")]
    assert only_gitmodel_errors(calls) >= 3


@pytest.mark.parametrize(
    "doc",
    [
        b'{"model": "Page", "fields": {"id": "ok", "title": ' + b"9" * 5000 + b"}}",
        b'{"model": "Page", "fields": {"id": "ok", "n": ' + b"9" * 5000 + b"}}",
        b'{"model": "Page", "fields": {"id": "ok", "unknown": NaN}}',
        b'{"model": "Page", "fields": {"id": "ok", "unknown": [Infinity]}}',
        b'{"model": "Page", "fields": {"id": "ok", "unknown": 1e999}}',
        b'{"model": "Page", "fields": {"id": "ok", "unknown": -1e400}}',
        b'{"model": "Page", "fields": {"id": "ok", "title": {"a": NaN}}}',
    ],
)
def test_huge_numbers_and_nan_are_corrupt_objects(store, doc):
    ws, Page = store
    commit_files(ws.repo, {"page/ok/data.json": doc}, base=False)
    with pytest.raises(CorruptObject) as exc:
        Page.get("ok")
    assert exc.value.path == "page/ok/data.json"
    assert only_gitmodel_errors(every_read(Page, "ok")) >= 4  # get, listings: all report it


def test_unknown_fields_that_are_valid_json_survive_a_save(store):
    ws, Page = store
    commit_files(ws.repo, {"page/ok/data.json": page_json("ok", title="x", extra=2**70)}, base=False)
    page = Page.get("ok")
    page.title = "y"
    page.save(commit=True)
    assert b"1180591620717411303424" in ws.repo[ws.lookup("page/ok/data.json")[0]].data


# -- pulls from a hostile remote ---------------------------------------------------
@pytest.fixture
def hostile(tmp_path):
    root = tmp_path / "server"
    root.mkdir()
    repo = pygit2.init_repository(str(root / "evil.git"), bare=True)
    commit_files(repo, {"page/ok/data.json": page_json("ok", title="fine")})
    daemon = GitDaemon(root)
    yield repo, daemon
    daemon.stop()


def test_a_pull_that_fails_is_a_remote_error_and_changes_nothing(hostile, tmp_path):
    repo, daemon = hostile
    ws = Workspace.clone(daemon.url("evil.git"), tmp_path / "victim")
    Page = define(ws)
    head = ws.branch.oid
    daemon.stop()  # the server goes away
    with pytest.raises(RemoteError):
        ws.pull()
    assert ws.branch.oid == head and Page.get("ok").title == "fine"


def test_pulling_foreign_data_never_raises_raw_errors(hostile, tmp_path):
    repo, daemon = hostile
    ws = Workspace.clone(daemon.url("evil.git"), tmp_path / "victim")
    Page = define(ws)
    Page(id="mine", title="local").save(commit=True)
    # the remote rewrites the folder with junk of every kind
    commit_files(repo, {
        "page/ok/data.json": b"\xff not json",
        "page/..": b"x",
        "page/x/data.json": (TREE, build_tree(repo, {"y": b"z"})),
        "page/big/data.json": b'{"model": "Page", "fields": {"title": ' + b"9" * 5000 + b"}}",
        "page/nan/data.json": b'{"model": "Page", "fields": {"title": NaN}}',
        "page/git~1/data.json": page_json("git~1"),
    })
    head = ws.branch.oid
    with pytest.raises(CorruptObject, match=r"\.\."):
        ws.pull()  # the merge meets the folder entry named "..": refused as a whole
    assert ws.branch.oid == head and not ws.merging and not ws.has_changes()
    assert Page.get("mine").title == "local" and Page.get("ok").title == "fine"
    # taken as it is (a fast-forward of a fresh clone), every read is a gitmodel error or right
    other = Workspace.clone(daemon.url("evil.git"), tmp_path / "second")
    OtherPage = define(other)
    assert only_gitmodel_errors(every_read(OtherPage, "ok")) >= 4
    qs = OtherPage.all(errors="skip")
    assert [p.id for p in qs] == [] and len(qs.skipped) == 5  # "page/.." is no data file


def test_a_server_that_never_answers_fails_within_the_timeout(tmp_path, store):
    """A hostile server accepts the connection and then says nothing."""
    import socket
    import threading

    ws, _Page = store
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    held: list = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # and never write a byte
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    before = pygit2.settings.server_timeout
    try:
        from gitmodel import remotes

        # with no timeout set in the process, any transfer sets gitmodel's bound
        pygit2.settings.server_timeout = 0
        ws.add_remote("itself", ws.path)
        ws.fetch("itself")
        assert pygit2.settings.server_timeout == remotes.SERVER_TIMEOUT_MS > 0
        ws.add_remote("silent", f"git://127.0.0.1:{port}/x.git")
        pygit2.settings.server_timeout = 1000  # shortened so that the test is quick
        with pytest.raises(RemoteError):
            ws.fetch("silent")
        for url in (f"http://127.0.0.1:{port}/x.git",):
            with pytest.raises(RemoteError):
                Workspace.clone(url, tmp_path / "never")
    finally:
        pygit2.settings.server_timeout = before
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


def test_corrupt_objects_name_the_commit_they_came_from(store):
    ws, Page = store
    commit = commit_files(ws.repo, {"page/ok/data.json": b"not json"}, base=False)
    ws.refresh()
    for call in (lambda: Page.get("ok"), lambda: list(Page.all()), lambda: Page.all().count(),
                 lambda: Page.get("ok", treeish="master")):
        with pytest.raises(CorruptObject) as exc:
            call()
        assert exc.value.commit == commit and str(commit)[:12] in str(exc.value)
    skipping = Page.all(errors="skip")
    assert list(skipping) == [] and [e.commit for e in skipping.skipped] == [commit]


@pytest.mark.parametrize("evil", [
    {"page/../data.json": page_json(".."), "page/ok/data.json": page_json("ok", title="fine")},
    {"page/.git/data.json": page_json(".git"), "page/ok/data.json": page_json("ok", title="fine")},
    {"page/ok/data.json": page_json("ok", title="fine"), "page/ok/Data.json/x": b"x",
     "page/GIT~1/data.json": page_json("GIT~1")},
])
def test_a_fast_forward_pull_refuses_names_git_refuses(tmp_path, evil):
    """A pull that would only move the branch forward still takes their
    commit as untrusted input: a folder or file name fsck refuses is a
    CorruptObject naming it, and the branch, staging and merge stay put."""
    hub = tmp_path / "hub.git"
    Workspace.init(hub, bare=True)
    mine = Workspace.init(tmp_path / "mine.git")
    define(mine)(id="ok", title="fine").save(commit=True)
    mine.add_remote("origin", str(hub))
    mine.push(set_upstream=True)
    repo = pygit2.Repository(str(hub))
    commit_files(repo, {**evil, ".gitmodel/schema/Page.json": repo.get(
        repo.revparse_single("master:.gitmodel/schema/Page.json").id).data})
    head = mine.branch.oid
    with pytest.raises(CorruptObject, match="brought in by commit"):
        mine.pull()
    assert mine.branch.oid == head and not mine.merging and not mine.has_changes()
    assert [p.title for p in define(Workspace(mine.path)).all()] == ["fine"]
