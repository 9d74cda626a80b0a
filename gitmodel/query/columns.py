"""The columns ``values()`` and ``values_list()`` give: a field of the model,
or a field of a related object (``author__name``, as Django names it); and
the order values sort in (:func:`sort_key`)."""

from __future__ import annotations

import datetime as dt
import decimal
import numbers
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import fields as _fields
from . import QuerySet, field_path, plain_name

if TYPE_CHECKING:
    from .planner import Row

Column = tuple[str, Callable[["Row"], Any]]


def columns(qs: QuerySet[Any], names: tuple[str, ...], rows: list[Row], json_safe: bool) -> list[Column]:
    """``(name, row -> value)`` for each field asked for (every field if
    none); ``author__name`` reads the related objects, at the rows'
    commit, once each. ``json_safe``: values as stored (ISO dates, decimal text)."""
    value = _json_value if json_safe else _python_value
    if not names:
        fields = [(f.name, _getter(value, f)) for f in qs._fields_for(())]
        return fields + _annotation_columns(qs, tuple(qs._annotations), rows)
    out: list[Column] = []
    for name in names:
        if name in qs._annotations:
            out.extend(_annotation_columns(qs, (name,), rows))
        elif "__" in name:
            out.append((name, _related_column(qs, name, rows, json_safe)))
        else:  # author_id: the id the relation author holds, as Django names it
            out.append((name, _getter(value, qs._fields_for((plain_name(qs.model, name),))[0])))
    return out


def _annotation_columns(qs: QuerySet[Any], names: tuple[str, ...], rows: list[Row]) -> list[Column]:
    """``(name, row -> value)`` of annotations (computed once for the rows)."""
    if not names:
        return []
    found = qs._annotation_values(rows)

    def column(by_id: dict[Any, Any]) -> Callable[[Row], Any]:
        return lambda row: by_id.get(row.object_id())

    return [(name, column(found[name])) for name in names]


def _related_column(qs: QuerySet[Any], name: str, rows: list[Row], json_safe: bool) -> Callable[[Row], Any]:
    from ..relations import related_sort_values

    fields = field_path(qs.model, name, "list the values of")  # checked before anything is read
    local, far = fields[0], fields[-1]
    ids = {row.get(local) for row in rows} - {None}
    found = related_sort_values(local, name.split("__")[1:], ids, rows[0].ctx.root) if rows else {}

    def get(row: Row) -> Any:
        found_value = found.get(row.get(local))
        return far.to_json(found_value) if json_safe and found_value is not None else found_value

    return get


def _python_value(row: Row, field: _fields.Field[Any]) -> Any:
    return row.value(field)


def _json_value(row: Row, field: _fields.Field[Any]) -> Any:
    return field.to_json(row.get(field))


def _getter(value: Callable[[Row, _fields.Field[Any]], Any], field: _fields.Field[Any]) -> Callable[[Row], Any]:
    return lambda row: value(row, field)


#: the rank of each kind of value in an order: missing first, then as
#: PostgreSQL orders jsonb (strings < numbers < booleans < arrays < objects),
#: then values of other types (dates, times...), each type apart
_MISSING, _TEXT, _NUMBER, _BOOL, _ARRAY, _OBJECT, _OTHER = range(7)


def sort_key(value: Any, frame: Optional[Callable[[Any], Any]] = None) -> tuple[Any, ...]:
    """The key ``order_by`` sorts ``value`` by: any two keys compare, so
    values of mixed kinds (a JSONField holding ``3``, ``"three"``, ``True``)
    sort in one defined, stable order.

    Kinds rank as :data:`_MISSING` ... :data:`_OTHER` say; numbers of any
    type compare by value (a NaN after every number); arrays compare
    element by element (a prefix first), objects by their ``(key, value)``
    pairs in key order. ``frame`` brings each leaf value into one frame
    first (naive date-times read as UTC)."""
    if value is None:
        return (_MISSING,)
    if isinstance(value, str):
        return (_TEXT, value)
    kind = type(value)
    if kind is int or kind is float:  # the common case, without the ABC checks below
        return (_NUMBER, 0, value) if value == value else (_NUMBER, 1)
    if isinstance(value, bool):
        return (_BOOL, value)
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        nan = value.is_nan() if isinstance(value, decimal.Decimal) else isinstance(value, float) and value != value
        return (_NUMBER, 1) if nan else (_NUMBER, 0, value)
    if isinstance(value, (list, tuple)):
        return (_ARRAY, tuple(sort_key(v, frame) for v in value))
    if isinstance(value, dict):
        return (_OBJECT, tuple(sorted((sort_key(k), sort_key(v, frame)) for k, v in value.items())))
    if frame is not None:
        framed = frame(value)
        if framed is not value:
            return sort_key(framed)
    kind = next((k for k in _KINDS if isinstance(value, k)), type(value))  # a subclass sorts with its base
    return (_OTHER, kind.__qualname__, value)


#: the types whose subclasses sort among their values (a ``datetime`` subclass with ``datetime``)
_KINDS: tuple[type, ...] = (dt.datetime, dt.date, dt.time, dt.timedelta, bytes)


def value_key(field: _fields.Field[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """The sort key of values of ``field`` (of a list field: of its elements'
    frame), for ``order_by`` and keyset bounds alike."""
    frame = getattr(field, "comparable", None) or getattr(getattr(field, "base_field", None), "comparable", None)
    if frame is None:
        return sort_key
    return lambda value: sort_key(value, frame)
