"""Objects whose id changed on one side of a merge, followed as git follows a rename.

A save that changes an object's id moves it: its folder goes, one under the
new id comes. When the other side changed or deleted the object under its
old id, the merge follows the move: an edit made under the old id is merged,
field by field, into the moved object; the same move on both sides is one
move. Two different moves (``'rename/rename'``), or a move on one side and a
deletion on the other (``'rename/delete'``: we moved it, they deleted it;
``'delete/rename'``: the other way), is a :class:`RenameConflict` naming the
object and its ids; the staged state keeps our side until it is resolved.

A move is told from a deletion plus an addition as git tells a rename: the
object added on the same side, in the same model, holds at least half of the
deleted one's values (besides its id; fields both leave at their default do
not count), and each deleted object pairs with its closest match. Only
objects deleted on one side and changed on the other are looked at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from . import changes as ch
from .. import blobs as blob_files
from ..exceptions import RepositoryError
from ..git.odb import write_blob
from ..serializers import json as json_format
from .merge import _MISSING, CHOICES_STORED, STAGED, Conflict, ObjectMerge, _same, absent_value

if TYPE_CHECKING:
    from .merge import Entry, TreeMerge
    from ..workspace import Workspace

RENAME_RENAME, RENAME_DELETE, DELETE_RENAME = "rename/rename", "rename/delete", "delete/rename"
#: the share of an object's values an addition must hold to be its move
SIMILARITY = 0.5
Changes = dict[ch.Key, dict[str, Any]]


@dataclass(eq=False, repr=False)
class RenameConflict(Conflict):
    """An object moved on one side and moved elsewhere, or deleted, on the other.

    ``id`` is its id at the merge base; ``ids`` its ids on (base, ours,
    theirs), ``None`` where deleted. ``base``/``ours``/``theirs`` are the
    object on each side. Resolving with a side puts that side's object (or
    its absence) in place of all of them; a value is an instance (at one of
    ``ids``) or ``None``.
    """

    ids: tuple[Optional[str], ...] = ()

    def describe(self) -> str:
        where = [f"deleted on {side}" if ident is None else f"moved to {ident!r} on {side}"
                 for side, ident in zip(("ours", "theirs"), self.ids[1:]) if ident != self.id]
        return f"{super().describe()}: {' and '.join(where)}"


class _MoveChoice:
    """Settles a :class:`RenameConflict` in the staged state (the owner protocol of conflicts)."""

    def __init__(self, ws: Workspace, cls: type, ids: tuple[Optional[str], ...],
                 files: tuple[ch.Files, ...]) -> None:
        self.ws, self.cls, self.ids, self.files = ws, cls, ids, files
        opts: Any = cls._meta  # type: ignore[attr-defined]
        self.folders = {i: opts.get_object_folder(i) for i in ids if i is not None}
        self._edits: dict[str, Optional[Entry]] = {}

    def resolve(self, conflict: Conflict, choice: Any, literal: bool = False) -> None:
        from .resolving import named

        name = named(choice, literal)
        edits: dict[str, Optional[Entry]] = {}
        for ident in self.folders:  # every id involved goes, then the choice comes
            edits.update(self._files_at(ident, {}))
        if name == STAGED:
            edits = {}
        elif name is not None:
            side = CHOICES_STORED[name]
            if self.ids[side] is not None:
                edits.update(self._files_at(self.ids[side], self.files[side]))  # type: ignore[arg-type]
        elif isinstance(choice, self.cls):
            edits.update(self._instance_files(conflict, choice))
        elif choice is not None:
            raise RepositoryError(f"{conflict.describe()}: resolve it with 'ours', 'theirs', 'base', "
                                  f"'staged', a {self.cls.__name__} or None, not {choice!r:.60}")
        self._edits = edits
        conflict.resolved = True

    def edits(self) -> dict[str, Optional[Entry]]:
        return self._edits

    def _files_at(self, ident: str, files: ch.Files) -> dict[str, Optional[Entry]]:
        """Edits that put ``files`` (empty: nothing) in place of what object ``ident`` owns."""
        folder = self.folders[ident]
        out: dict[str, Optional[Entry]] = {f"{folder}/{n}": None for n in ch.owned_files(self.cls)}
        out.update((f"{folder}/{n}", (oid, ch.entry_mode(self.cls, n))) for n, oid in files.items())
        return out

    def _instance_files(self, conflict: Conflict, obj: Any) -> dict[str, Optional[Entry]]:
        ident = obj.get_id()
        if ident not in self.folders:
            raise RepositoryError(f"{conflict.describe()}: the object chosen must have one of the ids "
                                  f"{sorted(self.folders)}, not {ident!r}")
        obj.full_clean()
        opts: Any = self.cls._meta  # type: ignore[attr-defined]
        _folder, data, blob_names = ch.object_paths(self.cls, ident)
        files = {data: write_blob(self.ws.repo, json_format.dumps(self.cls.__name__, obj.to_json_fields()))}
        for f in opts.blob_fields:
            files.update(blob_files.value_files(self.ws.repo, opts, f, obj._data.get(f.name), blob_names[f.name]))
        return self._files_at(ident, files)


def follow_moves(ws: Workspace, layout: ch.Layout, trees: tuple[Any, Any, Any], mine: Changes,
                 other: Changes, cache: dict[pygit2.Oid, set[bytes]], pruned: set[str],
                 strategy: Optional[str], race: bool, out: TreeMerge) -> set[ch.Key]:
    """Merge the objects moved on a side into ``out``; the keys (old and new
    ids) it settled, which the merge then leaves alone."""
    sides: tuple[Changes, Changes] = (mine, other)
    moves: dict[tuple[type, str], list[Optional[str]]] = {}
    for side in (1, 2):
        own, theirs = sides[side - 1], sides[2 - side]
        gone: list[tuple[type, str]] = sorted(
            ((k[0], k[1]) for k, d in own.items() if k[0] is not None and k in theirs and _folder_gone(d)),
            key=lambda k: (k[0].__name__, k[1]))
        paired: set[str] = set()
        additions: dict[Any, list[str]] = {}
        for cls, ident in gone:
            if cls not in additions:
                additions[cls] = _additions(ws, layout, trees[0], trees[side], own, theirs, cls, cache, pruned)
            added = additions[cls]
            best = _closest(ws, cls, ident, trees[0], trees[side], [a for a in added if a not in paired])
            if best is not None:
                paired.add(best)
                moves.setdefault((cls, ident), [ident, ident, ident])[side] = best
    handled: set[ch.Key] = set()
    for (cls, ident), ids in sorted(moves.items(), key=lambda m: (m[0][0].__name__, m[0][1])):
        for side in (1, 2):
            if ids[side] == ident and ch.object_files(trees[side], cls, ident).get(ch.owned_files(cls)[0]) is None:
                ids[side] = None  # deleted there, not moved
        keys = {(cls, i) for i in ids if i is not None}
        held = [ch.object_files(trees[side], cls, i) for side in (1, 2) for i in ids[1:]
                if i is not None and i != ids[side]]
        if keys & handled or any(ch.owned_files(cls)[0] in files for files in held):
            continue  # an id two moves claim, or one the other side holds: additions and deletions
        handled |= keys
        _merge_move(ws, cls, tuple(ids), trees, strategy, race, out)  # type: ignore[arg-type]
    return handled


def _merge_move(ws: Workspace, cls: type, ids: tuple[Optional[str], ...], trees: tuple[Any, Any, Any],
                strategy: Optional[str], race: bool, out: TreeMerge) -> None:
    old, ours, theirs = ids
    files = tuple(ch.object_files(t, cls, i) if i is not None else {} for t, i in zip(trees, ids))
    opts: Any = cls._meta  # type: ignore[attr-defined]
    if ours is not None and theirs is not None and (ours == theirs or old in (ours, theirs)):
        new = theirs if ours == old else ours  # one move (or the same on both sides): follow it
        om = ObjectMerge(ws, cls, new, trees, files, race, ids=(old, ours, theirs))  # type: ignore[arg-type]
        om.run(strategy)
        out.objects.append(om)
        out.conflicts.extend(om.conflicts)
        if ours == old:  # they moved it: it leaves its old place here
            out.edits.update((f"{opts.get_object_folder(old)}/{n}", None) for n in ch.owned_files(cls))
        return
    kind = RENAME_DELETE if theirs is None else DELETE_RENAME if ours is None else RENAME_RENAME
    chooser = _MoveChoice(ws, cls, ids, files)
    objects = [ch.load(ws, cls, i, f, t) if i is not None else None for i, f, t in zip(ids, files, trees)]
    conflict = RenameConflict(cls, old, None, kind, objects[0], objects[1], objects[2],  # type: ignore[arg-type]
                              _owner=chooser, ids=ids)
    if theirs is not None and theirs != ours:  # staged: ours, without their new object
        out.edits.update(chooser._files_at(theirs, {}))
    if strategy in ("ours", "theirs"):
        chooser.resolve(conflict, strategy)
        out.edits.update(chooser.edits())
    out.conflicts.append(conflict)


def _added(delta: dict[str, Any]) -> bool:
    """True if an object folder's delta adds it."""
    entries = delta.get("/")
    return entries is not None and entries[0] is None and entries[1] is not None


