"""Moving loose objects into a pack, each changed folder as a delta against
its previous version.

A commit of one object writes new versions of the folders on its path; each
differs from the version before it by an entry or two. :func:`pack_loose`
follows the loose commits from parent to child, pairs every new tree (and
data blob) with the object at the same path in the parent commit, and stores
it as a git delta against that one when both are loose: a copy of the common
start, the changed bytes, a copy of the common end. That is what git's own
delta search finds for such objects, without the search: a pack costs about
the reads and the compression of its objects. Chains are at most
:data:`MAX_DEPTH` long (git's ``pack.depth`` is 50), and an object without
a loose predecessor is stored whole.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Optional

import pygit2
from pygit2.enums import ObjectType

from ..exceptions import CorruptObject
from ..objects import read_loose
from .odb import objects_dir, write_failed
from .packs import PackFile, _entry_header, deflate, deflate_object, loose_object_ids

#: deltas in a row at most before an object is stored whole again
MAX_DEPTH = 50
#: a delta is kept only if it is at most this share of the object
_WORTH = 0.5
_COMMIT, _TREE, _BLOB = int(ObjectType.COMMIT), int(ObjectType.TREE), int(ObjectType.BLOB)
_OFS_DELTA = 6
#: one tree entry (mode, name, id) as raw bytes
_RAW_ENTRY = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.DOTALL)
#: entry sets of trees kept for comparing with a later version, at most
_KEPT_SETS = 4096
#: bytes of objects kept in memory between their first read and their write
_READ_BUDGET = 64 << 20
_COPY_MAX = 0xFFFFFF


def pack_loose(repo: pygit2.Repository) -> int:
    """Move every loose object into one new pack; returns how many moved.

    Loose files are removed only once the pack and its index are in place,
    so readers always find each object somewhere. A loose object that cannot
    be read is :class:`CorruptObject` naming it, a pack that cannot be
    written :class:`RepositoryError`; either way nothing is removed.
    """
    ids = loose_object_ids(repo)
    if not ids:
        return 0
    pack_dir = os.path.join(objects_dir(repo), "pack")
    try:
        os.makedirs(pack_dir, exist_ok=True)
        _write_pack(repo, pack_dir, ids)
    except OSError as exc:
        raise write_failed(repo, exc) from None
    root = os.path.join(objects_dir(repo), "")
    for oid in ids:
        text = str(oid)
        try:
            os.unlink(f"{root}{text[:2]}/{text[2:]}")
        except FileNotFoundError:
            pass
    for prefix in {str(oid)[:2] for oid in ids}:
        try:
            os.rmdir(os.path.join(root, prefix))
        except OSError:
            pass
    return len(ids)


def _write_pack(repo: pygit2.Repository, pack_dir: str, ids: list[pygit2.Oid]) -> None:
    loose = {oid.raw for oid in ids}
    reader = _Reader(repo.odb, objects_dir(repo), loose)
    order, bases = _history_order(reader, ids, loose)
    users: dict[bytes, int] = {}  # base -> dependents not yet written
    for wanted in bases.values():
        users[wanted] = users.get(wanted, 0) + 1
    kept: dict[bytes, bytes] = {}  # data of bases still needed
    depth: dict[bytes, int] = {}
    with PackFile(pack_dir, len(order)) as pack:
        written = pack.entries
        for raw in order:
            kind, data = reader.take(raw)
            chunk: Optional[bytes] = None
            base: Optional[bytes] = bases.get(raw)
            if base is not None and base in written and depth[base] < MAX_DEPTH:
                delta = _delta(kept[base], data)
                if len(delta) <= _WORTH * len(data):
                    chunk = (_entry_header(_OFS_DELTA, len(delta)) + _distance(pack.offset - written[base][0])
                             + deflate(delta))
                    depth[raw] = depth[base] + 1
            if chunk is None:
                chunk = _entry_header(int(kind), len(data)) + deflate_object(int(kind), data)
                depth[raw] = 0
            if base is not None:
                users[base] -= 1
                if users[base] == 0:
                    kept.pop(base, None)
            if users.get(raw):
                kept[raw] = data
            pack.add(raw, chunk)
        pack.install()


class _Reader:
    """Objects read once: kept in memory up to :data:`_READ_BUDGET` bytes
    (until written), read again past it. The ``loose`` ones are read from
    their files by :func:`gitmodel.objects.read_loose` (checked against
    their ids, as libgit2 checks them, in less time), the others by libgit2."""

    def __init__(self, odb: pygit2.Odb, objects_path: str, loose: set[bytes]) -> None:
        self.odb = odb
        self.objects_path = os.path.join(objects_path, "")
        self.loose = loose
        self.kept: dict[bytes, tuple[int, bytes]] = {}
        self.room = _READ_BUDGET

    def read(self, raw: bytes, keep: bool = True) -> tuple[int, bytes]:
        found = self.kept.get(raw)
        if found is not None:
            return found
        oid = pygit2.Oid(raw=raw)
        try:
            read = read_loose(self.objects_path, oid) if raw in self.loose else None
            kind, data = self.odb.read(oid) if read is None else read
        except (KeyError, pygit2.GitError) as exc:
            raise CorruptObject(raw.hex(), f"the object cannot be read ({exc})") from None
        found = (int(kind), data)
        if keep and len(data) <= self.room:
            self.kept[raw] = found
            self.room -= len(data)
        return found

    def take(self, raw: bytes) -> tuple[int, bytes]:
        """The object, no longer kept."""
        found = self.kept.pop(raw, None)
        if found is None:
            return self.read(raw, keep=False)
        self.room += len(found[1])
        return found


def _history_order(reader: _Reader, ids: Iterable[pygit2.Oid],
                   loose: set[bytes]) -> tuple[list[bytes], dict[bytes, bytes]]:
    """Every loose id once, each after its delta base, and ``object -> base``:
    the object at the same path in the first parent, for the loose commits
    taken from parent to child."""
    commits: dict[bytes, tuple[bytes, Optional[bytes]]] = {}  # commit -> (tree, first parent)
    for oid in ids:
        kind, data = reader.read(oid.raw)
        if kind == _COMMIT:
            tree, parent = _commit_links(data)
            if tree is not None:
                commits[oid.raw] = (tree, parent)
    walk = _Walk(reader, loose)
    for commit in _parents_first(commits):
        tree, parent = commits[commit]
        walk.tree(tree, _tree_of(reader, parent, commits))
        walk.add(commit)
    rest = [oid.raw for oid in ids if oid.raw not in walk.seen]
    return rest + walk.order, walk.bases


def _tree_of(reader: _Reader, commit: Optional[bytes],
             commits: dict[bytes, tuple[bytes, Optional[bytes]]]) -> Optional[bytes]:
    """The tree of ``commit`` (``None`` if there is none or it cannot be read)."""
    if commit is None:
        return None
    if commit in commits:
        return commits[commit][0]
    try:
        kind, data = reader.read(commit, keep=False)
    except CorruptObject:  # not here (a shallow clone): compared with nothing
        return None
    return _commit_links(data)[0] if kind == _COMMIT else None


class _Walk:
    """The loose objects of one commit after another, each new tree compared
    with the tree at its path in the parent: only entries that differ are
    followed (as sets of raw entries, compared in C)."""

    def __init__(self, reader: _Reader, loose: set[bytes]) -> None:
        self.reader, self.loose = reader, loose
        self.seen: set[bytes] = set()
        self.order: list[bytes] = []
        self.bases: dict[bytes, bytes] = {}
        self._sets: dict[bytes, set[bytes]] = {}  # entry sets of trees a child may compare with

    def add(self, raw: bytes) -> None:
        if raw not in self.seen:
            self.seen.add(raw)
            self.order.append(raw)

    def tree(self, new: bytes, old: Optional[bytes]) -> None:
        stack = [(new, old)]
        while stack:
            new, old = stack.pop()
            if new not in self.loose or new in self.seen:
                continue
            self.add(new)
            if old is not None and old in self.loose and old != new:
                self.bases[new] = old
            after = self._entries(new, keep=True)
            if after is None:
                continue
            before = self._entries(old, keep=False) if old is not None else None
            gone = _parse(before - after) if before is not None else {}
            for name, (folder, oid) in _parse(after - before if before is not None else after).items():
                if oid not in self.loose or oid in self.seen:
                    continue
                was = gone.get(name)
                was_id = was[1] if was is not None and was[0] == folder else None
                if folder:
                    stack.append((oid, was_id))
                else:
                    self.add(oid)
                    if was_id is not None and was_id in self.loose:
                        self.bases[oid] = was_id

    def _entries(self, raw: bytes, keep: bool) -> Optional[set[bytes]]:
        found = self._sets.pop(raw, None)
        if found is None:
            try:
                kind, data = self.reader.read(raw, keep=raw in self.loose)
            except CorruptObject:  # compared with nothing; a loose one fails when written
                return None
            if kind != _TREE:
                return None
            found = set(_RAW_ENTRY.findall(data))
        if keep:
            if len(self._sets) >= _KEPT_SETS:
                self._sets.clear()
            self._sets[raw] = found
        return found


def _parse(entries: Iterable[bytes]) -> dict[bytes, tuple[bool, bytes]]:
    """``name -> (is a folder, id)`` of raw tree entries."""
    out = {}
    for entry in entries:
        head = entry[:-20]
        mode, _, name = head[:-1].partition(b" ")
        out[name] = (mode == b"40000", entry[-20:])
    return out


def _commit_links(data: bytes) -> tuple[Optional[bytes], Optional[bytes]]:
    """A commit's tree and first parent (raw ids), from its text."""
    tree = parent = None
    for line in data.split(b"\n", 3)[:3]:
        if line.startswith(b"tree ") and tree is None:
            tree = _raw_hex(line[5:])
        elif line.startswith(b"parent ") and parent is None:
            parent = _raw_hex(line[7:])
    return tree, parent


