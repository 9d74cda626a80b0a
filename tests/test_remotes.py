"""Clone, fetch, push and pull against real servers on 127.0.0.1.

Servers (see ``gitservers.py``): ``git daemon`` with receive-pack, git's
smart HTTP behind basic auth, ``sshd`` on a high port, plus local paths and
``file://`` URLs. Plain ``git`` checks what the servers hold.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pygit2
import pytest

from gitmodel import (
    AuthenticationError,
    BranchNotFound,
    CertificateError,
    PushRejected,
    RemoteError,
    RemoteNotFound,
    RepositoryError,
    fields,
)
from gitmodel.exceptions import ConfigurationError
from gitmodel.remotes import Callbacks, Progress
from gitmodel.workspace import Workspace

from gitservers import GitDaemon, GitHttpServer, SshServer

TRANSPORTS = ["path", "file", "git", "http", "ssh"]


def git(repo: Path | str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True
    ).stdout


def refs_of(repo: Path | str) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def objects_of(repo: Path | str) -> str:
    return git(repo, "count-objects", "-v")


def define_page(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        content = fields.CharField(default="", required=False)

    return Page


@dataclass
class Remote:
    kind: str
    url: str
    repo: Path  # the server's bare repository, as plain git sees it
    callbacks: Optional[pygit2.RemoteCallbacks] = None
    server: Any = None


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", "-b", "master", str(root / "data.git")], check=True)
    return root


def start_ssh(workdir: Path) -> SshServer:
    if not SshServer.available():
        if os.environ.get("CI"):
            pytest.fail("sshd is missing; .ci/install-servers.sh installs openssh-server")
        pytest.skip("sshd is not installed (bash .ci/install-servers.sh installs it)")
    return SshServer(workdir)


@pytest.fixture(params=TRANSPORTS)
def remote(request: pytest.FixtureRequest, server_root: Path, tmp_path: Path):
    """The server's ``data.git`` reached through each transport in turn."""
    repo = server_root / "data.git"
    kind = request.param
    if kind == "path":
        yield Remote(kind, str(repo), repo)
    elif kind == "file":
        yield Remote(kind, repo.resolve().as_uri(), repo)
    elif kind == "git":
        with GitDaemon(server_root) as daemon:
            yield Remote(kind, daemon.url("data.git"), repo, server=daemon)
    elif kind == "http":
        with GitHttpServer(server_root) as http:
            yield Remote(kind, http.url("data.git"), repo, Callbacks("alice", "s3cret"), http)
    else:
        with start_ssh(tmp_path / "ssh") as sshd:
            yield Remote(kind, sshd.url(repo), repo, Callbacks(ssh_key=sshd.client_key), sshd)


@pytest.fixture
def daemon(server_root: Path):
    with GitDaemon(server_root) as server:
        yield server


@pytest.fixture
def http(server_root: Path):
    with GitHttpServer(server_root) as server:
        yield server


def seed(repo: Path, tmp_path: Path, pages: int = 2) -> Workspace:
    """Put a first commit on the server's master (pushed through a local path)."""
    ws = Workspace.init(tmp_path / "seed.git")
    Page = define_page(ws)
    for i in range(pages):
        Page(slug=f"page-{i}", title=f"Page {i}", content="first").save()
    ws.commit("seed")
    ws.add_remote("origin", str(repo))
    ws.push(set_upstream=True)
    return ws


# -- remote management -------------------------------------------------------------


