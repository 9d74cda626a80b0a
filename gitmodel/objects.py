"""Reading data objects defensively.

libgit2 can loop forever on a loose object whose zlib stream is cut short
inside its data (as a disk error or a hostile repository leaves it). Data
blobs are the objects gitmodel reads most from others, so a loose one is
inflated here, with its header and length checked, before libgit2 sees it;
packed objects (which fetches write, after libgit2's indexer checked them)
are read by libgit2.
"""

from __future__ import annotations

import functools
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
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def read(repo: pygit2.Repository, odb: pygit2.Odb, oid: pygit2.Oid,
         objects_dir: str = "") -> tuple[int, bytes]:
    """``(type, raw data)`` of object ``oid``; ``KeyError`` if missing,
    ``pygit2.GitError`` if it cannot be read. ``objects_dir``: the
    repository's ``objects`` folder with a trailing slash, if known."""
    found = read_loose(objects_dir or os.path.join(repo.path, "objects", ""), oid)
    return odb.read(oid) if found is None else found  # type: ignore[no-any-return]


def read_loose(objects_dir: str, oid: pygit2.Oid) -> Optional[tuple[int, bytes]]:
    """``(type, raw data)`` of loose object ``oid``, or ``None`` if there is no
    loose file for it (or it is too large to be checked here)."""
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
    return _inflate(hexid, packed)


def _inflate(hexid: str, packed: bytes) -> tuple[int, bytes]:
    try:  # a stream cut short is an error here ("incomplete or truncated stream")
        raw = zlib.decompress(packed)
    except zlib.error as exc:
        if "truncated" in str(exc) or "incomplete" in str(exc):
            raise pygit2.GitError(f"{hexid}: the loose object is cut short") from None
        raise pygit2.GitError(f"{hexid}: the loose object is corrupt: {exc}") from None
    end = raw.find(b"\x00")
    header = raw[:end] if end >= 0 else b""
    kind, _space, size = header.partition(b" ")
    code = _TYPES.get(kind)
    if code is None or not size.isdigit() or int(size) != len(raw) - end - 1:
        raise pygit2.GitError(f"{hexid}: the loose object has a bad header")
    return code, raw[end + 1:]


F = TypeVar("F", bound=Callable[..., Any])


def reads_others_trees(func: F) -> F:
    """Report a tree or object git cannot parse as :class:`CorruptObject`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except pygit2.GitError as exc:
            path = _path_in(str(exc))
            raise CorruptObject(path, f"git cannot read it ({exc})") from None

    return wrapper  # type: ignore[return-value]


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
