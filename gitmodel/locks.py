"""Advisory locks stored as refs (``refs/locks/<name>``), across processes.

Creating a ref that must not exist is atomic in git (an ``O_EXCL`` lock
file), so the ref itself is the mutex. It points at a small blob naming the
holder (pid, host, time) so a lock left by a killed process can be found and
broken.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import pygit2

from .exceptions import GitModelError, LockWaitTimeoutExceeded

LOCK_PREFIX = "refs/locks/"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock: process id, host name and acquisition time (epoch)."""

    name: str
    pid: int
    host: str
    acquired: float

    @property
    def is_stale(self) -> bool:
        """True when the holder ran on this host and is no longer alive."""
        if self.host != socket.gethostname():
            return False
        return not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_ref_name(name: str) -> str:
    """``refs/locks/<name>``, refusing names git would not accept."""
    ref = LOCK_PREFIX + str(name)
    if not name or not pygit2.reference_is_valid_name(ref):
        raise GitModelError(f"invalid lock name: {name!r}")
    return ref


def read_lock(repo: pygit2.Repository, name: str) -> Optional[LockInfo]:
    """The holder of lock ``name``, or ``None`` if it is free."""
    ref = repo.references.get(lock_ref_name(name))
    if ref is None:
        return None
    try:
        info = json.loads(repo[ref.target].data)  # type: ignore[union-attr,attr-defined]
        return LockInfo(name, int(info["pid"]), str(info["host"]), float(info["time"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        return LockInfo(name, 0, "", 0.0)  # a lock of unknown origin (e.g. the 2012 format)


def try_acquire(repo: pygit2.Repository, name: str) -> Optional[pygit2.Oid]:
    """Take lock ``name`` if it is free (returns the holder blob id); never waits."""
    ref = lock_ref_name(name)
    holder = json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
    ).encode()
    oid = repo.create_blob(holder)
    try:
        repo.references.create(ref, oid, force=False)
    except (pygit2.AlreadyExistsError, pygit2.GitError, ValueError):
        return None
    return oid


def release(repo: pygit2.Repository, name: str, token: Optional[pygit2.Oid] = None) -> None:
    """Delete the lock ref (only if it still holds ``token``, when given)."""
    ref = repo.references.get(lock_ref_name(name))
    if ref is not None and (token is None or ref.target == token):
        try:
            ref.delete()
        except (pygit2.GitError, KeyError):  # already broken by someone else
            pass


def break_lock(repo: pygit2.Repository, name: str) -> bool:
    """Remove lock ``name`` whoever holds it; True if there was one."""
    had = read_lock(repo, name) is not None
    release(repo, name)
    return had


@contextmanager
def hold(
    repo: pygit2.Repository,
    name: str,
    timeout: float,
    break_stale: bool = True,
) -> Iterator[LockInfo]:
    """Wait up to ``timeout`` seconds for lock ``name``; release on exit."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while (token := try_acquire(repo, name)) is None:
        holder = read_lock(repo, name)
        if holder is not None and break_stale and holder.is_stale:
            release(repo, name, _target(repo, name))
            continue
        if time.monotonic() >= deadline:
            who = f" (held by pid {holder.pid} on {holder.host})" if holder else ""
            raise LockWaitTimeoutExceeded(
                f"lock wait timeout exceeded after {timeout:g}s for lock {name!r}{who}"
            )
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.05)
    info = read_lock(repo, name)
    try:
        yield info  # type: ignore[misc]
    finally:
        release(repo, name, token)


def _target(repo: pygit2.Repository, name: str) -> Optional[pygit2.Oid]:
    ref = repo.references.get(lock_ref_name(name))
    return ref.target if ref is not None else None  # type: ignore[return-value]
