"""Relations between models: ``RelatedField``, its integrity rules, reverse
queries and batched loading of related objects.

A reference is stored as the target's id. It is checked when the object
is saved (the target exists, in the staged state, and is of the declared
model) and when a target is deleted: ``on_delete`` says what happens to
the objects pointing at it, all staged with the delete itself so they go
into the same commit. An object read at a commit, branch or tag reads
its related objects in that same tree, deleted ones included.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field as dc_field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, TypeVar, Union, overload

from .exceptions import FieldError, IntegrityError, MergeConflict, ProtectedError, ValidationError
from .fields import NOT_PROVIDED, Field
from .git.odb import write_blob
from .schema import codec

if TYPE_CHECKING:
    from typing_extensions import Self

    from .models import GitModel
    from .query import QuerySet
    from .workspace import Workspace

T = TypeVar("T")

__all__ = [
    "OnDelete",
    "PROTECT",
    "CASCADE",
    "SET_NULL",
    "SET_DEFAULT",
    "ProtectedError",
    "RelatedField",
    "ReverseRelation",
    "prefetch",
]


class OnDelete(str, enum.Enum):
    """What deleting a target does to the objects that refer to it."""

    #: refuse the delete while objects refer to the target (the default)
    PROTECT = "protect"
    #: delete the referring objects too
    CASCADE = "cascade"
    #: set the reference to ``None`` (many-to-many: drop the element)
    SET_NULL = "set_null"
    #: set the reference to the field's default
    SET_DEFAULT = "set_default"


PROTECT = OnDelete.PROTECT
CASCADE = OnDelete.CASCADE
SET_NULL = OnDelete.SET_NULL
SET_DEFAULT = OnDelete.SET_DEFAULT


def _on_delete(value: Union[OnDelete, str, None], name: str) -> Optional[OnDelete]:
    if value is None or isinstance(value, OnDelete):
        return value
    try:
        return OnDelete(value)
    except ValueError:
        choices = ", ".join(rule.name for rule in OnDelete)
        raise FieldError(f'"{name}": on_delete must be one of {choices}, not {value!r}') from None


class RelationMixin:
    """What a reference to another model's objects needs, single or many:
    the target model, ``on_delete`` and ``related_name``."""

    _to_model: Any
    on_delete: Optional[OnDelete]
    related_name: Optional[str]
    name: str
    model: Any

    def _init_relation(self, model: Any, on_delete: Any, related_name: Optional[str],
                       kwargs: dict[str, Any]) -> None:
        self._to_model = model
        self.on_delete = _on_delete(on_delete, kwargs.get("name") or "related field")
        if related_name is not None and (not isinstance(related_name, str)
                                         or not related_name.isidentifier()
                                         or related_name.startswith("_")):
            raise FieldError(f"related_name must be a public identifier, not {related_name!r}")
        self.related_name = related_name
        if related_name is not None and not self.many:
            kwargs["index"] = True  # the reverse query is served by an index
        if self.on_delete is OnDelete.SET_NULL and kwargs.get("required", True) and not self.many:
            raise FieldError("on_delete=SET_NULL needs required=False: the reference may become None")
        if self.on_delete is OnDelete.SET_DEFAULT and kwargs.get("default", NOT_PROVIDED) is NOT_PROVIDED:
            raise FieldError("on_delete=SET_DEFAULT needs a default")

    many = False

    @property
    def rule(self) -> OnDelete:
        """``on_delete``, ``PROTECT`` when none was declared."""
        return self.on_delete or OnDelete.PROTECT

    @property
    def to_model(self) -> Any:
        """The related model class, resolved in this model's workspace."""
        target = self._to_model
        name = self._model_name()
        workspace = self.model._meta.workspace if self.model is not None else None
        if workspace is None:
            if isinstance(target, str):
                raise FieldError(f"cannot resolve model {name!r} without a workspace")
            return target
        model = workspace.models.get(name)
        if model is None:
            if isinstance(target, str):
                raise FieldError(f'"{self.name}" refers to unknown model {name!r}')
            model = workspace.register_model(target)
        return model

    def _model_name(self) -> str:
        target = self._to_model
        return target if isinstance(target, str) else target.__name__  # type: ignore[no-any-return]

    def target_id(self, value: Any) -> Any:
        """The id a (possibly not yet cleaned) value refers to."""
        if value is None or type(value) is str:  # what is stored: the common case
            return value
        from .models import GitModel

        if isinstance(value, GitModel):
            declared = self._to_model
            if not isinstance(value, self.to_model) and not (
                isinstance(declared, type) and isinstance(value, declared)
            ):
                raise self.error(  # type: ignore[attr-defined]
                    "wrong_model", model=self._model_name(), given=type(value).__name__
                )
            return value.get_id()
        if value is None or isinstance(value, str):
            return value
        raise self.error("invalid_related", model=self._model_name())  # type: ignore[attr-defined]

    def check_target_id(self, value: str) -> None:
        """Refuse an id the target model would refuse (no reference at all)."""
        try:
            target = self.to_model
        except FieldError:  # named by a string, not registered yet: read lazily
            return
        try:
            target._meta.id_field.clean(value)
        except ValidationError as exc:
            raise self.error(  # type: ignore[attr-defined]
                "invalid_related_id", model=self._model_name(), reason=exc.message
            ) from None

    def referenced_ids(self, value: Any) -> list[Any]:
        """The target ids a clean value refers to."""
        return [value] if isinstance(value, str) else []

    def load_target(self, instance: Any, object_id: Any) -> Any:
        """The target object ``object_id``, read where ``instance`` was read."""
        return self.to_model.get(object_id, treeish=getattr(instance, "_read_at", None))


