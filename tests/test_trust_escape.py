"""Nothing is written, deleted or followed outside the repository and its
work tree, whatever a remote or another tool put in the repository: trees
with symlinks, submodules and ``.git`` aliases, symlinks planted in the work
tree, ``HEAD`` files naming paths outside, index and lock files replaced by
symlinks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2
import pytest

from attacker import GITLINK, LINK, commit_files, files_below, git, page_json
from gitmodel import CorruptObject, GitModelError, RepositoryError, fields
from gitmodel.workspace import Workspace
from gitservers import GitDaemon


def define_page(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(required=False)
        n = fields.IntegerField(default=0, index=True)

    return Page


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder of someone else's that nothing may touch (think ``~/.ssh``)."""
    folder = tmp_path / "victim-home" / ".ssh"
    folder.mkdir(parents=True)
    (folder / "authorized_keys").write_text("ssh-ed25519 AAAA the victim's key\n")
    return folder


def untouched(outside: Path) -> bool:
    return files_below(outside) == ["authorized_keys"] and (
        outside / "authorized_keys"
    ).read_text() == "ssh-ed25519 AAAA the victim's key\n"


# -- a hostile remote, served by git daemon ---------------------------------------------
@pytest.fixture
def remote(tmp_path: Path):
    root = tmp_path / "server"
    root.mkdir()
    repo = pygit2.init_repository(str(root / "evil.git"), bare=True)
    commit_files(repo, {"page/ok/data.json": page_json("ok", title="fine")})
    with GitDaemon(root) as daemon:
        yield repo, daemon.url("evil.git")


def test_symlinked_model_folder_from_a_remote_is_never_followed(remote, tmp_path, outside):
    repo, url = remote
    ws = Workspace.clone(url, tmp_path / "victim", bare=False)
    define_page(ws)
    ws.sync_repo_index()
    page = tmp_path / "victim" / "page"
    # the remote turns the model folder into a symlink to the victim's ~/.ssh
    commit_files(repo, {"page": (LINK, str(outside).encode())})
    try:
        ws.pull()  # keeping the work tree in step may refuse it: fine
    except GitModelError:
        pass
    if ws.repo[ws.lookup("page")[0]].type_str == "blob":  # the pull went through
        with pytest.raises(CorruptObject) as exc:
            ws.sync_repo_index()
        assert exc.value.path == "page" and exc.value.commit == ws.branch.oid
    # then commits a file "inside" it: still nothing reaches the victim's folder
    commit_files(repo, {"page/authorized_keys/data.json": b"ssh-rsa attacker\n"})
    for step in (ws.pull, ws.sync_repo_index):
        try:
            step()
        except GitModelError:
            pass
    assert untouched(outside)
    assert not os.path.lexists(outside / "authorized_keys" / "data.json")


def test_a_symlink_planted_in_the_work_tree_is_never_written_through(remote, tmp_path, outside):
    repo, url = remote
    ws = Workspace.clone(url, tmp_path / "victim", bare=False)
    Page = define_page(ws)
    work = tmp_path / "victim"
    # as plain git would have checked it out from an older commit: page -> ~/.ssh
    import shutil

    shutil.rmtree(work / "page")
    os.symlink(outside, work / "page")
    Page(id="x", title="new").save()
    with pytest.raises(RepositoryError, match="symlink"):
        ws.sync_repo_index()
    try:
        ws.commit("x")  # keeping the work tree in step refuses or writes safely
    except GitModelError:
        pass
    assert untouched(outside)


@pytest.mark.parametrize(
    "path",
    ["page", "page/ok", "page/ok/data.json", "notes", "deep/er/link", ".gitmodules"],
)
def test_symlink_entries_are_refused_before_anything_is_written(tmp_path, outside, path):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    files = {"page/ok/data.json": page_json("ok")} if not path.startswith("page") else {}
    files[path] = (LINK, str(outside).encode())
    commit = commit_files(repo, files)
    ws = Workspace(repo.path)
    define_page(ws)
    index_before = Path(repo.path, "index").exists()
    with pytest.raises(CorruptObject) as exc:
        ws.sync_repo_index()
    assert exc.value.path == path and exc.value.commit == commit
    assert "symlink" in str(exc.value)
    assert Path(repo.path, "index").exists() == index_before  # nothing was written
    assert not os.path.lexists(tmp_path / "victim" / path)
    assert untouched(outside)


