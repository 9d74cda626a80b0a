"""The one tree differ: which files differ between two trees, read as raw bytes.

Only folders whose ids differ are opened, and within a folder the entries
are compared as raw bytes (in C), so a diff costs what changed, not what
the trees hold. Knows nothing of models.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Iterator, Optional

import pygit2

from ..exceptions import CorruptObject

_TREE_MODE = b"40000"
TREE_MODE = int(pygit2.enums.FileMode.TREE)
_ENTRY_RES: dict[int, Any] = {}


def _entry_re(id_len: int) -> Any:
    pattern = _ENTRY_RES.get(id_len)
    if pattern is None:
        pattern = _ENTRY_RES[id_len] = re.compile(rb"[0-7]+ [^\0]*\0.{%d}" % id_len, re.DOTALL)
    return pattern


class NotATree(CorruptObject):
    """A folder entry names a commit, a blob or nothing: read raw as a tree
    it would look like an empty folder."""


def _raw_tree(repo: pygit2.Repository, oid: Optional[pygit2.Oid]) -> bytes:
    if oid is None:
        return b""
    try:
        kind, data = repo.odb.read(oid)
    except KeyError:
        raise NotATree(str(oid), "expected a folder, found a missing object") from None
    if kind != _TREE_TYPE:
        raise NotATree(str(oid), f"expected a folder, found a {_KINDS.get(kind, 'object')} ({oid})")
    return data  # type: ignore[no-any-return]


_TREE_TYPE = int(pygit2.enums.ObjectType.TREE)
_KINDS = {int(pygit2.enums.ObjectType.COMMIT): "commit", int(pygit2.enums.ObjectType.BLOB): "blob",
          int(pygit2.enums.ObjectType.TAG): "tag"}


def _parse(entries: Iterable[bytes], id_len: int) -> dict[bytes, tuple[bytes, bytes]]:
    out = {}
    for entry in entries:
        head, _, _ = entry[:-id_len].partition(b"\0")
        mode, _, name = head.partition(b" ")
        out[name] = (mode, entry[-id_len:])
    return out


FileEntry = tuple[pygit2.Oid, int]
Delta = tuple[Optional[FileEntry], Optional[FileEntry]]


def tree_deltas(
    repo: pygit2.Repository,
    old: Optional[pygit2.Oid],
    new: Optional[pygit2.Oid],
    prefix: str = "",
    cache: Optional[dict[pygit2.Oid, set[bytes]]] = None,
    stop: Optional[Callable[[str], bool]] = None,
) -> Iterator[tuple[str, Optional[FileEntry], Optional[FileEntry]]]:
    """``(path, old (id, mode), new (id, mode))`` of every file that differs.

    Walks top-down and opens only folders whose ids differ; within a folder
    the entries are compared as raw bytes (in C), so a large flat folder with
    a few changes costs one scan, not one Python object per entry. ``cache``
    keeps folders' entry sets between calls (e.g. base->ours, base->theirs).
    A folder for which ``stop(path)`` is true is reported as a whole, as
    ``(path + '/', old tree entry, new tree entry)``, and not opened.
    """
    if old == new:
        return
    id_len = len((old or new).raw)  # type: ignore[union-attr]
    pattern = _entry_re(id_len)

    def entries(oid: Optional[pygit2.Oid]) -> set[bytes]:
        if oid is None:
            return set()
        if cache is not None and oid in cache:
            return cache[oid]
        found = set(pattern.findall(_raw_tree(repo, oid)))
        if cache is not None:
            cache[oid] = found
        return found

    a, b = entries(old), entries(new)
    before, after = _parse(a - b, id_len), _parse(b - a, id_len)
    for name in sorted(before.keys() | after.keys()):
        path = prefix + name.decode("utf-8", "surrogateescape")
        ma, ia = before.get(name, (None, None))
        mb, ib = after.get(name, (None, None))
        old_tree = pygit2.Oid(raw=ia) if ma == _TREE_MODE else None  # type: ignore[arg-type]
        new_tree = pygit2.Oid(raw=ib) if mb == _TREE_MODE else None  # type: ignore[arg-type]
        if old_tree is not None or new_tree is not None:
            if stop is not None and stop(path):
                yield (path + "/", None if old_tree is None else (old_tree, TREE_MODE),
                       None if new_tree is None else (new_tree, TREE_MODE))
            else:
                yield from tree_deltas(repo, old_tree, new_tree, path + "/", cache, stop)
        old_file = None if ia is None or ma == _TREE_MODE else (pygit2.Oid(raw=ia), int(ma, 8))  # type: ignore[arg-type]
        new_file = None if ib is None or mb == _TREE_MODE else (pygit2.Oid(raw=ib), int(mb, 8))  # type: ignore[arg-type]
        if old_file is not None or new_file is not None:
            yield path, old_file, new_file
