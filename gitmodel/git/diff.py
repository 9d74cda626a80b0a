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
from ..pathsafety import name_problem_in_tree

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


def _entries(repo: pygit2.Repository, oid: Optional[pygit2.Oid], id_len: int,
             cache: Optional[dict[pygit2.Oid, set[bytes]]]) -> set[bytes]:
    """The raw entries of folder ``oid`` (none for ``None``), kept in ``cache``."""
    if oid is None:
        return set()
    if cache is not None and oid in cache:
        return cache[oid]
    found = set(_entry_re(id_len).findall(_raw_tree(repo, oid)))
    if cache is not None:
        cache[oid] = found
    return found


_CLEAN_MODES = {b"40000": True, b"100644": False, b"100755": False}  # mode -> is a folder


def _clean(repo: pygit2.Repository, base: Optional[tuple[bytes, bytes]],
           theirs: Optional[tuple[bytes, bytes]], id_len: int,
           cache: Optional[dict[pygit2.Oid, set[bytes]]]) -> bool:
    """Whether the folder entry ``theirs`` (``(mode, raw id)``; ``None``:
    removed) may be taken whole over ``base``: what would make the object
    merge refuse it (see :func:`refused_path`) makes this false, so that the
    merge refuses it as before."""
    if theirs is None or (base is not None and base[1] == theirs[1]):
        return True
    mine = pygit2.Oid(raw=base[1]) if base is not None and base[0] == _TREE_MODE else None
    return refused_path(repo, mine, pygit2.Oid(raw=theirs[1]), "", cache) is None


FileEntry = tuple[pygit2.Oid, int]
Delta = tuple[Optional[FileEntry], Optional[FileEntry]]


def tree_deltas(
    repo: pygit2.Repository,
    old: Optional[pygit2.Oid],
    new: Optional[pygit2.Oid],
    prefix: str = "",
    cache: Optional[dict[pygit2.Oid, set[bytes]]] = None,
    stop: Optional[Callable[[str], bool]] = None,
    prune: Optional[set[str]] = None,
) -> Iterator[tuple[str, Optional[FileEntry], Optional[FileEntry]]]:
    """``(path, old (id, mode), new (id, mode))`` of every file that differs.

    Walks top-down and opens only folders whose ids differ; within a folder
    the entries are compared as raw bytes (in C), so a large flat folder with
    a few changes costs one scan, not one Python object per entry. ``cache``
    keeps folders' entry sets between calls (e.g. base->ours, base->theirs).
    A folder for which ``stop(path)`` is true is reported as a whole, as
    ``(path + '/', old tree entry, new tree entry)``, and not opened. Paths
    in ``prune`` are left out altogether.
    """
    if old == new:
        return
    id_len = len((old or new).raw)  # type: ignore[union-attr]
    a, b = _entries(repo, old, id_len, cache), _entries(repo, new, id_len, cache)
    before, after = _parse(a - b, id_len), _parse(b - a, id_len)
    for name in sorted(before.keys() | after.keys()):
        path = prefix + name.decode("utf-8", "surrogateescape")
        if prune is not None and path in prune:
            continue
        ma, ia = before.get(name, (None, None))
        mb, ib = after.get(name, (None, None))
        old_tree = pygit2.Oid(raw=ia) if ma == _TREE_MODE else None  # type: ignore[arg-type]
        new_tree = pygit2.Oid(raw=ib) if mb == _TREE_MODE else None  # type: ignore[arg-type]
        if old_tree is not None or new_tree is not None:
            if stop is not None and stop(path):
                yield (path + "/", None if old_tree is None else (old_tree, TREE_MODE),
                       None if new_tree is None else (new_tree, TREE_MODE))
            else:
                yield from tree_deltas(repo, old_tree, new_tree, path + "/", cache, stop, prune)
        old_file = None if ia is None or ma == _TREE_MODE else (pygit2.Oid(raw=ia), int(ma, 8))  # type: ignore[arg-type]
        new_file = None if ib is None or mb == _TREE_MODE else (pygit2.Oid(raw=ib), int(mb, 8))  # type: ignore[arg-type]
        if old_file is not None or new_file is not None:
            yield path, old_file, new_file


