"""Merging across a migration: the other side's edits, in today's shape.

When one side of a merge applied migrations the other has not, the objects
the other side changed since the merge base are passed through those
migrations' recorded operations -- in the base and in that side alike --
before the usual field-by-field merge. An edit to a renamed field lands on
its new name, an object of a moved folder in the new folder; an edit to a
field a migration removed is reported in ``MergeResult.dropped_edits``.
Only the changed objects are read, so the cost follows the edits, not the
store. Both sides having applied different migrations leaves the schema
files to clash: a schema conflict, listed and resolved like any other.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from ..exceptions import MigrationError
from ..migrations import (
    MIGRATIONS_FOLDER,
    AddField,
    AlterField,
    AlterModelLayout,
    Operation,
    RemoveField,
    RenameField,
    RenameModel,
    _applied_in,
)
from . import FieldSchema, ModelSchema, stored_schemas
from ..versions.changes import tree_deltas
from ..serializers import json as json_format
from ..git.tree import StagingTree

if TYPE_CHECKING:
    from ..workspace import Workspace

Trees = tuple[Optional[pygit2.Tree], Optional[pygit2.Tree], Optional[pygit2.Tree]]


def align(ws: Workspace, base_id: Optional[pygit2.Oid], ours_id: Optional[pygit2.Oid],
          theirs_id: pygit2.Oid) -> tuple[Trees, list[str]]:
    """The trees to merge (base, ours, theirs) with the edits of the side that
    lacks the other's new migrations passed through them, and the edits
    that were dropped."""
    repo = ws.repo
    trees: Trees = tuple(  # type: ignore[assignment]
        repo[c].tree if c is not None else None for c in (base_id, ours_id, theirs_id))  # type: ignore[attr-defined]
    base, ours, theirs = trees
    if base is None or ours is None or theirs is None or base_id is None or ours_id is None:
        return trees, []
    done = [set(_applied_in(repo, t)) for t in trees]
    new_ours, new_theirs = done[1] - done[0], done[2] - done[0]
    if new_theirs and not new_ours:
        landing = _migration_commit(ws, base_id, theirs_id, done[0])
        base2, ours2, notes = _translate(ws, base, ours, theirs, sorted(new_theirs), "ours", landing)
        return (base2, ours2, theirs), notes
    if new_ours and not new_theirs:
        landing = _migration_commit(ws, base_id, ours_id, done[0])
        base2, theirs2, notes = _translate(ws, base, theirs, ours, sorted(new_ours), "theirs", landing)
        return (base2, ours, theirs2), notes
    return trees, []


def _migration_commit(ws: Workspace, base_id: pygit2.Oid, tip: pygit2.Oid,
                      before: set[str]) -> Optional[pygit2.Commit]:
    """The commit right on top of the merge base that applied every new
    migration of ``tip``'s side (then the merge starts from it, and costs
    what the edits cost), or ``None``."""
    commit = ws.repo[tip]
    wanted = set(_applied_in(ws.repo, commit.tree)) - before  # type: ignore[attr-defined]
    while isinstance(commit, pygit2.Commit) and commit.parent_ids:
        if commit.parent_ids[0] == base_id:
            made = set(_applied_in(ws.repo, commit.tree)) - before
            return commit if made == wanted and len(commit.parent_ids) == 1 else None
        if set(_applied_in(ws.repo, commit.tree)) - before != wanted:
            return None  # the migrations came in several commits
        commit = commit.parents[0]
    return None


def _operations(migrated: pygit2.Tree, names: list[str]) -> list[tuple[str, Operation]]:
    out = []
    for name in names:
        blob = migrated[f"{MIGRATIONS_FOLDER}/{name}.json"]
        try:
            records = json.loads(blob.data)["operations"]  # type: ignore[union-attr]
        except (ValueError, KeyError, TypeError):
            raise MigrationError(f"the record of migration {name!r} is corrupt") from None
        for record in records:
            op = _replayable(record)
            if op is not None:
                out.append((name, op))
    return out


def _replayable(record: dict[str, Any]) -> Optional[Operation]:
    """The operation a record describes, if it can run without the
    application's code (functions are not stored: those are skipped)."""
    kind, model = record.get("operation"), str(record.get("model"))
    if kind == "RenameField":
        return RenameField(model, record["old_name"], record["new_name"])
    if kind == "RemoveField":
        return RemoveField(model, record["name"])
    if kind in ("AddField", "AlterField") and isinstance(record.get("field"), dict):
        if record.get("computed"):
            return None
        spec = dict(record["field"])
        field = FieldSchema(record["name"], str(spec.pop("type")), spec).to_field()
        field.__dict__.pop("name", None)
        if kind == "AddField":
            return AddField(model, record["name"], field)
        return AlterField(model, record["name"], field)
    if kind == "RenameModel":
        return RenameModel(model, record["new_name"], record.get("folder"))
    if kind == "AlterModelLayout":
        return AlterModelLayout(model, int(record["shard"]))
    return None  # RunPython and the like


