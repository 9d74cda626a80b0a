"""The schema kept in the repository, and how a declaration compares to it.

Each model's schema -- its fields with their types and options, the id
field, the folder and the layout -- is stored as
``.gitmodel/schema/<Model>.json``, one item per line with sorted keys, so it
diffs and merges like data and tools can read objects without the
application's code. Ids cannot start a top-level folder (they live below
their model's folder, and model folders are class names), so the
``.gitmodel`` folder never collides with an object.

The schema is written in the commit that first stores a model and in each
commit after its declaration changed in a way old objects survive (a new
field with a default, changed options). A difference old objects do not
survive (a removed or retyped field, a new required field without a
default, another id field or layout) raises :class:`SchemaMismatch` when the
model is bound to the workspace and when it would be committed; a migration
(:mod:`gitmodel.migrations`) resolves it.

Public entry points: :meth:`Workspace.schemas <gitmodel.Workspace.schemas>`
(every stored schema at a treeish), :class:`ModelSchema` /
:class:`FieldSchema` (the typed records), :func:`declared_schema`,
:func:`compare`, and :func:`unknown_fields` / :func:`drop_unknown_fields`
for stored values no declared field reads.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field as dataclass_field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, TypeVar

import pygit2

from .. import datefields
from .. import fields as field_types
from ..exceptions import CorruptObject, GitModelError, SchemaMismatch
from ..validation import id_problem, json_problem
from .records import RECORDED_OPTIONS, field_spec_problem

if TYPE_CHECKING:
    from ..models import GitModel
    from ..refs import Treeish
    from ..workspace import Workspace

__all__ = [
    "SCHEMA_FOLDER",
    "FORMAT_VERSION",
    "FieldSchema",
    "ModelSchema",
    "SchemaDifference",
    "declared_schema",
    "model_from_schema",
    "compare",
    "stored_schemas",
    "schema_path",
    "unknown_fields",
    "drop_unknown_fields",
    "with_current_names",
]

#: the folder holding gitmodel's own records (schemas, applied migrations)
META_FOLDER = ".gitmodel"
SCHEMA_FOLDER = f"{META_FOLDER}/schema"
FORMAT_VERSION = 1

_V = TypeVar("_V")
_REQUIRED: Any = object()

#: field attributes recorded as options when the field has them
_OPTION_ATTRS = (
    "required", "readonly", "unique", "serialize", "index", "choices",
    "max_length", "schemes", "max_digits", "decimal_places", "nullable",
    "previous_names",
)


@dataclass(frozen=True)
class FieldSchema:
    """One stored field: its name, type (a :mod:`gitmodel.fields` class
    name, or ``module.Class`` for another) and options."""

    name: str
    type: str
    options: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @property
    def has_default(self) -> bool:
        """True if objects that lack this field read a default."""
        return "default" in self.options or "default_factory" in self.options

    def to_field(self) -> field_types.Field[Any]:
        """A field instance for this record, for reading values without the
        application's code: gitmodel's own types are themselves, another
        module's type is read as the :mod:`gitmodel.fields` class it derives
        from (``JSONField`` if none)."""
        module, _, name = self.type.rpartition(".")
        found = getattr(datefields, name, None) if module == datefields.__name__ else None
        if found is None:
            name = str(self.options.get("base", "JSONField")) if module else name
            found = getattr(field_types, name, None)
        klass: type[field_types.Field[Any]] = (
            found if isinstance(found, type) and issubclass(found, field_types.Field)
            else field_types.JSONField)
        kwargs = {**constructor_options(klass, self.options), "name": self.name}  # errors name it
        try:
            if issubclass(klass, (field_types.RelatedField, field_types.ManyToManyField)):
                kwargs["model"] = self.options.get("to", "")
            elif issubclass(klass, field_types.ListField):
                of = self.options.get("of")
                kwargs["base_field"] = (
                    FieldSchema("element", str(of.get("type", "")), dict(of.get("options", {}))).to_field()
                    if isinstance(of, Mapping) else None)
            if any(not _is_size(kwargs.get(k)) for k in _SIZE_OPTIONS):
                raise ValueError("a size that is not a whole number")
            made = klass(**kwargs)
        except (TypeError, ValueError, AttributeError, OverflowError, RecursionError):
            made = field_types.JSONField()  # options a base class does not take
        # (a value the field refuses, such as on_delete="EXPLODE", is its FieldError)
        made.name = self.name
        factory = _DEFAULT_FACTORIES.get(str(self.options.get("default_factory")))
        if factory is not None and made._default is field_types.NOT_PROVIDED:
            made._default = factory
        return made


#: options that are sizes: a whole number or nothing, else the field cannot check values
_SIZE_OPTIONS = ("max_length", "max_digits", "decimal_places")


def _is_size(value: Any) -> bool:
    return value is None or (type(value) is int and value >= 0)


#: the default factories a stored schema may name (nothing else is ever called)
_DEFAULT_FACTORIES: dict[str, Callable[[], Any]] = {"list": list, "dict": dict}


def constructor_options(klass: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded ``options`` that ``klass(...)`` takes as keywords."""
    accepted: set[str] = set()
    for base in klass.__mro__:
        code = getattr(base.__dict__.get("__init__"), "__code__", None)
        if code is not None:
            accepted.update(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    accepted -= {"self", "model", "name", "type", "previous_names", "validators", "merge"}
    accepted &= RECORDED_OPTIONS  # nothing but what gitmodel records (not error_messages=...)
    return {k: v for k, v in options.items() if k in accepted}


@dataclass(frozen=True)
class ModelSchema:
    """The stored schema of one model."""

    model: str
    folder: str
    id_field: str
    data_filename: str = "data.json"
    shard: int = 0
    custom_path: bool = False
    fields: Mapping[str, FieldSchema] = dataclass_field(default_factory=dict)
    #: declared without ``Meta.shard``: any stored layout fits (not stored)
    adaptive: bool = dataclass_field(default=False, compare=False)

    @property
    def path(self) -> str:
        """Where this schema is stored in the repository."""
        return schema_path(self.model)

    def object_folder(self, object_id: str) -> str:
        """The folder of one object in this layout."""
        from .options import _shard_digest

        if self.shard:
            digest = _shard_digest(object_id)
            shards = "/".join(digest[i * 2 : i * 2 + 2] for i in range(self.shard))
            return f"{self.folder}/{shards}/{object_id}"
        return f"{self.folder}/{object_id}"

    def data_path(self, object_id: str) -> str:
        """Where one object's JSON is stored in this layout."""
        return f"{self.object_folder(object_id)}/{self.data_filename}"

    def to_json(self) -> bytes:
        """The stored bytes: sorted keys, one item per line, trailing newline."""
        doc = {
            "format": FORMAT_VERSION,
            "model": self.model,
            "folder": self.folder,
            "id_field": self.id_field,
            "data_filename": self.data_filename,
            "layout": {"shard": self.shard, "custom_path": self.custom_path},
            "fields": {
                name: {"type": f.type, **dict(f.options)} for name, f in self.fields.items()
            },
        }
        return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, path: str = "") -> ModelSchema:
        """Decode stored bytes; :class:`CorruptObject` if they are not a schema."""
        try:
            doc = json.loads(data)
            layout = doc.get("layout", {})
            fields = {}
            for name, spec in doc["fields"].items():
                problem = field_spec_problem(spec)
                if problem:  # every key of the shape gitmodel writes, before anything reads it
                    raise CorruptObject(path, f"field {name!r} {problem}")
                options = {k: v for k, v in spec.items() if k != "type"}
                fields[str(name)] = FieldSchema(str(name), _stored(spec, "type", str), options)
            schema = cls(
                model=_stored(doc, "model", str),
                folder=_stored(doc, "folder", str),
                id_field=_stored(doc, "id_field", str),
                data_filename=_stored(doc, "data_filename", str, "data.json"),
                shard=_stored(layout, "shard", int, 0),
                custom_path=_stored(layout, "custom_path", bool, False),
                fields=fields,
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise CorruptObject(path, f"not a schema file ({exc!r})") from None
        for label, value in (("model", schema.model), ("folder", schema.folder),
                             ("data_filename", schema.data_filename)):
            top_level = label == "folder" and not value and schema.custom_path
            problem = None if top_level else id_problem(value)
            if problem:  # a hostile schema must not steer writes outside its folder
                raise CorruptObject(path, f"{label} {value!r} {problem}")
        if not 0 <= schema.shard <= 8:
            raise CorruptObject(path, f"shard {schema.shard} is not between 0 and 8")
        return schema

    def with_fields(self, fields: Mapping[str, FieldSchema]) -> ModelSchema:
        """A copy with other fields."""
        return replace(self, fields=dict(fields))


@dataclass(frozen=True)
class SchemaDifference:
    """One way a declaration differs from the stored schema.

    ``survivable``: old objects read correctly without a migration (the
    declaration is recorded in the next commit). ``hint``: how to migrate.
    """

    model: str
    what: str
    survivable: bool
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.what} ({self.hint})" if self.hint else self.what


