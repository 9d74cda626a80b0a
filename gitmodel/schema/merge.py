"""Merging across a migration: the other side's edits, in today's shape.

When one side of a merge applied migrations the other has not, the objects
the other side changed since the merge base are passed through those
migrations' operations -- in the base and in that side alike -- before the
usual field-by-field merge. An edit to a renamed field lands on its new
name, an object of a moved folder in the new folder; an edit to a field a
migration removed, or one a converter refuses, is reported in
``MergeResult.dropped_edits``. An object whose id a migration changed
takes the edit at its new id, with its files, and a reference the other side
wrote to an old id (in any model that refers to a migrated one) is given
the new id; a schema record the other side changed names a renamed model
by its new name. Operations with functions (``RunPython``,
``AddField(value=)``, ``AlterField(convert=)``) run as the application's
own migration, which this process must have loaded
(:func:`gitmodel.migrations.known`); without it the merge is refused.
Only the changed objects are read, and written into one pack, so the cost
follows the edits, not the store. Both sides having applied migrations of
their own merge schema files field by field (:mod:`gitmodel.versions.schemas`).
Without that commit (the migrations came after other commits), the base and
the side are translated in place, their schema records of the migrated
models too, so that a layout read from them is the one their objects have.
A revert of a commit from before migrations passes the commit's two sides
through them the same way (:func:`align_revert`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from pygit2.enums import ObjectType

from ..exceptions import CorruptObject, GitModelError, MigrationError
from ..git.diff import Delta, tree_deltas
from ..git.odb import write_blob
from ..git.packs import PackWriter
from ..git.tree import BLOB_MODE, TREE_MODE, StagingTree
from ..migrations import (
    MIGRATIONS_FOLDER,
    AddField,
    AlterField,
    AlterModelLayout,
    Operation,
    RemoveField,
    RenameField,
    RenameModel,
    RunPython,
    _applied_in,
    known,
)
from ..serializers import json as json_format
from ..validation import id_problem
from . import META_FOLDER, SCHEMA_FOLDER, FieldSchema, ModelSchema, schema_path, stored_schemas
from .records import operation_problem
from .references import moved_value, relation_fields, retarget

if TYPE_CHECKING:
    from ..workspace import Workspace

_BLOB = int(ObjectType.BLOB)
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
    for side in (theirs, ours):  # a record the merge cannot read is refused, not merged
        check_schema_records(ws, base, side)
    if base is None or ours is None or theirs is None or base_id is None or ours_id is None:
        return trees, []
    done = [set(_applied_in(repo, t)) for t in trees]
    new_ours, new_theirs = done[1] - done[0], done[2] - done[0]
    if new_theirs and not new_ours:
        landing = _migration_commit(ws, base_id, theirs_id, done[0])
        base2, ours2, notes = _translate(ws, base, ours, theirs, sorted(new_theirs), "ours", landing,
                                         records=True)
        return (base2, ours2, theirs), notes
    if new_ours and not new_theirs:
        landing = _migration_commit(ws, base_id, ours_id, done[0])
        base2, theirs2, notes = _translate(ws, base, theirs, ours, sorted(new_ours), "theirs", landing,
                                           records=True)
        return (base2, ours, theirs2), notes
    return trees, []


def align_revert(ws: Workspace, reverted: pygit2.Tree, parent: Optional[pygit2.Tree],
                 ours: pygit2.Tree) -> tuple[pygit2.Tree, Optional[pygit2.Tree], list[str]]:
    """The two sides of a revert -- the reverted commit's tree (the base) and
    its parent's (what the revert brings back) -- with the objects the
    commit changed passed through the migrations ``ours`` applied since, as
    :func:`align` passes a merge's other side; and the changes that cannot
    take the new shape. A commit that applied migrations itself is left as
    it is (its revert undoes them as data)."""
    check_schema_records(ws, reverted, parent)
    repo = ws.repo
    done = [set(_applied_in(repo, t)) for t in (parent, reverted, ours)]
    new = done[2] - done[1]
    if not new or done[0] != done[1] or not done[1] <= done[2]:
        return reverted, parent, []
    side = parent if parent is not None else repo[repo.TreeBuilder().write()]
    base2, side2, notes = _translate(ws, reverted, side, ours, sorted(new),  # type: ignore[arg-type]
                                     "the reverted commit", doing="reverting", records=True)
    return base2, (side2 if parent is not None else None), notes


def check_schema_records(ws: Workspace, base: Optional[pygit2.Tree], side: Optional[pygit2.Tree]) -> None:
    """:class:`CorruptObject` naming the file if a stored schema ``side``
    changed since ``base`` is not one (nothing is merged then)."""
    if side is None:
        return
    folders = [_entry_id(t, SCHEMA_FOLDER) if t is not None else None for t in (base, side)]
    if folders[1] is None or folders[0] == folders[1]:
        return
    before = ws.repo.get(folders[0]) if folders[0] is not None else None
    after = ws.repo.get(folders[1])
    if not isinstance(after, pygit2.Tree):
        raise CorruptObject(SCHEMA_FOLDER, "expected a folder, found a file")
    for item in after:
        name = item.name or ""
        if not name.endswith(".json"):
            continue
        path = f"{SCHEMA_FOLDER}/{name}"
        if isinstance(before, pygit2.Tree) and name in before and before[name].id == item.id:
            continue  # not changed on that side
        if not isinstance(item, pygit2.Blob):
            raise CorruptObject(path, "expected a schema file, found a folder")
        schema = ModelSchema.from_json(item.data, path)
        if schema.model != name[: -len(".json")]:
            raise CorruptObject(path, f"holds the schema of {schema.model!r}")


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


def _record_path(name: str) -> str:
    return f"{MIGRATIONS_FOLDER}/{name}.json"


#: what a refusal says was not done, by the operation replaying the migrations
_NOTHING = {"merging": "nothing was merged", "reverting": "nothing was staged"}


def _corrupt(name: str, reason: str, doing: str = "merging") -> MigrationError:
    return MigrationError(f"the record of migration {name!r} ({_record_path(name)!r}) is corrupt: "
                          f"{reason}; {_NOTHING[doing]}")


#: a replayed operation: (migration name, operation, the field type its record names)
Replayed = tuple[str, Operation, Optional[str]]


def _operations(migrated: pygit2.Tree, names: list[str], doing: str = "merging") -> list[Replayed]:
    """The operations of migrations ``names`` as recorded in ``migrated``: the
    application's own (with their functions) where this process loaded that
    very migration, else rebuilt from the record (each checked first: a
    record is untrusted input)."""
    out: list[Replayed] = []
    for name in names:
        try:
            blob = migrated[_record_path(name)]
        except KeyError:
            raise _corrupt(name, "it is missing", doing) from None
        if not isinstance(blob, pygit2.Blob):
            raise _corrupt(name, "it is not a file", doing)
        loaded = known(blob.id)
        if loaded is not None:
            out.extend((name, op, None) for op in loaded.operations)
            continue
        try:
            doc = json.loads(blob.data)
        except (ValueError, RecursionError) as exc:
            raise _corrupt(name, f"not JSON ({exc})", doing) from None
        records = doc.get("operations") if isinstance(doc, dict) else None
        if type(records) is not list:
            raise _corrupt(name, "its operations are not a list", doing)
        for record in records:
            problem = operation_problem(record)
            if problem:
                raise _corrupt(name, problem, doing)
            out.append(_replayable(name, record, doing))
    return out


def _replayable(migration: str, record: dict[str, Any], doing: str = "merging") -> Replayed:
    """The operation a record (checked by :func:`operation_problem`)
    describes. One that needs the application's code (a function is never
    stored) refuses: the edits would come out in the old shape."""
    kind, model = record["operation"], record["model"]
    try:
        if kind == "RenameField":
            return migration, RenameField(model, record["old_name"], record["new_name"]), None
        if kind == "RemoveField":
            return migration, RemoveField(model, record["name"]), None
        if kind in ("AddField", "AlterField") and not (record.get("computed") or record.get("converted")):
            spec = dict(record["field"])
            type_name = spec.pop("type")
            field = FieldSchema(record["name"], type_name, spec).to_field()
            field.__dict__.pop("name", None)
            op: Operation = (AddField if kind == "AddField" else AlterField)(model, record["name"], field)
            return migration, op, type_name
        if kind == "RenameModel":
            return migration, RenameModel(model, record["new_name"], record.get("folder")), None
        if kind == "AlterModelLayout":
            return migration, AlterModelLayout(model, record["shard"]), None
    except GitModelError as exc:  # a field that refuses its options, a folder that is not one
        raise _corrupt(migration, f"{kind} on {model}: {exc}", doing) from None
    raise MigrationError(
        f"{doing} needs the code of migration {migration!r} ({kind} on {model}), which this "
        "process has not loaded: load the application's migrations first "
        f"(gitmodel.migrations.load(...) or ws.migrate(...)); {_NOTHING[doing]}")


def _translate(ws: Workspace, base: pygit2.Tree, side: pygit2.Tree, migrated: pygit2.Tree,
               names: list[str], label: str, landing: Optional[pygit2.Commit] = None,
               doing: str = "merging", records: bool = False,
               ) -> tuple[pygit2.Tree, pygit2.Tree, list[str]]:
    """``(base, side)`` with ``side``'s edits in the migrated shape. With the
    ``landing`` commit that applied the migrations, the base becomes its
    tree and the side that tree plus the edits (field by field). With
    ``records`` (and no landing), the two trees' schema records of the
    migrated models are migrated too, each from its own, so that they
    describe the objects (their layout, their model name).

    Only the objects ``side`` changed are read and written (their blobs and
    folders go into one pack), so the cost follows the edits."""
    schemas = stored_schemas(ws, base.id)
    at_base = dict(schemas)
    lineages: dict[str, tuple[ModelSchema, list[tuple[str, Operation]]]] = {}
    replayed = _operations(migrated, names, doing)
    for migration, op, _type in replayed:
        source = schemas.get(op.model_name)
        if source is None:
            continue
        try:
            op.state_forwards(schemas)
        except MigrationError as exc:  # it does not apply to the stored schema
            raise _corrupt(migration, str(exc), doing) from None
        schema_before, ops = lineages.pop(op.model_name, (source, []))  # keyed by today's name
        ops.append((migration, op))
        lineages[op.new_name if isinstance(op, RenameModel) else op.model_name] = (schema_before, ops)
    _check_replayed(ws, landing.tree if landing is not None else migrated, lineages, schemas,
                    replayed, doing)
    notes: list[str] = []
    writer = PackWriter(ws.repo)
    new_ids = _NewIds(ws, base, lineages, schemas)
    referrers = {name: found for name, found in (
        (n, relation_fields(s, new_ids.targets)) for n, s in schemas.items()) if found}
    # a model referring to objects whose id may have moved: its edits are merged object by object
    objects = {**{n: (at_base[n], []) for n in referrers if n not in lineages and n in at_base},
               **lineages}
    renames = [(op.model_name, op.new_name) for _s, ops in lineages.values()
               for _m, op in ops if isinstance(op, RenameModel)]
    stages = {"base": StagingTree(ws.repo, base), label: StagingTree(ws.repo, side)}
    landing_base = landing.tree if landing is not None else base
    if landing is not None:
        stages = {label: StagingTree(ws.repo, landing.tree)}
        _carry_other_edits(ws, base, side, stages[label], objects, schemas, renames)
        clashes = _carry_schema_edits(ws, side, stages[label], objects, schemas, renames)
        if clashes:  # the merge base shows those fields as before the migration: a SchemaConflict
            landing_base = _clash_base(ws, landing.tree, clashes)
    moving: list[tuple[StagingTree, str, Optional[tuple[pygit2.Oid, int]], str, str, Optional[pygit2.Oid]]] = []
    for name, (schema, ops) in objects.items():
        end = schemas[name]
        landed = _subtree(landing.tree, end.folder) if landing is not None else None
        for object_id, files in _changed_objects(ws, base, side, schema).items():
            data = files.pop(schema.data_filename, None)
            if data is None:
                if landing is not None:  # only other files changed (blob fields)
                    _land_files(stages[label], end, object_id, files)
                continue
            versions = {which: (_read(ws, entry) if entry is not None else None)
                        for which, entry in (("base", data[0]), (label, data[1]))}
            migrated_versions = _forwards(versions, ops, object_id, end.model, label, notes,
                                          whole_objects=doing == "reverting")
            if migrated_versions is None:  # the edit cannot take the new shape: dropped
                if landing is None:  # the side keeps the base version: the migrated one wins
                    path = f"{schema.object_folder(object_id)}/{schema.data_filename}"
                    _stage_entry(stages[label], path, data[0])
                continue
            for stored in migrated_versions.values():  # its references follow moved objects
                new_ids.follow(stored, referrers.get(name, ()))
            if landing is not None:
                _land(ws, writer, stages[label], landed, end, object_id,
                      migrated_versions["base"], migrated_versions[label], files)
                continue
            folder = schema.object_folder(object_id)
            for which, stored in migrated_versions.items():
                stage = stages[which]
                new_id = str((stored or {}).get(end.id_field, object_id))
                blob = writer.add(_BLOB, json_format.dumps(end.model, stored)) if stored else None
                if end.object_folder(new_id) == folder:
                    _stage_entry(stage, f"{folder}/{schema.data_filename}",
                                 (blob, BLOB_MODE) if blob is not None else None)
                else:  # the whole folder moves, blob files too
                    moving.append((stage, folder, stage.lookup(folder), end.object_folder(new_id),
                                   end.data_path(new_id), blob))
    for stage, folder, _entry, _new, _path, _blob in moving:  # every removal before the moves
        stage.remove(folder)
    for stage, _folder, entry, new_folder, path, blob in moving:
        if blob is not None:
            if entry is not None and entry[1] == TREE_MODE:
                stage.set(new_folder, entry[0], TREE_MODE)
            stage.set(path, blob)
    writer.write()  # objects before the trees that name them
    if landing is not None:
        return landing_base, ws.repo[stages[label].write()], notes  # type: ignore[return-value]
    if records:
        _migrate_records(ws, stages["base"], at_base, schemas)
        before = stored_schemas(ws, side.id)
        after = dict(before)
        for _migration, op, _type in replayed:
            trial = dict(after)
            try:
                op.state_forwards(trial)
            except (MigrationError, KeyError):  # a record the side changed otherwise: kept as it is
                continue
            after = trial
        _migrate_records(ws, stages[label], before, after)
    out = [ws.repo[stages[k].write()] for k in ("base", label)]
    return out[0], out[1], notes  # type: ignore[return-value]


def _migrate_records(ws: Workspace, stage: StagingTree, before: dict[str, ModelSchema],
                     after: dict[str, ModelSchema]) -> None:
    """Stage the schema records ``after`` the migrations in place of those ``before``."""
    for name in before.keys() - after.keys():
        stage.remove(schema_path(name))
    for name, schema in after.items():
        if before.get(name) != schema:
            stage.set(schema_path(name), write_blob(ws.repo, schema.to_json()))


def _check_replayed(ws: Workspace, migrated: pygit2.Tree,
                    lineages: dict[str, tuple[ModelSchema, list[tuple[str, Operation]]]],
                    schemas: dict[str, ModelSchema], replayed: list[Replayed],
                    doing: str = "merging") -> None:
    """A :class:`MigrationError` naming the record if the replayed operations
    do not leave what the migrated side stores (a record added without the
    migration it names would put the other side's edits where no schema
    reads them). Fields the migrated side changed since without a migration
    (new ones, other options, a rename through ``previous_names``) pass."""
    stored = stored_schemas(ws, migrated.id)
    types = {id(op): type_name for _m, op, type_name in replayed if type_name is not None}
    for name, (source, ops) in lineages.items():
        end, found = schemas[name], stored.get(name)

        def refuse(migration: str, what: str) -> None:
            raise MigrationError(
                f"the record of migration {migration!r} ({_record_path(migration)!r}) does not match "
                f"the branch that applied it: {what}; {_NOTHING[doing]}")

        if found is None:
            refuse(ops[-1][0], f"it leaves a model {name!r}, which that branch does not store")
        assert found is not None
        if found.folder != end.folder:
            refuse(ops[-1][0], f"{name} is stored in {found.folder!r} there, not {end.folder!r}")
        if found.id_field != end.id_field:
            refuse(ops[-1][0], f"the id field of {name} is {found.id_field!r} there, not {end.id_field!r}")
        read_as = {old: f for f, record in found.fields.items()
                   for old in record.options.get("previous_names", ()) if isinstance(old, str)}
        for migration, op in ops:
            if isinstance(op, AlterModelLayout) and found.shard != end.shard:
                refuse(migration, f"{name} has shard={found.shard} there, not {end.shard}")
            made = [op.new_name] if isinstance(op, RenameField) else (
                [op.name] if isinstance(op, (AddField, AlterField)) else [])
            gone = [op.old_name] if isinstance(op, RenameField) else (
                [op.name] if isinstance(op, RemoveField) else [])
            for field in made:
                if field not in end.fields:
                    continue  # a later operation took it away
                there = found.fields.get(field) or found.fields.get(read_as.get(field, ""))
                if there is None:
                    refuse(migration, f'{name} has no field "{field}" there')
                assert there is not None
                if isinstance(op, (AddField, AlterField)) and there.type not in (
                        end.fields[field].type, types.get(id(op))):
                    refuse(migration, f'field "{field}" of {name} is a {there.type} there, '
                                      f"not a {types.get(id(op)) or end.fields[field].type}")
            for field in gone:  # (a name no stored field had: unknown values were dropped)
                if field in source.fields and field not in end.fields and field in found.fields:
                    refuse(migration, f'{name} still has the field "{field}" there')


def _forwards(versions: dict[str, Optional[dict[str, Any]]], ops: list[tuple[str, Operation]],
              object_id: str, model: str, label: str, notes: list[str], whole_objects: bool = False,
              ) -> Optional[dict[str, Optional[dict[str, Any]]]]:
    """Both versions of one object through the operations, or ``None`` (and
    a note) if one of them fails: the side's edit is then not applied. With
    ``whole_objects``, an object added or removed is no edit of a field a
    ``RemoveField`` took away (it comes or goes as the migration left it)."""
    for migration, op in ops:
        before = {k: (dict(v) if v is not None else None) for k, v in versions.items()}
        for which, stored in versions.items():
            if stored is None:
                continue
            try:
                versions[which] = op.object_forwards(stored, object_id)
            except MigrationError as exc:
                notes.append(f"{model} {object_id!r}: the edit on {label} was not applied: "
                             f"{exc} (migration {migration})")
                return None
        if isinstance(op, RemoveField) and not (whole_objects and None in before.values()):
            b, s = (before[k] or {} for k in ("base", label))
            if b.get(op.name) != s.get(op.name):
                notes.append(
                    f"{model} {object_id!r}: the edit of field {op.name!r} on "
                    f"{label} was not applied: migration {migration} removed the field")
    return versions


def _changed_objects(ws: Workspace, base: pygit2.Tree, side: pygit2.Tree, schema: ModelSchema,
                     ) -> dict[str, dict[str, Delta]]:
    """object id -> {path below its folder: (base entry, side entry)} for the
    objects of ``schema`` that ``side`` changed since ``base``."""
    out: dict[str, dict[str, Delta]] = {}
    depth = schema.shard + 1  # slashes from the model folder to an object folder
    folders = [_entry_id(t, schema.folder) for t in (base, side)]
    for path, old, new in tree_deltas(ws.repo, folders[0], folders[1], f"{schema.folder}/"):
        parts = path.split("/")
        if len(parts) < depth + 2:
            continue  # a stray file above the object folders
        object_id = parts[depth]
        out.setdefault(object_id, {})["/".join(parts[depth + 1:])] = (old, new)
    return out


def _carry_other_edits(ws: Workspace, base: pygit2.Tree, side: pygit2.Tree, stage: StagingTree,
                       lineages: dict[str, tuple[ModelSchema, list[tuple[str, Operation]]]],
                       schemas: dict[str, ModelSchema], renames: list[tuple[str, str]]) -> None:
    """Stage on the landing tree what ``side`` changed outside the migrated
    models (other models, raw files, other schemas): the migration commit
    did not touch those, so the side's version is the merge's (a schema's
    relation fields naming a renamed model name its new name)."""
    folders = {s.folder for s, _ops in lineages.values()} | {schemas[n].folder for n in lineages}
    skipped = {schema_path(n) for n in lineages} | {schema_path(s.model) for s, _ in lineages.values()}
    top = lambda path: "/" not in path  # noqa: E731 -- a whole top-level folder at once
    for path, _old, new in tree_deltas(ws.repo, base.id, side.id, "", None, top):
        name = path.rstrip("/")
        if name in folders or name == META_FOLDER:
            continue
        _stage_entry(stage, name, new)
    for path, _old, new in tree_deltas(ws.repo, _entry_id(base, META_FOLDER),
                                       _entry_id(side, META_FOLDER), f"{META_FOLDER}/"):
        if path not in skipped:
            _stage_entry(stage, path, _retargeted(ws, path, new, renames))


#: model name -> {field: (its record before the migrations, the side's record)}
Clashes = dict[str, dict[str, tuple[Optional[FieldSchema], Optional[FieldSchema]]]]


def _carry_schema_edits(ws: Workspace, side: pygit2.Tree, stage: StagingTree,
                        lineages: dict[str, tuple[ModelSchema, list[tuple[str, Operation]]]],
                        schemas: dict[str, ModelSchema], renames: list[tuple[str, str]]) -> Clashes:
    """The side's own changes to a migrated model's schema (a field added
    with a default, other options), staged onto the migrated schema: each
    field the side changed that no operation touched. A field the side
    changed that an operation touched too (other options of a field an
    ``AlterField`` retyped, say) is staged as the side has it and returned:
    the merge reports it as a :class:`~gitmodel.versions.schemas.SchemaConflict`
    (see :func:`_clash_base`) instead of dropping the side's change."""
    clashes: Clashes = {}
    for name, (source, ops) in lineages.items():
        path = schema_path(source.model)
        try:
            blob = side[path]
        except KeyError:
            continue
        if not isinstance(blob, pygit2.Blob) or blob.id == pygit2.hash(source.to_json()):
            continue
        mine = ModelSchema.from_json(blob.data, path)
        current = mine
        for old, new in renames:
            current = retarget(current, old, new)
        touched = {str(getattr(op, attr)) for _m, op in ops
                   if isinstance(op, (AddField, RemoveField, RenameField, AlterField))
                   for attr in ("name", "old_name", "new_name") if hasattr(op, attr)}
        end = schemas[name]
        fields = dict(end.fields)
        for field in set(source.fields) | set(mine.fields):
            if source.fields.get(field) == mine.fields.get(field):
                continue
            if field in touched:
                if current.fields.get(field) != end.fields.get(field):
                    clashes.setdefault(name, {})[field] = (source.fields.get(field), current.fields.get(field))
                else:
                    continue  # the side changed it as the migration did
            if field in mine.fields:
                fields[field] = current.fields[field]
            else:
                fields.pop(field, None)
        if fields != dict(end.fields):
            stage.set(schema_path(name), write_blob(ws.repo, end.with_fields(fields).to_json()))
    return clashes