def test_remotes_can_be_added_listed_renamed_and_removed(ws, run_git):
    assert len(ws.remotes) == 0 and list(ws.remotes) == []
    info = ws.add_remote("origin", "https://example.invalid/data.git")
    assert info.url == "https://example.invalid/data.git"
    assert info.fetch_refspecs == ("+refs/heads/*:refs/remotes/origin/*",)
    ws.remotes.add("backup", "/srv/backup.git", fetch="+refs/heads/main:refs/remotes/backup/main")
    assert sorted(ws.remotes.names()) == ["backup", "origin"]
    assert "backup" in ws.remotes and "nope" not in ws.remotes
    assert ws.remotes["backup"].fetch_refspecs == ("+refs/heads/main:refs/remotes/backup/main",)
    assert ws.remotes.set_url("origin", "git://127.0.0.1/x.git", push=True).push_url == "git://127.0.0.1/x.git"
    ws.remotes.add_refspec("backup", "+refs/tags/*:refs/tags/*")
    assert "+refs/tags/*:refs/tags/*" in ws.remotes["backup"].fetch_refspecs

    renamed = ws.remotes.rename("origin", "upstream")
    assert renamed.name == "upstream"
    assert renamed.fetch_refspecs[0] == "+refs/heads/*:refs/remotes/upstream/*"
    assert "origin" not in ws.remotes
    ws.remotes.remove("backup")
    assert ws.remotes.names() == ["upstream"]
    # plain git reads the same configuration
    assert run_git(ws.path, "remote").split() == ["upstream"]
    assert run_git(ws.path, "config", "remote.upstream.url").strip() == "https://example.invalid/data.git"


def test_remote_errors_are_clear(ws):
    ws.add_remote("origin", "/nowhere.git")
    with pytest.raises(RepositoryError, match="already exists"):
        ws.add_remote("origin", "/elsewhere.git")
    with pytest.raises(RemoteNotFound, match="nope"):
        ws.remotes["nope"]
    with pytest.raises(RemoteNotFound):
        ws.fetch("nope")
    with pytest.raises(RemoteNotFound):
        ws.remotes.remove("nope")
    with pytest.raises(ConfigurationError):
        ws.add_remote("bad name", "/x.git")
    for position in (0, 42):  # a remote is named, never taken by its position in the list
        with pytest.raises(RemoteNotFound):
            ws.fetch(position)
        with pytest.raises(RemoteNotFound):
            ws.remotes[position]
    assert ws.remotes.names() == ["origin"]


# -- every transport ---------------------------------------------------------------


def test_clone_push_fetch_pull_over_every_transport(remote: Remote, tmp_path: Path):
    seeded = seed(remote.repo, tmp_path)
    seen: list[Progress] = []
    a = Workspace.clone(remote.url, tmp_path / "a.git", callbacks=remote.callbacks, progress=seen.append)
    b = Workspace.clone(remote.url, tmp_path / "b.git", callbacks=remote.callbacks)
    assert a.repo.is_bare
    assert a.branch.oid == b.branch.oid == seeded.branch.oid
    assert a.upstream == "refs/remotes/origin/master"
    assert a.remotes["origin"].url == remote.url
    if remote.kind != "path":  # a local path is cloned by copying files, not a transfer
        assert seen and seen[-1].done == seen[-1].total > 0 and seen[-1].bytes > 0
        assert {p.phase for p in seen} <= {"receiving", "resolving"}

    PageB = define_page(b)
    page = PageB.get("page-0")
    page.title = "Edited by B"
    page.save(commit=True, message="B edits")
    assert b.ahead_behind() == (1, 0)
    sent: list[Progress] = []
    pushed = b.push(progress=sent.append)
    assert pushed == {"refs/heads/master": (seeded.branch.oid, b.branch.oid)}
    if remote.kind != "path":
        assert sent and sent[-1].phase == "sending" and sent[-1].done == sent[-1].total > 0
    assert refs_of(remote.repo)["refs/heads/master"] == str(b.branch.oid)
    assert b.ahead_behind() == (0, 0)

    before = a.branch.oid
    moved = a.fetch()
    assert moved == {"refs/remotes/origin/master": (before, b.branch.oid)}
    assert a.branch.oid == before  # a fetch moves no local branch
    assert a.ahead_behind() == (0, 1)
    result = a.pull()
    assert result.fast_forward and result.commit == b.branch.oid
    assert define_page(a).get("page-0").title == "Edited by B"
    assert a.fetch() == {}  # nothing moved since
    assert a.pull().up_to_date
    git(remote.repo, "fsck", "--strict")
    git(a.path, "fsck", "--strict")
    assert git(remote.repo, "log", "--format=%s", "master").split("\n")[:2] == ["B edits", "seed"]