_RELATED_MESSAGES: dict[str, str] = {
    "invalid_related": "must be a {model} instance or id",
    "wrong_model": "must be a {model} instance or id, not a {given} instance",
    "invalid_related_id": "must be a valid {model} id: {reason}",
}


class TargetId:
    """``page.author_id``: the id a relation refers to, as Django's, read
    without reading the target (setting it sets the relation)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        value = instance._data.get(self.name)
        return value.get_id() if hasattr(value, "get_id") else value

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(instance, self.name, value)


class RelatedField(RelationMixin, Field[T]):
    """A reference to another model's object, stored as its id.

    ``on_delete`` (``PROTECT`` when not given) says what deleting the
    target does; ``related_name`` adds a reverse query on the target
    (``author.pages``) served by an index on this field.
    """

    default_error_messages = _RELATED_MESSAGES

    @overload
    def __init__(self: RelatedField[T], model: type[T], *, on_delete: Any = ...,
                 related_name: Optional[str] = ..., **kwargs: Any) -> None: ...

    @overload
    def __init__(self: RelatedField[Any], model: str, *, on_delete: Any = ...,
                 related_name: Optional[str] = ..., **kwargs: Any) -> None: ...

    def __init__(self, model: Any, *, on_delete: Union[OnDelete, str, None] = None,
                 related_name: Optional[str] = None, **kwargs: Any) -> None:
        self._init_relation(model, on_delete, related_name, kwargs)
        super().__init__(**kwargs)

    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: Any) -> T: ...

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        value = instance._data.get(self.name)
        if value is None or not isinstance(value, str):
            return value
        obj = self.load_target(instance, value)
        instance._data[self.name] = obj
        return obj

    def __set__(self, instance: Any, value: Union[T, str, None]) -> None:
        instance._data[self.name] = value  # an instance or its id

    def contribute_to_class(self, cls: Any, name: str) -> Any:
        field = super().contribute_to_class(cls, name)
        if not isinstance(getattr(cls, f"{name}_id", None), Field):  # a field of that name wins
            setattr(cls, f"{name}_id", TargetId(name))
        return field

    def attach(self, instance: Any, loaded: dict[Any, Any]) -> None:
        """Put the loaded target in place of the stored id (see :func:`prefetch`)."""
        value = instance._data.get(self.name)
        if isinstance(value, str) and value in loaded:
            instance._data[self.name] = loaded[value]

    def to_python(self, value: Any) -> Any:
        return self.target_id(value)

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if isinstance(value, str):
            self.check_target_id(value)


# -- reverse queries ---------------------------------------------------------------


class ReverseRelation:
    """``author.pages``: the objects whose field refers to this one, as a
    queryset read where the instance was read."""

    def __init__(self, source: str, field_name: str, name: str) -> None:
        self.source = source
        self.field_name = field_name
        #: its name on the target model (the field's ``related_name``)
        self.name = name

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        ws = instance._meta.require_workspace("query")
        model = ws.models.get(self.source)
        if model is None:
            raise FieldError(f"{type(instance).__name__}.{self.name} lists {self.source} objects: "
                             f"register {self.source} in this workspace first")
        field = model._meta.get_field(self.field_name)
        lookup = f"{self.field_name}__contains" if field.many else self.field_name
        treeish = getattr(instance, "_read_at", None)
        qs = model.all(treeish=treeish).filter(**{lookup: instance.get_id()})
        qs._defaults = {self.field_name: [instance] if field.many else instance}
        qs._owner = (instance, field)
        prefetched = instance.__dict__.get("_prefetched_reverse", {}).get(self.name)
        if prefetched is not None:  # by prefetch_related: iterating reads nothing
            qs._cache = list(prefetched)
        return qs


#: how a reference changes: its stored value (an id, ``None`` or a list of ids) to the one wanted
Edit = Callable[[Any], Any]


def change_referrers(model: Any, owner: Any, field: Any, add: tuple[Any, ...] = (),
                     remove: tuple[Any, ...] = (), action: str = "add") -> int:
    """``author.pages.add(page)`` / ``.remove(page)``: make each saved object
    of ``model`` in ``add`` refer to ``owner`` through ``field`` (a
    many-to-many field gains it), and each in ``remove`` no longer (``None``,
    or the id dropped from the list); returns how many objects changed.

    As Django's related manager (an ``UPDATE`` of that one column), only the
    reference changes, on the objects as the workspace holds them now
    (:func:`restage_references`): other fields, another writer's changes
    and the given instances' unsaved edits are left as they are. A foreign
    key is cleared only where it still names ``owner``; one that another
    writer changed since the given instance was read is not taken over by
    ``add()``: ``MergeConflict``. All the objects are staged together, or none.
    """
    for obj in (*add, *remove):
        if not isinstance(obj, model):
            raise ValidationError(f"{action}() takes {model.__name__} objects, not {type(obj).__name__}")
        if obj._stored_id is None:
            raise ValidationError(f"save the {model.__name__} before {action}() with "
                                  f"{type(owner).__name__} {owner.get_id()!r}")
    if remove and not field.many and field.required:
        raise FieldError(f"{action}() would leave {model.__name__}.{field.name} empty, which is "
                         "required; give the objects another target instead")
    target = owner.get_id()
    edits: dict[Any, list[Edit]] = {}
    for obj, keep in [*((o, True) for o in add), *((o, False) for o in remove)]:
        edit: Edit
        if field.many:
            edit = _gain(target) if keep else _drop(target)
        elif keep:
            edit = _point(model, obj, field, target)
        else:
            edit = _unpoint(target)
        edits.setdefault(obj._stored_id, []).append(edit)
    changed = restage_references(model, field, {i: _chain(e) for i, e in edits.items()})
    for obj, keep in [*((o, True) for o in add), *((o, False) for o in remove)]:
        if field.many:  # the instances given say so too, as Django's add() sets them
            ids = [field.target_id(v) for v in obj._data.get(field.name) or []]
            obj._data[field.name] = (_gain if keep else _drop)(target)(ids)
        elif keep or field.target_id(obj._data.get(field.name)) == target:
            obj._data[field.name] = target if keep else None
        remember_reference(obj, field)
    if field.related_name is not None:  # what prefetch_related() read is out of date
        owner.__dict__.get("_prefetched_reverse", {}).pop(field.related_name, None)
    return len(changed)


def _gain(target: Any) -> Edit:
    return lambda ids: ids if target in ids else [*ids, target]


def _drop(target: Any) -> Edit:
    return lambda ids: [i for i in ids if i != target]


def _unpoint(target: Any) -> Edit:
    return lambda current: None if current == target else current  # as Django's: where it still is


def _chain(edits: list[Edit]) -> Edit:
    def run(value: Any) -> Any:
        for edit in edits:
            value = edit(value)
        return value
    return run


def _point(model: Any, obj: Any, field: Any, target: Any) -> Edit:
    """The foreign key set to ``target``, unless another writer set it to
    something else since ``obj`` was read (``MergeConflict``)."""
    read = (obj._stored or {}).get(field.name)

    def edit(current: Any) -> Any:
        if current not in (target, read):
            raise MergeConflict(
                f"{model.__name__} {obj._stored_id!r}: {field.name!r} changed since it was read "
                f"(from {read!r} to {current!r}), so it is not set to {target!r}; get() it "
                "again to move it anyway; nothing was staged")
        return target
    return edit


def remember_reference(obj: Any, field: Any) -> None:
    """After a related manager staged ``obj``'s reference ``field``: the
    instance remembers the version it was read from with that reference as
    it holds it now, so that a later ``save()`` neither takes the change for
    an edit of its own made a second time (a conflict) nor writes it again
    over another writer's (its other fields still merge against the version
    read: their unsaved edits stay edits, and their stale values stay stale)."""
    read = obj._stored
    if read is None or obj._oid is None:
        return
    stored = {k: v for k, v in read.items() if k not in field.previous_names}
    stored[field.name] = field.to_json(field.to_python(obj._data.get(field.name)))
    if stored == read:
        return
    ws = obj._meta.require_workspace("save")
    ws._unit.remember_saved(obj)  # a rolled back savepoint gives the version back
    obj._oid = write_blob(ws.repo, codec.encode(type(obj).__name__, stored))
    obj._stored = stored


def restage_references(model: Any, field: Any, edits: dict[Any, Edit],
                       must_exist: bool = False) -> dict[Any, Any]:
    """Change the reference ``field`` of the stored objects of ``model``
    named in ``edits`` (stored id -> the change, from the value stored now
    to the one wanted), and nothing else of them: each is read as the
    workspace holds it now (following the branch first), so another
    writer's changes stay, and the ones that change are staged together by
    ``bulk_save`` (validated first: all or none), the read and the write
    one step for the workspace's other threads. Objects not stored (any
    more) are left out, or with ``must_exist`` are ``DoesNotExist`` (nothing
    staged). Returns ``id -> value staged`` of those changed."""
    ws = model._meta.require_workspace("save")
    ws._unit.follow()  # the branch as it is now, when nothing is pending here
    with ws._unit.paused():
        current = model.all().in_bulk(list(edits))
        changed: dict[Any, Any] = {}
        objs = []
        for object_id, edit in edits.items():
            obj = current.get(object_id)
            if obj is None:
                if must_exist:
                    raise model.DoesNotExist(
                        f"{model.__name__} {object_id!r} is not stored (any more): its "
                        f'"{field.name}" references cannot change; nothing was staged')
                continue
            value = obj._data.get(field.name)
            before = list(field.to_python(value) or []) if field.many else field.target_id(value)
            wanted = edit(before)
            if wanted != before:  # objects already as asked are left alone
                obj._data[field.name] = wanted
                changed[object_id] = wanted
                objs.append(obj)
        if objs:
            model.bulk_save(objs)
    return changed


def relation_fields(model: Any) -> list[Any]:
    """The fields of ``model`` that refer to other objects (found once per model)."""
    opts = model._meta
    found = opts.__dict__.get("_relation_fields")
    if found is None:
        found = opts.__dict__["_relation_fields"] = [f for f in opts.fields if isinstance(f, RelationMixin)]
    return found  # type: ignore[no-any-return]


def install_reverse(ws: Workspace) -> None:
    """Give each target model of ``ws`` the reverse queries naming it; a name
    taken (by a field, an attribute or another relation) is a ``FieldError``
    and then none is installed."""
    wanted: dict[tuple[Any, str], ReverseRelation] = {}
    for model in list(ws.models.values()):
        for field in relation_fields(model):
            target = ws.models.get(field._model_name()) if field.related_name is not None else None
            if target is None:
                continue
            name = field.related_name
            current = wanted.get((target, name)) or getattr(target, name, None)  # or inherited
            if isinstance(current, ReverseRelation) and (current.source, current.field_name) == (
                    model.__name__, field.name):
                continue  # found by name in each workspace: the same one
            if current is not None or name in target._meta._by_name:
                raise FieldError(f'related_name "{name}" of {model.__name__}.{field.name} '
                                 f"is already an attribute of {target.__name__}")
            wanted[(target, name)] = ReverseRelation(model.__name__, field.name, name)
    for (target, name), reverse in wanted.items():
        setattr(target, name, reverse)


def referrers(ws: Workspace, model: Any) -> list[tuple[Any, Any]]:
    """``(model, field)`` for every field of ``ws``'s models that refers to ``model``."""
    out = []
    for source in list(ws.models.values()):
        if source._meta.abstract:
            continue
        for field in relation_fields(source):
            if field._model_name() == model.__name__:
                out.append((source, field))
    return out


