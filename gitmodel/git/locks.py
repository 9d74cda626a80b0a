"""Advisory locks stored as refs (``refs/locks/<name>``), across processes.

Creating a ref that must not exist is atomic in git (an ``O_EXCL`` lock
file), so the ref itself is the mutex. It points at a small blob naming the
holder (pid, host, time) so a lock left by a killed process can be found and
broken.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math
import numbers
import os
import random
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import pygit2

from ..exceptions import InvalidReferenceName, LockWaitTimeoutExceeded, RepositoryError, ValidationError
from .odb import write_blob
from .refs import DEFAULT_STALE_LOCK_AGE, break_stale_lock_file, lock_file_path, refuse_linked_ref
from ..pathsafety import unsafe_component
from ..refs import MAX_REF_PART, check_ref_name

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
    return check_ref_name(LOCK_PREFIX + name if isinstance(name, str) and name else None, "lock", name)


def object_lock_name(model_name: str, object_id: Any) -> str:
    """The lock name of one object: ``<model>-<id>`` where git takes that as
    a ref name (the name every earlier version used), else ``<model>-/`` and
    the id's UTF-8 in hex, or, when that hex would not fit in a ref name
    (ids over 125 bytes), ``<model>-/sha256-`` and the SHA-256 of that UTF-8:
    every id that saves gets a lock, and no two ids share one."""
    plain = f"{model_name}-{object_id}"
    try:
        lock_ref_name(plain)
        return plain
    except InvalidReferenceName:
        raw = str(object_id).encode("utf-8", "surrogatepass")
        if 2 * len(raw) <= MAX_REF_PART:
            return f"{model_name}-/{raw.hex()}"
        return f"{model_name}-/sha256-{hashlib.sha256(raw).hexdigest()}"  # (hex never holds "-")


def checked_seconds(value: Any, what: str) -> float:
    """``value`` as a number of seconds to wait (``inf``: no limit); a
    :class:`~gitmodel.exceptions.ValidationError` naming ``what`` for
    anything else (NaN would wait forever, spinning). Any real number
    (``int``, ``float``, ``Decimal``, ``Fraction``) is taken; one too big
    for a float waits without limit."""
    if not isinstance(value, bool) and isinstance(value, (numbers.Real, decimal.Decimal)):
        try:
            seconds = float(value)
        except OverflowError:  # 10**400
            seconds = math.inf if value > 0 else -math.inf  # type: ignore[operator]
        except ValueError:  # Decimal("sNaN")
            seconds = math.nan
        if seconds >= 0:  # (False for NaN)
            return seconds
    raise ValidationError(f"{what} must be a number of seconds, 0 or more, not {value!r}", field=what)


_UNREADABLE: Any = object()


def _get_ref(repo: pygit2.Repository, ref_name: str) -> Any:
    """The lock's ref, ``None`` if there is none, or ``_UNREADABLE`` if its
    file holds something git cannot parse (a lock of unknown origin)."""
    try:
        refuse_linked_ref(repo, ref_name)  # a symlinked lock is not read through
        return repo.references.get(ref_name)
    except (RepositoryError, pygit2.GitError, ValueError, OSError):
        return _UNREADABLE


def _unknown(name: str) -> LockInfo:
    return LockInfo(name, 0, "", 0.0)  # held, by someone we cannot tell


def read_lock(repo: pygit2.Repository, name: str) -> Optional[LockInfo]:
    """The holder of lock ``name``, or ``None`` if it is free.

    Whatever the lock's ref holds (garbage, a tree, a missing object, a
    symbolic ref), a held lock is reported, as of unknown origin if need be.
    """
    ref = _get_ref(repo, lock_ref_name(name))
    if ref is None:
        return None
    if ref is _UNREADABLE or not isinstance(ref.target, pygit2.Oid):
        return _unknown(name)
    return _holder(repo, name, ref.target)


def try_acquire(repo: pygit2.Repository, name: str) -> Optional[pygit2.Oid]:
    """Take lock ``name`` if it is free (returns the holder blob id); never waits."""
    ref = lock_ref_name(name)
    _refuse_unsafe_path(repo, ref)
    holder = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.time(),
            "thread": threading.get_ident(),
            "nonce": uuid.uuid4().hex,  # every acquisition is a distinct blob
        }
    ).encode()
    if _get_ref(repo, ref) is _UNREADABLE:  # held by something libgit2 must not read
        return None
    oid = write_blob(repo, holder)
    try:
        repo.references.create(ref, oid, force=False)
    except (pygit2.AlreadyExistsError, pygit2.GitError, OSError, ValueError):
        return None
    return oid


def _refuse_unsafe_path(repo: pygit2.Repository, ref_name: str) -> None:
    """Refuse a lock whose ref file would be written through a symlink."""
    bad = unsafe_component(repo.path, ref_name.split("/"))
    if bad is not None and os.path.islink(bad):
        raise RepositoryError(f"cannot take lock {ref_name!r}: {bad!r} is a symlink")


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
    except (pygit2.GitError, OSError, KeyError, ValueError):  # being changed right now, or unreadable
        return False


def break_lock(repo: pygit2.Repository, name: str) -> bool:
    """Remove lock ``name`` whoever holds it, whatever its ref holds; True if there was one."""
    had = read_lock(repo, name) is not None
    if had and _get_ref(repo, lock_ref_name(name)) is _UNREADABLE:
        _remove_unreadable(repo, lock_ref_name(name))  # never handed to libgit2 (a pipe would block it)
    elif had and not release(repo, name) and _get_ref(repo, lock_ref_name(name)) is _UNREADABLE:
        _remove_unreadable(repo, lock_ref_name(name))
    return had


def _remove_unreadable(repo: pygit2.Repository, ref_name: str) -> None:
    """Delete a loose ref file git cannot parse (never anything through a symlink)."""
    parts = ref_name.split("/")
    if unsafe_component(repo.path, parts[:-1], last_is_file=False) is not None:
        return
    path = os.path.join(repo.path, *parts)
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            os.unlink(path)  # a symlink is removed itself, never what it points at
    except OSError:
        pass


def _nested_with(repo: pygit2.Repository, name: str) -> Optional[str]:
    """A held lock whose name is a folder of ``name`` or has ``name`` as one."""
    parts = name.split("/")
    for end in range(1, len(parts)):
        outer = "/".join(parts[:end])
        if _get_ref(repo, LOCK_PREFIX + outer) is not None:
            return outer
    below = f"{LOCK_PREFIX}{name}/"
    try:
        inner = [r for r in repo.references if r.startswith(below)]
    except (pygit2.GitError, ValueError, OSError):
        inner = []
    return inner[0].removeprefix(LOCK_PREFIX) if inner else None


def _break_if_stale(repo: pygit2.Repository, name: str, stale_lock_age: float) -> bool:
    """Free lock ``name`` if its holder is dead; True if the caller may retry now."""
    ref_name = lock_ref_name(name)
    ref = _get_ref(repo, ref_name)
    if ref is _UNREADABLE:
        return False  # held by something we cannot read: only break_lock() frees it
    if ref is None:
        # no ref, yet creating it failed: a ``.lock`` file, maybe left by a
        # process killed in the middle of taking or releasing the lock
        try:
            return break_stale_lock_file(repo, lock_file_path(repo, ref_name), stale_lock_age)
        except OSError:
            return False
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
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError, pygit2.GitError):
        return _unknown(name)  # a lock of unknown origin (e.g. the 2012 format)


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
    timeout = checked_seconds(timeout, "timeout")
    # a NaN age would break every lock file at once, a live writer's too
    stale_lock_age = checked_seconds(stale_lock_age, "stale_lock_age")
    deadline = time.monotonic() + timeout
    delay = 0.002
    while (token := try_acquire(repo, name)) is None:
        if _get_ref(repo, lock_ref_name(name)) is None:
            other = _nested_with(repo, name)
            if other is not None:
                raise RepositoryError(
                    f"cannot take lock {name!r} while lock {other!r} is held: "
                    "lock names must not nest (one is a folder of the other)"
                )
        retry = break_stale and _break_if_stale(repo, name, stale_lock_age)
        if time.monotonic() >= deadline:  # checked on every turn: the wait is bounded
            holder = read_lock(repo, name)
            who = f" (held by pid {holder.pid} on {holder.host})" if holder and holder.pid else ""
            raise LockWaitTimeoutExceeded(
                f"lock wait timeout exceeded after {timeout:g}s for lock {name!r}{who}"
            )
        if not retry:
            time.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.05)
    info = read_lock(repo, name)
    try:
        yield info  # type: ignore[misc]
    finally:
        release(repo, name, token)
