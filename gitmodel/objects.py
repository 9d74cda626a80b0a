"""Reading objects defensively.

libgit2 loops forever on a loose object whose zlib stream is cut short (as
a disk error or a hostile repository leaves it), whatever its type: a tree,
a commit or a tag as well as a data blob, and whoever reads it (a tree walk,
a diff, a revision walk inside libgit2). So when a store is opened,
:func:`refuse_cut_objects` inflates every loose object once (a folder of
objects is checked again only when its content changed) and refuses the
repository, naming the path and commit of the first cut object, before
libgit2 reads any. Other damage (a flipped byte, a bad header, a wrong
length) libgit2 reports at once, and gitmodel reports as
:class:`CorruptObject`. Loose data blobs, read most from others, are
inflated here too, with their header and length checked. Packed objects
(which fetches write, after libgit2's indexer checked them) are read by
libgit2, whose pack reader fails cleanly on a cut or corrupt entry.

(An object backend written in Python cannot do this: libgit2 holds its
object database lock while it calls one, and a thread switch inside the
call deadlocks any other thread that reads an object.)
"""

from __future__ import annotations

import functools
import hashlib
import os
import zlib
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import pygit2

from .exceptions import CorruptObject, GitModelError

if TYPE_CHECKING:
    from .workspace import Workspace

_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
#: the largest loose object inflated here (larger ones are left to libgit2)
MAX_CHECKED = 64 * 1024 * 1024


#: bytes read at once: data blobs are far smaller, larger objects read on
_CHUNK = 64 * 1024
#: never through a symlink, never blocking on a pipe planted as an object
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_NONBLOCK", 0))


def read(repo: pygit2.Repository, odb: pygit2.Odb, oid: pygit2.Oid,
         objects_dir: str = "") -> tuple[int, bytes]:
    """``(type, raw data)`` of object ``oid``; ``KeyError`` if missing,
    ``pygit2.GitError`` if it cannot be read. ``objects_dir``: the
    repository's ``objects`` folder with a trailing slash, if known."""
    found = read_loose(objects_dir or os.path.join(repo.path, "objects", ""), oid)
    return odb.read(oid) if found is None else found  # type: ignore[no-any-return]


def read_loose(objects_dir: str, oid: pygit2.Oid) -> Optional[tuple[int, bytes]]:
    """``(type, raw data)`` of loose object ``oid``, or ``None`` if there is no
    loose file for it (or it is too large to be checked here). Bytes that do
    not hash to ``oid`` (a file swapped by another tool) are a ``GitError``,
    as libgit2's own reads report them."""
    hexid = str(oid)
    try:
        fd = os.open(f"{objects_dir}{hexid[:2]}/{hexid[2:]}", _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise pygit2.GitError(f"{hexid}: cannot read the loose object: {exc}") from None
    try:
        packed = os.read(fd, _CHUNK)
        if len(packed) == _CHUNK:  # a large object: read the rest, if not too large
            if os.fstat(fd).st_size > MAX_CHECKED:
                return None
            parts = [packed]
            total = len(packed)
            while total <= MAX_CHECKED:
                more = os.read(fd, _CHUNK)
                if not more:
                    break
                parts.append(more)
                total += len(more)
            if total > MAX_CHECKED:  # grew while read
                return None
            packed = b"".join(parts)
    except OSError as exc:
        raise pygit2.GitError(f"{hexid}: cannot read the loose object: {exc}") from None
    finally:
        os.close(fd)
    return _inflate(oid, packed)


def _inflate(oid: pygit2.Oid, packed: bytes) -> tuple[int, bytes]:
    try:  # a stream cut short is an error here ("incomplete or truncated stream")
        raw = zlib.decompress(packed)
    except zlib.error as exc:
        if "truncated" in str(exc) or "incomplete" in str(exc):
            raise pygit2.GitError(f"{oid}: the loose object is cut short") from None
        raise pygit2.GitError(f"{oid}: the loose object is corrupt: {exc}") from None
    end = raw.find(b"\x00")
    header = raw[:end] if end >= 0 else b""
    kind, _space, size = header.partition(b" ")
    code = _TYPES.get(kind)
    if code is None or not size.isdigit() or int(size) != len(raw) - end - 1:
        raise pygit2.GitError(f"{oid}: the loose object has a bad header")
    if hashlib.sha1(raw).digest() != oid.raw:
        raise pygit2.GitError(f"{oid}: the loose object's bytes do not match its id")
    return code, raw[end + 1:]


#: stands for an object whose id is not known (a pack file or folder that is not a file)
_NO_ID = pygit2.Oid(hex="0" * 40)
#: per objects folder: fan-out folder -> the stamp it had when all its objects were checked
_checked: dict[str, dict[str, tuple[int, int, int]]] = {}


def cut_objects(objects_dir: str, limit: Optional[int] = None) -> dict[pygit2.Oid, str]:
    """The loose objects below ``objects_dir`` whose zlib stream ends before
    its end (those libgit2 would loop on), with what is wrong (at most
    ``limit`` of them). A fan-out folder whose stamp (inode, time,
    size) is unchanged since it was last found clean is not read again."""
    found: dict[pygit2.Oid, str] = {}
    seen = _checked.setdefault(os.path.realpath(objects_dir), {})
    try:
        folders = [e for e in os.scandir(objects_dir) if len(e.name) == 2 or e.name == "pack"]
    except OSError:
        return found
    for folder in folders:
        if not folder.is_dir(follow_symlinks=False):  # libgit2 would follow a link, or block on a pipe
            if folder.is_symlink() or not folder.is_file(follow_symlinks=False):
                found[_NO_ID] = f"{folder.path!r} is not a folder (a symlink or a pipe?)"
            continue
        try:
            st = folder.stat(follow_symlinks=False)
        except OSError:
            continue
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen.get(folder.name) == stamp:
            continue
        clean = True
        try:
            entries = list(os.scandir(folder.path))
        except OSError:  # removed meanwhile (a pack took its objects): nothing to check
            continue
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):  # a symlink, a pipe, a device
                if folder.name == "pack" or len(entry.name) == 38:
                    clean = False
                    where = _NO_ID if len(entry.name) != 38 else pygit2.Oid(hex=folder.name + entry.name)
                    found[where] = f"{entry.path!r} is not a file (a symlink or a pipe?)"
                continue
            if len(entry.name) != 38 or folder.name == "pack":
                continue
            problem = _stream_problem(entry.path)
            if problem:
                clean = False
                found[pygit2.Oid(hex=folder.name + entry.name)] = problem
                if limit is not None and len(found) >= limit:
                    return found
        if clean:
            seen[folder.name] = stamp
    return found


