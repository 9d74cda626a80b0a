"""Many writers on one branch: compare-and-swap commits and branch following.

Every commit moves the branch ref only if it still points at the commit the
workspace built on (the ref is locked through ``repo.transaction()``, which
creates ``<ref>.lock`` with ``O_EXCL``). Another writer holding that lock for
its few microseconds is waited for with a bounded, jittered back-off; a lock
file left behind by a killed process is removed once it is older than
:attr:`Workspace.stale_lock_age` seconds.

A workspace with nothing pending follows its branch: before an operation it
checks the branch ref (one ``stat`` of the ref file, a read only when the
file changed) and, if another writer moved it, starts over from the new
commit. That is what lets a web worker see what another worker
committed a moment ago.
"""

from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

import pygit2

from .exceptions import BranchMoved, LockWaitTimeoutExceeded, RepositoryError

if TYPE_CHECKING:
    from .workspace import Workspace

#: A ref lock file older than this (seconds) was left by a dead process.
DEFAULT_STALE_LOCK_AGE = 30.0
#: Lock breakers take turns through an ``flock`` on this file in the git folder.
BREAKER_FILE = "gitmodel.breaker"
_FIRST_DELAY = 0.0005
_MAX_DELAY = 0.05


def read_ref(repo: pygit2.Repository, name: str) -> Optional[pygit2.Oid]:
    """The commit ref ``name`` points at (``None`` if it does not exist).

    A ref file that git cannot parse raises :class:`RepositoryError`.
    """
    try:
        ref = repo.references.get(name)
    except (pygit2.GitError, ValueError) as exc:
        raise RepositoryError(f"{name} is corrupt: {exc}") from None
    if ref is None:
        return None
    target = ref.target
    if not isinstance(target, pygit2.Oid):
        raise RepositoryError(f"{name} is a symbolic ref to {target!r}, not a branch")
    return target


def lock_file_path(repo: pygit2.Repository, ref_name: str) -> str:
    """Where git puts the lock file of loose ref ``ref_name``."""
    return os.path.join(repo.path, *ref_name.split("/")) + ".lock"


def break_stale_lock_file(repo: pygit2.Repository, path: str, max_age: float) -> bool:
    """Remove lock file ``path`` if it is older than ``max_age`` seconds.

    Breakers take turns through an ``flock`` on a file in the git folder, and
    look at the age again once it is their turn: two processes that both saw
    the same stale lock cannot remove the fresh lock the first one then took.
    Returns True when the caller should try again at once.
    """
    with _breaker_turn(repo):
        try:
            age = time.time() - os.stat(path).st_mtime
        except FileNotFoundError:
            return True  # released meanwhile
        if age < max_age:
            return False
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        return True


