"""Reading objects defensively.

libgit2 can loop forever on a loose object whose zlib stream is cut short
(as a disk error or a hostile repository leaves it), whatever its type: a
tree, a commit or a tag as well as a data blob. So no loose object reaches
libgit2's own loose reader: :func:`harden` gives a repository an object
database whose loose objects are read by :class:`CheckedLooseObjects`
(inflated here, bounded by their header, their length checked), packs by
libgit2 (its pack reader fails cleanly on cut or corrupt entries, and
fetched packs pass its indexer), and whose loose writes are made here, as
git makes them. Every read gitmodel or libgit2 makes (a tree walk, a diff, a
checkout, a revision walk) goes through it.
"""

from __future__ import annotations

import functools
import os
import tempfile
import zlib
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

import pygit2

from .exceptions import CorruptObject, GitModelError

if TYPE_CHECKING:
    from .workspace import Workspace

_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
_NAMES = {number: name for name, number in _TYPES.items()}
#: zlib level of loose objects (git's ``core.looseCompression`` default)
LOOSE_COMPRESSION = zlib.Z_BEST_SPEED
#: the longest object header git writes (``"commit 18446744073709551615\0"``)
_MAX_HEADER = 32
#: compressed bytes read from a loose object file at a time
_CHUNK = 1024 * 1024


def read(repo: pygit2.Repository, odb: pygit2.Odb, oid: pygit2.Oid) -> tuple[int, bytes]:
    """``(type, raw data)`` of object ``oid``; ``KeyError`` if missing,
    ``pygit2.GitError`` if it cannot be read."""
    return odb.read(oid)  # type: ignore[no-any-return]


def harden(repo: pygit2.Repository, objects_dir: str) -> None:
    """Give ``repo`` an object database whose loose objects are read by
    :class:`CheckedLooseObjects` (packs and writes stay libgit2's)."""
    odb = pygit2.Odb()
    folders = [objects_dir, *_alternates(objects_dir)]
    for index, folder in enumerate(folders):
        rank = 2 * (len(folders) - index)  # the repository's own objects first, packs first
        odb.add_backend(pygit2.OdbBackendPack(folder), rank + 1)
        odb.add_backend(CheckedLooseObjects(folder), rank)
    repo.set_odb(odb)