def _stream_problem(path: str) -> Optional[str]:
    """Why libgit2 would loop on the loose object file ``path``, or ``None``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # unreadable: libgit2 fails on it cleanly
    try:
        inflater = zlib.decompressobj()
        while not inflater.eof:
            chunk = os.read(fd, 64 * 1024)  # most loose objects are far smaller: one read
            if not chunk:
                return "its zlib stream is cut short"
            try:
                while chunk and not inflater.eof:
                    inflater.decompress(chunk, 256 * 1024)
                    chunk = inflater.unconsumed_tail
            except zlib.error:
                return None  # corrupt, not cut: libgit2 reports it at once
        return None
    finally:
        os.close(fd)


def refuse_cut_objects(repo: pygit2.Repository, objects_dir: str, head: Optional[str] = None,
                       target: Optional[pygit2.Oid] = None) -> None:
    """Raise :class:`CorruptObject` (path and commit: ``target``'s, else
    ``head``'s) if a loose object is cut short."""
    cut: dict[pygit2.Oid, str] = {}
    for folder in (objects_dir, *_alternates(objects_dir)):
        cut.update(cut_objects(folder))
    if not cut:
        return
    oid, problem = next(iter(cut.items()))
    path, commit = _where(repo, set(cut), oid, target or _head_commit(repo, head))
    what = "the objects folder" if oid == _NO_ID else f"the loose object {oid}"
    raise CorruptObject(
        path, f"{what}: {problem} ({len(cut)} such object(s); git fsck lists them); "
        "nothing was read", commit,
    )


#: per objects folder, commits read at since their loose objects were found
#: whole: their trees and ancestors were on disk then, and were checked
_clean_commits: dict[str, set[pygit2.Oid]] = {}


def refuse_cut_before(repo: pygit2.Repository, objects_dir: str, treeish: Any,
                      known: Optional[pygit2.Oid] = None) -> None:
    """Before libgit2 reads what ``treeish`` names (a branch, tag, id or
    revision another process may have written since the store was opened):
    check the loose objects again (only fan-out folders whose stamp changed
    are read), unless it names ``known`` (the commit the workspace stands on)
    or a commit already checked; a cut one is :class:`CorruptObject`."""
    from .refs import Branch, revision_base

    if isinstance(treeish, (pygit2.Oid, str)):
        oid = treeish if isinstance(treeish, pygit2.Oid) else revision_base(repo, treeish)
    elif isinstance(treeish, Branch):
        oid = treeish.oid
    else:
        oid = getattr(treeish, "id", None)
    clean = _clean_commits.setdefault(objects_dir, set())
    if oid is not None and (oid == known or oid in clean):
        return
    refuse_cut_objects(repo, objects_dir, target=oid if isinstance(oid, pygit2.Oid) else None)
    if isinstance(oid, pygit2.Oid):
        if len(clean) >= 100_000:
            clean.clear()
        clean.add(oid)


def _alternates(objects_dir: str) -> list[str]:
    """The object folders ``info/alternates`` names (libgit2 reads their objects too)."""
    try:
        with open(os.path.join(objects_dir, "info", "alternates"), "rb") as handle:
            lines = handle.read(64 * 1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    folders = [os.path.normpath(os.path.join(objects_dir, line.strip())) for line in lines]
    return [f for f in folders if f and not f.startswith("#") and os.path.isdir(f)]


def _head_commit(repo: pygit2.Repository, head: Optional[str] = None) -> Optional[pygit2.Oid]:
    try:
        ref = repo.references.get(head or "HEAD")
        target = ref.resolve().target if ref is not None else None
    except (pygit2.GitError, KeyError, ValueError):
        return None
    return target if isinstance(target, pygit2.Oid) else None


def _where(repo: pygit2.Repository, bad: set[pygit2.Oid], oid: pygit2.Oid,
           target: Optional[pygit2.Oid]) -> tuple[str, Any]:
    """Where ``oid`` is in commit ``target``'s tree, reading none of the ``bad``
    objects: ``(path, commit)``; ``"(an object)"`` if it is not found there."""
    if target is None or target in bad:
        return ("(the commit)" if target is not None else "(an object)"), target
    try:
        commit = repo.get(target)
        if not isinstance(commit, pygit2.Commit):
            return "(an object)", target
        if commit.tree_id in bad:
            return "(the root tree)", target
        stack: list[tuple[str, Any]] = [("", commit.tree)]
    except (pygit2.GitError, KeyError, ValueError):
        return "(an object)", target
    budget = 100_000  # entries looked at, at most
    while stack and budget > 0:
        prefix, tree = stack.pop()
        for entry in tree:
            budget -= 1
            path = prefix + (entry.name or "")
            if entry.id == oid or entry.id in bad:
                return path, target
            if entry.filemode == 0o040000:
                try:
                    found = repo[entry.id]
                except (KeyError, pygit2.GitError, ValueError):
                    continue
                if isinstance(found, pygit2.Tree):  # a folder entry may name a commit
                    stack.append((path + "/", found))
    return "(an object)", target


F = TypeVar("F", bound=Callable[..., Any])


def reads_others_trees(func: F) -> F:
    """Report a tree or object git cannot parse as :class:`CorruptObject`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except pygit2.GitError as exc:
            path = _path_in(str(exc))
            ws = args[0] if args and hasattr(args[0], "_start") and hasattr(args[0], "repo") else None
            commit = ws._start if ws is not None else None
            if ws is not None and len(path) == 40:  # find where the object is, reading around it
                damaged = pygit2.Oid(hex=path)
                found, commit = _where(ws.repo, {damaged}, damaged, commit)
                path = found if not found.startswith("(") else path
            elif ws is not None:
                bad_commit = _first_unreadable_commit(ws.repo, commit)
                if bad_commit is not None:
                    path, commit = "(the commit)", bad_commit
                else:
                    path = _first_unreadable(ws.repo, commit) or path
            raise CorruptObject(path, f"git cannot read it ({exc})", commit) from None

    return wrapper  # type: ignore[return-value]


def _first_unreadable_commit(repo: pygit2.Repository, start: Any, limit: int = 10_000) -> Optional[pygit2.Oid]:
    """The first commit reached from ``start`` (at most ``limit``) that git cannot read."""
    if start is None:
        return None
    todo, seen = [start], {start}
    while todo and len(seen) <= limit:
        oid = todo.pop()
        try:
            commit = repo[oid]
        except (pygit2.GitError, ValueError):
            return oid  # type: ignore[no-any-return]
        except KeyError:
            continue
        for parent in getattr(commit, "parent_ids", ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return None


def _first_unreadable(repo: pygit2.Repository, target: Any) -> Optional[str]:
    """The path of the first tree of commit ``target`` git cannot read (no
    object is cut short: those were refused when the store was opened)."""
    try:
        stack: list[tuple[str, Any]] = [("", repo[target].tree)]  # type: ignore[attr-defined]
    except (pygit2.GitError, KeyError, ValueError, AttributeError):
        return "(the root tree)" if target is not None else None
    budget = 100_000
    while stack and budget > 0:
        prefix, tree = stack.pop()
        for entry in tree:
            budget -= 1
            if entry.filemode == 0o040000:
                path = prefix + (entry.name or "")
                try:
                    found = repo[entry.id]
                except (pygit2.GitError, ValueError):
                    return path
                except KeyError:
                    continue
                if not isinstance(found, pygit2.Tree):  # a folder entry naming a commit or a blob
                    return path
                stack.append((path + "/", found))
    return None


def _path_in(message: str) -> str:
    """The object id a libgit2 message starts with, else ``"(a tree)"``."""
    head = message.split(":", 1)[0]
    return head if len(head) == 40 and all(c in "0123456789abcdef" for c in head) else "(a tree)"


@contextmanager
def dropping_failed_merge(ws: Workspace, other: Any) -> Iterator[None]:
    """A merge that meets data it cannot stage (a foreign entry named
    ``..``, a tree git cannot parse) commits nothing and leaves the unit of
    work as it was (the merge restores it); it raises :class:`CorruptObject`."""
    try:
        yield
    except (ValueError, KeyError, pygit2.GitError) as exc:
        if isinstance(exc, GitModelError):
            raise
        raise CorruptObject(str(other), f"cannot merge it: {exc}") from None


def commit_of(ws: Workspace, treeish: Any = None) -> Any:
    """The id of the commit data is read from: the workspace's, or ``treeish``'s
    (``None`` before the first commit, or for a bare tree)."""
    if treeish is None:
        return ws._start
    try:
        found = ws.resolve_treeish(treeish)
    except GitModelError:
        return None
    return found.id if isinstance(found, pygit2.Commit) else None


@contextmanager
def naming_commits(ws: Workspace, *treeishes: Any) -> Iterator[None]:
    """A :class:`CorruptObject` raised inside names the commit of the
    treeish (of ``treeishes``, newest last) whose tree holds the damaged
    entry, else of the last one."""
    try:
        yield
    except CorruptObject as exc:
        if exc.commit is not None:
            raise
        from .git.tree import tree_entry

        chosen = treeishes[-1]
        for treeish in reversed(treeishes if len(treeishes) > 1 else ()):
            try:
                tree = ws.index if treeish is None else ws.resolve_tree(treeish)
                entry = tree_entry(tree, exc.path)
            except (GitModelError, pygit2.GitError, KeyError, ValueError):
                continue
            if entry is not None and str(entry[0]) in str(exc):
                chosen = treeish
                break
        raise exc.at(commit_of(ws, chosen)) from None


def walking(repo: pygit2.Repository, start: pygit2.Oid, sort: Any,
            hide: Optional[pygit2.Oid] = None) -> Iterator[pygit2.Commit]:
    """The commits of a revision walk from ``start``; one git cannot read
    ends it with :class:`CorruptObject` naming that commit, and so does a
    history that loops back on itself (``info/grafts`` naming a descendant
    as a parent), where libgit2's ordered walk stops early without a word."""
    seen: set[pygit2.Oid] = set()
    parents: set[pygit2.Oid] = set()
    try:
        walker = repo.walk(start, sort)
        if hide is not None:  # the commits of ``hide`` and before are left out
            walker.hide(hide)
        for commit in walker:
            seen.add(commit.id)
            parents.update(commit.parent_ids)
            yield commit
    except pygit2.GitError as exc:
        bad = _first_unreadable_commit(repo, start)
        raise CorruptObject("(the commit)", f"git cannot read it ({exc})", bad or start) from None
    def hidden(oid: pygit2.Oid) -> bool:  # ``hide`` or one of its ancestors
        return hide is not None and (oid == hide or repo.descendant_of(hide, oid))

    left = {p for p in parents - seen if not hidden(p)}
    if left or (start not in seen and not hidden(start)):
        where = f"parent {min(map(str, left))}" if left else f"its first commit {start}"
        raise CorruptObject("(the history)", f"the history loops back on itself (info/grafts?): the walk "
                            f"stopped before {where}", start)