def _stored(doc: Mapping[str, Any], key: str, kind: type[_V], default: Any = _REQUIRED) -> _V:
    """``doc[key]`` if it is a ``kind`` (exactly: a bool is no number), else
    ``ValueError``: stored values are never converted (``int(1e999)``,
    ``bool("false")``)."""
    value = doc[key] if default is _REQUIRED else doc.get(key, default)
    if type(value) is not kind:
        raise ValueError(f"{key} {value!r} is not {kind.__name__}")
    return value  # type: ignore[no-any-return]


def schema_path(model_name: str) -> str:
    """The path of a model's stored schema."""
    return f"{SCHEMA_FOLDER}/{model_name}.json"


# -- declarations -------------------------------------------------------------------
def field_schema(field: field_types.Field[Any], name: Optional[str] = None) -> FieldSchema:
    """The record of a declared field."""
    klass = type(field)
    options: dict[str, Any] = {}
    if _is_builtin_field(klass):
        type_name = klass.__name__
    else:
        type_name = f"{klass.__module__}.{klass.__qualname__}"
        base = next(k for k in klass.__mro__ if _is_builtin_field(k))
        options["base"] = base.__name__
    for attr in _OPTION_ATTRS:
        value = getattr(field, attr, None)
        if value is None or (attr == "previous_names" and not value):
            continue
        options[attr] = list(value) if isinstance(value, (list, tuple)) else value
    if field.id:
        options["id"] = True
    if field.has_default():
        default = field._default
        if callable(default):
            options["default_factory"] = getattr(default, "__qualname__", type(default).__name__)
        else:
            try:
                stored = field.to_json(default)
            except (TypeError, ValueError, AttributeError):
                stored = None
            if stored is None or json_problem(stored) is None:
                options["default"] = stored
    if isinstance(field, (field_types.RelatedField, field_types.ManyToManyField)):
        options["to"] = field._model_name()
        if field.on_delete is not None:
            options["on_delete"] = field.on_delete.value
        if field.related_name is not None:
            options["related_name"] = field.related_name
    elif isinstance(field, field_types.ListField):
        of = field_schema(field.base_field, "element")
        options["of"] = {"type": of.type, "options": dict(of.options)}
    if isinstance(field, field_types.ListField) and field.kind != "sequence" and not isinstance(
            field, field_types.ManyToManyField):
        options["kind"] = field.kind
    if isinstance(field, field_types.GitObjectField) and field.type is not None:
        options["object_type"] = getattr(field.type, "__name__", str(field.type))
    return FieldSchema(name or field.name, type_name, options)