def _alternates(objects_dir: str) -> list[str]:
    """The object folders ``info/alternates`` names (one level, as libgit2
    reads them; relative ones from ``objects_dir``), those that exist."""
    try:
        with open(os.path.join(objects_dir, "info", "alternates"), "rb") as handle:
            lines = handle.read(64 * 1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            folder = os.path.normpath(os.path.join(objects_dir, line))
            if os.path.isdir(folder) and folder != os.path.normpath(objects_dir):
                found.append(folder)
    return found


class CheckedLooseObjects(pygit2.OdbBackend):  # type: ignore[misc]
    """Reads the loose objects of one ``objects`` folder, checked before
    libgit2 parses them: a cut or corrupt zlib stream, a bad header or a
    length that disagrees is a ``pygit2.GitError`` naming the object id,
    never a hang. A missing file is ``KeyError`` (libgit2 tries its other
    backends)."""

    def __init__(self, objects_dir: str) -> None:
        super().__init__()
        self.objects_dir = objects_dir

    def _path(self, hexid: str) -> str:
        return os.path.join(self.objects_dir, hexid[:2], hexid[2:])

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        hexid = str(oid)
        return inflate(hexid, self._open(hexid))

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        hexid = str(oid)
        handle = self._open(hexid)
        with handle:
            inflater = zlib.decompressobj()
            head = _inflate_some(hexid, inflater, handle, _MAX_HEADER)
        kind, size, _rest = _header(hexid, head)
        return kind, size

    def read_prefix_cb(self, short: str) -> tuple[int, bytes, pygit2.Oid]:
        # pygit2 reads whole ids this way too (``odb.read``, ``repo[oid]``)
        oid = pygit2.Oid(hex=short) if len(short) == 40 else self.exists_prefix_cb(short)
        kind, data = self.read_cb(oid)
        return kind, data, oid

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return os.path.isfile(self._path(str(oid)))

    def exists_prefix_cb(self, short: str) -> pygit2.Oid:
        short = short.lower()
        try:
            names = os.listdir(os.path.join(self.objects_dir, short[:2]))
        except OSError:
            raise KeyError(short) from None
        found = [short[:2] + n for n in names if len(n) == 38 and (short[:2] + n).startswith(short)]
        if len(found) != 1:
            if found:
                raise ValueError(f"{short}: the short id is ambiguous")
            raise KeyError(short)
        return pygit2.Oid(hex=found[0])

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        """Write a loose object as git does: compressed into a temporary
        file in its fan-out folder, then renamed into place (never through
        a symlink planted in the objects folder)."""
        hexid = str(oid)
        folder = os.path.join(self.objects_dir, hexid[:2])
        try:
            os.mkdir(folder)
        except FileExistsError:
            if os.path.islink(folder) or not os.path.isdir(folder):
                raise pygit2.GitError(f"{folder!r} is not a folder (a symlink?); nothing was written") from None
        header = b"%s %d\x00" % (_NAMES[kind], len(data))
        compressor = zlib.compressobj(LOOSE_COMPRESSION)
        packed = compressor.compress(header) + compressor.compress(data) + compressor.flush()
        fd, temp = tempfile.mkstemp(prefix="tmp_obj_", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(packed)
            os.chmod(temp, 0o444)
            os.replace(temp, os.path.join(folder, hexid[2:]))
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise

    def refresh_cb(self) -> None:
        pass

    def __iter__(self) -> Iterator[pygit2.Oid]:
        try:
            folders = sorted(os.listdir(self.objects_dir))
        except OSError:
            return
        for folder in folders:
            if len(folder) != 2:
                continue
            try:
                names = sorted(os.listdir(os.path.join(self.objects_dir, folder)))
            except OSError:
                continue
            for name in names:
                hexid = folder + name
                if len(hexid) == 40 and all(c in "0123456789abcdef" for c in hexid):
                    yield pygit2.Oid(hex=hexid)

    def _open(self, hexid: str) -> "_LooseFile":
        try:  # O_NOFOLLOW: a symlink planted among the objects is not followed
            fd = os.open(self._path(hexid), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except (FileNotFoundError, NotADirectoryError):
            raise KeyError(hexid) from None
        except OSError as exc:
            raise pygit2.GitError(f"{hexid}: cannot read the loose object: {exc}") from None
        return _LooseFile(fd)


class _LooseFile:
    """An open loose object file, read in chunks no larger than the file."""

    __slots__ = ("fd", "chunk")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        try:
            self.chunk = min(max(os.fstat(fd).st_size, 1), _CHUNK)
        except OSError:
            self.chunk = _CHUNK

    def read(self) -> bytes:
        try:
            return os.read(self.fd, self.chunk)
        except OSError as exc:  # e.g. a folder where the object file should be
            raise pygit2.GitError(f"cannot read a loose object: {exc}") from None

    def __enter__(self) -> "_LooseFile":
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def inflate(hexid: str, handle: _LooseFile) -> tuple[int, bytes]:
    """``(type, data)`` of the loose object in open file ``handle`` (closed
    here), inflated no further than its header's length."""
    with handle:
        inflater = zlib.decompressobj()
        head = _inflate_some(hexid, inflater, handle, _MAX_HEADER)
        kind, size, rest = _header(hexid, head)
        body = [rest]
        have = len(rest)
        while have <= size and not inflater.eof:
            more = _inflate_some(hexid, inflater, handle, size - have + 1)
            if not more and inflater.eof:
                break
            body.append(more)
            have += len(more)
    if have != size:
        raise pygit2.GitError(f"{hexid}: the loose object is {have} bytes long, its header says {size}")
    if not inflater.eof:
        raise pygit2.GitError(f"{hexid}: the loose object is cut short")
    return kind, b"".join(body)


def _inflate_some(hexid: str, inflater: Any, handle: _LooseFile, wanted: int) -> bytes:
    """Up to ``wanted`` more inflated bytes (fewer only at the stream's end);
    ``GitError`` if the stream is corrupt or the file ends first."""
    out = b""
    while len(out) < wanted and not inflater.eof:
        pending = inflater.unconsumed_tail
        if not pending:
            pending = handle.read()
            if not pending:
                raise pygit2.GitError(f"{hexid}: the loose object is cut short")
        try:
            out += inflater.decompress(pending, wanted - len(out))
        except zlib.error as exc:
            raise pygit2.GitError(f"{hexid}: the loose object is corrupt: {exc}") from None
    return out


def _header(hexid: str, head: bytes) -> tuple[int, int, bytes]:
    header, sep, rest = head.partition(b"\x00")
    kind, _space, size = header.partition(b" ")
    if not sep or kind not in _TYPES or not size.isdigit() or len(size) > 20:
        raise pygit2.GitError(f"{hexid}: the loose object has a bad header")
    return _TYPES[kind], int(size), rest


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