def _clash_base(ws: Workspace, landing: pygit2.Tree, clashes: Clashes) -> pygit2.Tree:
    """The tree the migration commit left, with each clashing field of its
    schema files as it was before the migrations: merged against it, the
    side's record and the migrated one both changed that field, a
    conflict to settle (the objects merge against the migrated tree as before)."""
    stage = StagingTree(ws.repo, landing)
    for name, found in clashes.items():
        path = schema_path(name)
        try:
            blob = landing[path]
        except KeyError:
            continue
        if not isinstance(blob, pygit2.Blob):
            continue
        schema = ModelSchema.from_json(blob.data, path)
        fields = dict(schema.fields)
        for field, (before, _side) in found.items():
            if before is None:
                fields.pop(field, None)
            else:
                fields[field] = before
        stage.set(path, write_blob(ws.repo, schema.with_fields(fields).to_json()))
    return ws.repo[stage.write()]  # type: ignore[return-value]


def _retargeted(ws: Workspace, path: str, entry: Optional[tuple[pygit2.Oid, int]],
                renames: list[tuple[str, str]]) -> Optional[tuple[pygit2.Oid, int]]:
    """A carried stored schema (``entry`` at ``path``) whose relation fields
    name the renamed models' new names."""
    if entry is None or not renames or not path.startswith(f"{SCHEMA_FOLDER}/"):
        return entry
    blob = ws.repo.get(entry[0])
    if not isinstance(blob, pygit2.Blob):
        return entry
    try:
        schema = ModelSchema.from_json(blob.data, path)
    except CorruptObject:
        return entry  # carried as it is: reading it reports it
    found = schema
    for old, new in renames:
        found = retarget(found, old, new)
    return entry if found is schema else (write_blob(ws.repo, found.to_json()), entry[1])


