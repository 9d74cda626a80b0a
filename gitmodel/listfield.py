"""Lists of values and many-to-many relations, merged element by element.

A ``ListField(base_field)`` holds a list whose elements are values of
``base_field``; the JSON format writes one element per line, so ``git
diff`` shows each added or removed element. Queried by element:
``tags__contains="python"`` is an exact element match. Merged element by
element: both sides' additions and removals are kept; a conflict only
when both sides reordered the same elements differently.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence

from .exceptions import FieldError, ValidationError
from .fields import NOT_PROVIDED, CharField, Field
from .relations import OnDelete, RelationMixin, _RELATED_MESSAGES

if TYPE_CHECKING:
    from .models import GitModel

__all__ = ["ListField", "ManyToManyField", "ElementConflict", "merge_sequence", "merge_set"]

#: how list elements merge
SEQUENCE = "sequence"
SET = "set"


class ElementConflict(Exception):
    """Both sides of a merge reordered a list's elements differently."""


def _tagged(values: Sequence[Any], key: Callable[[Any], str]) -> list[tuple[str, int]]:
    """Each element as (its key, which occurrence of that key): unique, comparable."""
    seen: dict[str, int] = {}
    out = []
    for value in values:
        k = key(value)
        seen[k] = seen.get(k, -1) + 1
        out.append((k, seen[k]))
    return out


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def merge_sequence(base: Optional[Sequence[Any]], ours: Optional[Sequence[Any]],
                   theirs: Optional[Sequence[Any]], key: Callable[[Any], str] = _json_key) -> list[Any]:
    """Three-way merge of lists as sequences: elements removed by either
    side go, elements added by either side come in after the element they
    followed; ``ElementConflict`` when both sides reordered differently."""
    base, ours, theirs = list(base or ()), list(ours or ()), list(theirs or ())
    tb, to, tt = _tagged(base, key), _tagged(ours, key), _tagged(theirs, key)
    value_of = dict(zip(tb, base)) | dict(zip(tt, theirs)) | dict(zip(to, ours))
    in_base, in_ours, in_theirs = set(tb), set(to), set(tt)
    removed = (in_base - in_ours) | (in_base - in_theirs)
    kept = [e for e in tb if e not in removed]
    kept_set = set(kept)
    ours_order = [e for e in to if e in kept_set]
    theirs_order = [e for e in tt if e in kept_set]
    if ours_order != kept and theirs_order != kept and ours_order != theirs_order:
        raise ElementConflict("both sides reordered the list differently")
    skeleton, other = (tt, to) if ours_order == kept and theirs_order != kept else (to, tt)
    result = [e for e in skeleton if e not in removed]
    placed = set(result)
    anchor = -1
    for element in other:
        if element in placed:
            anchor = result.index(element)
        elif element not in in_base:  # added on the other side
            anchor += 1
            result.insert(anchor, element)
            placed.add(element)
    return [value_of[e] for e in result]


def merge_set(base: Optional[Sequence[Any]], ours: Optional[Sequence[Any]],
              theirs: Optional[Sequence[Any]], key: Callable[[Any], str] = _json_key) -> list[Any]:
    """Three-way merge of lists as sets: what either side removed goes,
    what either side added comes (in ours' order, then theirs' additions)."""
    base_keys = {key(v) for v in base or ()}
    ours_keys = {key(v) for v in ours or ()}
    theirs_keys = {key(v) for v in theirs or ()}
    gone = (base_keys - ours_keys) | (base_keys - theirs_keys)
    out: dict[str, Any] = {}
    for value in [*(ours or ()), *(theirs or ())]:
        k = key(value)
        if k not in gone and k not in out:
            out[k] = value
    return list(out.values())


