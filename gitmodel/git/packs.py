"""Packs: many objects in one file instead of one loose file per object.

:class:`PackWriter` hashes objects in memory and writes them all at once as
a version 2 pack with its index, as ``git fast-import`` does; a bulk import
then costs two file writes instead of one file per object.
:func:`~gitmodel.git.repack.pack_loose` moves the loose objects of a
repository into a pack (``git repack -d``); packed objects are faster to read.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import zlib
from typing import Any, Mapping, Optional

import pygit2
from pygit2.enums import ObjectType

from .odb import object_id, objects_dir, write_failed

_TREE = int(ObjectType.TREE)
#: how a folder's entry starts in a tree (mode 40000)
FOLDER_ENTRY = b"40000 "
#: one entry of a (sha1) tree: mode, space, name, NUL, 20-byte id
_ENTRY = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.DOTALL)
#: the same, capturing the name
_ENTRY_NAME = re.compile(rb"[0-7]+ ([^\0]*)\0.{20}", re.DOTALL)

#: zlib level for objects written by :class:`PackWriter` (git's default).
#: ``git gc`` reuses packed objects as they are, so this is what stays on disk.
COMPRESSION_LEVEL = zlib.Z_DEFAULT_COMPRESSION
#: zlib level for trees: their 20-byte ids do not compress, so git's default
#: level spends about twice the time of level 1 for 0.2% less (measured on
#: folders of 256 entries)
TREE_COMPRESSION_LEVEL = 1


def deflate(data: bytes, level: int = COMPRESSION_LEVEL) -> bytes:
    """``data`` as a zlib stream. A small object gets a window no larger than
    itself (so no match is lost) and a small hash table: zlib then sets up
    kilobytes, not the 256 KB of its defaults, which for an object of a few
    hundred bytes cost several times the compression itself. (Past about a
    kilobyte the small hash table costs more than it saves: two to three
    times the time for a folder of 7 KB.)"""
    if len(data) >= _SMALL_OBJECT:
        return zlib.compress(data, level)
    deflater = zlib.compressobj(level, zlib.DEFLATED, max(9, (len(data) - 1).bit_length()), 4)
    return deflater.compress(data) + deflater.flush()


def deflate_object(kind: int, data: bytes) -> bytes:
    """:func:`deflate` at the level for an object of type ``kind``."""
    return deflate(data, TREE_COMPRESSION_LEVEL if kind == _TREE else COMPRESSION_LEVEL)


#: below this size (bytes) :func:`deflate` sizes zlib's window to the object
_SMALL_OBJECT = 1024


def raw_entry(mode: int, name: bytes, oid: pygit2.Oid) -> bytes:
    """One tree entry as a tree holds it: ``mode name NUL id``."""
    return b"%o %s\0" % (mode, name) + oid.raw


def _entry_header(kind: int, size: int) -> bytes:
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


class PackWriter:
    """Objects buffered in memory, then written as one pack and index.

    :meth:`add` returns the object's id at once (the object is readable only
    after :meth:`write`). Equal objects are stored once.
    """

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self._objects: dict[bytes, tuple[int, bytes]] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def add(self, kind: int, data: bytes) -> pygit2.Oid:
        """Buffer an object (``ObjectType.BLOB``, ``TREE``...); returns its id."""
        raw = object_id(kind, data)
        self._objects.setdefault(raw, (kind, data))
        return pygit2.Oid(raw=raw)

    def add_tree(self, entries: Mapping[Any, tuple[int, pygit2.Oid]]) -> pygit2.Oid:
        """Buffer a tree of ``name -> (mode, id)`` (names as text or bytes);
        returns its id. Names and ids are the caller's to check (they name
        existing objects)."""
        raw: dict[bytes, bytes] = {}
        for name, (mode, oid) in entries.items():
            key = name if isinstance(name, bytes) else name.encode("utf-8")
            raw[key] = raw_entry(mode, key, oid)
        return self.add_raw_tree(raw)

    def add_raw_tree(self, entries: dict[bytes, bytes]) -> pygit2.Oid:
        """Buffer a tree of ``name -> entry`` (an entry as a tree holds it:
        ``mode name NUL id``), written in git's order: a folder sorts as if
        its name ended in ``/``."""
        if len(set(map(len, entries))) <= 1:  # names of one length: none is another's prefix,
            order = sorted(entries)  # so the plain byte order is git's (hash folders, ids of one length)
        else:
            order = sorted(entries, key=lambda n: n + b"/" if entries[n].startswith(FOLDER_ENTRY) else n)
        return self.add(_TREE, b"".join([entries[n] for n in order]))

    @staticmethod
    def tree_entries(tree: pygit2.Tree) -> dict[bytes, bytes]:
        """``name -> entry`` of a tree libgit2 has read (so well formed), as raw bytes."""
        data = tree.read_raw()
        return dict(zip(_ENTRY_NAME.findall(data), _ENTRY.findall(data)))

    def write(self) -> Optional[str]:
        """Write the pack and its index; returns the pack's path (``None`` if
        empty). A store that cannot be written is :class:`RepositoryError`,
        and the objects stay buffered."""
        if not self._objects:
            return None
        try:
            return self._write()
        except OSError as exc:
            raise write_failed(self.repo, exc) from None

    def _write(self) -> str:
        pack_dir = os.path.join(objects_dir(self.repo), "pack")
        os.makedirs(pack_dir, exist_ok=True)
        with PackFile(pack_dir, len(self._objects)) as pack:
            for raw in sorted(self._objects):
                kind, data = self._objects[raw]
                pack.add(raw, _entry_header(kind, len(data)) + deflate_object(kind, data))
            name = pack.install()
        self._objects.clear()
        return name + ".pack"


class PackFile:
    """A version 2 pack being written in ``pack_dir``: entries appended in
    order, then put in place with its index by :meth:`install`. Used as a
    context manager: on an error the temporary file is removed."""

    def __init__(self, pack_dir: str, count: int) -> None:
        self.pack_dir = pack_dir
        #: raw id -> (offset, crc) of each entry written
        self.entries: dict[bytes, tuple[int, int]] = {}
        #: where the next entry goes
        self.offset = 0
        self._digest = hashlib.sha1()
        fd, self._tmp = tempfile.mkstemp(prefix="tmp_pack_", dir=pack_dir)
        self._out = os.fdopen(fd, "wb")
        self._put(b"PACK" + struct.pack(">II", 2, count))

    def __enter__(self) -> "PackFile":
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is not None:
            self._out.close()
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def _put(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)
        self.offset += len(data)

    def add(self, raw: bytes, chunk: bytes) -> None:
        """Append the entry (header and deflated data) of object ``raw``."""
        self.entries[raw] = (self.offset, zlib.crc32(chunk))
        self._put(chunk)

    def install(self) -> str:
        """Close the pack and put it in place with its index; returns its
        path without extension."""
        checksum = self._digest.digest()
        self._out.write(checksum)
        self._out.close()
        ids = sorted(self.entries)
        index = _index_bytes(ids, [self.entries[r][1] for r in ids], [self.entries[r][0] for r in ids], checksum)
        return install_pack(self.pack_dir, self._tmp, index, checksum)


def install_pack(pack_dir: str, tmp_pack: str, index: bytes, checksum: bytes) -> str:
    """Put the written pack ``tmp_pack`` and its ``index`` in place as
    ``pack-<checksum>`` (returned, without extension): the pack first, so
    that an index never names a missing pack. On failure both temporary
    files are removed."""
    tmp_idx = None
    try:
        name = os.path.join(pack_dir, f"pack-{checksum.hex()}")
        fd, tmp_idx = tempfile.mkstemp(prefix="tmp_idx_", dir=pack_dir)
        with os.fdopen(fd, "wb") as out:
            out.write(index)
        os.chmod(tmp_pack, 0o444)
        os.chmod(tmp_idx, 0o444)
        os.replace(tmp_pack, name + ".pack")
        os.replace(tmp_idx, name + ".idx")
        return name
    except BaseException:
        for path in (tmp_pack, tmp_idx):
            if path and os.path.exists(path):
                os.unlink(path)
        raise


def _index_bytes(ids: list[bytes], crcs: list[int], offsets: list[int], checksum: bytes) -> bytes:
    """A version 2 pack index for ``ids`` (sorted) at ``offsets``."""
    count = len(ids)
    fanout = [0] * 256
    for raw in ids:
        fanout[raw[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    small: list[int] = []
    large: list[int] = []
    for offset in offsets:
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    parts = [
        b"\377tOc",
        struct.pack(">I", 2),
        struct.pack(">256I", *fanout),
        b"".join(ids),
        struct.pack(f">{count}I", *crcs),
        struct.pack(f">{count}I", *small),
        struct.pack(f">{len(large)}Q", *large),
        checksum,
    ]
    body = b"".join(parts)
    return body + hashlib.sha1(body).digest()


def loose_object_ids(repo: pygit2.Repository) -> list[pygit2.Oid]:
    """The ids of every loose object of ``repo``."""
    root = objects_dir(repo)
    found = []
    for prefix in os.listdir(root):
        if len(prefix) != 2:
            continue
        try:
            int(prefix, 16)
        except ValueError:
            continue
        try:
            names = os.listdir(os.path.join(root, prefix))
        except (FileNotFoundError, NotADirectoryError):  # emptied and removed by a packer meanwhile
            continue
        for rest in names:
            if len(rest) == 38 and not rest.startswith("tmp"):
                found.append(pygit2.Oid(hex=prefix + rest))
    return found