# -- integrity on save ----------------------------------------------------------------


def check_targets(obj: GitModel, ws: Workspace, deleting: frozenset[tuple[str, Any]] = frozenset()) -> None:
    """Raise ``IntegrityError`` if a reference of ``obj`` names no object
    (in the staged state, or one in ``deleting``)."""
    for field in relation_fields(type(obj)):
        ids = field.referenced_ids(obj._data.get(field.name))
        if not ids:
            continue
        try:
            target = field.to_model
        except FieldError:
            continue
        for target_id in ids:
            missing = (target.__name__, target_id) in deleting
            if not missing:
                try:
                    path = target._meta.get_data_path(target_id)
                except (TypeError, ValueError):
                    path = None
                missing = path is None or ws.lookup(path) is None
            if missing:
                raise IntegrityError(
                    f'{type(obj).__name__} {obj.get_id()!r}: "{field.name}" refers to '
                    f"{target.__name__} {target_id!r}, which does not exist"
                )


def check_move(ws: Workspace, obj: GitModel) -> None:
    """Raise ``IntegrityError`` if ``obj``'s id changed (a save moves it) while
    other objects refer to its old id: the move would leave them dangling."""
    old, new = obj._stored_id, obj.get_id()
    if old is None or old == new:
        return
    model = type(obj)
    found = []
    for source, field in referrers(ws, model):
        lookup = f"{field.name}__contains" if field.many else field.name
        found += [f"{source.__name__} {i!r} ({field.name})" for i in source.filter(**{lookup: old}).ids()
                  if (source, i) != (model, old)]
    if found:
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise IntegrityError(
            f"cannot move {model.__name__} {old!r} to {new!r}: {', '.join(found[:5])}{more} "
            f"{'refers' if len(found) == 1 else 'refer'} to it; save a new object as {new!r}, "
            f"point them at it, then delete {old!r}; nothing was staged")


