"""Remotes against servers that lie, redirect, refuse or trip over refs.

Real servers on 127.0.0.1: ``git daemon``, git's smart HTTP
(``gitservers.py``) and a smart-HTTP server that misbehaves on purpose
(``hostilehttp.py``), plus hubs on local paths. Plain ``git`` checks what
the repositories hold.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitmodel import AuthenticationError, PushRejected, RemoteError, Workspace
from gitmodel.remotes import Callbacks

from gitservers import GitDaemon, GitHttpServer
from hostilehttp import PASSWORD, USER, HostileHttp
from test_shallow import define_page


def git(repo: Path | str, *args: str, input: bytes | None = None) -> str:
    out = subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True, input=input)
    return out.stdout.decode()


def refs_of(repo: Path | str) -> dict[str, str]:
    return dict(line.split() for line in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A server folder with ``data.git``, whose master holds two pages."""
    root = tmp_path / "srv"
    root.mkdir()
    hub = root / "data.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "master", str(hub)], check=True)
    seed = Workspace.init(tmp_path / "seed.git")
    Page = define_page(seed)
    Page(slug="a", title="A").save()
    Page(slug="b", title="B").save()
    seed.commit("seed")
    seed.add_remote("origin", str(hub))
    seed.push(set_upstream=True)
    return root


def commit_on_hub(tmp_path: Path, root: Path, slug: str) -> str:
    """One more commit on the hub's master (a new page); returns its id."""
    ws = Workspace.clone(root / "data.git", tmp_path / f"writer-{slug}.git")
    define_page(ws)(slug=slug, title=slug.upper()).save(commit=True, message=f"add {slug}")
    ws.push()
    return git(root / "data.git", "rev-parse", "master").strip()


def pack_of(repo: Path, objects: list[str], path: Path) -> Path:
    """A pack of exactly ``objects`` (ids) of ``repo``."""
    listed = "\n".join(objects).encode() + b"\n"
    out = subprocess.run(["git", f"--git-dir={repo}", "pack-objects", "--stdout"], input=listed,
                         check=True, capture_output=True)
    path.write_bytes(out.stdout)
    return path


def new_objects(repo: Path, new: str, old: str = "") -> list[tuple[str, str]]:
    """``(id, type)`` of what ``new`` has and ``old`` has not."""
    ids = [line.split()[0] for line in git(repo, "rev-list", "--objects", new, *([f"^{old}"] if old else [])).splitlines()]
    kinds = git(repo, "cat-file", "--batch-check=%(objecttype)", input="\n".join(ids).encode() + b"\n").split()
    return list(zip(ids, kinds))


def split(repo: Path, objects: list[tuple[str, str]], tip: str, leave_out: str) -> tuple[list[str], list[str]]:
    """``objects`` without those of kind ``leave_out`` ("subtree": the trees but the root one)."""
    root = git(repo, "rev-parse", f"{tip}^{{tree}}").strip()
    out = [oid for oid, kind in objects
           if kind == leave_out or (leave_out == "subtree" and kind == "tree" and oid != root)]
    return [oid for oid, _ in objects if oid not in out], out


# -- 1. a pack without the objects its refs need --------------------------------------


@pytest.mark.parametrize("leave_out", ["tree", "subtree", "blob"])
def test_a_fetch_of_an_incomplete_pack_moves_no_ref(root: Path, tmp_path: Path, leave_out: str):
    hub = root / "data.git"
    ws = Workspace.clone(hub, tmp_path / "clone.git")
    old = git(hub, "rev-parse", "master").strip()
    new = commit_on_hub(tmp_path, root, "c")
    objects = new_objects(hub, new, old)
    kept, dropped = split(hub, objects, new, leave_out)
    pack = pack_of(hub, kept, tmp_path / "incomplete.pack")
    before = refs_of(ws.path)
    with HostileHttp(root, "pack", pack=pack) as server:
        ws.remotes.set_url("origin", server.url())
        with pytest.raises(RemoteError, match="did not send all the objects") as exc:
            ws.fetch()
        assert any(oid in str(exc.value) for oid in dropped)
        assert "refs/remotes/origin/master" in str(exc.value)
        assert refs_of(ws.path) == before
        with pytest.raises(RemoteError, match="did not send"):
            ws.pull()
        assert refs_of(ws.path) == before and not ws.merging and not ws.has_changes()
    git(ws.path, "fsck", "--strict")
    # the whole pack from the same server is taken
    pack_of(hub, [oid for oid, _ in objects], pack)
    with HostileHttp(root, "pack", pack=pack) as server:
        ws.remotes.set_url("origin", server.url())
        assert str(ws.fetch()["refs/remotes/origin/master"][1]) == new
    git(ws.path, "fsck", "--strict")


