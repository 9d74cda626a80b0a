"""The columns ``values()`` and ``values_list()`` give: a field of the model,
or a field of a related object (``author__name``, as Django names it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

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