class ListField(Field[list]):  # type: ignore[type-arg]
    """A list of ``base_field`` values, stored one element per line.

    ``kind="sequence"`` (the default) keeps order and duplicates;
    ``kind="set"`` drops duplicates and merges as a set.
    """

    mutable = True
    default_error_messages = {
        "invalid_list": "must be a list, not {type}",
        "invalid_element": "element {index}: {reason}",
        "invalid_kind": "kind must be 'sequence' or 'set'",
    }

    def __init__(self, base_field: Optional[Field[Any]] = None, *, kind: str = SEQUENCE,
                 **kwargs: Any) -> None:
        if base_field is None:
            base_field = CharField()
        if not isinstance(base_field, Field) or isinstance(base_field, (ListField, RelationMixin)) \
                or not base_field.stored_in_json:
            raise FieldError(f"ListField takes a field for its elements, not {base_field!r}")
        if kind not in (SEQUENCE, SET):
            raise FieldError(f"ListField kind must be 'sequence' or 'set', not {kind!r}")
        self.base_field = base_field
        self.kind = kind
        kwargs.setdefault("default", list)
        kwargs.setdefault("required", False)
        if kwargs.get("merge") is None:
            kwargs["merge"] = self._merge_elements
        super().__init__(**kwargs)
        self.base_field.name = "element"

    def contribute_to_class(self, cls: type[GitModel], name: str) -> Field[list]:  # type: ignore[type-arg]
        field = super().contribute_to_class(cls, name)
        if field is not self and field.merge == self._merge_elements:
            field.merge = field._merge_elements  # type: ignore[attr-defined]
        return field

    def _merge_elements(self, base: Any, ours: Any, theirs: Any) -> list[Any]:
        key = lambda v: _json_key(self.element_json(v))  # noqa: E731
        merge = merge_set if self.kind == SET else merge_sequence
        return merge(base, ours, theirs, key)

    def element_json(self, value: Any) -> Any:
        return self.base_field.to_json(value)

    def _elements(self, value: Any, convert: Callable[[Any], Any]) -> Optional[list[Any]]:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            raise self.error("invalid_list", type=type(value).__name__)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(convert(element))
            except ValidationError as exc:
                reason = exc.message.split('" ', 1)[-1]
                raise self.error("invalid_element", index=index, reason=reason) from None
        if self.kind == SET:
            unique: dict[str, Any] = {}
            for element in out:
                unique.setdefault(_json_key(self.element_json(element)), element)
            out = list(unique.values())
        return out

    def to_python(self, value: Any) -> Optional[list[Any]]:
        return self._elements(value, self.base_field.to_python)

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        for index, element in enumerate(value or ()):
            try:
                self.base_field.validate(element, instance)
                self.base_field.run_validators(element)
            except ValidationError as exc:
                reason = exc.message.split('" ', 1)[-1]
                raise self.error("invalid_element", index=index, reason=reason) from None

    def to_json(self, value: Any) -> Any:
        return None if value is None else [self.element_json(v) for v in value]

    def from_json(self, value: Any) -> Any:
        return self._elements(value, self.base_field.from_json)

    def prepare_element(self, value: Any) -> Any:
        """A lookup argument as an element (``tags__contains=...``)."""
        return self.base_field.to_python(value)


class ManyToManyField(RelationMixin, ListField):
    """References to many objects of another model, stored as a list of
    their ids (one per line) and merged as a set.

    Reading gives the target objects (read where the instance was read), a
    :class:`RelatedObjects` list with Django's ``add``, ``remove``, ``set``,
    ``clear``, ``all`` and ``filter``; assign instances or ids. ``on_delete``: ``PROTECT`` (the default),
    ``CASCADE`` or ``SET_NULL`` (the deleted target's id is dropped).
    """

    many = True
    default_error_messages = _RELATED_MESSAGES

    def __init__(self, model: Any, *, on_delete: Any = None,
                 related_name: Optional[str] = None, **kwargs: Any) -> None:
        self._init_relation(model, on_delete, related_name, kwargs)
        if self.on_delete is OnDelete.SET_DEFAULT:
            raise FieldError("a ManyToManyField takes on_delete PROTECT, CASCADE or SET_NULL")
        kwargs.setdefault("kind", SET)
        super().__init__(CharField(), **kwargs)

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        return RelatedObjects(self._targets(instance), instance, self)

    def _targets(self, instance: Any) -> list[Any]:
        ids = self.referenced_ids(self.to_python(instance._data.get(self.name)))
        loaded = instance.__dict__.get("_prefetched", {}).get(self.name, {})
        return [loaded[i] if i in loaded else self.load_target(instance, i) for i in ids]

    def __set__(self, instance: Any, value: Any) -> None:
        # any iterable of targets or ids is taken as a list; text or a single
        # value is kept as it is, for validation to refuse (not split into letters)
        iterable = isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray, dict))
        instance._data[self.name] = list(value) if iterable else value

    def element_json(self, value: Any) -> Any:
        return self.target_id(value)

    def to_python(self, value: Any) -> Optional[list[Any]]:
        return self._elements(value, self.target_id)

    def from_json(self, value: Any) -> Any:
        return self._elements(value, self.target_id)

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        Field.validate(self, value, instance)
        for element in value or ():
            self.check_target_id(element)

    def referenced_ids(self, value: Any) -> list[Any]:
        return [v for v in value or () if isinstance(v, str)]

    def prepare_element(self, value: Any) -> Any:
        return self.target_id(value)

    def attach(self, instance: Any, loaded: dict[Any, Any]) -> None:
        """Keep the loaded targets for reads (see :func:`gitmodel.relations.prefetch`)."""
        instance.__dict__.setdefault("_prefetched", {})[self.name] = loaded

    def get_default(self) -> Any:
        default = super().get_default()
        return [] if default is None or default is NOT_PROVIDED else default


