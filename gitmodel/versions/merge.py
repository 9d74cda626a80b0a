"""Three-way merge of trees, objects and fields; conflicts; rebasing commits.

Only what changed on either side since the merge base is looked at (two
tree diffs that skip identical subtrees), so a merge costs what the changes
cost, not what the store holds. An object changed on one side takes that
side; one changed on both is merged field by field (``JSONField`` dicts key
by key, blob fields and raw files at blob level). A field declared with
``merge=fn`` or a model overriding ``merge_fields`` settles its own clashes.
A key the stored data lacks compares as the value a save writes for it by
default; an object whose id changed on a side is followed (:mod:`.renames`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any, Iterator, Optional

import pygit2

from . import changes as ch
from . import openmerge
from .. import blobs as blob_files
from .. import signing
from ..exceptions import (BranchMoved, CorruptObject, IntegrityError, MergeConflict, PendingChanges, ReferenceNotFound,
                          RepositoryError)
from ..fields import JSONField
from ..listfield import ElementConflict
from ..schema import codec
from ..schema import layout as adaptive_layout
from ..serializers import json as json_format
from .openmerge import MERGE, REBASE, MergeState
from ..git.odb import write_blob
from ..git.diff import one_sided_folders
from ..git.tree import tree_entry

if TYPE_CHECKING:
    from ..models import GitModel
    from ..workspace import Workspace

MODIFY_MODIFY, DELETE_MODIFY, MODIFY_DELETE, ADD_ADD = (
    "modify/modify", "delete/modify", "modify/delete", "add/add",
)
CHOICES = ("ours", "theirs", "base")
#: keep what is staged now (a hand-made fix, saved while the merge is open)
STAGED = "staged"
#: the side of :attr:`ObjectMerge.stored` each choice names
CHOICES_STORED = {"base": 0, "ours": 1, "theirs": 2}
SIDES = ("base", "ours", "theirs")
_MISSING: Any = object()
#: "no choice given" for :func:`resolve` (and ``Workspace.resolve``)
NOT_GIVEN: Any = _MISSING
Entry = tuple[pygit2.Oid, int]


@dataclass(eq=False)
class Conflict:
    """A clash the merge could not settle.

    ``field`` is ``None`` for whole-object conflicts (``'add/add'``,
    ``'delete/modify'``, ``'modify/delete'``); ``key`` is the path inside a
    ``JSONField`` dict. ``model`` is ``None`` for a raw file (then ``id`` is
    its path). ``base``/``ours``/``theirs`` are Python values (objects for
    whole-object conflicts, blob ids for blob fields and raw files).
    ``missing`` names the sides (``'base'``, ``'ours'``, ``'theirs'``)
    whose dict lacks the key (their ``None`` is an absent key, not null).
    """

    model: Optional[type]
    id: str
    field: Optional[str]
    kind: str
    base: Any
    ours: Any
    theirs: Any
    key: tuple[str, ...] = ()
    resolved: bool = False
    missing: tuple[str, ...] = ()
    _owner: Any = dc_field(default=None, repr=False)

    def describe(self) -> str:
        what = f"{self.model.__name__} {self.id!r}" if self.model else f"file {self.id!r}"
        if self.field is not None:
            what += f" field {'.'.join((self.field, *self.key))!r}"
        return f"{what} ({self.kind})"

    def __repr__(self) -> str:
        return f"<Conflict {self.describe()}>"


@dataclass
class MergeResult:
    """What :meth:`Workspace.merge` did.

    ``commit`` is the new commit id (``None`` while conflicts are open or
    when there was nothing to merge); ``up_to_date`` says the other side was
    already merged.
    """

    commit: Optional[pygit2.Oid]
    fast_forward: bool = False
    conflicts: list[Conflict] = dc_field(default_factory=list)
    up_to_date: bool = False
    #: edits of fields a migration on the other side removed (not applied)
    dropped_edits: list[str] = dc_field(default_factory=list)


def describe_conflicts(conflicts: list[Conflict]) -> str:
    shown = "; ".join(c.describe() for c in conflicts[:5])
    more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    return shown + more


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is _MISSING or b is _MISSING:
        return False
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list)):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return bool(a == b)


def _pick(base: Any, ours: Any, theirs: Any) -> Any:
    """The three-way answer, or ``_CLASH`` when both sides changed differently."""
    if _same(ours, theirs):
        return ours
    if _same(ours, base):
        return theirs
    if _same(theirs, base):
        return ours
    return _CLASH


_CLASH: Any = object()


def _winner(base: Any, ours: Any, theirs: Any) -> Optional[int]:
    """The side whose value a three-way merge takes (1: ours, 2: theirs), ``None`` on a clash."""
    if _same(ours, theirs) or _same(theirs, base):
        return 1
    return 2 if _same(ours, base) else None


def absent_value(fld: Any) -> Any:
    """What a save writes for field ``fld`` when nothing set it (its default's
    JSON, else ``None``): the state of stored data that lacks the key, which
    reads as that default. ``_MISSING`` for an unknown field, or a default
    that differs from call to call (a uuid, a time)."""
    if fld is None or not fld.stored_in_json:
        return _MISSING
    try:
        first, second = fld.to_json(fld.get_default()), fld.to_json(fld.get_default())
    except (TypeError, ValueError, AttributeError, ArithmeticError):
        return _MISSING
    return first if _same(first, second) else _MISSING


# -- one object --------------------------------------------------------------------
class ObjectMerge:
    """The merge of one object changed on both sides; holds its conflicts."""

    def __init__(self, ws: Workspace, cls: type, object_id: str, trees: tuple[Any, Any, Any],
                 files: tuple[ch.Files, ch.Files, ch.Files], race: bool = False,
                 ids: Optional[tuple[str, str, str]] = None) -> None:
        self.ws, self.cls, self.id = ws, cls, object_id
        #: the object's id on each side (base, ours, theirs): an id changed on
        #: one side (see :mod:`.renames`) is merged into ``object_id``
        self.ids = ids or (object_id, object_id, object_id)
        #: two writers of one branch (a lost race, a stale instance), not two
        #: branches: a field both changed alike is a conflict (two requests
        #: that each counted 1 -> 2 made two increments, not one)
        self.race = race
        self.trees = trees
        self.files = files
        self.conflicts: list[Conflict] = []
        opts = cls._meta  # type: ignore[attr-defined]
        self.folder, self.data, self.blob_names = ch.object_paths(cls, object_id)
        self.stored = tuple(
            dict(codec.stored_fields(ws, cls, opts.get_data_path(i), f[self.data])) if self.data in f else None
            for i, f in zip(self.ids, files)
        )
        self._absent: dict[str, Any] = {}
        self.result: Optional[dict[str, Any]] = None  # merged JSON fields (None: deleted)
        self.result_files: ch.Files = {}  # merged blob-field files

    def instance(self, side: int) -> Optional[GitModel]:
        return ch.load(self.ws, self.cls, self.ids[side], self.files[side], self.trees[side])

    def same_state(self, a: int, b: int) -> bool:
        """True if sides ``a`` and ``b`` hold the same object, a missing key
        being the value a save writes for it by default."""
        one, two = self.stored[a], self.stored[b]
        if one is None or two is None:
            return one is two
        opts: Any = self.cls._meta  # type: ignore[attr-defined]
        names = (set(one) | set(two)) - {opts.id_attr}
        blobs = [tuple(ch.blob_key(self.cls, f, self.files[s], self.id) for s in (a, b)) for f in opts.blob_fields]
        return all(_same(*(self._normal(n, d.get(n, _MISSING)) for d in (one, two))) for n in names) and all(
            x == y for x, y in blobs)

    def _normal(self, name: str, value: Any) -> Any:
        """``value`` of field ``name`` for the three-way comparison: a missing
        key stands for what a save writes by default (:func:`absent_value`)."""
        if value is not _MISSING:
            return value
        if name not in self._absent:
            self._absent[name] = absent_value(self.cls._meta._by_name.get(name))  # type: ignore[attr-defined]
        return self._absent[name]

    def run(self, strategy: Optional[str]) -> None:
        base, ours, theirs = self.stored
        custom = _custom_merge(self.cls)
        if ours is None and theirs is None:
            self.result, self.result_files = None, {}
            return
        if custom is not None and ours is not None and theirs is not None:
            merged = custom(self.instance(0), self.instance(1), self.instance(2))
            if merged is not None and merged.get_id() != self.id and merged.get_id() in self.ids:
                setattr(merged, self.cls._meta.id_attr, self.id)  # type: ignore[attr-defined]  # a move is kept
            if merged is not None:
                self._take_instance(merged)
                return
        if base is None and (self.files[1] == self.files[2] or (
                ours is not None and theirs is not None and self.same_state(1, 2))):
            self._take_side(1)  # added on both sides alike
            return
        if base is not None and (ours is None or theirs is None) and self.same_state(0, 2 if ours is None else 1):
            self.result, self.result_files = None, {}  # deleted on one side, only rewritten on the other
            return
        if base is None and ours is not None and theirs is not None:
            kind = ADD_ADD
        elif ours is None:
            kind = DELETE_MODIFY
        elif theirs is None:
            kind = MODIFY_DELETE
        else:
            kind = ""
        if kind:
            self._take_side(1)
            conflict = Conflict(self.cls, self.id, None, kind, self.instance(0),
                                self.instance(1), self.instance(2), _owner=self)
            self.conflicts.append(conflict)
        else:
            self.result = self._merge_fields(base, ours, theirs)  # type: ignore[arg-type]
            self.result_files = self._merge_blobs()
        if strategy in ("ours", "theirs"):
            for conflict in list(self.conflicts):
                self.resolve(conflict, strategy)

    def _take_side(self, side: int) -> None:
        stored = self.stored[side]
        self.result = dict(stored) if stored is not None else None
        self.result_files = {k: v for k, v in self.files[side].items() if k != self.data}

    def _take_instance(self, obj: Optional[GitModel]) -> None:
        if obj is None:
            self.result, self.result_files = None, {}
            return
        if obj.get_id() != self.id:
            raise RepositoryError(f"a merge returned {obj!r} for {self.cls.__name__} {self.id!r}")
        obj.full_clean()
        self.result = obj.to_json_fields()
        opts = self.cls._meta  # type: ignore[attr-defined]
        files: ch.Files = {}
        for f in opts.blob_fields:  # a named file keeps its name (gitmodel.blobs)
            files.update(blob_files.value_files(self.ws.repo, opts, f, obj._data.get(f.name),
                                                self.blob_names[f.name]))
        self.result_files = files

    def _merge_fields(self, base: dict[str, Any], ours: dict[str, Any],
                      theirs: dict[str, Any]) -> dict[str, Any]:
        by_name = self.cls._meta._by_name  # type: ignore[attr-defined]
        merged: dict[str, Any] = {}
        for name in sorted(set(base) | set(ours) | set(theirs)):
            b, o, t = base.get(name, _MISSING), ours.get(name, _MISSING), theirs.get(name, _MISSING)
            nb, no, nt = (self._normal(name, v) for v in (b, o, t))  # a missing key: the default
            side = _winner(nb, no, nt)
            value = _CLASH if side is None else (o, t)[side - 1]
            fld = by_name.get(name)
            both = not _same(no, nb) and not _same(nt, nb)
            if both and self.race and value is not _CLASH and self._made_twice(fld, name, b, o):
                # the same change made twice on one branch: taking it once would
                # lose one writer's edit (two requests that each counted 1 -> 2)
                self._clash(name, nb, no, nt)
                value = o
            elif fld is not None and fld.merge is not None and both:
                # both sides changed it: the rule decides, even when they agree
                # (two +1s to a counter are +2)
                py = [None if v is _MISSING else ch.python_value(self.cls, name, v) for v in (nb, no, nt)]
                try:
                    value = fld.to_json(fld.clean(fld.merge(*py)))
                except ElementConflict:  # a list both sides reordered differently
                    self.conflicts.append(Conflict(self.cls, self.id, name, MODIFY_MODIFY, py[0], py[1], py[2], _owner=self))
                    value = o
            elif value is _CLASH and (fld is None or isinstance(fld, JSONField)) and (
                isinstance(nb, dict) or nb is _MISSING or nb is None
            ) and isinstance(no, dict) and isinstance(nt, dict):
                value = self._merge_dict(name, (), nb if isinstance(nb, dict) else {}, no, nt)
            elif value is _CLASH:
                self._clash(name, nb, no, nt)
                value = o
            if value is not _MISSING:
                merged[name] = value
        return merged

    def _made_twice(self, fld: Any, name: str, b: Any, o: Any) -> bool:
        """For a field both writers set alike: True if that is an edit each
        made, not what every save writes (an id, a field the stored data
        lacked, a value written in its canonical form), nor a change a merge
        rule counts for both."""
        if b is _MISSING or fld is None or fld.id or _counts_both(fld):
            return False
        return not _same(ch.python_value(self.cls, name, b), ch.python_value(self.cls, name, o))

    def _clash(self, name: str, b: Any, o: Any, t: Any) -> None:
        """Record field ``name`` as changed on both sides (ours stays staged)."""
        pb, po, pt = (None if v is _MISSING else ch.python_value(self.cls, name, v) for v in (b, o, t))
        self.conflicts.append(Conflict(self.cls, self.id, name, MODIFY_MODIFY, pb, po, pt, _owner=self))

    def _merge_dict(self, name: str, key: tuple[str, ...], base: dict[str, Any],
                    ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for k in sorted(set(base) | set(ours) | set(theirs)):
            b, o, t = base.get(k, _MISSING), ours.get(k, _MISSING), theirs.get(k, _MISSING)
            value = _pick(b, o, t)
            if value is _CLASH and isinstance(o, dict) and isinstance(t, dict) and (
                b is _MISSING or isinstance(b, dict)
            ):
                value = self._merge_dict(name, key + (k,), b if isinstance(b, dict) else {}, o, t)
            elif value is _CLASH:
                vb, vo, vt = (None if v is _MISSING else v for v in (b, o, t))
                missing = tuple(s for s, v in zip(SIDES, (b, o, t)) if v is _MISSING)
                self.conflicts.append(Conflict(
                    self.cls, self.id, name, MODIFY_MODIFY, vb, vo, vt, key=key + (k,), _owner=self,
                    missing=missing,
                ))
                value = o
            if value is not _MISSING:
                merged[k] = value
        return merged

    def _merge_blobs(self) -> ch.Files:
        opts = self.cls._meta  # type: ignore[attr-defined]
        out: ch.Files = {}
        for f in opts.blob_fields:
            # the plain blob and the named file's folder are one value
            b, o, t = (ch.blob_key(self.cls, f, files, self.id) for files in self.files)
            value = _pick(b, o, t)
            side = 1
            if value is _CLASH:
                b_v, o_v, t_v = (ch.blob_value(self.ws.repo, self.cls, f, files, self.id) for files in self.files)
                self.conflicts.append(Conflict(self.cls, self.id, f.name, MODIFY_MODIFY, b_v, o_v, t_v,
                                               _owner=self))
            else:
                side = (b, o, t).index(value)
            out.update(self._blob_entries(f, self.files[side]))
        return out

    def _blob_entries(self, field: Any, files: ch.Files) -> ch.Files:
        """The entries of ``files`` that hold blob field ``field``."""
        plain, folder = ch.blob_key(self.cls, field, files, self.id)
        if folder is not None:
            return {field.name: folder}
        if plain is not None:
            return {self.blob_names[field.name]: plain}
        return {}

    # -- resolving --------------------------------------------------------------
    def resolve(self, conflict: Conflict, choice: Any, literal: bool = False) -> None:
        """Settle ``conflict`` in :attr:`result` (see :mod:`.resolving`)."""
        from .resolving import resolve_object

        resolve_object(self, conflict, choice, literal)

    def take_staged(self) -> None:
        """Start again from the object as staged now: what was saved while the
        merge is open is kept when a conflict is resolved."""
        names = (self.data, *self.blob_names.values(), *ch.blob_folders(self.cls))
        entries = {}
        for name in names:
            entry = self.ws.stage.lookup(f"{self.folder}/{name}" if self.folder else name)
            if entry is not None:
                entries[name] = entry
        files = ch.owned_entries(self.cls, entries, names)
        path = self.cls._meta.get_data_path(self.id)  # type: ignore[attr-defined]
        stored = codec.stored_fields(self.ws, self.cls, path, files[self.data]) if self.data in files else None
        self.result = copy.deepcopy(dict(stored)) if stored is not None else None
        self.result_files = {k: v for k, v in files.items() if k != self.data}

    # -- staging ------------------------------------------------------------------
    def edits(self) -> dict[str, Optional[Entry]]:
        """``path -> entry`` (``None``: removed) that put the merged object in place."""
        out: dict[str, Optional[Entry]] = {}
        blob_mode = int(pygit2.enums.FileMode.BLOB)
        for name in (self.data, *self.blob_names.values(), *ch.blob_folders(self.cls)):
            out[f"{self.folder}/{name}"] = None
        if self.result is not None:
            blob = json_format.dumps(self.cls.__name__, self.result)
            out[f"{self.folder}/{self.data}"] = (write_blob(self.ws.repo, blob), blob_mode)
            for name, oid in self.result_files.items():
                entry = out[f"{self.folder}/{name}"] = (oid, ch.entry_mode(self.cls, name))
                if oid not in (self.files[0].get(name), self.files[1].get(name)):  # brought in: checked
                    blob_files.check_incoming(self.ws.repo, f"{self.folder}/{name}", entry)
        return out


def _counts_both(fld: Any) -> bool:
    """True if ``fld``'s merge rule makes something of one change made on
    both sides (a counter's two +1s are +2). A list's element merge does
    not: an element both sides added reads as added once."""
    return fld is not None and fld.merge is not None and fld.merge != getattr(fld, "_merge_elements", None)


def _has_rules(cls: type) -> bool:
    """True if merging equal edits may still need a rule (a counter's two +1s)."""
    opts = cls._meta  # type: ignore[attr-defined]
    return any(f.merge is not None for f in opts.fields) or _custom_merge(cls) is not None


def _custom_merge(cls: type) -> Any:
    from ..models import GitModel

    impl = getattr(cls, "merge_fields", None)
    base_impl = getattr(GitModel, "merge_fields", None)
    if impl is None or getattr(impl, "__func__", impl) is getattr(base_impl, "__func__", base_impl):
        return None
    return impl


# -- trees ---------------------------------------------------------------------------
@dataclass
class TreeMerge:
    """The outcome of merging two trees against a base, relative to ``ours``."""

    edits: dict[str, Optional[Entry]] = dc_field(default_factory=dict)
    objects: list[ObjectMerge] = dc_field(default_factory=list)
    conflicts: list[Conflict] = dc_field(default_factory=list)
    #: the ids of (base, ours, theirs) and the objects either side changed
    changed: Optional[tuple[tuple[Optional[pygit2.Oid], ...], set[Any]]] = None

    def staged(self) -> Iterator[tuple[str, Optional[Entry]]]:
        """``(path, entry or None)`` that put the merged state on top of ``ours``."""
        yield from self.edits.items()
        for om in self.objects:
            yield from om.edits().items()


def tree_ids(trees: tuple[Optional[pygit2.Tree], ...]) -> tuple[Optional[pygit2.Oid], ...]:
    """The ids of ``trees`` (``None`` for a missing one)."""
    return tuple(None if tree is None else tree.id for tree in trees)


def merge_trees(ws: Workspace, base: Optional[pygit2.Tree], ours: Optional[pygit2.Tree],
                theirs: Optional[pygit2.Tree], strategy: Optional[str] = None,
                race: bool = False) -> TreeMerge:
    """Merge ``theirs`` into ``ours`` against ``base``; nothing is staged yet.
    ``race``: the sides are two writers of one branch (see :class:`ObjectMerge`).

    The trees should agree on the layout of adaptive models
    (:func:`gitmodel.schema.layout.aligned`); the edits are in that layout.
    """
    if strategy not in (None, "ours", "theirs"):
        raise ValueError(f"unknown merge strategy {strategy!r}: use 'ours' or 'theirs'")
    if base is not None and theirs is not None and base.id == theirs.id:
        return TreeMerge()  # nothing changed on their side: ours is the result
    with adaptive_layout.reading(ours if ours is not None else theirs):
        return _merge_trees(ws, base, ours, theirs, strategy, race)


def _merge_trees(ws: Workspace, base: Optional[pygit2.Tree], ours: Optional[pygit2.Tree],
                 theirs: Optional[pygit2.Tree], strategy: Optional[str], race: bool) -> TreeMerge:
    layout = ch.Layout(ws, (base, ours, theirs))
    cache: dict[pygit2.Oid, set[bytes]] = {}
    ids = tree_ids((base, ours, theirs))
    taken, pruned = one_sided_folders(ws.repo, ids, layout.whole_folders(), cache)  # type: ignore[arg-type]
    other = ch.changed_keys(ws, base, theirs, layout, cache, folders=True, prune=pruned)
    mine = ch.changed_keys(ws, base, ours, layout, cache, folders=True, prune=pruned)
    out = TreeMerge(edits=taken, changed=(ids, set(mine) | set(other)))
    trees = (base, ours, theirs)
    from .renames import follow_moves  # ids changed on a side (objects moved), as git follows renames

    moved = follow_moves(ws, layout, trees, mine, other, cache, pruned, strategy, race, out)
    for key in sorted(other, key=lambda k: ("" if k[0] is None else k[0].__name__, k[1])):
        cls, ident = key
        if key in moved:
            continue
        if key not in mine:  # changed on their side only: take it as it is
            for name, (_old, new) in other[key].items():
                path = ident if cls is None else cls._meta.get_object_folder(ident)  # type: ignore[attr-defined]
                out.edits[path] = new
            continue
        if cls is None:
            found = [tree_entry(t, ident) for t in trees]
            if found[1] is not None and found[2] is not None and _is_schema(ident):
                from .schemas import merge_schema_file  # field by field, not as text

                merge_schema_file(ws, out, ident, trees, found, strategy)
                continue
            _merge_entry(out, ident, found, strategy)
            continue
        (base_dir, theirs_dir), (_, ours_dir) = other[key]["/"], mine[key]["/"]
        entries = [ch.folder_entries(ws.repo, d[0] if d else None) for d in (base_dir, ours_dir, theirs_dir)]
        owned = ch.owned_files(cls)
        folder = cls._meta.get_object_folder(ident)  # type: ignore[attr-defined]
        for name in sorted(set().union(*entries) - set(owned)):  # stray files in the folder
            _merge_entry(out, f"{folder}/{name}", [e.get(name) for e in entries], strategy)
        files = tuple(ch.owned_entries(cls, e) for e in entries)
        if files[2] == files[0] or (files[1] == files[2] and not _has_rules(cls) and not race):
            continue
        om = ObjectMerge(ws, cls, ident, trees, files, race)  # type: ignore[arg-type]
        om.run(strategy)
        out.objects.append(om)
        out.conflicts.extend(om.conflicts)
    out.conflicts = [c for c in out.conflicts if not c.resolved]
    return out


def _is_schema(path: str) -> bool:
    return path.startswith(".gitmodel/schema/") and path.endswith(".json") and path.count("/") == 2


def _merge_entry(out: TreeMerge, path: str, entries: list[Optional[Entry]], strategy: Optional[str]) -> None:
    """Three-way merge of one raw file at blob level."""
    value = _pick(*entries)
    if value is not _CLASH:
        if not _same(value, entries[1]):
            out.edits[path] = value
        return
    b, o, t = (e[0] if e else None for e in entries)
    kind = ADD_ADD if b is None else DELETE_MODIFY if o is None else (
        MODIFY_DELETE if t is None else MODIFY_MODIFY)
    conflict = Conflict(None, path, None, kind, b, o, t)
    out.conflicts.append(conflict)
    if strategy == "theirs":
        out.edits[path] = entries[2]
        conflict.resolved = True
    elif strategy == "ours":
        conflict.resolved = True


# -- workspace operations ----------------------------------------------------------------
def merge(ws: Workspace, other: Any, message: Optional[str] = None,
          strategy: Optional[str] = None, fast_forward: bool = True,
          author: Any = None, committer: Any = None) -> MergeResult:
    """Merge ``other`` (branch, tag or commit) into the current branch.

    A merge commit is made by ``author`` and ``committer`` (default: the
    workspace's :attr:`~gitmodel.workspace.Workspace.default_author`)."""
    if strategy not in (None, "ours", "theirs"):
        raise ValueError(f"unknown merge strategy {strategy!r}: use 'ours' or 'theirs'")
    ws._unit.refuse_commit()  # a merge commits: not inside a commit_on_success block
    ws._require_writable()
    if author is not None or committer is not None:  # identities are checked before anything is written
        ws._signature(author)
        ws._signature(committer, "committer")
    if ws.merging:
        raise RepositoryError("a merge is in progress; commit or abort_merge() it first")
    target = ws.resolve_treeish(other)
    if not isinstance(target, pygit2.Commit):
        raise ReferenceNotFound(other, f"{other!r} does not name a commit")
    repo = ws.repo
    unit = ws._unit
    with ws.write_lock:
        if ws.has_changes():
            raise PendingChanges("merge")
        start = unit.start
        name = other if isinstance(other, str) else str(target.id)[:10]
        if message is None:
            message = f"Merge {name!r} into {ws.head.removeprefix('refs/heads/')}"
        if start is not None and (start == target.id or repo.descendant_of(start, target.id)):
            return MergeResult(None, up_to_date=True)
        base_id = repo.merge_base(start, target.id) if start is not None else None
        if fast_forward and (start is None or base_id == start) and not _breaks_integrity(ws, start, target):
            ws._move_branch(target.id, "", reflog=f"merge {name}: Fast-forward")
            unit.move_to(target.id, target.tree)
            return MergeResult(target.id, fast_forward=True)
        from ..incoming import refuse_fetched

        refuse_fetched(ws, start, target)  # what a fetch brought is checked as a pull checks it
        base_tree = repo[base_id].tree if base_id is not None else None  # type: ignore[attr-defined]
        ours_tree = repo[start].tree if start is not None else None  # type: ignore[attr-defined]
        from ..schema.merge import align

        (base_tree, aligned, theirs_tree), dropped = align(ws, base_id, start, target.id)
        base_tree, aligned, theirs_tree = adaptive_layout.aligned(ws, base_tree, aligned, theirs_tree)
        result = merge_trees(ws, base_tree, aligned, theirs_tree, strategy)
        state = MergeState(MERGE, start, base_id, start, target.id, message, result, strategy)
        snap = unit.snapshot()
        try:
            if aligned is not None and ours_tree is not None and aligned.id != ours_tree.id:
                unit.move_to(start, aligned)  # our edits in the shape their migrations left
            unit.write_all(result.staged())
            from ..integrity import merge_violations  # unique values and references, merged

            ours_shape = aligned if aligned is not None else ours_tree
            result.conflicts.extend(merge_violations(ws, (base_tree, ours_shape, theirs_tree), result))
            openmerge.hold(ws, state)
            if result.conflicts:
                openmerge.save(ws, state)
                return MergeResult(None, conflicts=list(result.conflicts), dropped_edits=dropped)
            commit_id = commit_merge(ws, message, author, committer)
        except BaseException:
            unit.restore(snap)
            raise
        return MergeResult(commit_id, dropped_edits=dropped)


def _breaks_integrity(ws: Workspace, start: Optional[pygit2.Oid], target: pygit2.Commit) -> bool:
    """True if moving the branch to ``target`` would bring objects breaking a
    unique field or a reference: the merge is then three-way, which reports
    them as conflicts. ``IntegrityError`` if the branch has no commit yet
    (nothing to merge with); ``CorruptObject`` for a name git refuses."""
    from ..integrity import violations_if_staged

    ours = ws.repo[start].tree if start is not None else None  # type: ignore[attr-defined]
    ch.refuse_foreign_names(ws, ours, target.tree, f"commit {str(target.id)[:10]}")  # untrusted: as a merge
    from ..schema.merge import check_schema_records

    check_schema_records(ws, ours, target.tree)  # a stored schema it brings must read, as in a merge
    result = merge_trees(ws, ours, ours, target.tree, None)  # their changes, staged on ours
    found = violations_if_staged(ws, start, ours, result, (ours, ours, target.tree))
    if found and start is None:
        raise IntegrityError(
            f"cannot take {str(target.id)[:10]}: {describe_conflicts(found)}; nothing was changed")
    return bool(found)


def join(ws: Workspace, pending_ok: bool = False) -> Optional[MergeState]:
    """The open merge of the calling unit's branch, taken up by the unit if needed.

    A unit that has nothing pending takes up a merge recorded by another
    workspace or process: its staging becomes the merge's staged state. With
    ``pending_ok``, a unit with changes of its own gets the merge to look at
    (not joined) instead of a refusal.
    """
    unit = ws._unit
    record = openmerge.recorded(ws)
    state = unit.merge
    if state is not None and state.record == record:
        return state
    if state is not None:  # committed, aborted or changed by another process meanwhile
        unit.merge = None
        start = unit.start
        commit = ws.repo[start] if start is not None else None
        unit.move_to(start, commit.tree if commit is not None else None)  # type: ignore[union-attr]
    if record is None:
        return None
    loaded, staged = openmerge.load_seen(ws, record)  # as last looked at: the same conflicts
    if pending_ok and openmerge.look_only(ws, record, loaded, staged):  # another thread's, not taken
        return loaded
    branch = ws.store.read_ref(ws.head)
    if openmerge.finished_by(ws, loaded, staged, branch):
        openmerge.clear(ws, loaded)  # a process died between finishing and clearing it
        return None
    if ws.has_changes():
        if pending_ok:
            return loaded
        raise PendingChanges(f"take up the open merge of {ws.head}")
    openmerge.hold(ws, loaded)
    unit.move_to(loaded.head, staged)
    return loaded


def merging(ws: Workspace) -> bool:
    """True while a merge of the calling unit's branch (from any workspace) waits."""
    unit = ws._unit
    record = openmerge.recorded(ws)
    if unit.merge is not None and unit.merge.record not in (None, record):
        join(ws)  # finished or changed by another workspace: catch up
    return unit.merge is not None or record is not None


def resolve(ws: Workspace, conflict: Conflict, choice: Any = _MISSING, value: Any = _MISSING) -> None:
    """Settle ``conflict`` with ``'ours'``, ``'theirs'``, ``'base'``, ``'staged'`` or a value
    (:func:`gitmodel.versions.resolving.resolve`)."""
    from .resolving import resolve as resolve_conflict

    resolve_conflict(ws, conflict, choice, value)


def commit_merge(ws: Workspace, message: str = "", author: Any = None, committer: Any = None) -> pygit2.Oid:
    """Write the commit that finishes the open merge once every conflict is settled."""
    state = join(ws)
    if state is None:
        raise RepositoryError("no merge is in progress")
    open_ = state.conflicts
    if open_:
        raise MergeConflict(
            f"{len(open_)} conflict(s) still open: {describe_conflicts(open_)}; "
            "resolve() them or abort_merge()", open_,
        )
    from ..integrity import refuse_broken_merge

    refuse_broken_merge(ws, state)  # a value or side chosen in resolve() may break a rule
    unit = ws._unit
    repo = ws.repo
    with ws.write_lock:
        tree_id = unit.stage.write()
        if author is None and state.kind == REBASE and state.ours is not None:
            author = repo[state.ours].author  # a lost race keeps its own author
        author_sig = ws._signature(author)
        committer_sig = ws._signature(committer, "committer") if committer else ws._signature(None)
        text = message or state.message
        commit_id = signing.create_commit(ws, author_sig, committer_sig, text, tree_id, state.parents)
        also = [openmerge.drop_move(ws, state)] if state.record is not None else []
        try:
            ws._move_branch(commit_id, text, expected=state.head,
                            reflog=f"merge: {text.splitlines()[0] if text else ''}", also=also)
        except BranchMoved as exc:
            if exc.ref != ws.head:
                raise RepositoryError("the open merge was changed by another workspace meanwhile; "
                                      "look at ws.conflicts again") from None
            # another writer committed on the branch: put the result on top of it
            parents = state.parents[1:]
            from .race import commit_rebased  # the head moved while the merge was finished

            rebased = commit_rebased(ws, commit_id, text, author_sig, committer_sig,
                                     also=also, extra_parents=parents)
            unit.merge = None
            return rebased if rebased is not None else commit_id
        unit.merge = None
        unit.move_to(commit_id, unit.stage.base)
        return commit_id


def abort_merge(ws: Workspace) -> None:
    """Drop the open merge; return to the commit (and pending edits) it started from.
    A record that cannot be read (damaged, or written by another tool) is
    dropped as it is: aborting is the way out of it."""
    try:
        state = join(ws)
    except CorruptObject:
        record = openmerge.recorded(ws)
        ws.store.move_refs([(openmerge.merge_ref(ws.head), record, None)], "gitmodel: unreadable merge dropped")
        return
    if state is None:
        raise RepositoryError("no merge is in progress")
    unit = ws._unit
    repo = ws.repo
    with ws.write_lock:
        openmerge.clear(ws, state)
        unit.merge = None
        if state.kind == REBASE and state.ours is not None:
            own = repo[state.ours]  # the unit's own commit: its pending edits on its start
            start = own.parent_ids[0] if own.parent_ids else None  # type: ignore[attr-defined]
            unit.move_to(start, own.tree)  # type: ignore[attr-defined]
        else:
            head = repo[state.head] if state.head is not None else None
            unit.move_to(state.head, head.tree if head is not None else None)  # type: ignore[union-attr]
