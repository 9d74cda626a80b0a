"""Migrations: schema changes applied to the stored objects, as one commit.

A migration is a small Python module of the application, in the shape
Django's migration files have::

    # myapp/migrations/0002_rename_headline.py
    from gitmodel import fields
    from gitmodel.migrations import AlterField, RenameField

    dependencies = ["0001_initial"]
    operations = [
        RenameField("Page", "headline", "title"),
        AlterField("Page", "rating", fields.IntegerField(default=0), convert=int),
    ]

(a ``class Migration(migrations.Migration)`` with ``dependencies`` and
``operations`` attributes works too). ``ws.migrate(myapp.migrations,
branch="try-it")`` applies the migrations not yet applied on that branch as
ONE commit: every object rewritten, the stored schemas updated and each
migration recorded under ``.gitmodel/migrations/``. Running it again does
nothing; a migration whose predecessor was not applied is refused; one that
fails half way (an exception, a killed process) commits nothing.

An operation that changes an object's id moves the object to its new id's
folder and rewrites every stored reference to it, in the same commit
(:mod:`gitmodel.schema.references`); ``RenameModel`` retargets the relation
fields naming the model in every stored schema.

Operations work on the stored JSON values and the stored schema, not on the
application's classes, so a migration written today still applies to a
branch that is years behind. :func:`make_migration` writes the module for
the difference between a class and its stored schema.

Merging a migrated branch with one that edited data in the old shape passes
those edits through the migrations (:mod:`gitmodel.schema.merge`); the
functions of an operation are the application's, so the process must have
loaded the migrations (``ws.migrate`` or :func:`load` does).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence

import pygit2
from pygit2.enums import ObjectType

from . import fields as fields_module
from . import signing
from .exceptions import (
    BranchNotFound,
    MigrationError,
    RepositoryError,
    ValidationError,
)
from .fields import Field
from .git.packs import PackWriter
from .git.tree import BLOB_MODE, TREE_MODE, StagingTree
from .refs import branch_ref
from .schema import codec
from .schema import (
    META_FOLDER,
    FieldSchema,
    ModelSchema,
    constructor_options,
    declared_schema,
    mark_unfit,
    field_schema,
    schema_path,
    stored_schemas,
)
from .schema.references import retarget_all, rewrite_references
from .serializers import json as json_format
from .validation import id_problem, json_problem

if TYPE_CHECKING:
    from .models import GitModel
    from .refs import Treeish
    from .workspace import Workspace

__all__ = [
    "MIGRATIONS_FOLDER",
    "Operation",
    "AddField",
    "RemoveField",
    "RenameField",
    "AlterField",
    "RenameModel",
    "AlterModelLayout",
    "RunPython",
    "Migration",
    "load",
    "known",
    "applied",
    "migrate",
    "make_migration",
]

MIGRATIONS_FOLDER = f"{META_FOLDER}/migrations"
_BLOB = int(ObjectType.BLOB)
_TREE = int(ObjectType.TREE)
Stored = dict[str, Any]


# -- operations -------------------------------------------------------------------
class Operation:
    """One change to a model's schema and to each of its stored objects."""

    model_name: str

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        """Change the schemas (model name -> schema) as this operation does."""

    def object_forwards(self, stored: Stored, object_id: str) -> Stored:
        """The stored fields of one object after this operation."""
        return stored

    def describe(self) -> dict[str, Any]:
        """A JSON record of the operation (kept with the applied migration)."""
        return {"operation": type(self).__name__, "model": self.model_name}

    def _schema(self, schemas: dict[str, ModelSchema]) -> ModelSchema:
        schema = schemas.get(self.model_name)
        if schema is None:
            raise MigrationError(f"{type(self).__name__}: no model {self.model_name!r} is stored")
        return schema

    def _require_field(self, schema: ModelSchema, name: str) -> None:
        if name not in schema.fields:
            raise MigrationError(f'{type(self).__name__}: {schema.model} has no stored field "{name}"')

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "operation")
        return f"{type(self).__name__}({args})"


def _to_stored(field: Field[Any], value: Any, model: str, object_id: str) -> Any:
    try:
        stored = field.to_json(field.clean(value))
    except MigrationError:
        raise
    except Exception as exc:  # a field's checks may fail any way on a value it never expected
        reason = exc.message if isinstance(exc, ValidationError) else f'"{field.name}" {exc!r}'
        raise MigrationError(f"{model} {object_id!r}: {reason}") from None
    problem = json_problem(stored)
    if problem:
        raise MigrationError(f'{model} {object_id!r}: "{field.name}" cannot be stored as JSON: {problem}')
    return stored


