"""Every wait on a remote has a bound, SSH included: a server that accepts
the connection and then says nothing (before the SSH handshake, or after
authentication, its git program silent) fails the transfer with a gitmodel
error within the bound, and the workspace is left as it was."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pygit2
import pytest

from attacker import commit_files, page_json
from gitmodel import RemoteError
from gitmodel.remotes import Callbacks
from gitmodel.workspace import Workspace
from gitservers import SshServer

#: the network timeout the tests set (ms) and the most a failure may take (s)
TIMEOUT_MS = 1500
BOUND = 60


def need_sshd() -> None:
    if not SshServer.available():
        if os.environ.get("CI"):
            pytest.fail("sshd is missing; .ci/install-servers.sh installs openssh-server")
        pytest.skip("sshd is not installed (bash .ci/install-servers.sh installs it)")


@pytest.fixture
def short_timeouts():
    before = (pygit2.settings.server_timeout, pygit2.settings.server_connect_timeout)
    pygit2.settings.server_timeout = TIMEOUT_MS
    pygit2.settings.server_connect_timeout = TIMEOUT_MS
    yield
    pygit2.settings.server_timeout, pygit2.settings.server_connect_timeout = before


@pytest.fixture
def silent_listener():
    """A TCP server that accepts connections and never writes a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def timed(call) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(RemoteError) as exc:
        call()
    return exc.value, time.monotonic() - start


@pytest.mark.parametrize("step", ["clone", "fetch", "push"])
def test_an_ssh_server_that_never_greets_fails_within_the_bound(tmp_path, short_timeouts, silent_listener, step):
    url = f"ssh://git@127.0.0.1:{silent_listener}/x.git"
    key = tmp_path / "no-key"
    callbacks = Callbacks(ssh_key=key)
    if step == "clone":
        error, took = timed(lambda: Workspace.clone(url, tmp_path / "never", callbacks=callbacks))
        assert not (tmp_path / "never").exists()
    else:
        ws = Workspace.init(tmp_path / "store.git")
        commit_files(ws.repo, {"page/ok/data.json": page_json("ok")})
        ws.refresh()
        ws.add_remote("silent", url)
        head = ws.branch.oid
        call = (lambda: ws.fetch("silent", callbacks=callbacks)) if step == "fetch" else \
            (lambda: ws.push("silent", callbacks=callbacks))
        error, took = timed(call)
        assert ws.branch.oid == head and not ws.has_changes()
    assert took < BOUND and "127.0.0.1" in str(error)


@pytest.mark.parametrize("silence", ["sleep", "cat"])
def test_an_ssh_server_whose_git_program_is_silent_fails_within_the_bound(tmp_path, short_timeouts, silence):
    """Authentication succeeds, then the forced command says nothing (``sleep``)
    or waits for input it never answers (``cat``, which echoes nothing useful)."""
    need_sshd()
    from gitservers import make_key

    keys = tmp_path / "keys"
    keys.mkdir()
    client = make_key(keys / "client")
    forced = {"sleep": "sleep 600", "cat": "cat > /dev/null"}[silence]
    authorized = f'command="{forced}",no-pty {client.with_suffix(".pub").read_text()}'
    with SshServer(tmp_path / "ssh", authorized_keys=authorized) as sshd:
        repo = tmp_path / "data.git"
        pygit2.init_repository(str(repo), bare=True)
        url = sshd.url(repo)
        callbacks = Callbacks(ssh_key=client, insecure=True)
        error, took = timed(lambda: Workspace.clone(url, tmp_path / "never", callbacks=callbacks))
        assert took < BOUND and not (tmp_path / "never").exists()
        ws = Workspace.init(tmp_path / "store.git")
        ws.add_remote("origin", url)
        error, took = timed(lambda: ws.fetch("origin", callbacks=callbacks))
        assert took < BOUND


def test_a_transfer_without_a_timeout_of_its_own_gets_gitmodels_bound(tmp_path):
    """In a fresh process (no timeout set), any transfer sets gitmodel's bound first."""
    program = textwrap.dedent(
        f"""
        import pygit2
        from gitmodel import remotes
        from gitmodel.workspace import Workspace
        assert pygit2.settings.server_timeout == 0
        ws = Workspace.init({str(tmp_path / 'a.git')!r})
        ws.add_remote("itself", ws.path)
        ws.fetch("itself")
        assert pygit2.settings.server_timeout == remotes.SERVER_TIMEOUT_MS > 0
        assert pygit2.settings.server_connect_timeout == remotes.SERVER_CONNECT_TIMEOUT_MS > 0
        print("bounded")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=BOUND, env=env)
    assert done.stdout.strip() == "bounded", done.stderr[-2000:]


# -- files of the repository that would block a reader ---------------------------------------
PIPES = ["config", "HEAD", "packed-refs", "index", "refs/heads/master", "objects/pack/x.idx",
         "loose object", "objects fan-out folder", "objects/info/alternates", "commondir"]


@pytest.mark.parametrize("where", PIPES)
def test_a_pipe_where_git_keeps_a_file_is_refused_without_blocking(tmp_path, where):
    """A named pipe blocks whoever opens it for reading until someone writes:
    planted in a repository, it is refused when the workspace opens."""
    repo = pygit2.init_repository(str(tmp_path / "store.git"), bare=True)
    commit = commit_files(repo, {"page/ok/data.json": page_json("ok")})
    git_dir = Path(repo.path)
    blob = repo[commit].tree["page/ok/data.json"].id
    loose = git_dir / "objects" / str(blob)[:2] / str(blob)[2:]
    target = {"loose object": loose, "objects fan-out folder": loose.parent}.get(where, git_dir / where)
    if target.is_dir():
        import shutil

        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(target)
    program = f"""
import sys
from gitmodel import GitModelError
from gitmodel.workspace import Workspace
try:
    Workspace({str(git_dir)!r})
except GitModelError as exc:
    print("refused:", type(exc).__name__, exc)
else:
    print("opened")
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=BOUND, env=env)
    assert done.stdout.startswith("refused:"), (done.stdout, done.stderr[-1500:])
    assert "pipe" in done.stdout or "not a file" in done.stdout or "not a folder" in done.stdout
