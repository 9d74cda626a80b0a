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
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

import pygit2

from .exceptions import CorruptObject, GitModelError

if TYPE_CHECKING:
    from .workspace import Workspace

_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
#: the largest loose object inflated here (larger ones are left to libgit2)
MAX_CHECKED = 64 * 1024 * 1024


def read(repo: pygit2.Repository, odb: pygit2.Odb, oid: pygit2.Oid) -> tuple[int, bytes]:
    """``(type, raw data)`` of object ``oid``; ``KeyError`` if missing,
    ``pygit2.GitError`` if it cannot be read."""
    hexid = str(oid)
    path = os.path.join(repo.path, "objects", hexid[:2], hexid[2:])
    try:
        with open(path, "rb") as handle:
            packed = handle.read(MAX_CHECKED + 1)
    except (FileNotFoundError, NotADirectoryError):
        return odb.read(oid)  # type: ignore[no-any-return]
    except OSError as exc:
        raise pygit2.GitError(f"{hexid}: cannot read the loose object: {exc}") from None
    if len(packed) > MAX_CHECKED:
        return odb.read(oid)  # type: ignore[no-any-return]
    return _inflate(hexid, packed)


def _inflate(hexid: str, packed: bytes) -> tuple[int, bytes]:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed)
    except zlib.error as exc:
        raise pygit2.GitError(f"{hexid}: the loose object is corrupt: {exc}") from None
    if not inflater.eof:
        raise pygit2.GitError(f"{hexid}: the loose object is cut short")
    header, sep, data = raw.partition(b"\x00")
    kind, _space, size = header.partition(b" ")
    if not sep or kind not in _TYPES or not size.isdigit() or int(size) != len(data):
        raise pygit2.GitError(f"{hexid}: the loose object has a bad header")
    return _TYPES[kind], data


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
