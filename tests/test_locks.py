"""``ws.lock(id)``: across threads and processes, timeouts, stale holders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gitmodel import GitModelError, LockWaitTimeoutExceeded
from gitmodel.workspace import Workspace

PROCS = str(Path(__file__).with_name("procs.py"))


def start_holder(repo_path, name: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, PROCS, "hold_lock", str(repo_path), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().split()
    assert line[0] == "held" and int(line[1]) == proc.pid
    return proc


def test_lock_held_by_another_process_times_out_then_is_free(bare_repo_path):
    ws = Workspace(bare_repo_path)
    holder = start_holder(bare_repo_path, "job")
    try:
        info = ws.lock_info("job")
        assert (info.pid, info.host) == (holder.pid, socket.gethostname())
        assert not info.is_stale
        assert ws.locked("job")
        with pytest.raises(LockWaitTimeoutExceeded) as exc:
            with ws.lock("job", timeout=0.2):
                pass
        assert isinstance(exc.value, GitModelError)
        assert str(holder.pid) in str(exc.value)
    finally:
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait(10)
    assert not ws.locked("job")
    with ws.lock("job", timeout=1) as info:
        assert info.pid == os.getpid()
    assert not ws.locked("job")


def test_lock_of_a_killed_process_is_detected_and_broken(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)
    holder = start_holder(bare_repo_path, "job")
    holder.kill()  # SIGKILL: no chance to release
    holder.wait(10)
    holder.stdin.close()
    holder.stdout.close()
    info = ws.lock_info("job")
    assert info.pid == holder.pid and info.is_stale
    with ws.lock("job", timeout=2) as mine:
        assert mine.pid == os.getpid()
        assert not ws.lock_info("job").is_stale
    assert not ws.locked("job")
    run_git(bare_repo_path, "fsck", "--strict")


def test_lock_of_another_host_is_not_broken(bare_repo_path):
    ws = Workspace(bare_repo_path)
    blob = ws.repo.create_blob(
        json.dumps({"pid": 1, "host": "elsewhere.example", "time": 0}).encode()
    )
    ws.repo.references.create("refs/locks/job", blob)
    assert not ws.lock_info("job").is_stale
    with pytest.raises(LockWaitTimeoutExceeded, match="elsewhere.example"):
        with ws.lock("job", timeout=0.1):
            pass
    assert ws.break_lock("job")  # an operator can still break it by hand
    with ws.lock("job", timeout=0.1):
        pass


def test_stale_lock_file_of_a_lock_ref_is_broken(bare_repo_path):
    ws = Workspace(bare_repo_path, stale_lock_age=1.0)
    lock_file = Path(bare_repo_path) / "refs" / "locks" / "job.lock"
    lock_file.parent.mkdir(parents=True)
    lock_file.write_text("")
    with pytest.raises(LockWaitTimeoutExceeded):  # young: someone may be taking it
        with ws.lock("job", timeout=0.1):
            pass
    old = os.stat(lock_file).st_mtime - 60
    os.utime(lock_file, (old, old))
    with ws.lock("job", timeout=2):
        assert ws.locked("job")
    assert not lock_file.exists()


def test_lock_excludes_threads(bare_repo_path):
    ws = Workspace(bare_repo_path)
    state = {"value": 0, "inside": 0, "max_inside": 0}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(15):
                with ws.lock("counter", timeout=30):
                    state["inside"] += 1
                    state["max_inside"] = max(state["max_inside"], state["inside"])
                    value = state["value"]
                    threading.Event().wait(0.0005)
                    state["value"] = value + 1
                    state["inside"] -= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert state["value"] == 60
    assert state["max_inside"] == 1
    assert not ws.locked("counter")


def test_lock_excludes_processes(bare_repo_path, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [
        subprocess.Popen(
            [sys.executable, PROCS, "count", str(bare_repo_path), "counter", str(counter), "25"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok"
    assert counter.read_text() == "75"
    assert not Workspace(bare_repo_path).locked("counter")


@pytest.mark.parametrize("name", ["", "../HEAD", "a..b", "with space", "x.lock", "a\x00b",
                                  "/".join(["z" * 200] * 25)])  # each part fits, the path does not
def test_invalid_lock_names_are_refused(bare_repo_path, name):
    ws = Workspace(bare_repo_path)
    with pytest.raises(GitModelError, match="invalid lock name"):
        with ws.lock(name, timeout=0.1):
            pass
    with pytest.raises(GitModelError, match="invalid lock name"):
        ws.locked(name)  # not "held" (it read as held before, and lock() waited its timeout)
    assert list(ws.repo.references) == []


def test_killed_process_lock_is_broken_by_waiting_process(bare_repo_path):
    """A process already waiting gets the lock when the holder is SIGKILLed."""
    ws = Workspace(bare_repo_path)
    holder = start_holder(bare_repo_path, "job")
    got = threading.Event()

    def wait_for_it() -> None:
        with ws.lock("job", timeout=20):
            got.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not got.wait(0.2)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    waiter.join(30)
    holder.stdin.close()
    holder.stdout.close()
    assert got.is_set()
