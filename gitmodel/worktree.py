"""Keeping a non-bare repository's index and work tree truthful.

gitmodel commits without a checkout: it writes objects and moves a branch.
When that branch is the one the repository's work tree has checked out,
plain git would then see gitmodel's commit as changes to revert (``git
status`` lists them, ``git commit -a`` undoes them). So each commit to the
checked-out branch is checked against, then applied to, git's index and
work tree, as ``receive.denyCurrentBranch=updateInstead`` does for a push:

- :attr:`WorkTreePolicy.UPDATE` (the default): before the branch moves,
  every path the commit changes must be, in the index and in the work tree,
  as it was in the commit the branch is at (or absent from both, or already
  as the new commit has it). Otherwise :class:`WorkTreeConflict` is raised
  and nothing is committed. After the branch moves, those paths (and only
  those) are written into the work tree and the index. Other local changes
  are left alone. What the work tree cannot take is refused before the
  branch moves too (:class:`CorruptObject`): a submodule, a mode that is not
  a file's, an entry that is not a blob, and a symlink that a fetch brought
  (one the move takes in from a remote-tracking ref; a clone refuses those
  alike). Should writing still fail half way, the paths written are put
  back as they were and the refs move back.
- :attr:`WorkTreePolicy.REFUSE`: a commit to the checked-out branch raises
  :class:`WorkTreeRefused`; commit to another branch, or use a bare
  repository.

Files are written without following symlinks and never outside the work
tree: each folder on the way is opened with ``O_NOFOLLOW``, files are
written beside their target and renamed over it, and paths with ``.git``,
``.`` or ``..`` components are refused. Only the main work tree is kept in
step, not those added with ``git worktree add``.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
import time
from typing import TYPE_CHECKING, Any, Optional, Union

import pygit2

from .exceptions import CorruptObject, GitModelError, LockWaitTimeoutExceeded, RepositoryError
from .git.diff import tree_deltas
from .git.refs import read_ref

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["WorkTreePolicy", "WorkTreeConflict", "WorkTreeRefused", "Checkout", "prepare"]

_LINK_MODE = int(pygit2.enums.FileMode.LINK)
_EXEC_MODE = int(pygit2.enums.FileMode.BLOB_EXECUTABLE)
_FILE_MODE = int(pygit2.enums.FileMode.BLOB)
_TREE_MODE = int(pygit2.enums.FileMode.TREE)
#: the file in the git folder whose flock orders commits to the checked-out branch
LOCK_FILE = "gitmodel-worktree.lock"
#: how many paths a conflict message names
_NAMED = 10

Entry = Optional[tuple[pygit2.Oid, int]]


class WorkTreePolicy(enum.Enum):
    """What a commit to the branch checked out in the work tree does."""

    #: check, then update the index and work tree for the paths it changes
    UPDATE = "update"
    #: refuse the commit
    REFUSE = "refuse"


class WorkTreeConflict(RepositoryError):
    """The work tree or index has local changes where a commit would write.

    Nothing was committed; ``paths`` lists the paths in the way.
    """

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class WorkTreeRefused(RepositoryError):
    """A commit to the checked-out branch with ``worktree="refuse"``."""


def checked_out(repo: pygit2.Repository, ref_name: str) -> bool:
    """True if ``repo`` has a work tree whose HEAD is the branch ``ref_name``."""
    if repo.is_bare or not repo.workdir:
        return False
    head = repo.references.get("HEAD")
    return (
        head is not None
        and head.type == pygit2.enums.ReferenceType.SYMBOLIC
        and head.target == ref_name
    )


def move_branch(ws: Workspace, moves: list[Any], reflog: str) -> None:
    """Make the ref ``moves`` (the first one is ``ws.head``'s) in one step,
    keeping git's index and work tree in step when the branch is checked out."""
    _head, old, new = moves[0]
    checkout = prepare(ws, old, new)  # raises if it would clobber local changes or write what git refuses
    if checkout is None:
        ws.store.move_refs(moves, reflog)
        return
    try:
        ws.store.move_refs(moves, reflog)
        try:
            checkout.apply()
        except BaseException as exc:
            _undo(ws, checkout, moves, reflog, exc)
            raise
    finally:
        checkout.release()


def _undo(ws: Workspace, checkout: Checkout, moves: list[Any], reflog: str, exc: BaseException) -> None:
    """After the refs moved and the work tree update failed: put the paths it
    got to back as they were, then the refs (the work tree lock is still held)."""
    problems = []
    try:
        checkout.rollback()
    except (OSError, pygit2.GitError, GitModelError) as err:
        problems.append(f"the work tree: {err}")
    try:
        ws.store.move_refs([(name, to, was) for name, was, to in moves], f"{reflog} (undone: {exc})")
    except GitModelError as err:
        problems.append(f"{moves[0][0]}: {err}")
    if problems:
        raise RepositoryError(f"{exc}; and these could not be put back: {'; '.join(problems)}") from exc


def prepare(
    ws: Workspace, old: Optional[pygit2.Oid], new: pygit2.Oid
) -> Optional[Checkout]:
    """Before ``ws.head`` moves from ``old`` to ``new``: the update to apply
    afterwards (``None`` when the branch is not checked out), or raise."""
    repo = ws.repo
    if not checked_out(repo, ws.head):
        return None
    if ws.worktree is WorkTreePolicy.REFUSE:
        raise WorkTreeRefused(
            f"{ws.head} is checked out in the work tree {repo.workdir!r}; this workspace "
            "was opened with worktree='refuse'. Nothing was committed (the changes stay "
            "pending): commit to another branch, or open it with worktree='update' to "
            "keep the work tree in step"
        )
    lock = _take_lock(repo, ws.lock_timeout)  # check, swap and update are one step
    try:
        if read_ref(repo, ws.head) != old:
            _release_lock(lock)
            return None  # another writer moved it: the swap fails and the rebase asks again
        checkout = Checkout(repo, _changes(repo, old, new), lock, new, old)
        checkout.check()
    except BaseException:
        _release_lock(lock)
        raise
    return checkout


def _take_lock(repo: pygit2.Repository, timeout: float) -> Optional[int]:
    """An ``flock`` on a file in the git folder, shared by every process and
    thread that commits to the checked-out branch (released if one dies)."""
    if fcntl is None:  # pragma: no cover - not a POSIX system
        return None
    fd = os.open(os.path.join(repo.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise LockWaitTimeoutExceeded(
                    f"the work tree of {repo.workdir!r} stayed locked for {timeout:g}s "
                    "by another commit; nothing was committed"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _release_lock(fd: Optional[int]) -> None:
    if fd is not None:
        os.close(fd)  # closing the file releases the flock


def _tree(repo: pygit2.Repository, commit_id: Optional[pygit2.Oid]) -> pygit2.Tree:
    if commit_id is None:
        return repo[repo.TreeBuilder().write()]  # type: ignore[return-value]
    return repo[commit_id].peel(pygit2.Tree)  # type: ignore[no-any-return]


def _changes(
    repo: pygit2.Repository, old: Optional[pygit2.Oid], new: pygit2.Oid
) -> dict[str, tuple[Entry, Entry]]:
    """path -> (entry before, entry after) for every file the move changes."""
    return {path: (before, after)
            for path, before, after in tree_deltas(repo, _tree(repo, old).id, _tree(repo, new).id)}


def _unsafe(path: str) -> bool:
    parts = path.split("/")
    return any(
        p in ("", ".", "..") or p.casefold().rstrip(". ") in (".git", "git~1") for p in parts
    )


class Checkout:
    """The index and work tree update for one branch move."""

    def __init__(
        self, repo: pygit2.Repository, changes: dict[str, tuple[Entry, Entry]], lock: Optional[int],
        commit: Optional[pygit2.Oid] = None, old: Optional[pygit2.Oid] = None,
    ) -> None:
        self.repo = repo
        self._lock = lock
        self.root = os.path.realpath(repo.workdir)
        self.changes = changes
        self.commit, self.old = commit, old
        #: path -> (index entry, work tree entry) as :meth:`check` found them
        self.found: dict[str, tuple[Entry, Entry]] = {}
        #: the paths :meth:`apply` began to write
        self.done: list[str] = []

    # -- before the branch moves ------------------------------------------------
    def check(self) -> None:
        """Raise :class:`WorkTreeConflict` if a changed path has local changes."""
        if not self.changes:
            return
        index = self.repo.index
        index.read(False)
        unsafe = [path for path in sorted(self.changes) if _unsafe(path)]
        if unsafe:
            raise WorkTreeConflict(
                f"this commit holds paths that git refuses to check out ({_named(unsafe)}); "
                f"nothing was committed and nothing was written in {self.repo.workdir!r}",
                unsafe,
            )
        refuse_unwritable(self.repo, self.changes, self.commit, links_ok=not self._takes_in_fetched())
        blocked = [
            path
            for path, (before, after) in sorted(self.changes.items())
            if not self._clean(index, path, before, after)
        ]
        if blocked:
            raise WorkTreeConflict(
                f"{len(blocked)} path(s) this commit changes have local changes in the work "
                f"tree or index of {self.repo.workdir!r}: {_named(blocked)}. Nothing was committed and "
                "the changes stay pending; commit or discard those paths with git (git "
                "status shows them), then commit again",
                blocked,
            )

    def _takes_in_fetched(self) -> bool:
        """True when a symlink is among the changes and the move takes in a
        commit a fetch brought (one a remote-tracking ref reaches that the
        branch did not): then it is a remote's symlink, refused as a clone
        refuses it. A symlink this repository's own writers committed is kept."""
        if self.commit is None or not any(
            after is not None and after[1] == _LINK_MODE for _before, after in self.changes.values()
        ):
            return False
        return takes_in_fetched(self.repo, self.old, self.commit)

    def _clean(self, index: pygit2.Index, path: str, before: Entry, after: Entry) -> bool:
        staged = _index_entry(index, path)
        if staged != before and staged != after:
            return False
        disk = self._disk_entry(path)
        if disk not in (before, after):
            return False
        self.found[path] = (staged, disk)  # type: ignore[assignment]
        return True

    def _disk_entry(self, path: str) -> Union[Entry, str]:
        """The work tree's file at ``path`` as an entry, ``None`` if absent, or
        ``"blocked"`` if a folder on the way is a symlink or a file."""
        full = os.path.join(self.root, *path.split("/"))
        parent = os.path.dirname(full)
        probe = self.root
        for part in os.path.relpath(parent, self.root).split(os.sep):
            if part == ".":
                break
            probe = os.path.join(probe, part)
            try:
                info = os.lstat(probe)
            except FileNotFoundError:
                return None
            if not stat.S_ISDIR(info.st_mode):
                return "blocked"
        try:
            info = os.lstat(full)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return (pygit2.hash(os.readlink(full).encode()), _LINK_MODE)
        if not stat.S_ISREG(info.st_mode):
            return "blocked"
        mode = _EXEC_MODE if info.st_mode & stat.S_IXUSR else int(pygit2.enums.FileMode.BLOB)
        return (pygit2.hashfile(full), mode)

    def release(self) -> None:
        """Let the next commit to this work tree go ahead."""
        _release_lock(self._lock)
        self._lock = None

    # -- after the branch moved ------------------------------------------------
    def apply(self) -> None:
        """Write the changed paths into the work tree and the index."""
        if not self.changes:
            return
        index = self.repo.index
        index.read(False)
        folders = _Folders(self.root)
        try:
            for path, (_before, after) in sorted(self.changes.items()):
                self.done.append(path)
                if after is None:
                    folders.remove_file(path)
                    if _index_entry(index, path) is not None:
                        index.remove(path)
                elif after[1] != _TREE_MODE:
                    blob = self.repo[after[0]]
                    folders.write_file(path, blob.data, after[1])  # type: ignore[attr-defined]
                    # the commit's blob, as git checkout records it (git fills in
                    # the stat data the next time it looks; no clean filter runs)
                    index.add(pygit2.IndexEntry(path, after[0], pygit2.enums.FileMode(after[1])))
        finally:
            folders.close()
        try:
            index.write()
        except pygit2.GitError as exc:
            raise RepositoryError(
                f"git's index in {self.repo.workdir!r} could not be updated ({exc}); "
                "the branch and the work tree were put back"
            ) from None

    def rollback(self) -> None:
        """After a failed :meth:`apply`: each path it began to write as
        :meth:`check` found it on disk, and git's index as it is in its file."""
        self.repo.index.read(True)  # the index file is written last, in one step
        folders = _Folders(self.root)
        try:
            for path in reversed(self.done):
                disk = self.found.get(path)
                if disk is None:
                    continue
                was = disk[1]
                if was is None:
                    folders.remove_file(path)
                else:
                    folders.write_file(path, self.repo[was[0]].data, was[1])  # type: ignore[attr-defined]
        finally:
            folders.close()
        self.done = []


def takes_in_fetched(repo: pygit2.Repository, old: Optional[pygit2.Oid], new: pygit2.Oid) -> bool:
    """True when a commit reachable from ``new`` and not from ``old`` is one a
    remote-tracking ref (``refs/remotes/...``) reaches: a fetch brought it."""
    tips = [ref.target for ref in repo.references.iterator()
            if ref.name.startswith("refs/remotes/") and isinstance(ref.target, pygit2.Oid)]
    tips = [tip for tip in tips if isinstance(repo.get(tip), (pygit2.Commit, pygit2.Tag))]
    if not tips:
        return False
    try:
        mine = repo.walk(new, pygit2.enums.SortMode.NONE)
        fetched = repo.walk(None, pygit2.enums.SortMode.NONE)
        pushed = False
        for tip in tips:
            try:
                fetched.push(tip)  # (a tag of a tree leads to no commit)
                pushed = True
            except (pygit2.GitError, KeyError, ValueError):
                pass
        if not pushed:
            return False
        if old is not None:
            mine.hide(old)
            fetched.hide(old)
        taken = {commit.id for commit in mine}
        return any(commit.id in taken for commit in fetched)
    except (pygit2.GitError, KeyError, ValueError):
        return True  # a history that cannot be read is nobody's own


def refuse_unwritable(
    repo: pygit2.Repository, changes: dict[str, tuple[Entry, Entry]], commit: Optional[pygit2.Oid],
    links_ok: bool = False,
) -> None:
    """:class:`CorruptObject` for the first path of ``changes`` the work tree
    update would write and that a clone's checkout refuses: a symlink (unless
    ``links_ok``), a submodule, a mode that is not a file's (git fsck reports
    it), a name git refuses, an object that is not a blob. Checked before the
    branch moves."""
    from .checkout import entry_problem

    for path, (_before, after) in sorted(changes.items()):
        if after is None:
            continue
        oid, mode = after
        if links_ok and mode == _LINK_MODE:
            mode = _FILE_MODE  # its name and its blob are still checked
        parts = path.encode("utf-8", "surrogateescape").split(b"/")
        problem = next((found for found in (entry_problem(part, _TREE_MODE) for part in parts[:-1]) if found),
                       None) or entry_problem(parts[-1], mode)
        if problem is None and mode not in (_FILE_MODE, _EXEC_MODE):
            problem = f"has mode {mode:o}, which is not a file's (git fsck reports it)"
        if problem is None:
            try:
                kind = repo.odb.read_header(oid)[0]
            except (KeyError, ValueError, pygit2.GitError):
                kind = None
            if kind != pygit2.enums.ObjectType.BLOB:
                problem = f"blob {oid} is {'not a blob' if kind is not None else 'missing'}"
        if problem is not None:
            raise CorruptObject(path, f"{problem}; nothing was changed in the branch, "
                                "the index or the work tree", commit)


def refuse_unwritable_move(ws: Workspace, old: Optional[pygit2.Oid], new: pygit2.Oid) -> None:
    """Before taking in ``new``: :func:`refuse_unwritable` for the paths that
    differ from ``old`` (a commit whose tree is there), if ``ws.head`` is checked out."""
    if checked_out(ws.repo, ws.head):
        refuse_unwritable(ws.repo, _changes(ws.repo, old, new), new)


def _named(paths: list[str]) -> str:
    return ", ".join(paths[:_NAMED]) + (" ..." if len(paths) > _NAMED else "")


def _index_entry(index: pygit2.Index, path: str) -> Entry:
    try:
        entry = index[path]
    except KeyError:
        return None
    return (entry.id, int(entry.mode))


class _Folders:
    """Folders of the work tree, each opened once without following symlinks
    (``O_NOFOLLOW``), so that nothing is written through a link or outside."""

    _FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW

    def __init__(self, root: str) -> None:
        self.fds: dict[tuple[str, ...], int] = {(): os.open(root, self._FLAGS)}

    def open(self, parts: tuple[str, ...], create: bool) -> Optional[int]:
        """The descriptor of folder ``parts``; ``None`` if absent and not ``create``."""
        fd = self.fds.get(parts)
        if fd is not None:
            return fd
        parent = self.open(parts[:-1], create)
        if parent is None:
            return None
        try:
            try:
                fd = os.open(parts[-1], self._FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    return None
                os.mkdir(parts[-1], 0o777, dir_fd=parent)
                fd = os.open(parts[-1], self._FLAGS, dir_fd=parent)
        except OSError as exc:
            raise RepositoryError(
                f"cannot update {'/'.join(parts)!r} in the work tree: {exc}"
            ) from None
        self.fds[parts] = fd
        return fd

    def write_file(self, path: str, data: bytes, mode: int) -> None:
        *parts, name = path.split("/")
        folder = self.open(tuple(parts), create=True)
        assert folder is not None
        try:
            if mode == _LINK_MODE:
                _unlink(name, folder)
                os.symlink(data, name, dir_fd=folder)
                return
            perms = 0o777 if mode == _EXEC_MODE else 0o666
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
            try:
                fd = os.open(name, flags, perms, dir_fd=folder)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                _unlink(name, folder)  # a symlink: replaced, never written through
                fd = os.open(name, flags | os.O_EXCL, perms, dir_fd=folder)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                _set_executable(out.fileno(), mode == _EXEC_MODE)
        except OSError as exc:
            raise RepositoryError(f"cannot write {path!r} in the work tree: {exc}") from None

    def remove_file(self, path: str) -> None:
        *parts, name = path.split("/")
        folder = self.open(tuple(parts), create=False)
        if folder is None:
            return
        _unlink(name, folder)  # a symlink itself, never what it points at
        key = tuple(parts)
        while key:  # drop the folders left empty
            try:
                os.rmdir(key[-1], dir_fd=self.fds[key[:-1]])
            except OSError:
                break
            os.close(self.fds.pop(key))
            key = key[:-1]

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _unlink(name: str, folder: int) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass


def _set_executable(fd: int, executable: bool) -> None:
    """Give or take the execute bits as git does (x wherever r is set)."""
    current = stat.S_IMODE(os.fstat(fd).st_mode)
    if bool(current & 0o111) != executable:
        os.fchmod(fd, current | ((current & 0o444) >> 2) if executable else current & ~0o111)