def _named(field: Field[Any], name: str) -> Field[Any]:
    if getattr(field, "model", None) is not None:
        raise MigrationError(f'the field given for "{name}" belongs to a model; pass a new one')
    field.name = name
    return field


class AddField(Operation):
    """Add field ``name``; each object gets ``value(stored)`` if given, else
    the field's default."""

    def __init__(self, model_name: str, name: str, field: Field[Any],
                 value: Optional[Callable[[Stored], Any]] = None) -> None:
        self.model_name, self.name, self.value = model_name, name, value
        self.field = _named(field, name)

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        schema = self._schema(schemas)
        if self.name in schema.fields:
            raise MigrationError(f'AddField: {schema.model} already has a field "{self.name}"')
        if self.value is None and not self.field.has_default() and self.field.required:
            raise MigrationError(
                f'AddField: required field "{self.name}" needs a default or value=')
        schemas[self.model_name] = schema.with_fields(
            {**schema.fields, self.name: field_schema(self.field, self.name)})

    def object_forwards(self, stored: Stored, object_id: str) -> Stored:
        if self.name not in stored:
            if self.value is None:
                value = self.field.get_default()
            else:
                try:
                    value = self.value(stored)
                except MigrationError:
                    raise
                except Exception as exc:
                    raise MigrationError(f'{self.model_name} {object_id!r}: computing "{self.name}" '
                                         f"failed: {exc!r}") from exc
            stored[self.name] = _to_stored(self.field, value, self.model_name, object_id)
        return stored

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": self.name, "field": _field_record(self.field),
                "computed": self.value is not None}


def _field_record(field: Field[Any]) -> dict[str, Any]:
    record = field_schema(field)
    return {"type": record.type, **record.options}


class RemoveField(Operation):
    """Remove field ``name`` and drop its stored values."""

    def __init__(self, model_name: str, name: str) -> None:
        self.model_name, self.name = model_name, name

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        schema = self._schema(schemas)  # a name no field declares drops unknown values
        if self.name == schema.id_field:
            raise MigrationError(f'RemoveField: "{self.name}" is the id field of {schema.model}')
        schemas[self.model_name] = schema.with_fields(
            {k: v for k, v in schema.fields.items() if k != self.name})

    def object_forwards(self, stored: Stored, object_id: str) -> Stored:
        stored.pop(self.name, None)
        return stored

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": self.name}


class RenameField(Operation):
    """Rename field ``old_name`` to ``new_name`` in the schema and every object."""

    def __init__(self, model_name: str, old_name: str, new_name: str) -> None:
        self.model_name, self.old_name, self.new_name = model_name, old_name, new_name

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        schema = self._schema(schemas)
        self._require_field(schema, self.old_name)
        if self.new_name in schema.fields:
            raise MigrationError(f'RenameField: {schema.model} already has a field "{self.new_name}"')
        fields = {(self.new_name if k == self.old_name else k):
                  (FieldSchema(self.new_name, v.type, v.options) if k == self.old_name else v)
                  for k, v in schema.fields.items()}
        id_field = self.new_name if schema.id_field == self.old_name else schema.id_field
        schemas[self.model_name] = replace(schema, fields=fields, id_field=id_field)

    def object_forwards(self, stored: Stored, object_id: str) -> Stored:
        if self.old_name in stored:
            stored[self.new_name] = stored.pop(self.old_name)
        return stored

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "old_name": self.old_name, "new_name": self.new_name}


class AlterField(Operation):
    """Give field ``name`` a new declaration (type or options); each stored
    value but null is passed through ``convert`` (if given), then cleaned by the new
    field. A value that does not fit fails the whole migration."""

    def __init__(self, model_name: str, name: str, field: Field[Any],
                 convert: Optional[Callable[[Any], Any]] = None) -> None:
        self.model_name, self.name, self.convert = model_name, name, convert
        self.field = _named(field, name)

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        schema = self._schema(schemas)
        self._require_field(schema, self.name)
        schemas[self.model_name] = schema.with_fields(
            {**schema.fields, self.name: field_schema(self.field, self.name)})

    def object_forwards(self, stored: Stored, object_id: str) -> Stored:
        if self.name in stored:
            value = stored[self.name]
            if self.convert is not None and value is not None:
                try:
                    value = self.convert(value)
                except Exception as exc:
                    raise MigrationError(f'{self.model_name} {object_id!r}: converting '
                                         f'"{self.name}" {value!r} failed: {exc!r}') from exc
            stored[self.name] = _to_stored(self.field, value, self.model_name, object_id)
        return stored

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": self.name, "field": _field_record(self.field),
                "converted": self.convert is not None}


