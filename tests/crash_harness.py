"""Kill a committing process with SIGKILL at random moments, then check the repository.

A forked child saves and commits in a loop; each commit adds one ``Item``
and increments a ``Counter`` in the same commit, and the child reports the
commit on a pipe once ``commit`` has returned. After each kill the parent
checks that:

- ``git fsck --strict`` finds no error (connectivity included);
- the branch points at a commit whose tree and blobs are all present;
- every commit the child reported is on the branch;
- the data is consistent: the counter equals the number of items equals the
  number of commits after the first one.

Used by ``tests/test_crash.py`` (a few dozen kills) and ``bench/crash.py``
(hundreds).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Optional

import pygit2

from gitmodel import fields
from gitmodel.workspace import Workspace


@dataclass
class CrashStats:
    kills: int = 0
    commits_reported: int = 0
    commits_on_branch: int = 0
    ref_locks_left: int = 0
    fsck_runs: int = 0
    seconds: float = 0.0
    delays: list[float] = field(default_factory=list)


def _models(ws: Workspace) -> tuple[type, type]:
    class Item(ws.GitModel):
        n = fields.IntegerField()
        text = fields.CharField(required=False)

    class Counter(ws.GitModel):
        n = fields.IntegerField(default=0)

    return Item, Counter


def _child(path: str, wfd: int, tag: str, seed: int) -> None:
    rng = random.Random(seed)
    ws = Workspace(path, stale_lock_age=0.05)
    Item, Counter = _models(ws)
    i = 0
    while True:
        counter = Counter.get("c")
        counter.n += 1
        Item(id=f"{tag}-{i}", n=counter.n, text="x" * rng.randrange(0, 5000)).save()
        counter.save()
        oid = ws.commit(f"{tag}-{i}")
        os.write(wfd, f"{oid}\n".encode())
        i += 1


def _run_child(path: str, tag: str, delay: float, seed: int) -> list[str]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(rfd)
            _child(path, wfd, tag, seed)
        except BaseException:  # pragma: no cover - shows up as missing commits
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(wfd)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    chunks = []
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rfd)
    if not os.WIFSIGNALED(status):
        raise AssertionError(f"the child exited on its own (status {status}): it failed")
    text = b"".join(chunks).decode()
    return [line for line in text.split("\n")[:-1] if line]  # drop a torn last line


def check_repository(path: str, reported: list[str], stats: Optional[CrashStats] = None) -> int:
    """Everything the docstring of this module promises; returns the commit count."""
    fsck = subprocess.run(
        ["git", f"--git-dir={path}", "fsck", "--strict", "--no-dangling", "--no-progress"],
        capture_output=True,
        text=True,
    )
    if stats is not None:
        stats.fsck_runs += 1
    if fsck.returncode != 0 or "error" in fsck.stderr or "missing" in fsck.stdout:
        raise AssertionError(f"git fsck failed: {fsck.stdout}{fsck.stderr}")
    repo = pygit2.Repository(path)
    head = repo.references["refs/heads/master"].target
    commit = repo[head]
    assert isinstance(commit, pygit2.Commit)
    history = [c.id for c in repo.walk(head)]
    on_branch = set(history)
    lost = [oid for oid in reported if pygit2.Oid(hex=oid) not in on_branch]
    if lost:
        raise AssertionError(f"{len(lost)} reported commit(s) are not on the branch: {lost[:3]}")
    ws = Workspace(path)
    Item, Counter = _models(ws)
    items = list(Item.all())  # reads every blob of the head tree
    counter = Counter.get("c").n
    if not counter == len(items) == len(history) - 1:
        raise AssertionError(
            f"inconsistent: counter {counter}, {len(items)} items, {len(history)} commits"
        )
    return len(history)


def crash_rounds(path: str, kills: int, max_delay: float = 0.03, seed: int = 0) -> CrashStats:
    """Create the store at ``path``, then run ``kills`` kill-and-check rounds."""
    ws = Workspace.init(path)
    _, Counter = _models(ws)
    Counter(id="c", n=0).save(commit=True, message="counter")
    rng = random.Random(seed)
    stats = CrashStats()
    reported: list[str] = []
    lock_file = os.path.join(ws.repo.path, "refs", "heads", "master.lock")
    start = time.perf_counter()
    for round_no in range(kills):
        delay = rng.uniform(0, max_delay)
        stats.delays.append(delay)
        reported += _run_child(ws.repo.path, f"k{round_no}", delay, rng.randrange(1 << 30))
        stats.kills += 1
        if os.path.exists(lock_file):
            stats.ref_locks_left += 1  # the next child breaks it once it is stale
        stats.commits_on_branch = check_repository(ws.repo.path, reported, stats)
    stats.commits_reported = len(reported)
    stats.seconds = time.perf_counter() - start
    return stats
