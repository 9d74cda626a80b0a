"""Changes to every object a queryset matches: ``update()``, ``delete()``,
``get_or_create()``, ``update_or_create()``.

Each validates everything before it stages anything, so a refused change
leaves the staging area as it was; with ``commit=True`` the whole change
is one commit.
"""

from __future__ import annotations

import decimal
from typing import TYPE_CHECKING, Any, Iterable, Optional

from . import relations
from .aggregates import wide_context
from .exceptions import FieldError, IntegrityError, MergeConflict
from .expressions import Expression
from .versions import race

#: an ``update()`` with ``F()`` values and ``commit=True`` that lost the race
#: to another writer is computed again and retried this often
RELATIVE_RETRIES = 16

if TYPE_CHECKING:
    from .models import GitModel
    from .query import QuerySet


def _require_workspace_view(qs: QuerySet[Any], action: str) -> Any:
    qs._refuse_history(action)
    return qs.model._meta.require_workspace(action)


def update(qs: QuerySet[Any], values: dict[str, Any], commit: bool) -> int:
    """Set ``values`` on every match of ``qs`` and stage (or commit) them."""
    from .query import _get_field

    model = qs.model
    if qs._low or qs._high is not None:
        raise TypeError("Cannot update a query once a slice has been taken.")
    ws = _require_workspace_view(qs, "update")
    ws.check_commit_info("update", commit, {})  # the identity the commit will need
    if not values:
        raise FieldError("update() needs at least one field=value")
    for name, value in values.items():
        field = _get_field(model, name)
        if field.id:
            raise FieldError(f"update() cannot change the id field {model.__name__}.{field.name}")
        if isinstance(value, Expression):
            for read in value.field_names():  # F("nope") fails here, before anything is read
                _get_field(model, read)
    relative = any(isinstance(value, Expression) for value in values.values())
    if not (commit and relative):
        return _update_matches(qs, values, commit)
    # F("views") + 1 is relative to the stored value: a commit that lost the race
    # is computed again from the new head, as SQL's UPDATE ... SET views = views + 1
    # would be, instead of conflicting with the other writer's increment
    for attempt in range(RELATIVE_RETRIES + 1):
        try:
            return _update_matches(qs, values, commit)
        except MergeConflict:
            if attempt == RELATIVE_RETRIES or not race.drop_lost_race(ws, ws._unit):
                raise
            ws.reset()  # the edits of this try (nothing else was pending: commit=True)
    raise AssertionError("unreachable")


def _update_matches(qs: QuerySet[Any], values: dict[str, Any], commit: bool) -> int:
    """:func:`update` once, on the matches as read now."""
    from .query import _get_field

    model = qs.model
    ws = model._meta.require_workspace("update")
    objs = list(qs.all())
    if not objs:
        return 0
    unique = [n for n in values if _get_field(model, n).unique and values[n] is not None
              and not isinstance(values[n], Expression)]  # F() values differ per object: checked on save
    if unique and len(objs) > 1:
        raise IntegrityError(
            f"update() would give {len(objs)} {model.__name__} objects the same "
            f'"{unique[0]}", which is unique; nothing was staged'
        )
    for obj in objs:  # every value computed from the object as found, then set
        with decimal.localcontext(wide_context()):  # a stored 1E-999999999 times 10 is not 0
            computed = {name: value.evaluate(obj) if isinstance(value, Expression) else value
                        for name, value in values.items()}
        for name, value in computed.items():
            setattr(obj, _get_field(model, name).name, value)
    with ws._unit.paused():
        model.bulk_save(objs, commit=commit)
    return len(objs)


def delete(qs: QuerySet[Any], commit: bool, commit_info: dict[str, Any]) -> int:
    """Delete every match of ``qs`` with the ``on_delete`` rules applied."""
    model = qs.model
    if qs._low or qs._high is not None:
        raise TypeError("Cannot use 'limit' or 'offset' with delete().")
    ws = _require_workspace_view(qs, "delete")
    ws.check_commit_info("delete", commit, commit_info)
    commit = ws._unit.commits_now(commit)  # inside a commit_on_success block: the block commits
    with ws._unit.paused(), ws.write_lock:
        ids = qs.all().ids()
        if not ids:
            return 0
        plan = relations.plan_delete(ws, model, ids)
        if commit:
            ws.require_only_pending(*plan.paths())
        plan.apply(ws)
        if commit:
            ws.commit(**commit_info)
    return len(plan.deletes)


def _creation_values(qs: QuerySet[Any], defaults: Optional[dict[str, Any]],
                     lookups: dict[str, Any]) -> dict[str, Any]:
    """What ``get_or_create`` makes an object from, as Django's: the plain
    lookups, the owner of a reverse relation (``author.pages``), then
    ``defaults``, their callables called; ``FieldError`` naming what is no field."""
    values = {k: v for k, v in lookups.items() if "__" not in k or k.endswith("__exact")}
    values = {k.removesuffix("__exact"): v for k, v in values.items()}
    values = owned(qs, values, only_one=True)
    values.update(_checked(qs.model, defaults))
    if "pk" in values:
        values[qs.model._meta.id_attr] = values.pop("pk")
    return owned(qs, values, only_many=True)