def _raw_hex(text: bytes) -> Optional[bytes]:
    try:
        return bytes.fromhex(text.decode("ascii")) if len(text) == 40 else None
    except ValueError:
        return None


def _parents_first(commits: dict[bytes, tuple[bytes, Optional[bytes]]]) -> list[bytes]:
    """The commits ordered so that a first parent comes before its child."""
    order: list[bytes] = []
    done: set[bytes] = set()
    for start in commits:
        chain = []
        at: Optional[bytes] = start
        while at is not None and at in commits and at not in done:
            done.add(at)
            chain.append(at)
            at = commits[at][1]
        order.extend(reversed(chain))
    return order


def _delta(base: bytes, data: bytes) -> bytes:
    """A git delta making ``data`` from ``base``: a copy of their common
    start, the bytes between, a copy of their common end."""
    start = _common_start(base, data)
    end = _common_end(base, data, start)
    out = bytearray(_size(len(base)) + _size(len(data)))
    _copy(out, 0, start)
    middle = data[start : len(data) - end]
    for at in range(0, len(middle), 127):
        piece = middle[at : at + 127]
        out.append(len(piece))
        out += piece
    _copy(out, len(base) - end, end)
    return bytes(out)


def _common_start(a: bytes, b: bytes) -> int:
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:  # a[:low] == b[:low], a[:high] != b[:high]
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_end(a: bytes, b: bytes, start: int) -> int:
    """How many last bytes ``a`` and ``b`` share, leaving their first ``start`` alone."""
    limit = min(len(a), len(b)) - start
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:] == b[len(b) - middle:]:
            low = middle
        else:
            high = middle - 1
    return low


def _copy(out: bytearray, offset: int, size: int) -> None:
    while size > 0:
        step = min(size, _COPY_MAX)
        op = 0x80
        args = bytearray()
        for i in range(4):
            byte = (offset >> (8 * i)) & 0xFF
            if byte:
                op |= 1 << i
                args.append(byte)
        for i in range(3):
            byte = (step >> (8 * i)) & 0xFF
            if byte:
                op |= 0x10 << i
                args.append(byte)
        out.append(op)
        out += args
        offset += step
        size -= step


def _size(value: int) -> bytes:
    """A delta header's size: seven bits a byte, lowest first."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _distance(value: int) -> bytes:
    """An ``OFS_DELTA`` entry's distance back to its base, as git encodes it."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        value -= 1
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