@pytest.mark.parametrize("leave_out", ["tree", "subtree", "blob"])
def test_a_clone_from_a_server_that_sends_too_little_is_a_remote_error(root: Path, tmp_path: Path, leave_out: str):
    hub = root / "data.git"
    tip = git(hub, "rev-parse", "master").strip()
    kept, dropped = split(hub, new_objects(hub, tip), tip, leave_out)
    pack = pack_of(hub, kept, tmp_path / "incomplete.pack")
    with HostileHttp(root, "pack", pack=pack) as server:
        with pytest.raises(RemoteError, match="did not send all the objects") as exc:
            Workspace.clone(server.url(), tmp_path / "clone.git")
        assert any(oid in str(exc.value) for oid in dropped)
    assert not (tmp_path / "clone.git").exists()


# -- 2. a failed fetch puts back every ref; a stale ref in the way ---------------------


def hub_with_branches(root: Path, *names: str) -> Path:
    hub = root / "data.git"
    for name in names:
        git(hub, "branch", name, "master")
    return hub


@pytest.mark.parametrize("before, after", [("zz", "zz/bar"), ("zz/bar", "zz")])
def test_a_stale_ref_in_the_way_fails_the_fetch_without_moving_a_ref(
    root: Path, tmp_path: Path, before: str, after: str
):
    hub = hub_with_branches(root, "aa", before)
    with GitDaemon(root) as daemon:
        ws = Workspace.clone(daemon.url("data.git"), tmp_path / "clone.git")
        commit_on_hub(tmp_path, root, "c")  # master moves too: the fetch would move it first
        git(hub, "branch", "ab", "master")
        git(hub, "branch", "-D", before)
        git(hub, "branch", after, "master")
        refs = refs_of(ws.path)
        with pytest.raises(RemoteError, match="prune=True") as exc:
            ws.fetch()
        assert f"refs/remotes/origin/{before}" in str(exc.value)
        assert refs_of(ws.path) == refs
        with pytest.raises(RemoteError, match="prune=True"):
            ws.pull()
        assert refs_of(ws.path) == refs

        moved = ws.fetch(prune=True)
        assert moved[f"refs/remotes/origin/{before}"][1] is None
        now = refs_of(ws.path)
        assert f"refs/remotes/origin/{before}" not in now
        assert now[f"refs/remotes/origin/{after}"] == now["refs/remotes/origin/master"] == git(hub, "rev-parse", "master").strip()
        assert "refs/remotes/origin/ab" in now
        result = ws.pull()
        assert result.fast_forward
        ws.sync()
    git(ws.path, "fsck", "--strict")


# -- 3. credentials in a URL -----------------------------------------------------------


def test_a_password_in_the_url_is_never_shown(root: Path, tmp_path: Path):
    with GitHttpServer(root, user=USER, password=PASSWORD) as http:
        url = http.url("data.git").replace("http://", f"http://{USER}:{PASSWORD}@")
        ws = Workspace.clone(url, tmp_path / "clone.git")
        info = ws.remotes["origin"]
        assert info.url == url  # kept as given, as git does
        assert PASSWORD not in repr(info) and f"{USER}:***@" in repr(info)
        with pytest.raises(RemoteError) as missing:
            Workspace.clone(url.replace("data.git", "nope.git"), tmp_path / "nope.git")
        with pytest.raises(AuthenticationError, match="refused the credentials given in the URL") as wrong:
            Workspace.clone(url.replace(PASSWORD, "WRONG-pw"), tmp_path / "wrong.git")
        for exc in (missing, wrong):
            assert PASSWORD not in str(exc.value) and "WRONG-pw" not in str(exc.value)
            assert f"{USER}:***@" in str(exc.value)
    define_page(ws)(slug="new", title="N").save(commit=True, message="new")
    for operation in (ws.fetch, ws.push, ws.pull, ws.sync):  # the server is gone
        with pytest.raises(RemoteError) as exc:
            operation()
        assert PASSWORD not in str(exc.value) and f"{USER}:***@" in str(exc.value)


# -- 4. a redirect to another host -------------------------------------------------------