def test_non_bare_clone_checks_out_the_branch(tmp_path: Path, server_root: Path):
    seed(server_root / "data.git", tmp_path)
    ws = Workspace.clone(server_root / "data.git", tmp_path / "checkout", bare=False)
    assert not ws.repo.is_bare
    assert (tmp_path / "checkout" / "page" / "page-0" / "data.json").is_file()
    assert subprocess.run(
        ["git", "-C", str(tmp_path / "checkout"), "status", "--porcelain"],
        check=True, capture_output=True, text=True,
    ).stdout == ""
    assert define_page(ws).get("page-1").title == "Page 1"


def test_clone_of_a_branch(tmp_path: Path, server_root: Path):
    seeded = seed(server_root / "data.git", tmp_path)
    seeded.create_branch("draft")
    seeded.set_branch("draft")
    define_page(seeded)(slug="draft-only", title="D").save(commit=True, message="draft")
    seeded.push()
    ws = Workspace.clone(server_root / "data.git", tmp_path / "d.git", branch="draft")
    assert ws.head == "refs/heads/draft"
    assert define_page(ws).get("draft-only").title == "D"
    with pytest.raises(BranchNotFound):
        Workspace.clone(server_root / "data.git", tmp_path / "e.git", branch="nope")
    assert not (tmp_path / "e.git").exists()


def test_clone_refuses_a_folder_that_is_not_empty(tmp_path: Path, server_root: Path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(RepositoryError, match="not an empty folder"):
        Workspace.clone(server_root / "data.git", target)
    assert (target / "keep.txt").read_text() == "mine"


def test_clone_from_a_server_that_is_not_there(tmp_path: Path):
    from gitservers import free_port

    with pytest.raises(RemoteError):
        Workspace.clone(f"git://127.0.0.1:{free_port()}/data.git", tmp_path / "x.git")
    assert not (tmp_path / "x.git").exists()


# -- credentials -----------------------------------------------------------------------


def test_http_basic_auth_right_and_wrong(http: GitHttpServer, server_root: Path, tmp_path: Path):
    seed(server_root / "data.git", tmp_path)
    url = http.url("data.git")
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        Workspace.clone(url, tmp_path / "wrong.git", callbacks=Callbacks("alice", "wrong"))
    assert not (tmp_path / "wrong.git").exists()
    with pytest.raises(AuthenticationError, match="credentials"):
        Workspace.clone(url, tmp_path / "none.git")
    # a token is sent as the password; plain pygit2 callbacks work as well
    ws = Workspace.clone(url, tmp_path / "token.git", callbacks=Callbacks("alice", token="s3cret"))
    plain = pygit2.RemoteCallbacks(credentials=pygit2.UserPass("alice", "s3cret"))
    other = Workspace.clone(url, tmp_path / "plain.git", callbacks=plain)
    assert ws.branch.oid == other.branch.oid

    # the clone keeps its credentials for later pushes; a wrong password changes nothing
    define_page(ws)(slug="new", title="N").save(commit=True, message="new page")
    server_before = refs_of(server_root / "data.git")
    with pytest.raises(AuthenticationError):
        ws.push(callbacks=Callbacks("alice", "wrong"))
    assert refs_of(server_root / "data.git") == server_before
    ws.push()
    assert refs_of(server_root / "data.git")["refs/heads/master"] == str(ws.branch.oid)


def test_ssh_key_auth_and_host_key_check(server_root: Path, tmp_path: Path):
    seed(server_root / "data.git", tmp_path)
    with start_ssh(tmp_path / "ssh") as sshd:
        url = sshd.url(server_root / "data.git")
        hosts: list[tuple[str, bool]] = []

        def check(host: str, valid: bool) -> bool:
            hosts.append((host, valid))
            return True

        ws = Workspace.clone(
            url, tmp_path / "ok.git", callbacks=Callbacks(ssh_key=sshd.client_key, certificate_check=check)
        )
        assert hosts and hosts[0][0] == "127.0.0.1"
        assert define_page(ws).get("page-0").title == "Page 0"

        with pytest.raises(CertificateError):
            Workspace.clone(
                url, tmp_path / "refused.git",
                callbacks=Callbacks(ssh_key=sshd.client_key, certificate_check=lambda h, v: False),
            )
        assert not (tmp_path / "refused.git").exists()

        stranger = tmp_path / "stranger"
        subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "", "-f", str(stranger)], check=True)
        with pytest.raises(AuthenticationError):
            Workspace.clone(url, tmp_path / "stranger.git", callbacks=Callbacks(ssh_key=stranger))
        assert not (tmp_path / "stranger.git").exists()