def _folder_gone(delta: dict[str, Any]) -> bool:
    """True if an object folder's delta (``'/'``: old and new entry) removes it."""
    entries = delta.get("/")
    return entries is not None and entries[0] is not None and entries[1] is None


def _additions(ws: Workspace, layout: ch.Layout, base: Optional[pygit2.Tree], tree: Optional[pygit2.Tree],
               own: Changes, theirs: Changes, cls: type, cache: dict[pygit2.Oid, set[bytes]],
               pruned: set[str]) -> list[str]:
    """The ids of ``cls`` objects added from ``base`` to ``tree`` that the other
    side did not touch (or added too: the same move on both sides)."""
    folder = cls._meta.folder  # type: ignore[attr-defined]
    if any(p.startswith(folder + "/") for p in pruned):  # hash folders one side alone changed
        tops = {str(e.name) for t in (base, tree) if t is not None for e in t} - {folder}
        keep = {p for p in pruned if not p.startswith(folder + "/")} | tops
        own = ch.changed_keys(ws, base, tree, layout, cache, folders=True, prune=keep)
    return sorted(k[1] for k, d in own.items()
                  if k[0] is cls and _added(d) and (k not in theirs or _added(theirs[k])))


def _closest(ws: Workspace, cls: type, ident: str, base: Optional[pygit2.Tree], tree: Optional[pygit2.Tree],
             added: list[str]) -> Optional[str]:
    """The added object most like ``ident`` as ``base`` holds it, if similar enough."""
    if not added:
        return None
    old = _stored(ws, cls, ident, base)
    if old is None:
        return None
    best, score = None, SIMILARITY
    for candidate in added:
        new = _stored(ws, cls, candidate, tree)
        if new is None:
            continue
        value = similarity(cls, old, new)
        if value >= score and (best is None or value > score):
            best, score = candidate, value
    return best