class RenameModel(Operation):
    """Rename model ``old_name`` to ``new_name``: its objects move to the new
    folder, the new name in lower case (the folder a class called
    ``new_name`` declares; ``folder=`` may only name that one)."""

    def __init__(self, old_name: str, new_name: str, folder: Optional[str] = None) -> None:
        self.model_name, self.new_name = old_name, new_name
        own = new_name.lower() if isinstance(new_name, str) else ""
        if folder is not None and folder != own:
            raise MigrationError(
                f"RenameModel({old_name!r}, {new_name!r}): folder {folder!r} is not one a model "
                f"can declare: a model's folder is its name in lower case ({own!r})")
        self.folder = own
        problem = id_problem(self.folder)
        if problem:
            raise MigrationError(f"RenameModel: folder {self.folder!r} {problem}")

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        schema = self._schema(schemas)
        if self.new_name in schemas:
            raise MigrationError(f"RenameModel: a model {self.new_name!r} is already stored")
        taken = [s.model for s in schemas.values() if s.folder == self.folder and s is not schema]
        if taken:
            raise MigrationError(f"RenameModel: folder {self.folder!r} holds {taken[0]}")
        del schemas[self.model_name]
        schemas[self.new_name] = replace(schema, model=self.new_name, folder=self.folder)
        # every relation field naming the old model (its own too) names the new one
        retarget_all(schemas, self.model_name, self.new_name)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "new_name": self.new_name, "folder": self.folder}


class AlterModelLayout(Operation):
    """Change how objects are laid out in their folder: ``shard=0`` flat
    (``page/<id>/``), ``shard=N`` fanned out on N levels of a hash."""

    def __init__(self, model_name: str, shard: int) -> None:
        if not isinstance(shard, int) or not 0 <= shard <= 8:
            raise MigrationError("AlterModelLayout: shard must be between 0 and 8")
        self.model_name, self.shard = model_name, shard

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        schemas[self.model_name] = replace(self._schema(schemas), shard=self.shard)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "shard": self.shard}


class RunPython(Operation):
    """Run ``code(stored)`` on each object's stored fields (a dict of JSON
    values): it changes the dict in place or returns a new one."""

    def __init__(self, code: Callable[[Stored], Optional[Stored]], model_name: str) -> None:
        self.code, self.model_name = code, model_name

    def state_forwards(self, schemas: dict[str, ModelSchema]) -> None:
        self._schema(schemas)

    def object_forwards(self, stored: Stored, object_id: str) -> Stored:
        try:
            result = self.code(stored)
        except MigrationError:
            raise
        except Exception as exc:
            raise MigrationError(f"RunPython on {self.model_name} {object_id!r} failed: {exc!r}") from exc
        if result is not None and not isinstance(result, dict):
            raise MigrationError(f"RunPython on {self.model_name} {object_id!r} returned a "
                                 f"{type(result).__name__}, not a dict of stored fields (or None)")
        out = stored if result is None else result
        for key, value in out.items():  # what it leaves is stored as it is: JSON only
            problem = json_problem(key) if isinstance(key, str) else "field names must be strings"
            problem = problem or json_problem(value)
            if problem:
                raise MigrationError(f"RunPython on {self.model_name} {object_id!r} left "
                                     f"{key!r} = {value!r}, which cannot be stored as JSON: {problem}")
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "code": getattr(self.code, "__qualname__", repr(self.code))}


