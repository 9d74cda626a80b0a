"""Queries from text: ``"title__startswith=A"`` as ``filter()`` takes it.

For a command line, a query string or a form: each item is
``FIELD[__LOOKUP]=VALUE``, with the lookups of :meth:`QuerySet.filter
<gitmodel.QuerySet.filter>`. The value is text, turned into the field's
type as a form would (``"3"`` for an integer, ``"2024-05-01"`` for a date);
``__in`` takes comma-separated values, ``__range`` two of them,
``__isnull`` ``true`` or ``false``, and a ``JSONField`` a JSON value (plain
text if it is not JSON).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from .exceptions import FieldError
from .query import LOOKUPS, Q, QuerySet, compile_q

if TYPE_CHECKING:
    from .models import GitModel

__all__ = ["lookups_from_strings", "filter_from_strings", "values_from_strings"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def lookups_from_strings(model: type[GitModel], items: Iterable[str]) -> dict[str, Any]:
    """``["title__startswith=A", "year__gte=2000"]`` -> the keyword
    arguments of ``model.filter()``, checked against ``model``:
    :class:`FieldError` for an unknown field or lookup or an item without
    ``=``, :class:`ValidationError` for a value the field refuses."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise FieldError(f"{item!r} is not a lookup: write FIELD=VALUE or FIELD__LOOKUP=VALUE")
        parts = key.split("__")
        lookup = parts[-1] if len(parts) > 1 and parts[-1] in LOOKUPS else "exact"
        field = model._meta._by_name.get(str(model._meta.id_attr) if parts[0] == "pk" else parts[0])
        raw_json = field is not None and type(field).__name__ == "JSONField"
        if lookup == "isnull":
            value: Any = _boolean(key, text)
        elif lookup in ("in", "range"):
            value = [_one(v, raw_json, key) for v in text.split(",")] if text else []
            if lookup == "range" and len(value) != 2:
                raise FieldError(f'"{key}" takes two values: LOW,HIGH')
        else:
            value = _one(text, raw_json, key)
        out[key] = value
    compile_q(model, Q(**out))  # unknown fields, lookups and bad values raise here
    return out


def filter_from_strings(model: type[GitModel], items: Iterable[str], treeish: Any = None) -> QuerySet[Any]:
    """``model.all(treeish).filter(...)`` of :func:`lookups_from_strings`."""
    return model.all(treeish=treeish).filter(**lookups_from_strings(model, items))


def _one(text: str, raw_json: bool, name: str = "value") -> Any:
    if not raw_json:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
    except RecursionError:
        raise FieldError(f'"{name}" is not a valid value: nested too deeply') from None


def _boolean(key: str, text: str) -> bool:
    folded = text.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise FieldError(f'"{key}" takes true or false, not {text!r}')


def values_from_strings(model: type[GitModel], items: Iterable[str]) -> dict[str, Any]:
    """``["title=Home", "views=3"]`` -> ``{field: value}`` in each field's
    type, as a form would convert them (a ``JSONField`` takes JSON, an empty
    value is ``None`` for a field that is not text): :class:`FieldError` for
    an unknown field or an item without ``=``, :class:`ValidationError` for
    a value the field refuses."""
    from .fields import CharField

    opts = model._meta
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise FieldError(f"{item!r} is not a value: write FIELD=VALUE")
        field = opts.get_field(name)
        if type(field).__name__ == "JSONField":
            out[name] = _one(text, True, name)
        elif text == "" and not isinstance(field, CharField):
            out[name] = None
        else:
            out[name] = field.to_python(text)
    return out