def _translate(ws: Workspace, base: pygit2.Tree, side: pygit2.Tree, migrated: pygit2.Tree,
               names: list[str], label: str, landing: Optional[pygit2.Commit] = None,
               ) -> tuple[pygit2.Tree, pygit2.Tree, list[str]]:
    """``(base, side)`` with ``side``'s edits in the migrated shape. With the
    ``landing`` commit that applied the migrations, the base becomes its
    tree and the side that tree plus the edits (field by field)."""
    schemas = stored_schemas(ws, base.id)
    lineages: dict[str, tuple[ModelSchema, list[tuple[str, Operation]]]] = {}
    for migration, op in _operations(migrated, names):
        source = schemas.get(op.model_name)
        if source is None:
            continue
        op.state_forwards(schemas)
        schema_before, ops = lineages.pop(op.model_name, (source, []))  # keyed by today's name
        ops.append((migration, op))
        lineages[op.new_name if isinstance(op, RenameModel) else op.model_name] = (schema_before, ops)
    notes: list[str] = []
    trees = {"base": StagingTree(ws.repo, base), label: StagingTree(ws.repo, side)}
    if landing is not None:
        trees = {label: StagingTree(ws.repo, landing.tree)}
    for name, (schema, ops) in lineages.items():
        base_folder, side_folder = (_entry_id(t, schema.folder) for t in (base, side))
        deltas = list(tree_deltas(ws.repo, base_folder, side_folder, f"{schema.folder}/"))
        paths = [p for p, _old, _new in deltas
                 if p.endswith(f"/{schema.data_filename}")]  # only what the side changed
        end = schemas[name]
        if landing is not None:  # other files the side changed (blob fields) move along
            for path, _old, new in deltas:
                folder, _, filename = path.rpartition("/")
                if filename != schema.data_filename and folder.count("/") == schema.shard + 1:
                    target = f"{end.object_folder(folder.rsplit('/', 1)[-1])}/{filename}"
                    if new is not None:
                        trees[label].set(target, new[0], new[1])
                    elif trees[label].lookup(target) is not None:
                        trees[label].remove(target)
        for path in paths:
            versions = {which: _stored(tree, path) for which, tree in (("base", base), (label, side))}
            object_id = path[: -len(schema.data_filename) - 1].rsplit("/", 1)[-1]
            for migration, op in ops:
                before = {k: (dict(v) if v is not None else None) for k, v in versions.items()}
                for which, stored in versions.items():
                    if stored is not None:
                        try:
                            versions[which] = op.object_forwards(stored, object_id)
                        except MigrationError as exc:
                            notes.append(f"{label}: {exc} (migration {migration}); kept as it was")
                if isinstance(op, RemoveField):
                    b, s = (before[k] or {} for k in ("base", label))
                    if b.get(op.name) != s.get(op.name):
                        notes.append(
                            f"{end.model} {object_id!r}: the edit of field {op.name!r} on "
                            f"{label} was not applied: migration {migration} removed the field")
            if landing is not None:
                _land(ws, trees[label], landing.tree, end, object_id, versions["base"], versions[label])
                continue
            for which, stored in versions.items():
                stage = trees[which]
                stage.remove(path)
                if stored is not None:
                    new_id = str(stored.get(end.id_field, object_id))
                    blob = ws.repo.create_blob(json_format.dumps(end.model, stored))
                    stage.set(end.data_path(new_id), blob)
    if landing is not None:
        return landing.tree, ws.repo[trees[label].write()], notes  # type: ignore[return-value]
    out = [ws.repo[trees[k].write()] for k in ("base", label)]
    return out[0], out[1], notes  # type: ignore[return-value]


def _land(ws: Workspace, stage: StagingTree, landed: pygit2.Tree, end: ModelSchema, object_id: str,
          base: Optional[dict[str, Any]], side: Optional[dict[str, Any]]) -> None:
    """Apply one object's edit (``base`` to ``side``, both migrated) to its
    version in the tree the migration commit left, field by field."""
    new_id = str((side or base or {}).get(end.id_field, object_id))
    path = end.data_path(new_id)
    if side is None:
        if stage.lookup(path) is not None:
            stage.remove(path)
        return
    merged = dict(_stored(landed, path) or base or {})
    for key in set(base or {}) | set(side):
        if (base or {}).get(key, _GONE) != side.get(key, _GONE):
            if key in side:
                merged[key] = side[key]
            else:
                merged.pop(key, None)
    stage.set(path, ws.repo.create_blob(json_format.dumps(end.model, merged)))


_GONE: Any = object()


def _entry_id(tree: pygit2.Tree, path: str) -> Optional[pygit2.Oid]:
    try:
        return tree[path].id
    except KeyError:
        return None


def _stored(tree: pygit2.Tree, path: str) -> Optional[dict[str, Any]]:
    try:
        blob = tree[path]
    except KeyError:
        return None
    try:
        return json_format.loads(blob.data)[1]  # type: ignore[union-attr]
    except (ValueError, RecursionError):
        return None