# -- push: rejections, partial failures, force -------------------------------------------


def test_push_of_a_diverged_branch_is_rejected_and_the_server_is_untouched(
    daemon: GitDaemon, server_root: Path, tmp_path: Path
):
    seed(server_root / "data.git", tmp_path)
    a = Workspace.clone(daemon.url("data.git"), tmp_path / "a.git")
    b = Workspace.clone(daemon.url("data.git"), tmp_path / "b.git")
    define_page(a)(slug="from-a", title="A").save(commit=True, message="A")
    a.push()
    define_page(b)(slug="from-b", title="B").save(commit=True, message="B")
    server = server_root / "data.git"
    refs_before, objects_before = refs_of(server), objects_of(server)
    local_before = b.branch.oid

    with pytest.raises(PushRejected) as info:
        b.push()
    assert list(info.value.rejected) == ["refs/heads/master"]
    assert "refs/heads/master" in str(info.value) and "pull first" in str(info.value)
    assert refs_of(server) == refs_before and objects_of(server) == objects_before
    assert b.branch.oid == local_before

    # after a fetch the commits are known locally, and it is still refused
    b.fetch()
    with pytest.raises(PushRejected, match="pull first"):
        b.push()
    assert refs_of(server) == refs_before

    # force overwrites, as asked
    b.push(force=True)
    assert refs_of(server)["refs/heads/master"] == str(b.branch.oid)
    git(server, "fsck", "--strict")


def test_a_partial_push_reports_each_refused_ref(daemon: GitDaemon, server_root: Path, tmp_path: Path):
    server = server_root / "data.git"
    seed(server, tmp_path)
    hook = server / "hooks" / "update"
    hook.write_text('#!/bin/sh\nif [ "$1" = refs/heads/locked ]; then echo "locked is frozen" >&2; exit 1; fi\n')
    hook.chmod(0o755)
    ws = Workspace.clone(daemon.url("data.git"), tmp_path / "w.git")
    Page = define_page(ws)
    Page(slug="more", title="More").save(commit=True, message="more")
    ws.create_branch("locked")
    with pytest.raises(PushRejected) as info:
        ws.push(branch=["master", "locked"])
    err = info.value
    assert set(err.rejected) == {"refs/heads/locked"}
    assert "refs/heads/locked" in str(err)
    assert set(err.pushed) == {"refs/heads/master"}
    refs = refs_of(server)
    assert refs["refs/heads/master"] == str(ws.branch.oid)
    assert "refs/heads/locked" not in refs


# -- pull ----------------------------------------------------------------------------


