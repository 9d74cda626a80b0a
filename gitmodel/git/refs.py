"""Refs: reading them, moving them by compare-and-swap, and their lock files.

Every move is a compare-and-swap: a ref moves only if it still points
where the caller expects (the ref is locked through ``repo.transaction()``,
which creates ``<ref>.lock`` with ``O_EXCL``). Another writer holding that
lock for its few microseconds is waited for with a bounded, jittered
back-off; a lock file left behind by a killed process is removed once it
is older than ``stale_lock_age`` seconds. Knows nothing of models.
"""

from __future__ import annotations

import os
import random
import stat
import time
import weakref
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

import pygit2

from ..exceptions import BranchMoved, LockWaitTimeoutExceeded, RepositoryError

#: A ref lock file older than this (seconds) was left by a dead process.
DEFAULT_STALE_LOCK_AGE = 30.0
#: Lock breakers take turns through an ``flock`` on this file in the git folder.
BREAKER_FILE = "gitmodel.breaker"
#: the longest wait (seconds) for another lock breaker's turn
BREAKER_WAIT = 10.0
_FIRST_DELAY = 0.0005
_MAX_DELAY = 0.05
#: one ref update: ``(ref name, expected target, new target or None to delete)``
RefMove = tuple[str, Optional[pygit2.Oid], Optional[pygit2.Oid]]


def common_dir(repo: pygit2.Repository) -> str:
    """The git folder holding the shared refs and objects (a linked work
    tree's ``commondir``, else the repository's own git folder).

    Read once per repository object, as libgit2 reads it once when it opens
    the repository (a ``commondir`` file changed later does not move it)."""
    found = _common_dirs.get(repo)
    if found is not None:
        return found
    gitdir = repo.path
    try:
        with open(os.path.join(gitdir, "commondir"), encoding="utf-8", errors="replace") as handle:
            found = os.path.normpath(os.path.join(gitdir, handle.read(4096).strip()))
    except OSError:
        found = os.path.normpath(gitdir)
    _common_dirs[repo] = found
    return found


_common_dirs: weakref.WeakKeyDictionary[pygit2.Repository, str] = weakref.WeakKeyDictionary()


#: refs a linked work tree keeps in its own git folder, not the common one
_PER_WORKTREE_REFS = ("HEAD", "ORIG_HEAD", "FETCH_HEAD", "MERGE_HEAD")
_PER_WORKTREE_FOLDERS = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")


def refuse_linked_ref(repo: pygit2.Repository, name: str) -> None:
    """Raise :class:`RepositoryError` if ref ``name`` would be read or written
    through a symlink: its loose file, a folder on the way to it, or
    ``packed-refs``. git writes no ref as a symlink; one planted there would
    lead reads and lock files out of the repository. (An old-style ``HEAD``
    symlink to a branch inside the repository is still read.)"""
    per_worktree = name in _PER_WORKTREE_REFS or name.startswith(_PER_WORKTREE_FOLDERS)
    path = os.path.normpath(repo.path) if per_worktree else common_dir(repo)
    for part in name.split("/"):
        path = os.path.join(path, part)
        _refuse_link(repo, name, path, allow_inside=name == "HEAD")
    _refuse_link(repo, name, os.path.join(common_dir(repo), "packed-refs"), allow_inside=False)


def _refuse_link(repo: pygit2.Repository, name: str, path: str, allow_inside: bool) -> None:
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return
    if not stat.S_ISLNK(mode):
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            return
        raise RepositoryError(  # a pipe or a device: reading it would block libgit2 forever
            f"{name} of {repo.path!r} is corrupt: {path!r} is not a file (a pipe?); refs are never read from one"
        )
    if allow_inside:
        inside = os.path.realpath(path)
        home = os.path.realpath(common_dir(repo))
        if inside.startswith(os.path.join(home, "refs", "heads", "")):
            return
    raise RepositoryError(
        f"{name} of {repo.path!r} is corrupt: {path!r} is a symlink (to {os.readlink(path)!r}); "
        "refs are never read or written through one"
    )


def refuse_linked_refs(repo: pygit2.Repository, limit: int = 100_000) -> None:
    """Scan ``refs/`` (at most ``limit`` entries) and ``HEAD`` for symlinks
    (see :func:`refuse_linked_ref`); raise :class:`RepositoryError` at the first."""
    refuse_linked_ref(repo, "HEAD")
    root = common_dir(repo)
    stack = [os.path.join(root, "refs")]
    seen = 0
    while stack and seen < limit:
        folder = stack.pop()
        _refuse_link(repo, os.path.relpath(folder, root), folder, allow_inside=False)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.is_symlink() and entry.path.startswith(os.path.join(root, "refs", "locks", "")) \
                    and not entry.is_dir():
                continue  # a symlinked lock reads as held by someone unknown; break_lock removes it
            if entry.is_symlink():
                _refuse_link(repo, os.path.relpath(entry.path, root), entry.path, allow_inside=False)
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif not entry.is_file(follow_symlinks=False):  # a pipe would block libgit2 forever
                raise RepositoryError(f"{entry.path!r} is not a file (a pipe?); refs are never read from one")