# -- integrity on delete ----------------------------------------------------------------


@dataclass
class DeletePlan:
    """What deleting some objects stages: the objects removed (targets and
    cascades) and the referring objects changed by ``SET_NULL``/``SET_DEFAULT``."""

    deletes: list[tuple[Any, Any]] = dc_field(default_factory=list)
    updates: list[Any] = dc_field(default_factory=list)

    def paths(self) -> list[str]:
        """Every path the plan writes or removes."""
        out = [p for model, object_id in self.deletes for p in model._meta.object_paths(object_id)]
        return out + [p for obj in self.updates for p in obj._meta.object_paths(obj.get_id())]

    def apply(self, ws: Workspace) -> None:
        """Stage the plan (the caller holds the write lock)."""
        for obj in self.updates:
            obj._save()
        for model, object_id in self.deletes:
            for path in model._meta.object_paths(object_id):
                ws.remove(path)


def plan_delete(ws: Workspace, model: Any, ids: Iterable[Any]) -> DeletePlan:
    """The delete of ``model``'s ``ids`` with every ``on_delete`` rule applied;
    ``ProtectedError`` (nothing staged) if a ``PROTECT`` reference remains."""
    plan = DeletePlan()
    doomed: set[tuple[str, Any]] = set()
    queue: list[tuple[Any, Any]] = []
    for object_id in ids:
        if (model.__name__, object_id) not in doomed:
            doomed.add((model.__name__, object_id))
            queue.append((model, object_id))
    protected: list[tuple[Any, Any, Any]] = []
    changed: dict[tuple[str, Any], Any] = {}
    while queue:
        target, target_id = queue.pop(0)
        plan.deletes.append((target, target_id))
        for source, field in referrers(ws, target):
            lookup = f"{field.name}__contains" if field.many else field.name
            for ref_id in source.filter(**{lookup: target_id}).ids():
                key = (source.__name__, ref_id)
                if key in doomed:
                    continue
                rule = field.rule
                if rule is OnDelete.PROTECT:
                    protected.append((source, ref_id, field))
                elif rule is OnDelete.CASCADE:
                    doomed.add(key)
                    queue.append((source, ref_id))
                else:
                    obj = changed.get(key) or source.get(ref_id)
                    changed[key] = obj
                    _clear_reference(obj, field, target_id, rule)
    blocking = [(s, i, f) for s, i, f in protected if (s.__name__, i) not in doomed]
    if blocking:
        names = ", ".join(f"{s.__name__} {i!r} ({f.name})" for s, i, f in blocking[:5])
        more = f" and {len(blocking) - 5} more" if len(blocking) > 5 else ""
        first = plan.deletes[0]
        raise ProtectedError(
            f"cannot delete {first[0].__name__} {first[1]!r}: {names}{more} "
            f"{'refers' if len(blocking) == 1 else 'refer'} to it "
            "(on_delete=PROTECT); nothing was staged",
            [(s.__name__, i) for s, i, _f in blocking],
        )
    _refuse_unregistered_referrers(ws, plan.deletes)
    plan.updates = [obj for key, obj in changed.items() if key not in doomed]
    frozen = frozenset(doomed)
    for obj in plan.updates:
        obj.full_clean()
        check_targets(obj, ws, frozen)
    return plan