@contextmanager
def _breaker_turn(repo: pygit2.Repository) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover - not a POSIX system
        yield
        return
    fd = os.open(os.path.join(repo.path, BREAKER_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


#: one ref update: ``(ref name, expected target, new target or None to delete)``
RefMove = tuple[str, Optional[pygit2.Oid], Optional[pygit2.Oid]]


def move_branch(
    ws: Workspace,
    commit_id: pygit2.Oid,
    message: str,
    expected: Optional[pygit2.Oid],
    reflog: Optional[str] = None,
    also: Sequence[RefMove] = (),
) -> None:
    """Point ``ws.head`` at ``commit_id`` if it is still at ``expected``.

    ``also``: more refs moved in the same step, each only if it still is at
    its expected target. Raises :class:`BranchMoved` (nothing changed) when
    another writer moved a ref, :class:`LockWaitTimeoutExceeded` when a ref
    stays locked longer than ``ws.lock_timeout``.
    """
    summary = message.splitlines()[0] if message else ""
    move_refs(ws, [(ws.head, expected, commit_id), *also], reflog or f"commit: {summary}")


def move_refs(ws: Workspace, moves: Sequence[RefMove], reflog: str) -> None:
    """Compare-and-swap ``moves`` together (see :func:`move_branch`)."""
    repo = ws.repo
    deadline = time.monotonic() + ws.lock_timeout
    delay = _FIRST_DELAY
    while True:
        try:
            _swap(repo, moves, reflog)
            return
        except (pygit2.GitError, OSError, ValueError) as exc:
            locked = [p for p in (lock_file_path(repo, m[0]) for m in moves) if os.path.exists(p)]
            if locked:
                if break_stale_lock_file(repo, locked[0], ws.stale_lock_age):
                    continue
            elif "lock" not in str(exc):  # not a busy lock that was released meanwhile
                raise RepositoryError(f"cannot move {moves[0][0]}: {exc}") from None
            if time.monotonic() >= deadline:
                raise LockWaitTimeoutExceeded(
                    f"{moves[0][0]} stayed locked for {ws.lock_timeout:g}s "
                    f"({', '.join(locked) or 'a lock file'} exists); nothing was committed"
                ) from None
        # back off with jitter so that many writers do not spin in step
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, _MAX_DELAY)


def _moved(head: str, expected: Optional[pygit2.Oid], current: Optional[pygit2.Oid]) -> BranchMoved:
    return BranchMoved(
        f"{head} moved to {current} while this workspace was at {expected}; "
        "nothing was committed",
        current,
        ref=head,
    )


def _swap(repo: pygit2.Repository, moves: Sequence[RefMove], reflog: str) -> None:
    """One compare-and-swap attempt; git errors (a busy lock) propagate."""
    if not hasattr(repo, "transaction"):  # pygit2 < 1.19 (the only one on Python 3.10)
        for name, expected, new in moves:
            _swap_matching(repo, name, expected, new, reflog)
        return
    with repo.transaction() as tx:
        for name, expected, _new in moves:
            tx.lock_ref(name)
            current = read_ref(repo, name)
            if current != expected:
                raise _moved(name, expected, current)
        for name, _expected, new in moves:
            if new is None:
                tx.remove(name)
            else:
                tx.set_target(name, new, message=reflog)


def _swap_matching(
    repo: pygit2.Repository,
    head: str,
    expected: Optional[pygit2.Oid],
    commit_id: Optional[pygit2.Oid],
    reflog: str,
) -> None:
    # libgit2 moves a ref only if it still holds the value the Reference was
    # read with (git_reference_create_matching): the same compare-and-swap
    ref = repo.references.get(head)
    current = read_ref(repo, head)
    if current != expected:
        raise _moved(head, expected, current)
    try:
        if commit_id is None:
            if ref is not None:
                ref.delete()
        elif ref is None:
            repo.create_reference_direct(head, commit_id, False, message=reflog)
        else:
            ref.set_target(commit_id, reflog)
    except (pygit2.GitError, pygit2.AlreadyExistsError, OSError, ValueError):
        now = read_ref(repo, head)
        if now != expected:
            raise _moved(head, expected, now) from None
        raise  # the ref lock is busy: the caller waits and retries


def follow_branch(ws: Workspace) -> None:
    """Move a unit of work with nothing pending to its branch's latest commit.

    Costs one ``stat`` (a ref read when the ref file changed) when the
    unit is clean, nothing when changes are pending (they stay built on
    the commit they started from).
    """
    unit = ws._unit
    if not ws.follow or unit.detached is not None or unit.follow_paused or unit.merge is not None:
        return
    stage = unit.stage
    if stage.is_dirty:
        return
    head = unit.head
    stamp = ref_stamp(ws.repo.path, head)
    if stamp is not None and stamp == unit.follow_stamp:
        return  # the ref files have not changed since the last read
    try:
        ref = ws.repo.references.get(head)  # the ref file changed: read it
    except (pygit2.GitError, ValueError) as exc:
        raise RepositoryError(f"{head} is corrupt: {exc}") from None
    target = ref.target if ref is not None else None
    if target == unit.start:
        if stamp is not None and time.time_ns() - stamp[1] >= _SETTLE_NS:  # type: ignore[operator]
            unit.follow_stamp = stamp  # settled: a later write gets a later time
        return  # nobody moved the branch
    with ws.write_lock:
        if stage.is_dirty:
            return
        base_id = stage.base.id if stage.base is not None else None
        if base_id != start_tree_id(ws):
            return  # trees written (ws.index) but not committed: still pending
        if target is not None and not isinstance(target, pygit2.Oid):
            raise RepositoryError(f"{head} is a symbolic ref to {target!r}, not a branch")
        commit = ws.repo.get(target) if target is not None else None
        if target is not None and not isinstance(commit, pygit2.Commit):
            raise RepositoryError(f"{head} points at {target}, which is not a commit")
        unit.move_to(target, commit.tree if commit is not None else None)


#: A ref file written less than this long ago (ns) is read, not trusted by
#: its stamp: file times are as coarse as the kernel's tick.
_SETTLE_NS = 50_000_000


def ref_stamp(git_dir: str, ref_name: str) -> Optional[tuple[object, ...]]:
    """A cheap fingerprint of the file that holds ``ref_name``, or ``None``.

    git and libgit2 write a ref by renaming a new lock file over it, so any
    update gives the ref file (or ``packed-refs``) a new inode and time, and
    one ``stat`` costs far less than parsing the ref. A stamp is only
    remembered once the file is older than ``_SETTLE_NS`` (file times are as
    coarse as the kernel's tick), so equal stamps prove an unchanged file.
    """
    path = _ref_paths.get((git_dir, ref_name))
    if path is None:
        path = _ref_paths[(git_dir, ref_name)] = os.path.join(git_dir, ref_name)
    try:
        st = os.stat(path)
    except OSError:
        try:  # a packed ref (or none at all): watch packed-refs instead
            st = os.stat(os.path.join(git_dir, "packed-refs"))
        except OSError:
            return None
        loose = 0
    else:
        loose = 1
    return (ref_name, st.st_mtime_ns, loose, st.st_ino, st.st_dev, st.st_ctime_ns, st.st_size)


_ref_paths: dict[tuple[str, str], str] = {}


@contextmanager
def paused(ws: Workspace) -> Iterator[None]:
    """Hold ``ws.write_lock`` and do not follow the branch meanwhile.

    A save builds on what its unit of work holds, even if the save itself
    reads (unique checks).
    """
    unit = ws._unit
    with ws.write_lock:
        unit.follow_paused += 1
        try:
            yield
        finally:
            unit.follow_paused -= 1


def start_tree_id(ws: Workspace) -> Optional[pygit2.Oid]:
    """The tree id of the calling unit's start commit, memoized per commit."""
    start = ws._unit.start
    if start is None:
        return None
    cached = ws.__dict__.get("_start_tree_memo")
    if cached is not None and cached[0] == start:
        return cached[1]  # type: ignore[no-any-return]
    tree_id = ws.repo[start].tree_id  # type: ignore[attr-defined]
    ws.__dict__["_start_tree_memo"] = (start, tree_id)
    return tree_id  # type: ignore[no-any-return]
