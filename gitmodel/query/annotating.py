"""``annotate()`` on querysets of objects, as Django's: one aggregate per
object, over the objects that refer to it through a reverse relation
(``Tag.objects.annotate(n=Count("articles"))``, ``Sum("articles__words")``)
or, for ``Count``, over the elements of its own list field
(``Article.objects.annotate(n=Count("tags"))``). The values are read at the
query's revision and set as attributes of the objects; ``order_by()`` takes
their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .. import fields as _fields
from ..exceptions import FieldError
from .conditions import _get_field

if TYPE_CHECKING:
    from ..aggregates import Aggregate
    from . import QuerySet
    from .planner import Row


@dataclass(frozen=True)
class Annotation:
    """How one annotation is computed: ``aggregate`` over the ``source``
    objects whose ``link`` refers to each object, or (``source`` ``None``)
    the length of the object's own list field ``link``."""

    aggregate: Aggregate
    link: _fields.Field[Any]
    source: Any = None
    field: Any = None  # what ``aggregate`` reads on ``source`` (``None``: the objects)


def plan(model: Any, aggregates: dict[str, Aggregate]) -> dict[str, Annotation]:
    """Check ``aggregates`` against ``model``; ``FieldError`` naming what is wrong."""
    from ..aggregates import Count
    from ..relations import reverse_relation

    out = {}
    for name, agg in aggregates.items():
        if name in model._meta._by_name or hasattr(model, name) or name == "pk":
            raise FieldError(f"annotate(): {name!r} is already a name of {model.__name__}")
        first, _, rest = agg.field_name.partition("__")
        reverse = reverse_relation(model, first)
        if reverse is not None:
            source = model._meta.require_workspace("query").models[reverse.source]
            inner = type(agg)(rest or "pk", distinct=agg.distinct)
            out[name] = Annotation(inner, source._meta.get_field(reverse.field_name), source,
                                   inner.bind(source))
            continue
        own = _get_field(model, first)
        if isinstance(own, _fields.ListField) and not rest and isinstance(agg, Count):
            out[name] = Annotation(agg, own)
            continue
        raise FieldError(f"annotate({name}={agg!r}): an annotation aggregates the objects of a "
                         f"reverse relation of {model.__name__} (Count, Sum, Min, Max, Avg), or "
                         "counts the elements of one of its list fields")
    return out


def compute(qs: QuerySet[Any], rows: list[Row]) -> dict[str, dict[Any, Any]]:
    """Each annotation's value for each of ``rows``' objects: name -> id -> value."""
    from .planner import IN_CHUNK

    ids = [row.object_id() for row in rows]
    out: dict[str, dict[Any, Any]] = {}
    for name, how in qs._annotations.items():
        if how.source is None:  # the length of the object's own list
            out[name] = {row.object_id(): len(row.get(how.link) or ()) for row in rows}
            continue
        groups: dict[Any, list[Row]] = {i: [] for i in ids}
        referrers = how.source.all(treeish=qs.treeish)
        if how.link.many:  # a many-to-many field: the objects that hold each id
            for object_id in ids:
                groups[object_id] = referrers.filter(**{f"{how.link.name}__contains": object_id})._fetch_rows()
        else:
            for at in range(0, len(ids), IN_CHUNK):
                found = referrers.filter(**{f"{how.link.name}__in": ids[at:at + IN_CHUNK]})._fetch_rows()
                for row in found:
                    target = row.get(how.link)
                    if target in groups:
                        groups[target].append(row)
        out[name] = {i: how.aggregate.over(how.field, group) for i, group in groups.items()}
    return out


def aggregate(qs: QuerySet[Any], aggregates: dict[str, Aggregate]) -> dict[str, Any]:
    """``qs.aggregate(...)`` where some aggregates read annotations of ``qs``
    (``annotate(n=Count("pages")).aggregate(Avg("n"))``): each computed over
    the values of the query's matches, the others over the fields."""
    from ..aggregates import Max, Min, _numeric

    rows = qs._fetch_rows()
    values = None
    out: dict[str, Any] = {}
    for name, agg in aggregates.items():
        how = qs._annotations.get(agg.field_name)
        if how is None:
            field = agg.bind(qs.model)
            out[name] = agg.over(field, rows)
            continue
        if type(agg).check is _numeric and isinstance(how.aggregate, (Min, Max)) and how.field is not None:
            _numeric(agg, how.source, how.field)  # a Sum of the latest dates: refused as a Sum of dates
        if values is None:
            values = qs._annotation_values(rows)
        by_id = values[agg.field_name]
        out[name] = agg.of(by_id.get(row.object_id()) for row in rows)
    return out


#: what an annotation can be filtered by (``n__gt=1``)
HAVING_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "in", "range", "isnull")


def having(annotations: dict[str, Annotation], lookups: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The lookups of ``filter()`` that name an annotation, checked:
    ``(name, lookup, argument)``."""
    out = []
    for key, value in lookups.items():
        name, _, lookup = key.partition("__")
        if name not in annotations:
            continue
        lookup = lookup or "exact"
        if lookup not in HAVING_LOOKUPS:
            raise FieldError(f"an annotation is filtered by {', '.join(HAVING_LOOKUPS)}, not {key!r}")
        if lookup in ("in", "range") and (isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")):
            raise FieldError(f"{key} takes a list of values, not {value!r}")
        if lookup == "range" and len(list(value)) != 2:
            raise FieldError(f"{key} takes (low, high), not {value!r}")
        if lookup == "isnull" and not isinstance(value, bool):
            raise FieldError(f"{key} takes True or False, not {value!r}")
        out.append((name, lookup, tuple(value) if lookup == "range" else set(value) if lookup == "in" else value))
    return out


def kept(rows: list[Row], values: dict[str, dict[Any, Any]],
         conditions: list[tuple[str, str, Any, bool]]) -> list[Row]:
    """The rows whose annotations pass every condition (``negated``: its opposite)."""
    from .conditions import LOOKUPS

    def passes(row: Row) -> bool:
        object_id = row.object_id()
        for name, lookup, arg, negated in conditions:
            if bool(LOOKUPS[lookup](values[name].get(object_id), arg)) == negated:
                return False
        return True

    return [row for row in rows if passes(row)]


def sort_key(values: dict[Any, Any]) -> Any:
    """A sort key of rows by an annotation: missing values first, as fields sort."""

    def key(row: Row) -> tuple[int, Any]:
        value: Optional[Any] = values.get(row.object_id())
        return (0, 0) if value is None else (1, value)

    return key