def _stored(ws: Workspace, cls: type, ident: str,
            tree: Optional[pygit2.Tree]) -> Optional[tuple[dict[str, Any], ch.Files]]:
    """The stored fields and files of object ``ident`` in ``tree`` (``None``: not there)."""
    files = ch.object_files(tree, cls, ident)
    data = ch.object_paths(cls, ident)[1]
    if data not in files:
        return None
    from ..schema import codec

    path = cls._meta.get_data_path(ident)  # type: ignore[attr-defined]
    return codec.stored_fields(ws, cls, path, files[data]), files


#: what a blob field counts for in :func:`similarity` (a file of its own, most often the bulk)
_BLOB_WEIGHT = 256


def _json_length(value: Any) -> int:
    if value is _MISSING:
        return 0
    return len(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def similarity(cls: type, old: tuple[dict[str, Any], ch.Files], new: tuple[dict[str, Any], ch.Files],
               all_default_alike: bool = False) -> float:
    """The share of the stored bytes two objects hold alike, as git's rename
    detection weighs a file's lines: each field (or blob field) not at its
    default on both sides counts for the length of its JSON line, so a long
    body kept counts for more than a flag or a status that happen to match;
    their ids aside. Two objects with nothing but defaults score 0, or with
    ``all_default_alike`` 1 if equal."""
    opts: Any = cls._meta  # type: ignore[attr-defined]
    equal = total = 0
    for name in (set(old[0]) | set(new[0])) - {opts.id_attr}:
        absent = absent_value(opts._by_name.get(name))
        a, b = (d.get(name, _MISSING) for d in (old[0], new[0]))
        a, b = (absent if v is _MISSING else v for v in (a, b))
        if a is _MISSING and b is _MISSING or (_same(a, absent) and _same(b, absent)) or (a is None and b is None):
            continue
        weight = len(name) + max(_json_length(a), _json_length(b))
        total += weight
        equal += weight if _same(a, b) else 0
    for f in opts.blob_fields:
        a_key, b_key = (ch.blob_key(cls, f, files, "x") for files in (old[1], new[1]))
        if a_key == b_key == (None, None):
            continue
        total += _BLOB_WEIGHT
        equal += _BLOB_WEIGHT if a_key == b_key else 0
    if not total:
        alike = all_default_alike and _same({k: v for k, v in old[0].items() if k != opts.id_attr},
                                            {k: v for k, v in new[0].items() if k != opts.id_attr})
        return 1.0 if alike else 0.0
    return equal / total