def test_pull_is_refused_with_pending_changes(daemon: GitDaemon, server_root: Path, tmp_path: Path):
    seed(server_root / "data.git", tmp_path)
    ws = Workspace.clone(daemon.url("data.git"), tmp_path / "w.git")
    Page = define_page(ws)
    Page(slug="draft", title="unsaved work").save()
    with pytest.raises(RepositoryError, match="pending changes"):
        ws.pull()
    assert Page.get("draft").title == "unsaved work"
    assert ws.has_changes()


def test_pull_into_an_empty_workspace_and_upstream_settings(server_root: Path, tmp_path: Path):
    seeded = seed(server_root / "data.git", tmp_path)
    ws = Workspace.init(tmp_path / "empty.git")
    ws.add_remote("origin", server_root / "data.git")
    assert ws.upstream is None
    result = ws.pull()
    assert result.fast_forward and ws.branch.oid == seeded.branch.oid
    with pytest.raises(RepositoryError, match="no upstream"):
        ws.ahead_behind()
    assert ws.ahead_behind("origin/master") == (0, 0)
    ws.set_upstream("origin/master")
    assert ws.upstream == "refs/remotes/origin/master"
    assert git(ws.path, "rev-parse", "--abbrev-ref", "master@{upstream}").strip() == "origin/master"
    ws.set_upstream(None)
    assert ws.upstream is None
    with pytest.raises(BranchNotFound):
        ws.pull(branch="nope")


def test_fetch_reports_new_moved_and_pruned_refs(server_root: Path, tmp_path: Path):
    server = server_root / "data.git"
    seeded = seed(server, tmp_path)
    ws = Workspace.clone(server, tmp_path / "w.git")
    seeded.create_branch("feature")
    seeded.push(branch="feature")
    git(server, "tag", "v1", "master")
    moved = ws.fetch()
    assert moved["refs/remotes/origin/feature"] == (None, seeded.branch.oid)
    assert moved["refs/tags/v1"] == (None, seeded.branch.oid)
    git(server, "branch", "-D", "feature")
    assert ws.fetch(prune=True) == {"refs/remotes/origin/feature": (seeded.branch.oid, None)}
    assert "refs/remotes/origin/feature" not in refs_of(ws.path)


# -- the server goes away -----------------------------------------------------------------


def _big_commit(server: Path, megabytes: int = 24) -> None:
    """Commit incompressible files straight into the server's repository."""
    git(server, "config", "core.bigFileThreshold", "100k")  # no delta search on random data
    ws = Workspace(server)
    for i in range(megabytes):
        ws.add_blob(f"files/blob-{i}.bin", os.urandom(1024 * 1024))
    ws.commit("big files")


def test_a_daemon_killed_in_the_middle_of_a_fetch_leaves_the_clone_as_it_was(
    daemon: GitDaemon, server_root: Path, tmp_path: Path
):
    seed(server_root / "data.git", tmp_path)
    ws = Workspace.clone(daemon.url("data.git"), tmp_path / "w.git")
    _big_commit(server_root / "data.git")  # more than socket buffers hold
    refs_before = refs_of(ws.path)
    packs_before = sorted(os.listdir(Path(ws.path) / "objects" / "pack"))
    objects_before = objects_of(ws.path)
    calls: list[Progress] = []

    def crash(progress: Progress) -> None:
        calls.append(progress)
        if len(calls) == 1:
            daemon.kill()

    with pytest.raises(RemoteError):
        ws.fetch(progress=crash)
    assert calls and calls[0].done < calls[0].total
    assert refs_of(ws.path) == refs_before
    assert sorted(os.listdir(Path(ws.path) / "objects" / "pack")) == packs_before
    assert objects_of(ws.path) == objects_before
    assert not ws.has_changes() and define_page(ws).get("page-0").title == "Page 0"
    git(ws.path, "fsck", "--strict")