def test_credentials_are_not_given_to_the_host_a_redirect_leads_to(root: Path, tmp_path: Path):
    log = tmp_path / "other.log"
    with HostileHttp(root, "log", log=log) as other:
        with HostileHttp(root, "redirect", target=f"http://localhost:{other.port}") as server:
            with pytest.raises(AuthenticationError, match=f"localhost:{other.port}"):
                Workspace.clone(server.url(), tmp_path / "clone.git", callbacks=Callbacks(USER, PASSWORD))
    assert not (tmp_path / "clone.git").exists()
    seen = log.read_text().splitlines()
    assert seen and all(line.endswith(" -") for line in seen)  # no Authorization header reached it
    # the same credentials are given to the host the clone was started at
    with HostileHttp(root, "log", log=log) as same:
        Workspace.clone(same.url(), tmp_path / "direct.git", callbacks=Callbacks(USER, PASSWORD))


# -- 5. hooks and receive.deny* of a hub on a local path --------------------------------


@pytest.mark.parametrize("kind", ["path", "file"])
def test_a_push_over_a_local_path_to_a_hub_with_hooks_is_refused(root: Path, tmp_path: Path, kind: str):
    hub = root / "data.git"
    hook = hub / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: no pushes' >&2\nexit 1\n")
    hook.chmod(0o755)
    url = str(hub) if kind == "path" else hub.resolve().as_uri()
    ws = Workspace.clone(url, tmp_path / "clone.git")
    define_page(ws)(slug="mine", title="Mine").save(commit=True, message="mine")
    before = refs_of(hub)
    with pytest.raises(RemoteError, match="pre-receive.*git:// or HTTP"):
        ws.push()
    assert refs_of(hub) == before
    with GitDaemon(root) as daemon:  # over git://, the hook runs and says no
        ws.remotes.set_url("origin", daemon.url("data.git"))
        with pytest.raises(PushRejected, match="policy: no pushes"):
            ws.push()
    assert refs_of(hub) == before


@pytest.mark.parametrize("kind", ["path", "file"])
def test_a_forced_push_over_a_local_path_honours_deny_non_fast_forwards(root: Path, tmp_path: Path, kind: str):
    hub = root / "data.git"
    git(hub, "config", "receive.denyNonFastForwards", "true")
    url = str(hub) if kind == "path" else hub.resolve().as_uri()
    ws = Workspace.clone(url, tmp_path / "clone.git")
    Page = define_page(ws)
    Page(slug="mine", title="Mine").save(commit=True, message="mine")
    ws.push()  # a fast-forward is fine
    pushed = git(hub, "rev-parse", "master").strip()
    git(ws.path, "update-ref", "refs/heads/master", f"{pushed}~1")
    ws = Workspace(ws.path)
    define_page(ws)(slug="other", title="Other").save(commit=True, message="rewritten")
    with pytest.raises(PushRejected, match="denyNonFastForwards"):
        ws.push(force=True)
    assert git(hub, "rev-parse", "master").strip() == pushed
    git(hub, "config", "receive.denyNonFastForwards", "false")
    ws.push(force=True)
    assert git(hub, "rev-parse", "master").strip() == str(ws.branch.oid)


# -- 6. what is an authentication error ----------------------------------------------------


def test_only_a_refusal_of_access_is_an_authentication_error(root: Path, tmp_path: Path):
    missing = tmp_path / "build403.git"
    with pytest.raises(RemoteError) as exc:
        Workspace.clone(missing.as_uri(), tmp_path / "a.git")
    assert not isinstance(exc.value, AuthenticationError)
    with GitDaemon(root) as daemon:
        with pytest.raises(RemoteError, match="no such repository") as exc:
            Workspace.clone(daemon.url("team-401/data.git"), tmp_path / "b.git")
        assert not isinstance(exc.value, AuthenticationError)
    with HostileHttp(root, "loop") as server:
        with pytest.raises(RemoteError, match="redirects") as exc:
            Workspace.clone(server.url(), tmp_path / "c.git")
        assert not isinstance(exc.value, AuthenticationError)
    with HostileHttp(root, "status", status=403) as server:
        with pytest.raises(AuthenticationError, match="403"):
            Workspace.clone(server.url(), tmp_path / "d.git")
    with HostileHttp(root, "status", status=404) as server:
        with pytest.raises(RemoteError) as exc:
            Workspace.clone(server.url(), tmp_path / "e.git")
        assert not isinstance(exc.value, AuthenticationError)
    with HostileHttp(root, "log", log=tmp_path / "log") as server:  # 401, and nothing to give
        with pytest.raises(AuthenticationError, match="none were given"):
            Workspace.clone(server.url(), tmp_path / "f.git")
