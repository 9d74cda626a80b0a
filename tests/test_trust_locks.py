"""A lock is always inspectable and breakable through the API, whatever its
ref holds; every wait for it ends within its timeout; lock names that nest
are refused clearly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pygit2
import pytest

from gitmodel import GitModelError, LockWaitTimeoutExceeded, RepositoryError
from gitmodel.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")
    (Path(ws.path) / "refs" / "locks").mkdir(parents=True, exist_ok=True)
    return ws


def plant_file(ws: Workspace, name: str, content: bytes) -> None:
    (Path(ws.path) / "refs" / "locks" / name).write_bytes(content)


def plant_ref(ws: Workspace, name: str, target) -> None:
    if isinstance(target, str) and target.startswith("refs/"):
        ws.repo.references.create(f"refs/locks/{name}", target)
    else:
        plant_file(ws, name, f"{target}\n".encode())


def holdings(ws: Workspace) -> dict:
    repo = ws.repo
    return {
        "garbage": lambda n: plant_file(ws, n, b"garbage\n"),
        "empty file": lambda n: plant_file(ws, n, b""),
        "binary": lambda n: plant_file(ws, n, b"\x00\xff" * 30),
        "missing object": lambda n: plant_ref(ws, n, "1" * 40),
        "zero id": lambda n: plant_ref(ws, n, "0" * 40),
        "a tree": lambda n: plant_ref(ws, n, repo.TreeBuilder().write()),
        "a commit": lambda n: plant_ref(ws, n, _commit(repo)),
        "garbage blob": lambda n: plant_ref(ws, n, repo.create_blob(b"\xff not json")),
        "json list": lambda n: plant_ref(ws, n, repo.create_blob(b"[1, 2]")),
        "wrong types": lambda n: plant_ref(ws, n, repo.create_blob(b'{"pid": "x", "host": [], "time": {}}')),
        "huge pid": lambda n: plant_ref(ws, n, repo.create_blob(b'{"pid": 1' + b"0" * 400 + b', "host": "h", "time": 1e999}')),
        "symbolic": lambda n: plant_ref(ws, n, "refs/heads/master"),
        "symbolic to a lock": lambda n: plant_ref(ws, n, "refs/locks/other"),
        "2012 format": lambda n: plant_ref(ws, n, repo.create_blob(b"locked")),
    }


def _commit(repo: pygit2.Repository) -> pygit2.Oid:
    sig = pygit2.Signature("m", "m@example.com")
    return repo.create_commit(None, sig, sig, "x", repo.TreeBuilder().write(), [])


def bounded(call, seconds: float = 30.0):
    """Run ``call`` in a thread; fail if it does not return within ``seconds``."""
    result: list = []

    def run():
        try:
            result.append(("ok", call()))
        except BaseException as exc:  # reported to the test
            result.append(("error", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the call did not return"
    return result[0]


NAMES = [
    "garbage", "empty file", "binary", "missing object", "zero id", "a tree", "a commit",
    "garbage blob", "json list", "wrong types", "huge pid", "symbolic", "symbolic to a lock",
    "2012 format",
]


@pytest.mark.parametrize("holding", NAMES)
def test_a_lock_holding_anything_is_inspectable_breakable_and_bounded(ws, holding):
    holdings(ws)[holding]("job")
    assert ws.locked("job") is True
    info = ws.lock_info("job")
    assert info is not None and info.name == "job"

    def wait():
        with ws.lock("job", timeout=1):
            return "acquired"

    kind, value = bounded(wait)
    assert kind == "error" and isinstance(value, LockWaitTimeoutExceeded), value
    assert ws.break_lock("job") is True
    assert ws.locked("job") is False and ws.lock_info("job") is None
    assert bounded(wait) == ("ok", "acquired")
    assert ws.locked("job") is False


@pytest.mark.parametrize(
    "held, wanted",
    [("a", "a/b"), ("a", "a/b/c"), ("a/b", "a"), ("a/b/c", "a"), ("a/b/c", "a/b")],
)
def test_nesting_lock_names_are_refused_clearly(ws, held, wanted):
    with ws.lock(held, timeout=1):
        kind, value = bounded(lambda: ws.lock(wanted, timeout=1).__enter__())
        assert kind == "error" and isinstance(value, RepositoryError)
        assert "nest" in str(value) and repr(held) in str(value)
        for call in (ws.locked, ws.lock_info, ws.break_lock):
            kind, value = bounded(lambda: call(wanted))
            assert kind == "ok" and not value
        assert ws.locked(held)
    with ws.lock(wanted, timeout=1):  # free again: both names work on their own
        assert ws.locked(wanted)
    assert not ws.locked(held) and not ws.locked(wanted)


def test_a_stale_ref_lock_file_beside_garbage_does_not_hang(ws):
    plant_file(ws, "job", b"garbage\n")
    lock_file = Path(ws.path) / "refs" / "locks" / "job.lock"
    lock_file.write_text("left by a killed process")
    old = 1_000_000_000
    os.utime(lock_file, (old, old))
    kind, value = bounded(lambda: ws.lock("job", timeout=1).__enter__())
    assert kind == "error" and isinstance(value, GitModelError)
    assert ws.break_lock("job") is True


def test_a_lock_folder_that_is_a_file_is_a_gitmodel_error(ws):
    locks = Path(ws.path) / "refs" / "locks"
    locks.rmdir()
    locks.write_text("not a folder")
    for call in (ws.locked, ws.lock_info, ws.break_lock,
                 lambda n: ws.lock(n, timeout=1).__enter__()):
        kind, value = bounded(lambda: call("job"))
        assert kind == "ok" or isinstance(value, GitModelError), value


@pytest.mark.parametrize("planted", ["lock ref", "branch ref"])
def test_a_pipe_planted_as_a_ref_after_opening_never_blocks(tmp_path, planted):
    """A named pipe blocks its reader until someone writes; planted where a
    ref lives while a workspace is open, every ref read refuses it at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    program = f"""
import os, sys
from gitmodel import GitModelError, fields
from gitmodel.workspace import Workspace
ws = Workspace.init({str(tmp_path / 'store.git')!r})
class Item(ws.GitModel):
    n = fields.IntegerField(default=0)
Item(id="a").save(commit=True)
path = os.path.join(ws.path, "refs", "locks", "job") if {planted!r} == "lock ref" else \\
    os.path.join(ws.path, "refs", "heads", "master")
os.makedirs(os.path.dirname(path), exist_ok=True)
if os.path.exists(path):
    os.unlink(path)
os.mkfifo(path)
calls = [lambda: ws.locked("job"), lambda: ws.lock_info("job"), lambda: ws.lock("job", timeout=0.5).__enter__(),
         lambda: ws.break_lock("job"), lambda: ws.locked("job")] \\
    if {planted!r} == "lock ref" else [lambda: Item(id="b").save(commit=True), lambda: ws.get_branch("master")]
for call in calls:
    try:
        print("ok", call())
    except GitModelError as exc:
        print("refused", type(exc).__name__)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == (5 if planted == "lock ref" else 2), (done.stdout, done.stderr[-1500:])
    if planted == "branch ref":
        assert all(line.startswith("refused") for line in lines)
    else:  # held by someone unknown, waited for only until the timeout, broken, then free
        assert lines == ["ok True", "ok LockInfo(name='job', pid=0, host='', acquired=0.0)",
                         "refused LockWaitTimeoutExceeded", "ok True", "ok False"]