@pytest.mark.parametrize(
    "name", [b".git", b".GIT", b"git~1", b".git.", b".git ", b".g\xe2\x80\x8cit", b".git\xef\xbb\xbf"]
)
@pytest.mark.parametrize("where", [b"", b"page/"])
def test_git_folder_aliases_in_a_tree_are_refused(tmp_path, name, where):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    commit_files(repo, {where + name + b"/hooks/post-checkout": b"#!/bin/sh\necho owned\n"})
    ws = Workspace(repo.path)
    with pytest.raises(CorruptObject, match=".git"):
        ws.sync_repo_index()
    assert not Path(repo.path, "hooks", "post-checkout").exists()
    assert files_below(tmp_path / "victim") == [".git"] + [
        p for p in files_below(tmp_path / "victim") if p.startswith(".git/")
    ]


def test_submodule_entries_and_model_folders_that_are_files_are_refused(tmp_path):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    commit = commit_files(repo, {"vendor": (GITLINK, pygit2.Oid(hex="1" * 40))})
    ws = Workspace(repo.path)
    with pytest.raises(CorruptObject, match="submodule"):
        ws.sync_repo_index()
    commit = commit_files(repo, {"page": b"not a folder"}, base=False)
    ws.refresh()
    define_page(ws)
    with pytest.raises(CorruptObject) as exc:
        ws.sync_repo_index()
    assert exc.value.path == "page" and exc.value.commit == commit


# -- HEAD and refs ---------------------------------------------------------------------
BAD_HEADS = [
    "ref: refs/heads/../../../outside/x\n",
    "ref: refs/heads/../../config\n",
    "ref: refs/tags/v1\n",
    "ref: HEAD\n",
    "ref: refs/heads/a..b\n",
    "ref: refs/heads/x.lock\n",
    "ref: refs/heads/ok\nextra\n",
    "ref: refs/heads/\n",
    "ref: \n",
    "ref:refs/heads/x\n",
    "garbage\n",
    "",
    "0" * 40 + "\n",
    "1" * 40 + "\n",
]