def _refuse_unregistered_referrers(ws: Workspace, deletes: list[tuple[Any, Any]]) -> None:
    """``ProtectedError`` if the stored schema says objects of a model this
    workspace does not know refer to a model ``deletes`` removes from: their
    ``on_delete`` rules could not be applied, and they would dangle."""
    from .schema import SCHEMA_FOLDER, stored_schemas

    folder = ws.lookup(SCHEMA_FOLDER)
    records = ws.repo[folder[0]] if folder is not None and folder[1] == 0o040000 else None
    if records is not None and all((entry.name or "").removesuffix(".json") in ws.models
                                   for entry in records):  # type: ignore[attr-defined]
        return  # every stored model is known here: nothing to read
    targets = {model.__name__: object_id for model, object_id in deletes}
    for name, stored in stored_schemas(ws).items():
        if name in ws.models or ws.lookup(stored.folder) is None:
            continue  # known here, or no objects
        for field in stored.fields.values():
            to = field.options.get("to")
            if field.type in ("RelatedField", "ManyToManyField") and to in targets:
                raise ProtectedError(
                    f"cannot delete {to} {targets[to]!r}: {name} objects may refer to it ({name}."
                    f"{field.name}, as the stored schema records), and {name} is not registered in "
                    f"this workspace, so its on_delete rule cannot be applied: register {name} "
                    "here; nothing was staged", [])