def _is_builtin_field(klass: type) -> bool:
    """Whether ``klass`` is one of gitmodel's field types (importable from
    :mod:`gitmodel.fields`, wherever it is defined)."""
    return getattr(field_types, klass.__name__, None) is klass


_declared: weakref.WeakKeyDictionary[type, tuple[ModelSchema, bytes, pygit2.Oid]] = (
    weakref.WeakKeyDictionary()
)


#: adaptive models: their declaration in each layout they were seen in
_declared_adaptive: weakref.WeakKeyDictionary[type, dict[int, tuple[ModelSchema, bytes, pygit2.Oid]]] = (
    weakref.WeakKeyDictionary()
)


def _declared_entry(model: type[GitModel]) -> tuple[ModelSchema, bytes, pygit2.Oid]:
    opts = model._meta
    if opts.adaptive and model not in _declared:  # in the layout of the staged state
        shard = opts.shard
        by_shard = _declared_adaptive.setdefault(model, {})
        found = by_shard.get(shard)
        if found is None:
            found = by_shard[shard] = _declaration(model, shard)
        return found
    entry = _declared.get(model)
    if entry is None:
        entry = _declared[model] = _declaration(model, opts.shard)
    return entry


def _declaration(model: type[GitModel], shard: int) -> tuple[ModelSchema, bytes, pygit2.Oid]:
    opts = model._meta
    custom = opts.custom_data_path
    schema = ModelSchema(
        model=model.__name__,
        folder=custom[0] if custom is not None else opts.folder,
        id_field=str(opts.id_attr),
        data_filename=opts.data_filename,
        shard=shard,
        custom_path=custom is not None,
        fields={f.name: field_schema(f) for f in opts.fields},
        adaptive=opts.adaptive,
    )
    data = schema.to_json()
    return (schema, data, pygit2.hash(data))