def _checked(model: Any, defaults: Optional[dict[str, Any]], pk: bool = True) -> dict[str, Any]:
    """``defaults`` with callables called and ``<relation>_id`` named as its
    relation; ``FieldError`` for a name that is no field of ``model`` (nor
    ``pk``, if ``pk``)."""
    names: dict[str, str] = {}
    for name in defaults or {}:
        field = model._meta._by_name.get(name[:-3]) if name.endswith("_id") else None
        if name in model._meta._by_name or (pk and name == "pk"):
            names[name] = name
        elif isinstance(field, relations.RelationMixin):
            names[name] = field.name
    bad = sorted(set(defaults or {}) - set(names))
    if bad:  # before any callable is called
        raise FieldError(f"Invalid field name(s) for model {model.__name__}: "
                         f"{', '.join(repr(b) for b in bad)}")
    return {names[name]: value() if callable(value) else value for name, value in (defaults or {}).items()}


def owned(qs: QuerySet[Any], values: dict[str, Any], only_one: bool = False,
          only_many: bool = False) -> dict[str, Any]:
    """``values`` for an object made through a reverse relation (``author.pages``),
    as Django's related manager makes it: the owner replaces any value given
    for the relation; a many-to-many list gains the owner instead."""
    out = dict(values)
    for name, owner in qs._defaults.items():
        field = qs.model._meta.get_field(name)
        if field.many and not only_one:
            given = out.get(name)
            given = list(given) if isinstance(given, (list, tuple)) else [] if given is None else given
            if isinstance(given, list):
                held = {field.target_id(v) for v in given}
                given += [o for o in owner if o.get_id() not in held]
            out[name] = given
        elif not field.many and not only_many:
            out[name] = owner
    return out


def get_or_create(qs: QuerySet[Any], defaults: Optional[dict[str, Any]],
                  lookups: dict[str, Any]) -> tuple[GitModel, bool]:
    """The one object matching ``lookups``, or a new one, saved."""
    _require_workspace_view(qs, "get_or_create")
    try:
        return qs.get(**lookups), False
    except qs.model.DoesNotExist:
        obj = qs.model(**_creation_values(qs, defaults, lookups))
        obj.save()
        return obj, True


def update_or_create(qs: QuerySet[Any], defaults: Optional[dict[str, Any]],
                     create_defaults: Optional[dict[str, Any]],
                     lookups: dict[str, Any]) -> tuple[GitModel, bool]:
    """The one object matching ``lookups`` updated with ``defaults``, or a new
    one made with ``create_defaults`` (``defaults`` if not given), as Django 5's."""
    _require_workspace_view(qs, "update_or_create")
    try:
        obj = qs.get(**lookups)
    except qs.model.DoesNotExist:
        return get_or_create(qs, defaults if create_defaults is None else create_defaults, lookups)
    for name, value in _checked(qs.model, defaults, pk=False).items():
        setattr(obj, name, value)
    obj.save()
    return obj, False


def in_bulk(qs: QuerySet[Any], ids: Optional[Iterable[Any]], field_name: str) -> dict[Any, Any]:
    """:meth:`QuerySet.in_bulk`: by id through the index where it can say
    (:func:`gitmodel.query.planner.in_bulk`), else one ``get()`` each, all
    at one commit; by another unique field with one query."""
    from .query import _get_field
    from .query.planner import in_bulk as through_index
    from .schema import layout

    model = qs.model
    if qs._low or qs._high is not None:
        raise TypeError("Cannot use 'limit' or 'offset' with in_bulk().")
    if isinstance(ids, (str, bytes)):
        raise TypeError("in_bulk() takes a list of ids, not a string")
    if field_name != "pk":
        field = _get_field(model, field_name)
        if not field.id:
            if not field.unique:
                raise FieldError(f"in_bulk()'s field_name must be a unique field, "
                                 f"and {model.__name__}.{field.name} is not")
            found = qs if ids is None else qs.filter(**{f"{field.name}__in": list(ids)})
            return {getattr(obj, field.name): obj for obj in found}
    if ids is None:
        return {obj.get_id(): obj for obj in qs}
    if qs._where is not None or qs._low or qs._high is not None:
        return {obj.get_id(): obj for obj in qs.filter(pk__in=list(ids))}
    ws = model._meta.require_workspace()
    given: Iterable[Any] = ids

    def read() -> dict[Any, Any]:
        wanted = list(given)
        found = through_index(qs, wanted)
        if found is not None:
            return found
        return qs._get_each(wanted, None if qs.treeish is None else ws.resolve_tree(qs.treeish))

    if qs.treeish is not None:
        return read()
    with ws._unit.holding_still(), layout.fixed(model):  # one commit for the whole batch, its layout asked once
        return read()