def test_an_http_server_dropping_the_connection_mid_fetch_changes_nothing(server_root: Path, tmp_path: Path):
    seed(server_root / "data.git", tmp_path)
    with GitHttpServer(server_root) as http:
        ws = Workspace.clone(http.url("data.git"), tmp_path / "w.git", callbacks=Callbacks("alice", "s3cret"))
    _big_commit(server_root / "data.git", megabytes=2)
    refs_before = refs_of(ws.path)
    packs_before = sorted(os.listdir(Path(ws.path) / "objects" / "pack"))
    with GitHttpServer(server_root, cut_after=300_000) as flaky:
        ws.remotes.set_url("origin", flaky.url("data.git"))
        with pytest.raises(RemoteError):
            ws.fetch()
    assert refs_of(ws.path) == refs_before
    assert sorted(os.listdir(Path(ws.path) / "objects" / "pack")) == packs_before
    git(ws.path, "fsck", "--strict")


# -- two people, one server -------------------------------------------------------------


def test_two_workspaces_converge_through_one_server(http: GitHttpServer, server_root: Path, tmp_path: Path):
    seed(server_root / "data.git", tmp_path)
    creds = Callbacks("alice", "s3cret")
    a = Workspace.clone(http.url("data.git"), tmp_path / "a.git", callbacks=creds)
    b = Workspace.clone(http.url("data.git"), tmp_path / "b.git", callbacks=creds)
    PageA, PageB = define_page(a), define_page(b)

    page = PageA.get("page-0")
    page.title = "Title by A"
    page.save(commit=True, message="A: title")
    page = PageB.get("page-0")
    page.content = "Content by B"
    page.save(commit=True, message="B: content")

    a.push()
    with pytest.raises(PushRejected, match="pull first"):
        b.push()
    result = b.pull()
    assert not result.conflicts and not result.fast_forward
    b.push()
    assert a.pull().fast_forward
    assert a.branch.oid == b.branch.oid
    for Page in (PageA, PageB):
        merged = Page.get("page-0")
        assert (merged.title, merged.content) == ("Title by A", "Content by B")

    # both edit the title: the second pull reports one conflict
    page = PageA.get("page-0")
    page.title = "A again"
    page.save(commit=True, message="A: title again")
    page = PageB.get("page-0")
    page.title = "B again"
    page.save(commit=True, message="B: title again")
    a.push()
    result = b.pull()
    assert len(result.conflicts) == 1 and result.commit is None
    (conflict,) = b.conflicts
    assert (conflict.field, conflict.ours, conflict.theirs) == ("title", "B again", "A again")
    with pytest.raises(RepositoryError, match="merge is in progress"):
        b.pull()
    b.resolve(conflict, value="Agreed title")
    merge_commit = b.commit("resolve title")
    assert len(b.repo[merge_commit].parents) == 2
    b.push()
    assert a.pull().fast_forward
    assert a.branch.oid == b.branch.oid
    assert PageA.get("page-0").title == PageB.get("page-0").title == "Agreed title"
    assert PageA.get("page-0").content == "Content by B"
    git(server_root / "data.git", "fsck", "--strict")


def test_a_forced_push_the_server_refuses_is_reported_with_its_reason(
    daemon: GitDaemon, server_root: Path, tmp_path: Path
):
    server = server_root / "data.git"
    seed(server, tmp_path)
    git(server, "config", "receive.denyNonFastForwards", "true")
    a = Workspace.clone(daemon.url("data.git"), tmp_path / "a.git")
    b = Workspace.clone(daemon.url("data.git"), tmp_path / "b.git")
    define_page(a)(slug="from-a", title="A").save(commit=True, message="A")
    a.push()
    define_page(b)(slug="from-b", title="B").save(commit=True, message="B")
    refs_before = refs_of(server)
    with pytest.raises(PushRejected) as info:
        b.push(force=True)  # libgit2 lets it go; the server says no
    assert list(info.value.rejected) == ["refs/heads/master"]
    assert "non-fast-forward" in info.value.rejected["refs/heads/master"]
    assert info.value.pushed == {}
    assert refs_of(server) == refs_before