# -- migrations ---------------------------------------------------------------------
class Migration:
    """A named list of operations and the migrations it comes after."""

    name: str = ""
    dependencies: Sequence[Any] = ()
    operations: Sequence[Operation] = ()

    def __init__(self, name: Optional[str] = None, operations: Optional[Sequence[Operation]] = None,
                 dependencies: Optional[Sequence[Any]] = None) -> None:
        self.name = name or self.name
        self.operations = list(operations if operations is not None else self.operations)
        deps = dependencies if dependencies is not None else self.dependencies
        # Django writes (app, name) pairs: the name is what counts here
        self.dependencies = [d[-1] if isinstance(d, (tuple, list)) else str(d) for d in deps]
        problem = id_problem(self.name)
        if problem:
            raise MigrationError(f"migration name {self.name!r} {problem}")

    def record(self) -> bytes:
        """What is stored in ``.gitmodel/migrations/<name>.json``."""
        doc = {"name": self.name, "dependencies": self.dependencies,
               "operations": [op.describe() for op in self.operations]}
        return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    def __repr__(self) -> str:
        return f"<Migration {self.name}>"


#: record blob id -> a migration this process loaded: its functions
#: (``RunPython``, ``AddField(value=)``, ``AlterField(convert=)``) replay on
#: the other side's edits when a migrated branch is merged
_LOADED: dict[pygit2.Oid, Migration] = {}


def known(record_id: pygit2.Oid) -> Optional[Migration]:
    """The loaded migration whose record (``.gitmodel/migrations/<name>.json``)
    has blob id ``record_id``, if this process loaded it (:func:`load`,
    ``ws.migrate``). Only the application's own migrations are ever run:
    the repository names a record, never code."""
    return _LOADED.get(record_id)


def load(source: Any) -> list[Migration]:
    """The migrations in ``source``: a :class:`Migration`, a migration module
    (or its dotted name), a package of them (in name order) or a list.

    Each is remembered for merges (see :func:`known`)."""
    found = _load(source)
    for migration in found:
        _LOADED[pygit2.hash(migration.record())] = migration
    return found


def _load(source: Any) -> list[Migration]:
    if isinstance(source, Migration):
        return [source]
    if isinstance(source, str):
        try:
            source = importlib.import_module(source)
        except MigrationError:
            raise
        except ImportError as exc:
            raise MigrationError(f"cannot import migrations {source!r}: {exc}") from None
        except Exception as exc:  # a module that does not compile or fails as it runs
            raise MigrationError(f"cannot import migrations {source!r}: "
                                 f"{type(exc).__name__}: {exc}") from None
    if isinstance(source, ModuleType):
        if hasattr(source, "__path__"):
            names = sorted(m.name for m in pkgutil.iter_modules(source.__path__)
                           if not m.name.startswith("_"))
            return [m for n in names for m in _load(f"{source.__name__}.{n}")]
        name = source.__name__.rsplit(".", 1)[-1]
        klass = getattr(source, "Migration", None)
        # the module's own class: a subclass defined there (not the imported Migration)
        if (isinstance(klass, type) and issubclass(klass, Migration) and klass is not Migration
                and getattr(klass, "__module__", None) == source.__name__):
            return [klass(name)]
        if hasattr(source, "operations"):
            return [Migration(name, source.operations, getattr(source, "dependencies", ()))]
        raise MigrationError(f"module {source.__name__!r} declares no operations")
    if isinstance(source, type) and issubclass(source, Migration):
        return [source(source.name or source.__module__.rsplit(".", 1)[-1])]
    if isinstance(source, Iterable):
        return [m for item in source for m in _load(item)]
    raise MigrationError(f"not a migration: {source!r}")


def _applied_in(repo: pygit2.Repository, tree: Optional[pygit2.Tree]) -> list[str]:
    try:
        folder = tree[MIGRATIONS_FOLDER] if tree is not None else None
    except KeyError:
        return []
    if not isinstance(folder, pygit2.Tree):
        return []
    return sorted(e.name[:-5] for e in folder if e.name and e.name.endswith(".json"))


def applied(ws: Workspace, treeish: Optional[Treeish] = None) -> list[str]:
    """The names of the migrations applied at ``treeish`` (default: the branch)."""
    if treeish is None:
        ws.refresh()
        if ws._start is None:
            return []
        treeish = ws._start
    return _applied_in(ws.repo, ws.resolve_tree(treeish))


# -- applying -----------------------------------------------------------------------
class _Lineage:
    """One model through a run: its schema before, and the operations on it
    (each with the name of its migration)."""

    def __init__(self, source: ModelSchema) -> None:
        self.source = source
        self.ops: list[tuple[str, Operation]] = []