def model_from_schema(ws: Workspace, schema: ModelSchema) -> type[GitModel]:
    """A model class bound to ``ws`` built from a stored ``schema``: reads
    and writes that model's objects without the application's code.

    Each field is :meth:`FieldSchema.to_field`; commits record ``schema``
    itself, unchanged. A schema whose layout is code (``Meta.get_data_path``)
    or whose folder is not the model's own name cannot be rebuilt:
    :class:`SchemaMismatch` says the application's models are needed.
    """
    from ..models import GitModel, ModelBase

    if schema.custom_path or schema.folder != schema.model.lower():
        raise SchemaMismatch(
            f"{schema.model} is stored in a layout of the application's code "
            f"(folder {schema.folder!r}); read it with the application's models")
    meta = type("Meta", (), {"id_attr": schema.id_field, "shard": schema.shard,
                              "data_filename": schema.data_filename})
    attrs: dict[str, Any] = {"__module__": __name__, "__qualname__": schema.model, "Meta": meta}
    renamed = _renamed_targets(ws, schema)
    try:
        for name, record in schema.fields.items():
            target = record.options.get("to")
            if isinstance(target, str) and target in renamed:
                record = replace(record, options={**record.options, "to": renamed[target]})
            attrs[name] = record.to_field()  # FieldError: an option value the field refuses
        model = ModelBase(schema.model, (GitModel,), attrs)
    except (GitModelError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise SchemaMismatch(
            f"{schema.model}: its stored schema {schema.path!r} cannot be read ({exc})") from None
    data = schema.to_json()
    _declared[model] = (schema, data, pygit2.hash(data))  # it declares what is stored
    model._meta.workspace = ws
    return ws.register_model(model)  # type: ignore[arg-type]


def _renamed_targets(ws: Workspace, schema: ModelSchema) -> dict[str, str]:
    """Old model name -> today's, for relation fields of ``schema`` that name
    a model renamed by a recorded ``RenameModel`` and no longer stored (a
    schema written before migrations retargeted them)."""
    targets = {t for t in (r.options.get("to") for r in schema.fields.values()) if isinstance(t, str)}
    if not targets:
        return {}
    from .renames import _MIGRATIONS, recorded_renames

    entry = ws.lookup(_MIGRATIONS)
    recorded = recorded_renames(ws.repo, entry[0] if entry is not None and entry[1] == 0o040000 else None)
    if not recorded:
        return {}
    stored = stored_schemas(ws)
    newer = {old: new for new, (old, _folder) in recorded.items()}
    out: dict[str, str] = {}
    for target in targets:
        name, seen = str(target), set()
        while name in newer and name not in stored and name not in seen:
            seen.add(name)
            name = newer[name]
        if name != target and name in stored:
            out[str(target)] = name
    return out


def declared_schema(model: type[GitModel]) -> ModelSchema:
    """The schema a model class declares (what would be stored for it)."""
    return _declared_entry(model)[0]


# -- comparing ----------------------------------------------------------------------
def compare(stored: ModelSchema, declared: ModelSchema) -> list[SchemaDifference]:
    """How ``declared`` differs from ``stored``; empty if they are equal."""
    name = declared.model
    out: list[SchemaDifference] = []

    def add(what: str, survivable: bool, hint: str = "") -> None:
        out.append(SchemaDifference(name, what, survivable, hint))

    for attr, label in (("folder", "folder"), ("data_filename", "data file name"),
                        ("custom_path", "custom data path")):
        before, after = getattr(stored, attr), getattr(declared, attr)
        if before != after:
            add(f"{label} is {before!r} in the repository, {after!r} in the class", False,
                f"migrate with RenameModel({stored.model!r}, {name!r})" if attr == "folder" else "")
    if stored.shard != declared.shard and not declared.adaptive:  # adaptive: any layout reads
        add(f"layout is shard={stored.shard} in the repository, shard={declared.shard} "
            "in the class", False, f"migrate with AlterModelLayout({name!r}, shard={declared.shard})")
    if stored.id_field != declared.id_field:
        add(f"the id field is {stored.id_field!r} in the repository, {declared.id_field!r} "
            "in the class", False, "declare the stored id field")
    renamed_from = {old: f.name for f in declared.fields.values()
                    for old in f.options.get("previous_names", ())}
    for field_name, new in declared.fields.items():
        old = stored.fields.get(field_name)
        if old is None:
            earlier = [p for p in new.options.get("previous_names", ()) if p in stored.fields]
            if earlier:
                old = stored.fields[earlier[0]]
                if old.type != new.type:
                    add(f'field "{field_name}" (was "{earlier[0]}") is stored as {old.type}, '
                        f"declared as {new.type}", False,
                        f"migrate with AlterField({name!r}, {earlier[0]!r}, ..., convert=...)")
                else:
                    add(f'field "{earlier[0]}" is read as "{field_name}"', True,
                        f"migrate with RenameField({name!r}, {earlier[0]!r}, {field_name!r})")
            elif new.has_default or not new.options.get("required", True):
                add(f'new field "{field_name}"', True)
            else:
                add(f'new required field "{field_name}" has no default', False,
                    f"give it a default, or migrate with AddField({name!r}, {field_name!r}, "
                    "field, value=...)")
        elif old.type != new.type:
            add(f'field "{field_name}" is stored as {old.type}, declared as {new.type}', False, f"migrate with AlterField({name!r}, {field_name!r}, ..., convert=...)")
        elif dict(old.options) != dict(new.options):
            add(f'field "{field_name}" changed options', True)
    for field_name in stored.fields:
        if field_name not in declared.fields and field_name not in renamed_from:
            add(f'stored field "{field_name}" is not declared', False,
                f"migrate with RemoveField({name!r}, {field_name!r}) or RenameField, or "
                "declare it")
    return out


def describe(model: str, differences: Iterable[SchemaDifference]) -> str:
    return f"{model} does not match its stored schema: " + "; ".join(map(str, differences))


# -- reading and writing stored schemas ----------------------------------------------------
def stored_schemas(ws: Workspace, treeish: Optional[Treeish] = None) -> dict[str, ModelSchema]:
    """Model name -> stored schema, in the staged state or at ``treeish``."""
    if treeish is None:
        entry = ws.lookup(SCHEMA_FOLDER)
        tree_id = entry[0] if entry is not None and entry[1] == 0o040000 else None
        if entry is not None and tree_id is None:
            raise CorruptObject(SCHEMA_FOLDER, "expected a folder, found a file")
        folder = ws.repo[tree_id] if tree_id is not None else None
    else:
        tree = ws.resolve_tree(treeish)  # ReferenceNotFound (a KeyError) for a bad name
        try:
            folder = tree[SCHEMA_FOLDER]
        except KeyError:
            folder = None
        if folder is not None and not isinstance(folder, pygit2.Tree):
            raise CorruptObject(SCHEMA_FOLDER, "expected a folder, found a file")
    out: dict[str, ModelSchema] = {}
    for item in folder if isinstance(folder, pygit2.Tree) else ():
        name = item.name or ""
        if not name.endswith(".json") or not isinstance(item, pygit2.Blob):
            continue
        path = f"{SCHEMA_FOLDER}/{name}"
        schema = ModelSchema.from_json(item.data, path)
        if schema.model != name[: -len(".json")]:
            raise CorruptObject(path, f"holds the schema of {schema.model!r}")
        out[schema.model] = schema
    return out


def _stored_one(
    ws: Workspace, model_name: str, tree: Optional[pygit2.Tree] = None
) -> Optional[tuple[pygit2.Oid, ModelSchema]]:
    path = schema_path(model_name)
    if tree is None:
        entry = ws.stage.lookup(path)
    else:
        try:
            entry = (tree[path].id, 0)
        except KeyError:
            entry = None
    if entry is None:
        return None
    blob = ws.repo.get(entry[0])
    if not isinstance(blob, pygit2.Blob):
        raise CorruptObject(path, "expected a blob")
    return entry[0], ModelSchema.from_json(blob.data, path)


def check_model(
    ws: Workspace, model: type[GitModel], tree: Optional[pygit2.Tree] = None
) -> list[SchemaDifference]:
    """Compare ``model`` with its schema stored in ``ws``'s staged state (or
    in ``tree``).

    Returns the survivable differences; raises :class:`SchemaMismatch` if
    one needs a migration.
    """
    declared, _data, oid = _declared_entry(model)
    found = _stored_one(ws, model.__name__, tree)
    if found is None or found[0] == oid:
        return []
    differences = compare(found[1], declared)
    blocking = [d for d in differences if not d.survivable]
    if blocking:
        raise SchemaMismatch(describe(model.__name__, blocking), blocking)
    return differences


def stage_declared(ws: Workspace) -> bool:
    """Before a commit: stage the declared schema of every model that has
    objects and whose stored schema is missing or survivably different.

    Raises :class:`SchemaMismatch` (nothing staged) if one needs a
    migration. Returns whether anything was staged.
    """
    from .layout import fan_out_grown

    fanned = fan_out_grown(ws)  # a folder grown past the bound fans out in this commit
    staged = []
    for model in _stored_models(ws):
        declared, data, oid = _declared_entry(model)
        entry = ws.stage.lookup(declared.path)
        if entry is not None and entry[0] == oid:
            continue
        check_model(ws, model)
        staged.append((declared.path, data))
    for path, data in staged:
        ws._unit.add_blob(path, data)
    return bool(staged) or fanned


def with_current_names(model: type[GitModel], stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with values kept under a field's ``previous_names`` moved
    to its name (``stored`` itself if there are none), so that diffs across
    a rename compare today's names."""
    renamed = model._meta.__dict__.get("_renamed_fields")
    if renamed is None:  # computed once per model
        renamed = [(f.name, f.previous_names) for f in model._meta.json_fields if f.previous_names]
        model._meta.__dict__["_renamed_fields"] = renamed
    if not renamed:
        return stored
    out = dict(stored)
    for name, previous in renamed:
        for old in previous:
            if old in out:
                value = out.pop(old)
                out.setdefault(name, value)
    return out


def check_moved_head(ws: Workspace) -> None:
    """Before a commit is merged onto a branch head another writer made:
    :class:`SchemaMismatch` if that head stores a schema the declarations
    do not fit (a migration landed meanwhile)."""
    head = ws.store.read_ref(ws.head)
    commit = ws.repo.get(head) if head is not None else None
    start = ws.repo.get(ws._start) if ws._start is not None else None
    if isinstance(commit, pygit2.Commit) and isinstance(start, pygit2.Commit):
        if _meta_entry(commit.tree) == _meta_entry(start.tree):
            return  # no schema record changed since this unit's start: nothing migrated
    if isinstance(commit, pygit2.Commit):
        for model in _stored_models(ws):
            check_model(ws, model, commit.tree)


def check_followed(ws: Workspace, before: Optional[pygit2.Tree], after: Optional[pygit2.Tree]) -> None:
    """As a clean unit follows its branch to ``after``, a commit another
    writer made: :func:`mark_unfit`, and :class:`SchemaMismatch` if a model
    became unfit (the operation that followed may be reading it)."""
    newly = mark_unfit(ws, before, after)
    if newly:
        raise ws._unfit[newly[0]]


def mark_unfit(ws: Workspace, before: Optional[pygit2.Tree], after: Optional[pygit2.Tree]) -> list[type]:
    """Mark each declared model that no longer fits the schema ``after``
    stores (a migration moved the branch from ``before``), so that its every
    use raises :class:`SchemaMismatch` instead of reading the migrated data
    wrongly; clear one that fits again. Declaring the class anew, as it now
    is, replaces it. Returns the newly unfit ones. Costs two tree lookups
    unless a schema record changed."""
    if before is None or after is None or _meta_entry(before) == _meta_entry(after):
        return []
    newly = []
    for model in list(ws.models.values()):
        opts = getattr(model, "_meta", None)
        if opts is None or opts.abstract or opts.workspace is not ws:
            continue
        try:
            check_model(ws, model, after)
        except SchemaMismatch as exc:
            if model not in ws._unfit:
                newly.append(model)
            ws._unfit[model] = SchemaMismatch(
                f"{model.__name__} no longer fits {ws.head}, which a migration changed: {exc}; "
                "declare the model as it now is (or open a new Workspace)", exc.differences)
        else:
            ws._unfit.pop(model, None)
    return newly


def _meta_entry(tree: pygit2.Tree) -> Optional[pygit2.Oid]:
    try:
        return tree[META_FOLDER].id  # type: ignore[no-any-return]
    except KeyError:
        return None


def _stored_models(ws: Workspace) -> Iterator[type[GitModel]]:
    """The models bound to ``ws`` that have objects in its staged state."""
    for model in list(ws.models.values()):
        opts = getattr(model, "_meta", None)
        if opts is None or opts.abstract or opts.workspace is not ws:
            continue
        folder = _declared_entry(model)[0].folder
        if folder and ws.stage.lookup(folder) is not None:
            yield model


# -- unknown stored fields ----------------------------------------------------------------
def unknown_fields(obj: GitModel) -> dict[str, Any]:
    """The stored values of ``obj`` that no declared field reads (a copy).

    They are written back on save unless dropped with
    :func:`drop_unknown_fields`.
    """
    return json.loads(json.dumps(obj._extra)) if obj._extra else {}


def drop_unknown_fields(obj: GitModel, *names: str) -> dict[str, Any]:
    """Forget unknown stored values of ``obj`` (all, or those ``names``), so
    the next save does not write them back; returns what was dropped."""
    extra = obj._extra
    missing = [n for n in names if n not in extra]
    if missing:
        from ..exceptions import FieldError

        raise FieldError(f"{type(obj).__name__} object has no unknown stored field(s) "
                         f"{', '.join(map(repr, missing))}")
    targets = names or tuple(extra)
    dropped = {n: extra[n] for n in targets}
    obj._extra = {k: v for k, v in extra.items() if k not in dropped}
    return dropped