class RelatedObjects(list):  # type: ignore[type-arg]
    """What reading a :class:`ManyToManyField` gives: the target objects, as
    a list, with the methods of Django's related manager.

    ``add()``, ``remove()``, ``set()`` and ``clear()`` change the list of
    references and stage it at once (commit as usual), as Django's manager
    changes the relation's rows alone: on the object as the workspace holds
    it now, merged with other writers' changes element by element, without
    the instance's unsaved edits of other fields (``save()`` writes those).
    If the change is refused, nothing is staged and the object keeps the
    list it had. ``all()`` and ``filter()`` query the targets where the object was
    read (its commit for one read at a commit); ``count()`` with no
    argument is how many there are.
    """

    def __init__(self, items: Iterable[Any], instance: Any, field: ManyToManyField) -> None:
        super().__init__(items)
        self._instance = instance
        self._field = field

    def all(self) -> Any:
        """The targets as a query (of the target model, at the object's commit)."""
        field, instance = self._field, self._instance
        ids = field.referenced_ids(field.to_python(instance._data.get(field.name)))
        return field.to_model.all(treeish=getattr(instance, "_read_at", None)).filter(pk__in=ids)

    def filter(self, *args: Any, **lookups: Any) -> Any:
        return self.all().filter(*args, **lookups)

    def exclude(self, *args: Any, **lookups: Any) -> Any:
        return self.all().exclude(*args, **lookups)

    def exists(self) -> bool:
        return bool(self)

    def count(self, *value: Any) -> int:  # type: ignore[override]
        """How many targets there are; ``count(x)``: how often ``x`` is one (as a list's)."""
        return super().count(*value) if value else len(self)

    def add(self, *objs: Any) -> None:
        """Refer to ``objs`` (instances or ids) too; ones referred to already are left as they are."""
        new = list(dict.fromkeys(self._field.target_id(o) for o in objs))
        self._change(lambda ids: ids + [i for i in new if i not in ids])

    def remove(self, *objs: Any) -> None:  # type: ignore[override]
        """Stop referring to ``objs`` (instances or ids); one not referred to is left out."""
        gone = {self._field.target_id(o) for o in objs}
        self._change(lambda ids: [i for i in ids if i not in gone])

    def set(self, objs: Iterable[Any]) -> None:
        """Refer to exactly ``objs`` (instances or ids)."""
        if isinstance(objs, (str, bytes)):
            raise TypeError("set() takes a list of objects or ids, not a string")
        wanted = list(dict.fromkeys(self._field.target_id(o) for o in objs))
        self._change(lambda ids: list(wanted))

    def clear(self) -> None:
        """Refer to nothing."""
        self._change(lambda ids: [])

    def _ids(self) -> list[Any]:
        field, instance = self._field, self._instance
        return list(field.to_python(instance._data.get(field.name)) or [])

    def _change(self, edit: Callable[[list[Any]], list[Any]]) -> None:
        """Stage ``edit`` of the list of ids, as Django's manager changes the
        rows of the relation alone: on the object as stored now (another
        writer's additions and removals stay), without the instance's unsaved
        edits of other fields; then the instance's own list gets the same edit."""
        from .relations import remember_reference, restage_references

        field, instance = self._field, self._instance
        model = type(instance)
        if instance._stored_id is None:
            raise ValidationError(f"save the {model.__name__} before changing its "
                                  f'"{field.name}" references', field=field.name)
        ids = self._ids()
        restage_references(model, field, {instance._stored_id: edit}, must_exist=True)
        instance._data[field.name] = edit(ids)
        remember_reference(instance, field)
        self[:] = field._targets(instance)