def migrate(ws: Workspace, source: Any, branch: Optional[str] = None, *,
            message: Optional[str] = None, author: Any = None, committer: Any = None) -> Optional[pygit2.Oid]:
    """Apply the migrations of ``source`` not yet applied on ``branch``
    (default: the workspace's) as one commit; returns it (``None`` if none
    was pending). Nothing is committed if anything fails."""
    migrations = load(source)
    ref = branch_ref(branch) if branch else ws.head
    current = ref == ws.head
    if current:
        ws._unit.refuse_commit()  # a migration commits: not inside a commit_on_success block
        ws._require_writable()
        if ws.merging or ws.has_changes():
            raise RepositoryError("cannot migrate: there are pending changes; commit or reset them")
    target = ws.store.read_ref(ref)
    if target is None:
        raise BranchNotFound(ref, f"branch {ref!r} has no commits to migrate")
    start = ws.repo[target]
    assert isinstance(start, pygit2.Commit)
    done = set(_applied_in(ws.repo, start.tree))
    pending = [m for m in migrations if m.name not in done]
    if not pending:
        return None
    known = set(done)
    for migration in pending:
        missing = [d for d in migration.dependencies if d not in known]
        if missing:
            raise MigrationError(
                f"migration {migration.name!r} needs {', '.join(map(repr, missing))}, "
                f"which {ref} has not applied")
        known.add(migration.name)

    schemas = stored_schemas(ws, start.id)
    for model in ws.models.values():  # a store written before schemas were kept
        opts = getattr(model, "_meta", None)
        if opts is not None and not opts.abstract and opts.workspace is ws:
            schemas.setdefault(model.__name__, declared_schema(model))
    before = dict(schemas)
    lineages: dict[str, _Lineage] = {}
    for migration in pending:
        for op in migration.operations:
            lineage = lineages.pop(op.model_name, None) or _Lineage(op._schema(schemas))
            op.state_forwards(schemas)
            lineage.ops.append((migration.name, op))
            lineages[op.new_name if isinstance(op, RenameModel) else op.model_name] = lineage

    writer = PackWriter(ws.repo)
    stage = StagingTree(ws.repo, start.tree)
    staged: list[tuple[str, pygit2.Oid, int]] = []
    moves: dict[str, dict[str, str]] = {}  # model -> {old id: new id}
    for name, lineage in lineages.items():
        staged.extend(_rewrite(ws, start.tree, stage, writer, lineage, schemas[name],
                               moves.setdefault(name, {})))
        if lineage.source.model != name:
            stage.remove(schema_path(lineage.source.model))
    for name, schema in schemas.items():
        if before.get(name) != schema or name in lineages:
            staged.append((schema.path, writer.add(_BLOB, schema.to_json()), BLOB_MODE))
    for migration in pending:
        path = f"{MIGRATIONS_FOLDER}/{migration.name}.json"
        staged.append((path, writer.add(_BLOB, migration.record()), BLOB_MODE))
    writer.write()  # objects before the ref: a crash leaves unreachable objects at most
    for path, oid, mode in staged:
        stage.set(path, oid, mode)
    names = ", ".join(m.name for m in pending)
    if any(moves.values()):  # references to objects whose id changed follow them
        rewrite_references(ws, stage, schemas, moves, _label([m.name for m in pending]))
    tree_id = stage.write()
    text = message or f"Migrate: {names}"
    author_sig = ws._signature(author)
    committer_sig = ws._signature(committer) if committer else author_sig
    commit_id = signing.create_commit(ws, author_sig, committer_sig, text, tree_id, [start.id])
    if current:
        with ws.write_lock:
            ws._move_branch(commit_id, text, expected=start.id)
            ws._unit.move_to(commit_id, ws.repo[commit_id].tree)  # type: ignore[attr-defined]
        mark_unfit(ws, start.tree, ws._unit.stage.base)  # this workspace's own classes, too
    else:
        from .workspace import Workspace

        other = Workspace(ws.repo.path, ref, lock_timeout=ws.lock_timeout,
                          stale_lock_age=ws.stale_lock_age)
        other._move_branch(commit_id, text, expected=start.id)
    return commit_id


def _label(names: Sequence[str]) -> str:
    """How errors name the migrations being applied."""
    return f"migration{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}"