def one_sided_folders(
    repo: pygit2.Repository,
    trees: tuple[Optional[pygit2.Oid], Optional[pygit2.Oid], Optional[pygit2.Oid]],
    roots: dict[str, int],
    cache: Optional[dict[pygit2.Oid, set[bytes]]] = None,
) -> tuple[dict[str, Optional[FileEntry]], set[str]]:
    """The folders of a three-way merge that one side alone changed.

    ``trees`` are the (base, ours, theirs) root trees; ``roots`` names top
    folders and how many levels of folders below each may be taken whole
    (0: the top folder alone). The three trees are walked together, and a
    folder is opened only when both sides changed it. Returns
    ``(theirs, pruned)``: the folders only their side changed, with their
    entry there (``None``: removed), and every folder the diffs can skip
    (one side changed it, or every change in it is settled here). A folder
    both sides changed the same way is left to the diffs (a merge rule may
    count both changes), and so is an entry that is a file on any side.
    """
    taken: dict[str, Optional[FileEntry]] = {}
    pruned: set[str] = set()
    known = [t for t in trees if t is not None]
    if not roots or not known or trees[1] == trees[2] or trees[0] == trees[2]:
        return taken, pruned
    id_len = len(known[0].raw)  # type: ignore[union-attr]
    stack: list[tuple[str, tuple[Optional[pygit2.Oid], ...], Optional[int]]] = [("", trees, None)]
    while stack:
        prefix, (base, ours, theirs), levels = stack.pop()
        b, o, t = (_entries(repo, x, id_len, cache) for x in (base, ours, theirs))
        base_ours, ours_new = _parse(b - o, id_len), _parse(o - b, id_len)
        base_theirs, theirs_new = _parse(b - t, id_len), _parse(t - b, id_len)
        ours_changed = base_ours.keys() | ours_new.keys()
        settled = levels is not None  # every change in this folder settled here: the diffs skip it
        for name in base_theirs.keys() | theirs_new.keys() | ours_changed:
            try:
                text = name.decode("utf-8")
            except UnicodeDecodeError:
                text = ""  # a name no folder of ours has
            left = roots.get(text) if levels is None else levels
            sides = (base_ours.get(name) or base_theirs.get(name), ours_new.get(name), theirs_new.get(name))
            if (left is None or not text or "/" in text or name_problem_in_tree(text, folder=True)
                    or any(side is not None and side[0] != _TREE_MODE for side in sides)):
                settled = False  # not a folder that may be taken whole: left to the diffs
                continue
            path = prefix + text
            if name not in ours_changed:  # theirs alone
                if not _clean(repo, sides[0], sides[2], id_len, cache):
                    settled = False  # a name or an order git refuses: the diffs report it
                    continue
                new = sides[2]
                taken[path] = None if new is None else (pygit2.Oid(raw=new[1]), TREE_MODE)
                pruned.add(path)
            elif name not in base_theirs and name not in theirs_new:
                pruned.add(path)  # ours alone: ours has it
            elif left > 0 and None not in sides:
                ids = tuple(pygit2.Oid(raw=side[1]) for side in sides)  # type: ignore[index]
                stack.append((path + "/", ids, left - 1))
                settled = False
            else:
                settled = False
        if settled:
            pruned.add(prefix[:-1])
    return taken, pruned


def refused_path(repo: pygit2.Repository, base: Optional[pygit2.Oid], theirs: Optional[pygit2.Oid],
                 folder: str, cache: Optional[dict[pygit2.Oid, set[bytes]]] = None) -> Optional[str]:
    """The first path below ``theirs`` (the folder called ``folder``; ``base``:
    the same folder as we have it) that ``base`` does not hold and that a
    merge would refuse: a name git or gitmodel refuses, a mode other than a
    file's or a folder's, a folder out of git's order or with a name twice;
    ``None`` if there is none. Only folders whose ids differ are opened."""
    if theirs is None or theirs == base:
        return None
    id_len = len(theirs.raw)
    stack: list[tuple[str, Optional[pygit2.Oid], pygit2.Oid]] = [(folder, base, theirs)]
    while stack:
        path, mine, new = stack.pop()
        try:
            data = _raw_tree(repo, new)
        except CorruptObject:
            return path
        found = _entry_re(id_len).findall(data)
        parsed = _parse(found, id_len)
        keys = [name + b"/" if mode == _TREE_MODE else name for name, (mode, _) in parsed.items()]
        if sum(map(len, found)) != len(data) or len(parsed) != len(found) or keys != sorted(keys):
            return path  # bytes no entry accounts for, a name twice, or out of git's order
        try:
            held = _parse(_entries(repo, mine, id_len, cache), id_len) if mine is not None else {}
        except CorruptObject:
            held = {}
        for name, entry in parsed.items():
            if held.get(name) == entry:
                continue  # as we have it: checked when it came in
            is_folder = _CLEAN_MODES.get(entry[0])
            try:
                text = name.decode("utf-8")
            except UnicodeDecodeError:
                return f"{path}/{name.decode('utf-8', 'replace')}"
            if is_folder is None or "/" in text or name_problem_in_tree(text, folder=is_folder):
                return f"{path}/{text}"
            if is_folder:
                before = held.get(name)
                stack.append((f"{path}/{text}", pygit2.Oid(raw=before[1]) if before and before[0] == _TREE_MODE
                              else None, pygit2.Oid(raw=entry[1])))
    return None