def _clear_reference(obj: Any, field: Any, target_id: Any, rule: OnDelete) -> None:
    value = obj._data.get(field.name)
    if field.many:
        ids = field.referenced_ids(field.to_python(value))
        obj._data[field.name] = [i for i in ids if i != target_id]
    elif rule is OnDelete.SET_NULL:
        obj._data[field.name] = None
    else:
        obj._data[field.name] = field.get_default()


# -- batched loading --------------------------------------------------------------------


def prefetch(model: Any, objs: list[Any], names: Iterable[str], treeish: Any) -> None:
    """Load the targets of the relations ``names`` of ``objs`` once per id,
    so reading ``obj.<name>`` costs no lookup (targets that are missing
    are left as ids: reading them raises ``DoesNotExist`` as before). A
    reverse query's name (``author.pages``) loads the objects referring to
    each of ``objs`` in batches instead."""
    for name in names:
        reverse = reverse_relation(model, name)
        if reverse is not None:
            _prefetch_reverse(model, objs, name, reverse, treeish)
            continue
        found = model._meta._by_name.get(name)
        if not isinstance(found, RelationMixin):
            raise FieldError(f"{model.__name__}.{name} is not a relation (select_related takes relations)")
        field: Any = found
        target = field.to_model
        wanted = {i for obj in objs for i in field.referenced_ids(field.to_python(obj._data.get(name)))}
        loaded = target.all(treeish=treeish).in_bulk(sorted(wanted))
        for obj in objs:
            field.attach(obj, loaded)


