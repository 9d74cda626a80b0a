"""``annotate()`` on querysets of objects, as Django's: one aggregate per
object, over the objects that refer to it through a reverse relation
(``Tag.objects.annotate(n=Count("articles"))``, ``Sum("articles__words")``)
or, for ``Count``, over the elements of its own list field
(``Article.objects.annotate(n=Count("tags"))``). The values are read at the
query's revision and set as attributes of the objects; ``order_by()`` takes
their names, and ``filter()`` and ``exclude()`` their lookups, as keywords or
in ``Q`` objects, against values or ``F()`` (Django's ``HAVING``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .. import fields as _fields
from ..exceptions import FieldError
from .conditions import Leaf, Node, Q, _get_field

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
            inner = type(agg)(rest or "pk", distinct=agg.distinct, filter=_across(agg, first))
            bound = inner.bind(source)
            if inner.filter is not None and isinstance(bound, _fields.ListField):
                raise FieldError(f"annotate({name}={agg!r}): filter= is not supported over the "
                                 f"elements of a list across {first!r}")
            out[name] = Annotation(inner, source._meta.get_field(reverse.field_name), source, bound)
            continue
        own = _get_field(model, first)
        if isinstance(own, _fields.ListField) and not rest and isinstance(agg, Count):
            if agg.filter is not None and not isinstance(own, _fields.ManyToManyField):
                raise FieldError(f"annotate({name}={agg!r}): filter= takes lookups across a "
                                 f"relation; {model.__name__}.{own.name} is a list of values")
            wanted = _across(agg, first)
            if wanted is not None:
                from .conditions import compile_q

                compile_q(getattr(own, "to_model"), wanted)  # checked now
                agg = type(agg)(first, distinct=agg.distinct, filter=wanted)
            out[name] = Annotation(agg, own)
            continue
        raise FieldError(f"annotate({name}={agg!r}): an annotation aggregates the objects of a "
                         f"reverse relation of {model.__name__} (Count, Sum, Min, Max, Avg), or "
                         "counts the elements of one of its list fields")
    return out


def _across(agg: Aggregate, relation: str) -> Any:
    """An annotation's ``filter=Q(books__rating=5)`` (its lookups relative
    to the annotated model, as Django's) as lookups on the related model
    (``Q(rating=5)``); a lookup that does not cross ``relation`` is a
    ``FieldError`` naming it."""
    if agg.filter is None:
        return None

    def strip(q: Q) -> Q:
        out = Q()
        out.connector, out.negated = q.connector, q.negated
        for child in q.children:
            if isinstance(child, Q):
                out.children.append(strip(child))
                continue
            key, value = child
            first, _, rest = key.partition("__")
            if first != relation:
                raise FieldError(f"{agg!r}: filter= of an annotation over {relation!r} takes lookups "
                                 f"across {relation!r} ({relation}__...), not {key!r}")
            from .conditions import LOOKUPS

            parts = rest.split("__") if rest else []
            far = rest if parts and parts[0] not in LOOKUPS else "__".join(["pk", *parts])
            out.children.append((far, value))
        return out

    return strip(agg.filter)


def compute(qs: QuerySet[Any], rows: list[Row]) -> dict[str, dict[Any, Any]]:
    """Each annotation's value for each of ``rows``' objects: name -> id -> value."""
    from .planner import IN_CHUNK

    ids = [row.object_id() for row in rows]
    out: dict[str, dict[Any, Any]] = {}
    for name, how in qs._annotations.items():
        if how.source is None:  # how many elements the object's own list has (distinct: different)
            wanted = (None if how.aggregate.filter is None
                      else set(how.link.to_model.all(treeish=qs.treeish).filter(how.aggregate.filter).ids()))
            out[name] = {row.object_id(): how.aggregate.of(
                [e for e in row.get(how.link) or () if wanted is None or e in wanted]) for row in rows}
            continue
        groups: dict[Any, list[Row]] = {i: [] for i in ids}
        referrers = how.source.all(treeish=qs.treeish)
        if how.aggregate.filter is not None:  # Count("books", filter=Q(books__rating=5))
            referrers = referrers.filter(how.aggregate.filter)
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
            out[name] = agg.over(field, agg.kept(qs.model, rows, qs.treeish))
            continue
        if agg.filter is not None:
            raise FieldError(f"aggregate({name}={agg!r}): filter= is not supported over an "
                             f"annotation ({agg.field_name!r})")
        if type(agg).check is _numeric and isinstance(how.aggregate, (Min, Max)) and how.field is not None:
            _numeric(agg, how.source, how.field)  # a Sum of the latest dates: refused as a Sum of dates
        if values is None:
            values = qs._annotation_values(rows)
        by_id = values[agg.field_name]
        out[name] = agg.of(by_id.get(row.object_id()) for row in rows)
    return out


#: what an annotation can be filtered by (``n__gt=1``)
HAVING_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "in", "range", "isnull")
#: ... and by which of them against ``F()`` (``n__lt=F("rank")``)
_F_LOOKUPS = ("exact", "gt", "gte", "lt", "lte")


class Having:
    """A lookup on an annotation (``n__gt=1``, ``n__lt=F("rank")``), checked
    once its values are known: an ``F()`` reads the object's own field or
    another annotation, and a missing value matches nothing, as SQL's NULL."""

    __slots__ = ("name", "lookup", "arg", "fields")

    def __init__(self, model: Any, annotations: dict[str, Annotation], key: str, value: Any) -> None:
        from ..expressions import Expression

        name, _, lookup = key.partition("__")
        lookup = lookup or "exact"
        if lookup not in HAVING_LOOKUPS:
            raise FieldError(f"an annotation is filtered by {', '.join(HAVING_LOOKUPS)}, not {key!r}")
        self.fields: dict[str, _fields.Field[Any]] = {}
        if isinstance(value, Expression):
            if lookup not in _F_LOOKUPS:
                raise FieldError(f"{key} cannot take F(); an annotation compares with F() by "
                                 f"{', '.join(_F_LOOKUPS)}")
            for read in value.field_names():
                if read not in annotations:
                    field = _get_field(model, read)
                    if not field.stored_in_json:
                        raise FieldError(f"F({read!r}): {model.__name__}.{field.name} is a blob field")
                    self.fields[read] = field
        elif lookup in ("in", "range") and (isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")):
            raise FieldError(f"{key} takes a list of values, not {value!r}")
        elif lookup == "range" and len(value := list(value)) != 2:
            raise FieldError(f"{key} takes (low, high), not {value!r}")
        elif lookup == "isnull" and not isinstance(value, bool):
            raise FieldError(f"{key} takes True or False, not {value!r}")
        elif lookup == "in":
            value = {v for v in value if v is not None}  # IN never matches NULL
        elif lookup == "range":
            value = tuple(value)
        self.name, self.lookup, self.arg = name, lookup, value

    def passes(self, row: Row, values: dict[str, dict[Any, Any]]) -> Optional[bool]:
        """True, False, or ``None`` where SQL's answer is unknown: a missing
        value compared by anything but ``isnull`` (or ``exact`` with
        ``None``), so that ``exclude(n__gt=1)`` drops it, as Django's HAVING."""
        from ..expressions import Expression
        from .conditions import LOOKUPS

        value = values[self.name].get(row.object_id())
        arg = self.arg
        if isinstance(arg, Expression):
            arg = self._value(arg, row, values)
            if value is None or arg is None:
                return None
        elif value is None and self.lookup != "isnull" and not (self.lookup == "exact" and arg is None):
            return None
        try:
            return bool(LOOKUPS[self.lookup](value, arg))
        except (TypeError, ValueError, ArithmeticError):
            return None

    def _value(self, expression: Any, row: Row, values: dict[str, dict[Any, Any]]) -> Any:
        from .conditions import expression_value

        def read(name: str) -> Any:  # a field of the object, or another annotation
            if name in self.fields:
                return row.get(self.fields[name])
            return values[name].get(row.object_id())

        return expression_value(expression, read)


def names_annotation(annotations: dict[str, Annotation], q: Q) -> bool:
    """Whether ``q`` has a lookup on one of ``annotations``."""
    return any(names_annotation(annotations, child) if isinstance(child, Q)
               else child[0].partition("__")[0] in annotations for child in q.children)


def split(model: Any, annotations: dict[str, Annotation], args: tuple[Q, ...], lookups: dict[str, Any],
          negated: bool) -> tuple[list[Node], tuple[Q, ...], dict[str, Any]]:
    """``filter(*args, **lookups)`` (``exclude`` when ``negated``) on an
    annotated query: ``(having, args, lookups)``, the conditions that name an
    annotation, checked once they are known, and the others, for the planner.
    An ``exclude()`` that names one is checked afterwards as a whole."""
    if negated:
        whole = Q(*args, **lookups)
        if not names_annotation(annotations, whole):
            return [], args, lookups
        return [compile_having(model, annotations, ~whole)], (), {}
    having = [compile_having(model, annotations, q) for q in args if names_annotation(annotations, q)]
    mine = {k: v for k, v in lookups.items() if k.partition("__")[0] in annotations}
    if mine:
        having.append(compile_having(model, annotations, Q(**mine)))
    rest = {k: v for k, v in lookups.items() if k not in mine}
    return ([n for n in having if n.children], tuple(q for q in args if not names_annotation(annotations, q)),
            rest)


def compile_having(model: Any, annotations: dict[str, Annotation], q: Q) -> Node:
    """``q`` as a condition checked once the annotations are known: its
    lookups on annotations as :class:`Having`, the others as in ``filter()``."""
    from .conditions import parse_lookup

    children: list[Any] = []
    for child in q.children:
        if isinstance(child, Q):
            node = compile_having(model, annotations, child)
            if node.children:
                children.append(node)
        elif child[0].partition("__")[0] in annotations:
            children.append(Having(model, annotations, *child))
        else:
            children.append(parse_lookup(model, *child))
    return Node(q.connector, q.negated, children)


def kept(rows: list[Row], values: dict[str, dict[Any, Any]], conditions: list[Node],
         treeish: Any) -> list[Row]:
    """The rows that pass every condition (lookups across relations run at ``treeish``)."""
    resolved = [_resolve(node, treeish) for node in conditions]
    return [row for row in rows if all(_passes(node, row, values) is True for node in resolved)]


def _resolve(node: Any, treeish: Any) -> Any:
    if isinstance(node, Node):
        return Node(node.connector, node.negated, [_resolve(c, treeish) for c in node.children])
    return node if isinstance(node, (Having, Leaf)) else node.resolve(treeish)


def _passes(node: Any, row: Row, values: dict[str, dict[Any, Any]]) -> Optional[bool]:
    """Whether ``row`` passes ``node``, in SQL's three-valued logic (``None``: unknown)."""
    from .conditions import combine

    if isinstance(node, Having):
        return node.passes(row, values)
    if not isinstance(node, Node):
        return node.truth(row) if getattr(node, "tri", False) else bool(node(row))
    return combine(node.connector, node.negated, (_passes(child, row, values) for child in node.children))


def sort_key(values: dict[Any, Any]) -> Any:
    """A sort key of rows by an annotation: missing values first, as fields sort."""

    from .planner import _sort_key

    def key(row: Row) -> tuple[int, Any]:
        return _sort_key(values.get(row.object_id()))

    return key
