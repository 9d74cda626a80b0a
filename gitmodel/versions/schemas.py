"""Stored schemas changed on both sides of a merge, merged field by field.

A model's schema file (``.gitmodel/schema/<Model>.json``) that both sides
changed is not merged as text: its fields are, one by one, against the merge
base, as objects are. Two branches that each added a different field merge
cleanly; a field both changed in different ways (another type, other
options, removed on one side and renamed on the other) is a
:class:`SchemaConflict` naming the model and the field, listed in
``MergeResult.conflicts`` and settled with ``ws.resolve(conflict, "ours" |
"theirs" | "base" | "staged")`` or a value like any other. The model's other items
(folder, id field, layout) merge the same way, each on its own.

A field renamed on one side (a ``RenameField`` among the migrations that
side applied since the merge base) is followed: the old and the new name are
merged as one field, so an edit of the old name on the other side clashes
with the rename instead of coming back beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from ..exceptions import CorruptObject, ValidationError
from ..git.odb import write_blob
from ..git.tree import BLOB_MODE
from ..migrations import MIGRATIONS_FOLDER
from ..schema import SCHEMA_FOLDER, ModelSchema
from .merge import CHOICES, MODIFY_MODIFY, STAGED, Conflict

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .merge import TreeMerge

__all__ = ["SchemaConflict", "is_schema_path", "merge_schema_file"]

Entry = Optional[tuple[pygit2.Oid, int]]
_ABSENT: Any = None


@dataclass(eq=False)
class SchemaConflict(Conflict):
    """A part of one model's stored schema both sides changed differently.

    ``id`` is the schema file's path, ``model_name`` the model, ``field``
    the field (``None`` for a model item, then ``key`` names it: ``folder``,
    ``id_field``, ``layout``...). ``base``/``ours``/``theirs`` are that
    field's stored record (``{"type": ..., options}``, ``None`` where it is
    absent) or the item's value; for a field renamed on one side, a dict of
    the names involved to their records.
    """

    model_name: str = ""
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        what = f"field {self.field!r}" if self.field is not None else f"{'.'.join(self.key)}"
        if len(self.names) > 1:
            what += f" (also as {', '.join(repr(n) for n in self.names if n != self.field)})"
        return f"schema of {self.model_name}: {what} changed on both sides ({self.kind})"


def is_schema_path(path: str) -> bool:
    """True for a stored schema file."""
    return path.startswith(SCHEMA_FOLDER + "/") and path.endswith(".json") and (
        path.count("/") == SCHEMA_FOLDER.count("/") + 1)


class _SchemaMerge:
    """The merge of one schema file; owns (and settles) its conflicts."""

    def __init__(self, ws: Workspace, path: str, docs: tuple[Any, Any, Any]) -> None:
        self.ws, self.path, self.docs = ws, path, docs
        self.conflicts: list[SchemaConflict] = []

    def run(self, renames: list[dict[str, str]], strategy: Optional[str]) -> dict[str, Any]:
        base, ours, theirs = self.docs
        model = str((ours or theirs or base).get("model", self.path.rsplit("/", 1)[-1][:-5]))
        merged: dict[str, Any] = {}
        for key in sorted(set(base) | set(ours) | set(theirs)):
            if key == "fields":
                continue
            values = tuple(d.get(key, _ABSENT) for d in (base, ours, theirs))
            picked = _pick(*values)
            if picked is _CLASH:
                self.conflicts.append(SchemaConflict(
                    None, self.path, None, MODIFY_MODIFY, values[0], values[1], values[2],
                    key=(key,), _owner=self, model_name=model))
                picked = values[1]
            if picked is not _ABSENT:
                merged[key] = picked
        fields = tuple(dict(d.get("fields", {})) for d in (base, ours, theirs))
        out: dict[str, Any] = {}
        for group in _groups(set().union(*fields), renames):
            values = tuple({n: f.get(n) for n in group} for f in fields)
            picked = _pick(*values)
            if picked is _CLASH:
                first = next((n for n in group if n in fields[0]), group[0])
                sides = values if len(group) > 1 else tuple(v[first] for v in values)
                self.conflicts.append(SchemaConflict(
                    None, self.path, first, MODIFY_MODIFY, sides[0], sides[1], sides[2],
                    _owner=self, model_name=model, names=tuple(group)))
                picked = values[1]
            out.update((n, r) for n, r in picked.items() if r is not None)
        merged["fields"] = dict(sorted(out.items()))
        if strategy in ("ours", "theirs"):
            for conflict in self.conflicts:
                _settle(merged, conflict, getattr(conflict, strategy))
                conflict.resolved = True
        return merged

    # -- the owner protocol of merge conflicts -------------------------------------
    def resolve(self, conflict: Conflict, choice: Any, literal: bool = False) -> None:
        """Settle ``conflict`` in the staged schema file."""
        assert isinstance(conflict, SchemaConflict)
        entry = self.ws.lookup(self.path)
        if not literal and choice == STAGED:  # the schema file as staged now
            self._edit = entry
            conflict.resolved = True
            return
        named = not literal and isinstance(choice, str) and choice in CHOICES
        value = getattr(conflict, choice) if named else choice
        doc = _decode(self.ws.repo, entry, self.path) or {}
        _settle(doc, conflict, value)
        self._edit = _encode(self.ws, self.path, doc)
        conflict.resolved = True

    def edits(self) -> dict[str, Any]:
        return {self.path: self._edit}


def _settle(doc: dict[str, Any], conflict: SchemaConflict, value: Any) -> None:
    """Put ``value`` (a side's record, or item value) for ``conflict`` into ``doc``."""
    if conflict.field is None:
        if value is None:
            doc.pop(conflict.key[0], None)
        else:
            doc[conflict.key[0]] = value
        return
    fields = doc.setdefault("fields", {})
    records = value if len(conflict.names) > 1 else {conflict.field: value}
    if not isinstance(records, dict):
        raise ValidationError(f"{conflict.describe()}: give a dict of field names to records")
    for name in conflict.names:
        record = records.get(name)
        if record is None:
            fields.pop(name, None)
        elif isinstance(record, dict) and isinstance(record.get("type"), str):
            fields[name] = record
        else:
            raise ValidationError(f'{conflict.describe()}: a field record is a dict with a "type"')


def _encode(ws: Workspace, path: str, doc: dict[str, Any]) -> tuple[pygit2.Oid, int]:
    data = (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    ModelSchema.from_json(data, path)  # CorruptObject: the result must stay a schema
    return write_blob(ws.repo, data), BLOB_MODE


def _decode(repo: pygit2.Repository, entry: Entry, path: str) -> Optional[dict[str, Any]]:
    if entry is None:
        return None
    blob = repo.get(entry[0])
    if not isinstance(blob, pygit2.Blob):
        raise CorruptObject(path, "expected a schema file, found a folder")
    ModelSchema.from_json(blob.data, path)  # CorruptObject if it is not one
    doc = json.loads(blob.data)
    return doc if isinstance(doc, dict) else None


_CLASH: Any = object()


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _pick(base: Any, ours: Any, theirs: Any) -> Any:
    if _same(ours, theirs) or _same(theirs, base):
        return ours
    if _same(ours, base):
        return theirs
    return _CLASH


def _groups(names: set[str], renames: list[dict[str, str]]) -> list[list[str]]:
    """The field names to merge together: a name with the names a side renamed it to."""
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent.setdefault(n, n) != n:
            n = parent[n]
        return n

    for side in renames:
        for old, new in side.items():
            parent[root(new)] = root(old)
    groups: dict[str, list[str]] = {}
    for n in sorted(parent):
        groups.setdefault(root(n), []).append(n)
    return [sorted(g, key=lambda n: (n != root(n), n)) for g in groups.values()]


def _renames(repo: pygit2.Repository, base: Optional[pygit2.Tree], side: Optional[pygit2.Tree],
             model: str) -> dict[str, str]:
    """old name -> new name of the fields of ``model`` that migrations
    ``side`` applied since ``base`` renamed (records that cannot be read
    rename nothing)."""
    def records(tree: Optional[pygit2.Tree]) -> dict[str, pygit2.Oid]:
        try:
            folder = tree[MIGRATIONS_FOLDER] if tree is not None else None
        except KeyError:
            return {}
        return {str(e.name): e.id for e in folder} if isinstance(folder, pygit2.Tree) else {}

    known = records(base)
    out: dict[str, str] = {}
    for name, oid in sorted(records(side).items()):
        if name in known:
            continue
        blob = repo.get(oid)
        try:
            ops = json.loads(blob.data)["operations"] if isinstance(blob, pygit2.Blob) else []
            for op in ops:
                if op.get("operation") == "RenameField" and op.get("model") == model:
                    out[str(op["old_name"])] = str(op["new_name"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def merge_schema_file(ws: Workspace, out: TreeMerge, path: str,
                      trees: tuple[Optional[pygit2.Tree], ...], entries: list[Entry],
                      strategy: Optional[str]) -> None:
    """Merge one schema file both sides changed into ``out`` (edits relative
    to ours, and conflicts)."""
    docs = tuple(_decode(ws.repo, e, path) or {} for e in entries)
    merger = _SchemaMerge(ws, path, docs)  # type: ignore[arg-type]
    model = str((docs[1] or docs[2] or docs[0]).get("model", ""))
    renames = [_renames(ws.repo, trees[0], t, model) for t in trees[1:]]
    merged = merger.run(renames, strategy)
    if not merged.get("fields") and not (docs[1] or docs[2]):
        out.edits[path] = None  # removed on both sides
        return
    edit = _encode(ws, path, merged)
    merger._edit = edit
    if entries[1] is None or edit[0] != entries[1][0]:
        out.edits[path] = edit
    out.conflicts.extend(c for c in merger.conflicts if not c.resolved)