def read_ref(repo: pygit2.Repository, name: str) -> Optional[pygit2.Oid]:
    """The commit ref ``name`` points at (``None`` if it does not exist).

    A ref file that git cannot parse, or one read through a symlink, raises
    :class:`RepositoryError`.
    """
    refuse_linked_ref(repo, name)
    return _target(repo, name)


def _target(repo: pygit2.Repository, name: str) -> Optional[pygit2.Oid]:
    """:func:`read_ref` once its path was checked."""
    try:
        ref = repo.references.get(name)
    except (pygit2.GitError, ValueError) as exc:
        raise RepositoryError(f"{name} is corrupt: {exc}") from None
    if ref is None:
        if name in packed_names(repo):  # listed, yet not found: never taken as unborn
            raise RepositoryError(
                f"{name} is in {os.path.join(common_dir(repo), 'packed-refs')} but cannot be read: "
                "the file is damaged (a line out of order, or a ref name git refuses); "
                "nothing was read or written")
        return None
    target = ref.target
    if not isinstance(target, pygit2.Oid):
        raise RepositoryError(f"{name} is a symbolic ref to {target!r}, not a branch")
    return target


#: packed-refs path -> (its stat stamp, the ref names it lists)
_packed: dict[str, tuple[tuple[int, ...], frozenset[str]]] = {}


def packed_names(repo: pygit2.Repository) -> frozenset[str]:
    """The ref names ``packed-refs`` lists, read again only when the file
    changed. libgit2 binary-searches a file that says it is sorted, so one
    line out of order hides the refs after it: a ref that reads as missing
    but is listed here must not be taken for an unborn branch (the next
    commit would start a new history over it)."""
    path = os.path.join(common_dir(repo), "packed-refs")
    try:
        st = os.stat(path)
    except OSError:
        return frozenset()
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    found = _packed.get(path)
    if found is not None and found[0] == stamp:
        return found[1]
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return frozenset()
    names = frozenset(line.split(b" ", 1)[1].decode("utf-8", "replace")
                      for line in data.splitlines() if line[:1] not in (b"#", b"^") and b" " in line)
    _packed[path] = (stamp, names)
    return names


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
    path = os.path.join(repo.path, BREAKER_FILE)
    try:  # O_NOFOLLOW: a symlink planted there is not followed out of the git folder
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise RepositoryError(f"cannot open {path!r}: {exc}") from None
    try:
        deadline = time.monotonic() + BREAKER_WAIT
        while True:  # bounded: a process holding the file forever cannot hang us
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockWaitTimeoutExceeded(
                        f"{path!r} stayed locked for {BREAKER_WAIT:g}s; nothing was changed"
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)


def move_refs(
    repo: pygit2.Repository,
    moves: Sequence[RefMove],
    reflog: str,
    lock_timeout: float,
    stale_lock_age: float = DEFAULT_STALE_LOCK_AGE,
) -> None:
    """Compare-and-swap ``moves`` together: each ref only if it is still at
    its expected target, else :class:`BranchMoved` and nothing changed.

    A busy ref lock is waited for up to ``lock_timeout`` seconds, then
    :class:`LockWaitTimeoutExceeded`; a lock file older than
    ``stale_lock_age`` seconds is broken.
    """
    for name, _expected, _new in moves:
        refuse_linked_ref(repo, name)
    deadline = time.monotonic() + lock_timeout
    delay = _FIRST_DELAY
    while True:
        try:
            _swap(repo, moves, reflog)
            return
        except (pygit2.GitError, OSError, ValueError) as exc:
            locked = [p for p in (lock_file_path(repo, m[0]) for m in moves) if os.path.exists(p)]
            if locked:
                if break_stale_lock_file(repo, locked[0], stale_lock_age):
                    continue
            elif "lock" not in str(exc):  # not a busy lock that was released meanwhile
                raise RepositoryError(f"cannot move {moves[0][0]}: {exc}") from None
            if time.monotonic() >= deadline:
                raise LockWaitTimeoutExceeded(
                    f"{moves[0][0]} stayed locked for {lock_timeout:g}s "
                    f"({', '.join(locked) or 'a lock file'} exists); nothing was committed"
                ) from None
        # back off with jitter so that many writers do not spin in step
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, _MAX_DELAY)


def _moved(head: str, expected: Optional[pygit2.Oid], current: Optional[pygit2.Oid]) -> BranchMoved:
    return BranchMoved(
        f"{head} moved to {current} while the writer was at {expected}; "
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
            current = _target(repo, name)  # move_refs checked its path
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
