"""Advisory locks stored as refs (``refs/locks/<name>``), across processes.

Creating a ref that must not exist is atomic in git (an ``O_EXCL`` lock
file), so the ref itself is the mutex. It points at a small blob naming the
holder (pid, host, time) so a lock left by a killed process can be found and
broken.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import pygit2

from .git.refs import DEFAULT_STALE_LOCK_AGE, break_stale_lock_file, lock_file_path
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
    if not isinstance(name, str) or not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise GitModelError(f"invalid lock name: {name!r}")
    ref = LOCK_PREFIX + name
    if not pygit2.reference_is_valid_name(ref):  # C string: checked for NUL above
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
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.time(),
            "thread": threading.get_ident(),
            "nonce": uuid.uuid4().hex,  # every acquisition is a distinct blob
        }
    ).encode()
    oid = repo.create_blob(holder)
    try:
        repo.references.create(ref, oid, force=False)
    except (pygit2.AlreadyExistsError, pygit2.GitError, OSError, ValueError):
        return None
    return oid


def release(repo: pygit2.Repository, name: str, token: Optional[pygit2.Oid] = None) -> bool:
    """Delete the lock ref (only if it still holds ``token``, when given).

    The check and the deletion happen under git's lock on the ref, so a lock
    someone else took meanwhile is never deleted. True if it was deleted.
    """
    ref_name = lock_ref_name(name)
    try:
        with repo.transaction() as tx:
            tx.lock_ref(ref_name)
            ref = repo.references.get(ref_name)
            if ref is None or (token is not None and ref.target != token):
                return False
            tx.remove(ref_name)
        return True
    except (pygit2.GitError, OSError, KeyError):  # the ref is being changed right now
        return False


def break_lock(repo: pygit2.Repository, name: str) -> bool:
    """Remove lock ``name`` whoever holds it; True if there was one."""
    had = read_lock(repo, name) is not None
    release(repo, name)
    return had


def _break_if_stale(repo: pygit2.Repository, name: str, stale_lock_age: float) -> bool:
    """Free lock ``name`` if its holder is dead; True if the caller may retry now."""
    ref_name = lock_ref_name(name)
    try:
        ref = repo.references.get(ref_name)
    except pygit2.GitError:
        ref = None
    if ref is None:
        # no ref, yet creating it failed: a ``.lock`` file, maybe left by a
        # process killed in the middle of taking or releasing the lock
        return break_stale_lock_file(repo, lock_file_path(repo, ref_name), stale_lock_age)
    token = ref.target
    if not isinstance(token, pygit2.Oid):  # a symbolic ref: not one of ours
        return False
    holder = _holder(repo, name, token)
    if holder.is_stale:
        return release(repo, name, token)  # only if nobody re-took it meanwhile
    return False


def _holder(repo: pygit2.Repository, name: str, token: pygit2.Oid) -> LockInfo:
    try:
        info = json.loads(repo[token].data)  # type: ignore[attr-defined]
        return LockInfo(name, int(info["pid"]), str(info["host"]), float(info["time"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        return LockInfo(name, 0, "", 0.0)


@contextmanager
def hold(
    repo: pygit2.Repository,
    name: str,
    timeout: float,
    break_stale: bool = True,
    stale_lock_age: float = DEFAULT_STALE_LOCK_AGE,
) -> Iterator[LockInfo]:
    """Wait up to ``timeout`` seconds for lock ``name``; release on exit.

    A lock whose holder is dead (same host, pid gone) is broken when
    ``break_stale`` is true. Not re-entrant: a thread that holds ``name`` and
    asks for it again waits for itself until the timeout.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while (token := try_acquire(repo, name)) is None:
        if break_stale and _break_if_stale(repo, name, stale_lock_age):
            continue
        if time.monotonic() >= deadline:
            holder = read_lock(repo, name)
            who = f" (held by pid {holder.pid} on {holder.host})" if holder else ""
            raise LockWaitTimeoutExceeded(
                f"lock wait timeout exceeded after {timeout:g}s for lock {name!r}{who}"
            )
        time.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.05)
    info = read_lock(repo, name)
    try:
        yield info  # type: ignore[misc]
    finally:
        release(repo, name, token)
