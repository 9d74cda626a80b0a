"""A non-bare clone of a hostile remote (served by ``git daemon`` and by
``git http-backend`` on 127.0.0.1) never gets a symlink, a submodule or a
``.git`` alias in its work tree and writes nothing outside it: the work
tree is written by gitmodel's own checked checkout, never by libgit2's."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from attacker import GITLINK, LINK, commit_files, files_below, git, page_json
from gitmodel import CorruptObject, GitModelError, fields
from gitmodel.workspace import Workspace
from gitservers import GitDaemon, GitHttpServer


@pytest.fixture(params=["git daemon", "http-backend"])
def server(request, tmp_path: Path):
    root = tmp_path / "server"
    root.mkdir()
    repo = pygit2.init_repository(str(root / "evil.git"), bare=True)
    serving = GitDaemon(root) if request.param == "git daemon" else GitHttpServer(root)
    callbacks = None
    if request.param == "http-backend":
        callbacks = pygit2.RemoteCallbacks(credentials=pygit2.UserPass("alice", "s3cret"))
    try:
        yield repo, serving.url("evil.git"), callbacks
    finally:
        serving.stop()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "victim-home" / ".ssh"
    folder.mkdir(parents=True)
    (folder / "authorized_keys").write_text("the victim's key\n")
    return folder


def untouched(outside: Path) -> bool:
    return files_below(outside) == ["authorized_keys"] and (outside / "authorized_keys").read_text() == "the victim's key\n"


def hostile_trees(outside: Path) -> dict[str, dict]:
    ok = {"page/ok/data.json": page_json("ok", title="fine")}
    return {
        "model folder symlinked out": {**ok, "page/evil": (LINK, str(outside).encode())},
        "top-level symlink out": {**ok, "keys": (LINK, str(outside / "authorized_keys").encode())},
        "relative symlink out": {**ok, "up": (LINK, b"../../victim-home/.ssh")},
        "symlink inside": {**ok, "alias": (LINK, b"page")},
        "symlinked data file": {"page/ok/data.json": (LINK, str(outside / "authorized_keys").encode())},
        "submodule": {**ok, "vendor": (GITLINK, pygit2.Oid(hex="1" * 40))},
        ".GIT alias with a hook": {**ok, ".GIT/hooks/post-checkout": b"#!/bin/sh\necho owned\n"},
        "git~1 alias": {**ok, "git~1/config": b"[core]\n\tworktree = /\n"},
        "folder named .gitmodules": {**ok, ".gitmodules/x": b"x"},
    }


CASES = list(hostile_trees(Path("/")))


@pytest.mark.parametrize("case", CASES)
def test_a_non_bare_clone_of_a_hostile_tree_is_refused_and_writes_nothing_outside(server, tmp_path, outside, case):
    repo, url, callbacks = server
    commit = commit_files(repo, hostile_trees(outside)[case])
    target = tmp_path / "clone"
    with pytest.raises(CorruptObject) as exc:
        Workspace.clone(url, target, bare=False, callbacks=callbacks)
    assert exc.value.commit == commit
    assert untouched(outside)
    assert not target.exists()  # the failed clone left nothing behind
    links = [p for p in tmp_path.rglob("*") if p.is_symlink()]
    assert links == []


def test_a_non_bare_clone_into_an_existing_empty_folder_is_emptied_again(server, tmp_path, outside):
    repo, url, callbacks = server
    commit_files(repo, hostile_trees(outside)["model folder symlinked out"])
    target = tmp_path / "clone"
    target.mkdir()
    with pytest.raises(CorruptObject):
        Workspace.clone(url, target, bare=False, callbacks=callbacks)
    assert target.is_dir() and list(target.iterdir()) == [] and untouched(outside)


def test_a_non_bare_clone_of_a_plain_store_is_checked_out_and_clean(server, tmp_path):
    repo, url, callbacks = server
    commit_files(repo, {"page/ok/data.json": page_json("ok", title="fine"), ".gitignore": b"*.tmp\n"})
    target = tmp_path / "clone"
    ws = Workspace.clone(url, target, bare=False, callbacks=callbacks)

    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    assert Page.get("ok").title == "fine"
    assert (target / "page" / "ok" / "data.json").read_bytes() == page_json("ok", title="fine")
    assert not ws.repo.is_bare and os.path.realpath(ws.repo.workdir) == os.path.realpath(target)
    assert git(target / ".git", f"--work-tree={target}", "status", "--porcelain").stdout == ""
    assert git(target / ".git", "fsck", "--strict").returncode == 0
    assert git(target / ".git", "config", "remote.origin.url").stdout.strip() == url
    # the remote later turns the folder into a symlink: the pull's checkout refuses it
    commit_files(repo, {"page": (LINK, str(tmp_path).encode())})
    with pytest.raises(GitModelError):  # refused (the work tree would change under a symlink)
        ws.pull(callbacks=callbacks)
    assert not (target / "page").is_symlink() and (target / "page" / "ok" / "data.json").is_file()