class _NewIds:
    """The ids the migrated models' objects have after the migrations, from
    their versions in the merge base (computed as asked: the cost follows
    the references the edits hold)."""

    def __init__(self, ws: Workspace, base: pygit2.Tree,
                 lineages: dict[str, tuple[ModelSchema, list[tuple[str, Operation]]]],
                 schemas: dict[str, ModelSchema]) -> None:
        self.ws, self.base, self.lineages, self.schemas = ws, base, lineages, schemas
        #: the models whose operations may change an object's id
        self.targets = {name for name, (source, ops) in lineages.items() if any(
            isinstance(op, RunPython) or (isinstance(op, AlterField) and op.name in (
                source.id_field, schemas[name].id_field)) for _m, op in ops)}
        self.memo: dict[tuple[str, str], str] = {}

    def new_id(self, model: str, old: str) -> str:
        """The id object ``old`` of ``model`` (today's name) has after the migrations."""
        key = (model, old)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._compute(model, old)
        return found

    def _compute(self, model: str, old: str) -> str:
        source, ops = self.lineages[model]
        if id_problem(old):
            return old
        oid = _entry_id(self.base, source.data_path(old))
        stored = _read(self.ws, (oid, 0)) if oid is not None else None
        if stored is None:
            return old  # not in the base: made on a side, so not moved
        try:
            for _migration, op in ops:
                stored = op.object_forwards(stored, old)
        except MigrationError:
            return old
        new = stored.get(self.schemas[model].id_field, old)
        return new if isinstance(new, str) else old

    def follow(self, stored: Optional[dict[str, Any]], relations: Any) -> None:
        """Make ``stored``'s references (``relations``: ``(field, target, is a
        set)``) name the targets' new ids, in place."""
        if stored is None:
            return
        for field, target, is_set in relations:
            if field in stored:
                stored[field] = moved_value(stored[field], lambda old: self.new_id(target, old), is_set)