def _forwards(ops: list[tuple[str, Operation]], stored: Stored, object_id: str) -> Stored:
    """One object's stored fields through ``ops``; a failure names the migration."""
    for migration, op in ops:
        try:
            stored = op.object_forwards(stored, object_id)
        except MigrationError as exc:
            raise MigrationError(f"migration {migration!r}: {exc}; nothing was committed") from exc
    return stored


def _rewrite(ws: Workspace, tree: pygit2.Tree, stage: StagingTree, writer: PackWriter,
             lineage: _Lineage, final: ModelSchema, moves: dict[str, str],
             ) -> list[tuple[str, pygit2.Oid, int]]:
    """Stage the objects of one model as its operations leave them. An
    object whose id the operations changed moves to the folder of its new
    id (``moves`` gets old id -> new id); an invalid or duplicate new id
    fails the migration."""
    source = lineage.source
    if source.custom_path or final.custom_path:
        raise MigrationError(f"{source.model}: models with Meta.get_data_path cannot be migrated")
    moved = (source.folder, source.shard, source.data_filename) != (
        final.folder, final.shard, final.data_filename)
    if moved and final.folder != source.folder and _exists(tree, final.folder):
        raise MigrationError(f"RenameModel: folder {final.folder!r} already exists")
    ops = [(m, op) for m, op in lineage.ops
           if type(op).object_forwards is not Operation.object_forwards]
    if not ops and not moved and source.model == final.model:
        return []
    label = _label(sorted({m for m, _op in ops}))
    out: list[tuple[str, pygit2.Oid, int]] = []
    ids: set[str] = set()  # every object's id before
    taken: dict[str, str] = {}  # new id -> the old id of the object moving there
    id_field: Optional[Field[Any]] = None
    filename = source.data_filename
    values = _StoredValues(lineage, final, label)
    for folder_path, folder in _object_folders(ws.repo, tree, source.folder, source.shard):
        entries = [(e.name, e.id, e.filemode) for e in folder]
        data_oid = next((oid for name, oid, _mode in entries if name == filename), None)
        folder_id = folder_path.rsplit("/", 1)[-1]
        ids.add(folder_id)
        if data_oid is None:
            continue  # not an object folder (a stray folder is left as it is)
        _name, stored = codec.read_stored(ws, f"{folder_path}/{filename}", data_oid)
        object_id = stored.get(source.id_field, folder_id)
        stored = _forwards(ops, stored, object_id)
        new_id = stored.get(final.id_field, object_id)
        values.hold(stored, new_id)
        if new_id != folder_id:  # the object moves to its new id's folder
            if id_field is None:
                record = final.fields.get(final.id_field)
                id_field = record.to_field() if record is not None else Field()
            _check_new_id(final, id_field, folder_id, new_id, taken, label)
            moves[folder_id] = new_id
            taken[new_id] = folder_id
        elif moved and id_problem(new_id):  # a folder name another tool wrote
            raise MigrationError(f"{final.model} id {new_id!r} {id_problem(new_id)}")
        try:
            new_data = json_format.dumps(final.model, stored)
        except (TypeError, ValueError, RecursionError) as exc:
            raise MigrationError(f"{label}: {final.model} {object_id!r} cannot be stored as JSON "
                                 f"({exc}); nothing was committed") from None
        new_folder = folder_path
        if moved or new_id != folder_id:
            new_folder = final.object_folder(new_id)
            if new_id != folder_id and not moved:
                stage.remove(folder_path)  # every removal is staged before the new folders
        elif pygit2.hash(new_data) == data_oid:
            continue
        values.check(ws, stored, object_id, f"{folder_path}/{filename}", data_oid)
        new_oid = writer.add(_BLOB, new_data)
        # the object's folder as one tree in the pack: entries keep git's order
        raw = b"".join(b"%o %s\0" % (mode, str(name).encode("utf-8")) + (
            new_oid if name == filename else oid).raw for name, oid, mode in entries)
        out.append((new_folder, writer.add(_TREE, raw), TREE_MODE))
    values.refuse_duplicates()
    kept = [new for new in taken if new in ids and new not in moves]
    if kept:
        raise MigrationError(
            f"{label}: {final.model} {taken[kept[0]]!r} would get the id {kept[0]!r}, which "
            f"{final.model} {kept[0]!r} keeps; nothing was committed")
    if moved:
        stage.remove(source.folder)
    return out