def reverse_relation(model: Any, name: str) -> Optional[ReverseRelation]:
    """The reverse query called ``name`` on ``model`` (its ``related_name``), if any."""
    found = vars(model).get(name) if isinstance(name, str) else None
    return found if isinstance(found, ReverseRelation) else None


def _prefetch_reverse(model: Any, objs: list[Any], name: str, reverse: ReverseRelation,
                      treeish: Any) -> None:
    """Give each of ``objs`` the objects that refer to it through ``reverse``,
    in the order the reverse query lists them: one indexed query per 500
    ids (per id for a many-to-many field)."""
    if not objs:
        return
    ws = model._meta.require_workspace("query")
    source = ws.models[reverse.source]
    field = source._meta.get_field(reverse.field_name)
    groups: dict[Any, list[Any]] = {obj.get_id(): [] for obj in objs}
    wanted = sorted(groups, key=str)
    one: dict[Any, Any] = {}  # one instance per referring object, by id
    if field.many:
        for target_id in wanted:
            for obj in source.all(treeish=treeish).filter(**{f"{field.name}__contains": target_id}):
                groups[target_id].append(one.setdefault(obj.get_id(), obj))
    else:
        from .query.planner import IN_CHUNK  # an ``__in`` the index answers whole

        for at in range(0, len(wanted), IN_CHUNK):
            batch = source.all(treeish=treeish).filter(**{f"{field.name}__in": wanted[at:at + IN_CHUNK]})
            for obj in batch:
                target_id = field.to_python(obj._data.get(field.name))
                if target_id in groups:
                    groups[target_id].append(obj)
    for obj in objs:
        obj.__dict__.setdefault("_prefetched_reverse", {})[name] = groups[obj.get_id()]


def related_sort_values(field: Any, path: list[str], ids: Iterable[Any], treeish: Any) -> dict[Any, Any]:
    """``id -> value`` of ``path`` (``["name"]``, or deeper across further
    relations) on the targets ``ids`` of ``field``, for ordering across it."""
    from .query import _get_field

    target = field.to_model
    far = _get_field(target, path[0])
    if not far.stored_in_json:
        raise FieldError(f"cannot order by blob field {target.__name__}.{far.name}")
    from .query.planner import column

    wanted = set(ids)
    rows = [row for row in target.all(treeish=treeish)._fetch_rows() if row.object_id() in wanted]
    values = dict(zip((row.object_id() for row in rows), column(rows, far)))
    if len(path) == 1:
        return values
    if not isinstance(far, RelatedField):
        raise FieldError(f"{target.__name__}.{far.name} is not a relation")
    inner = related_sort_values(far, path[1:], [v for v in values.values() if v is not None], treeish)
    return {i: inner.get(v) for i, v in values.items()}