@pytest.mark.parametrize("head", BAD_HEADS, ids=repr)
def test_malformed_head_is_refused_and_nothing_outside_is_touched(tmp_path, head):
    repo_path = tmp_path / "a" / "b" / "store.git"
    pygit2.init_repository(str(repo_path), bare=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    stale = outside / "x.lock"
    stale.write_text("someone else's file\n")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    (repo_path / "HEAD").write_text(head)
    with pytest.raises(RepositoryError, match="HEAD"):
        Workspace(repo_path)
    assert stale.read_text() == "someone else's file\n"
    assert files_below(outside) == ["x.lock"]


def test_detached_head_at_a_commit_still_opens(tmp_path):
    repo = pygit2.init_repository(str(tmp_path / "store.git"), bare=True)
    commit = commit_files(repo, {"page/ok/data.json": page_json("ok")})
    (Path(repo.path) / "HEAD").write_text(f"{commit}\n")
    ws = Workspace(repo.path)
    assert ws.head == "refs/heads/master"


# -- files gitmodel keeps in the git folder ------------------------------------------------
@pytest.fixture
def store(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")
    Page = define_page(ws)
    for i in range(5):
        Page(id=f"p{i}", n=i).save()
    ws.commit("five")
    return ws, Page


@pytest.mark.parametrize("what", ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "folder"])
def test_the_index_file_is_never_followed_through_a_symlink(store, outside, what):
    ws, Page = store
    target = outside / "planted"
    folder = Path(ws.path) / "gitmodel"
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    if what == "folder":
        os.symlink(outside, folder)
    else:
        folder.mkdir()
        os.symlink(target, folder / what)
    fresh = Workspace(ws.path)
    FreshPage = define_page(fresh)
    assert FreshPage.filter(n=3).ids() == ["p3"]
    assert FreshPage.filter(n__gte=3).count() == 2
    assert untouched(outside) and not target.exists()
    assert not folder.is_symlink()


@pytest.mark.parametrize("kind", ["folder", "fifo-free file in place of the folder"])
def test_an_index_path_that_is_not_a_file_makes_queries_scan(store, kind):
    ws, Page = store
    folder = Path(ws.path) / "gitmodel"
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    if kind == "folder":
        (folder / "index.sqlite").mkdir(parents=True)
    else:
        folder.write_text("not a folder")
    fresh = Workspace(ws.path)
    FreshPage = define_page(fresh)
    assert FreshPage.filter(n=2).ids() == ["p2"]
    assert sorted(FreshPage.filter(n__lt=2).ids()) == ["p0", "p1"]


def test_lock_refs_are_not_written_through_a_symlinked_folder(store, outside):
    ws, _Page = store
    locks = Path(ws.path) / "refs" / "locks"
    os.symlink(outside, locks)
    with pytest.raises(RepositoryError, match="symlink"):
        with ws.lock("job", timeout=1):
            pass
    assert untouched(outside)


def test_a_cloned_remote_cannot_point_head_outside(remote, tmp_path):
    repo, url = remote
    # the server's HEAD names a path outside: the clone opens its own branch
    (Path(repo.path) / "HEAD").write_text("ref: refs/heads/../../../x\n")
    try:
        ws = Workspace.clone(url, tmp_path / "victim")
    except GitModelError:
        return  # refused: fine
    assert ws.head.startswith("refs/heads/") and ".." not in ws.head
    assert git(ws.path, "fsck", "--strict").returncode == 0


def test_ordinary_git_dot_files_are_checked_out(tmp_path):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    commit_files(repo, {".gitignore": b"*.tmp\n", ".gitattributes": b"*.json text\n",
                        "page/ok/data.json": page_json("ok")})
    ws = Workspace(repo.path)
    define_page(ws)
    ws.sync_repo_index()
    assert (tmp_path / "victim" / ".gitignore").read_text() == "*.tmp\n"
    assert (tmp_path / "victim" / "page" / "ok" / "data.json").is_file()


@pytest.mark.parametrize("name", [".gitmodules", "gitmod~1", ".GITATTRIBUTES"])
def test_folders_named_like_git_dot_files_are_refused(tmp_path, name):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    commit_files(repo, {f"{name}/x": b"x"})
    with pytest.raises(CorruptObject) as exc:
        Workspace(repo.path).sync_repo_index()
    assert exc.value.path == name
    assert not (tmp_path / "victim" / name).exists()


def test_a_work_tree_moved_by_the_config_is_not_checked_out(tmp_path, outside):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    commit_files(repo, {"authorized_keys": b"ssh-rsa attacker\n"})
    repo.config["core.worktree"] = str(outside)
    ws = Workspace(str(tmp_path / "victim" / ".git"))
    assert os.path.realpath(ws.repo.workdir) == os.path.realpath(outside)
    with pytest.raises(RepositoryError, match="work tree"):
        ws.sync_repo_index()
    assert untouched(outside)


def test_a_linked_work_tree_is_checked_out(tmp_path):
    main = pygit2.init_repository(str(tmp_path / "main"), bare=False)
    commit_files(main, {"page/ok/data.json": page_json("ok")})
    git(main.path, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "side")
    ws = Workspace(str(tmp_path / "linked"))
    define_page(ws)
    ws.sync_repo_index()
    assert (tmp_path / "linked" / "page" / "ok" / "data.json").is_file()


@pytest.mark.parametrize("kind", ["symlink", "folder", "garbage"])
def test_the_repository_index_file_is_never_followed(tmp_path, outside, kind):
    repo = pygit2.init_repository(str(tmp_path / "victim"), bare=False)
    commit_files(repo, {"page/ok/data.json": page_json("ok")})
    index = Path(repo.path) / "index"
    if index.exists():
        index.unlink()
    if kind == "symlink":
        os.symlink(outside / "authorized_keys", index)
    elif kind == "folder":
        index.mkdir()
    else:
        index.write_bytes(b"DIRC garbage")
    ws = Workspace(repo.path)
    define_page(ws)
    try:
        ws.sync_repo_index()
    except RepositoryError:
        assert kind != "symlink"
    else:
        assert (tmp_path / "victim" / "page" / "ok" / "data.json").is_file()
    assert untouched(outside)
    assert not index.is_symlink()


@pytest.mark.parametrize("what", ["loose object", "fan-out folder", "pack folder"])
def test_objects_are_never_read_through_a_symlink_out(tmp_path, outside, what):
    repo = pygit2.init_repository(str(tmp_path / "store.git"), bare=True)
    commit = commit_files(repo, {"page/ok/data.json": page_json("ok", title="fine")})
    blob = repo[commit].tree["page/ok/data.json"].id
    loose = Path(repo.path) / "objects" / str(blob)[:2] / str(blob)[2:]
    if what == "loose object":
        moved = outside / "object"
        loose.rename(moved)
        os.symlink(moved, loose)
    else:
        folder = loose.parent if what == "fan-out folder" else Path(repo.path) / "objects" / "pack"
        moved = outside / folder.name
        folder.rename(moved)
        os.symlink(moved, folder)
    before = sorted(files_below(outside))
    with pytest.raises(CorruptObject, match="symlink"):
        Workspace(repo.path)
    assert sorted(files_below(outside)) == before