class _StoredValues:
    """The checks on the values one model's objects are left with: a field
    made unique (or whose values a ``RunPython`` may change) must hold no
    value twice, and the values a ``RunPython`` leaves must be ones the
    stored field reads (as AlterField cleans its own)."""

    def __init__(self, lineage: _Lineage, final: ModelSchema, label: str) -> None:
        self.final, self.label = final, label
        source = lineage.source
        self.free = any(isinstance(op, RunPython) for _m, op in lineage.ops)
        changed = {op.name for _m, op in lineage.ops if isinstance(op, (AddField, AlterField))}
        self.unique: dict[str, dict[str, list[str]]] = {
            name: {} for name, record in final.fields.items()
            if record.options.get("unique") and name != final.id_field and (
                self.free or name in changed or name not in source.fields
                or not source.fields[name].options.get("unique"))}
        self.readers: dict[str, Field[Any]] = {}

    def hold(self, stored: Stored, object_id: Any) -> None:
        """Count the unique values of one object (``object_id``: its id after)."""
        for name, holders in self.unique.items():
            value = stored.get(name)
            if value is not None:
                key = json.dumps(value, sort_keys=True, default=repr)
                holders.setdefault(key, []).append(str(object_id))

    def refuse_duplicates(self) -> None:
        for name, holders in self.unique.items():
            for key, ids in holders.items():
                if len(ids) > 1:
                    shown = ", ".join(repr(i) for i in sorted(ids)[:5]) + (" ..." if len(ids) > 5 else "")
                    raise MigrationError(
                        f'{self.label}: field "{name}" of {self.final.model} is unique, but '
                        f"{self.final.model} {shown} share the value {key}; nothing was committed")

    def check(self, ws: Workspace, stored: Stored, object_id: Any, path: str,
              before: pygit2.Oid) -> None:
        """A changed object's values through the stored fields (after a ``RunPython``)."""
        if not self.free:
            return
        original: Optional[Stored] = None
        for name, value in stored.items():
            record = self.final.fields.get(name)
            if record is None:
                continue
            reader = self.readers.get(name)
            if reader is None:
                reader = self.readers[name] = record.to_field()
            try:
                reader.from_json(value)
                continue
            except ValidationError as exc:
                reason = exc.message
            except (ValueError, TypeError, ArithmeticError, AttributeError, RecursionError) as exc:
                reason = repr(exc)
            if original is None:
                original = codec.read_stored(ws, path, before)[1]
            if name in original and original[name] == value:
                continue  # stored so before: this migration did not make it so
            raise MigrationError(
                f"{self.label}: {self.final.model} {object_id!r}: RunPython left \"{name}\" = "
                f"{value!r}, which its stored {record.type} does not read ({reason}); "
                "nothing was committed")


def _check_new_id(final: ModelSchema, id_field: Field[Any], old: str, new: Any,
                  taken: dict[str, str], label: str) -> None:
    """Refuse a new id that is not one (for the path or the id field) or that
    another object takes too."""
    where = f"{label}: {final.model} {old!r} would get the id {new!r}"
    problem = id_problem(new)
    if problem is None:
        try:
            if id_field.clean(new) != new:
                problem = "is not as its id field stores it"
        except ValidationError as exc:
            problem = exc.message
        except Exception as exc:
            problem = repr(exc)
    if problem:
        raise MigrationError(f"{where}, which is not valid ({problem}); nothing was committed")
    if new in taken:
        raise MigrationError(f"{where}, as {final.model} {taken[new]!r} does; nothing was committed")


def _object_folders(repo: pygit2.Repository, tree: pygit2.Tree, folder: str,
                    shard: int) -> Iterator[tuple[str, pygit2.Tree]]:
    """``(path, tree)`` of each object folder of a model (``shard`` levels down)."""
    try:
        top = tree[folder]
    except KeyError:
        return
    level: list[tuple[str, Any]] = [(folder, top)]
    for _ in range(shard + 1):
        below: list[tuple[str, Any]] = []
        for path, sub in level:
            if isinstance(sub, pygit2.Tree):
                below.extend((f"{path}/{e.name}", e) for e in sub)
        level = below
    for path, sub in level:
        if isinstance(sub, pygit2.Tree):
            yield path, sub


def _exists(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return True


# -- writing migrations: see gitmodel.migration_source ----------------------------------
from .migration_source import make_migration  # noqa: E402 -- it reads applied() from here