def _stage_entry(stage: StagingTree, path: str, entry: Optional[tuple[pygit2.Oid, int]]) -> None:
    if entry is None:
        stage.remove(path)
    else:
        stage.set(path, entry[0], entry[1])


def _land_files(stage: StagingTree, end: ModelSchema, object_id: str,
                files: dict[str, Delta]) -> None:
    """Stage the side's other files of one object (blob fields) where the
    migrated object sits."""
    folder = end.object_folder(object_id)
    for relative, (_old, new) in files.items():
        _stage_entry(stage, f"{folder}/{relative}", new)


def _land(ws: Workspace, writer: PackWriter, stage: StagingTree, landed: Optional[pygit2.Tree],
          end: ModelSchema, object_id: str, base: Optional[dict[str, Any]],
          side: Optional[dict[str, Any]], files: dict[str, Delta]) -> None:
    """Apply one object's edit (``base`` to ``side``, both migrated) to its
    version in the tree the migration commit left, field by field; its
    folder goes into the pack as one tree."""
    new_id = str((side or base or {}).get(end.id_field, object_id))
    folder = end.object_folder(new_id)
    relative = folder[len(end.folder) + 1:]
    landed_folder = _subtree(landed, relative) if landed is not None else None
    if side is None:
        if landed_folder is not None:
            stage.remove(folder)
        return
    landed_data = landed_folder[end.data_filename] if (
        landed_folder is not None and end.data_filename in landed_folder) else None
    merged = dict((_read(ws, (landed_data.id, 0)) if landed_data is not None else None) or base or {})
    for key in set(base or {}) | set(side):
        if (base or {}).get(key, _GONE) != side.get(key, _GONE):
            if key in side:
                merged[key] = side[key]
            else:
                merged.pop(key, None)
    blob = writer.add(_BLOB, json_format.dumps(end.model, merged))
    entries: dict[str, tuple[pygit2.Oid, int]] = {
        str(e.name): (e.id, int(e.filemode)) for e in landed_folder} if landed_folder is not None else {}
    if any("/" in name for name in files):  # named blob files in folders of their own
        stage.set(f"{folder}/{end.data_filename}", blob)
        _land_files(stage, end, new_id, files)
        return
    for name, (_old, new) in files.items():
        if new is None:
            entries.pop(name, None)
        else:
            entries[name] = new
    entries[end.data_filename] = (blob, BLOB_MODE)
    stage.set(folder, writer.add_tree({name: (mode, oid) for name, (oid, mode) in entries.items()}), TREE_MODE)


def _subtree(tree: pygit2.Tree, path: str) -> Optional[pygit2.Tree]:
    try:
        found = tree[path] if path else tree
    except KeyError:
        return None
    return found if isinstance(found, pygit2.Tree) else None


def _read(ws: Workspace, entry: tuple[pygit2.Oid, int]) -> Optional[dict[str, Any]]:
    blob = ws.repo.get(entry[0])
    if not isinstance(blob, pygit2.Blob):
        return None
    try:
        return json_format.loads(blob.data)[1]
    except (ValueError, RecursionError):
        return None


_GONE: Any = object()


def _entry_id(tree: pygit2.Tree, path: str) -> Optional[pygit2.Oid]:
    try:
        return tree[path].id
    except KeyError:
        return None
