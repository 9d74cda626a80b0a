"""Lazy querysets: filter, exclude, ``Q`` objects, ordering and lookups.

A :class:`QuerySet` names a model, a revision (``None``: the workspace with
its pending changes) and a condition; nothing is read until it is iterated
or asked for a count. Conditions are checked when ``filter()`` is called, so
a misspelt field or lookup raises :class:`~gitmodel.exceptions.FieldError`
before any data is read. Execution lives in :mod:`gitmodel.query.planner`, which
narrows the candidates with an index when one fits and scans otherwise.
"""

from __future__ import annotations

import collections
import copy
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generic,
    Iterable,
    Iterator,
    Optional,
    Sequence,
    TypeVar,
    Union,
    overload,
)

from .. import fields as _fields
from ..exceptions import CorruptObject, FieldError

if TYPE_CHECKING:
    import pygit2

    from ..aggregates import Values, ValuesList
    from ..models import GitModel
    from .planner import Row

M = TypeVar("M", bound="GitModel")

__all__ = ["Q", "QuerySet", "LOOKUPS"]

_MISSING = object()


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(value: Any, arg: Any) -> bool:
        if value is None:
            return False
        try:
            return op(value, arg)
        except TypeError:
            return False

    return test


def _contains(value: Any, arg: Any) -> bool:
    if isinstance(value, str):
        return isinstance(arg, str) and arg in value
    if isinstance(value, (list, dict)):
        return arg in value
    return False


def _icontains(value: Any, arg: Any) -> bool:
    if isinstance(value, str):
        return arg.casefold() in value.casefold()
    if isinstance(value, list):
        return any(isinstance(v, str) and v.casefold() == arg.casefold() for v in value)
    return False


def _in(value: Any, arg: Any) -> bool:
    try:
        return value in arg
    except TypeError:  # an unhashable value against a set
        return any(value == a for a in arg)


def _str_test(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, arg: isinstance(value, str) and test(value, arg)


#: lookup name -> test(stored python value, prepared argument)
LOOKUPS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": lambda v, a: v is None if a is None else (v == a and v is not None),
    "iexact": _str_test(lambda v, a: v.casefold() == a.casefold()),
    "contains": _contains,
    "icontains": _icontains,
    "startswith": _str_test(lambda v, a: v.startswith(a)),
    "istartswith": _str_test(lambda v, a: v.casefold().startswith(a.casefold())),
    "endswith": _str_test(lambda v, a: v.endswith(a)),
    "iendswith": _str_test(lambda v, a: v.casefold().endswith(a.casefold())),
    "in": _in,
    "gt": _cmp(lambda v, a: v > a),
    "gte": _cmp(lambda v, a: v >= a),
    "lt": _cmp(lambda v, a: v < a),
    "lte": _cmp(lambda v, a: v <= a),
    "range": _cmp(lambda v, a: a[0] <= v <= a[1]),
    "isnull": lambda v, a: (v is None) == a,
}
_TEXT_LOOKUPS = {"iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}


class Q:
    """A condition: ``Q(title='a') | ~Q(slug__startswith='b')``.

    Keyword arguments are ANDed; ``&``, ``|`` and ``~`` combine conditions.
    """

    AND = "AND"
    OR = "OR"

    def __init__(self, *args: Q, **kwargs: Any) -> None:
        for arg in args:
            if not isinstance(arg, Q):
                raise TypeError(f"Q() takes Q objects and keyword lookups, not {arg!r}")
        self.children: list[Union[Q, tuple[str, Any]]] = [*args, *sorted(kwargs.items())]
        self.connector = Q.AND
        self.negated = False

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        node = Q()
        node.connector = connector
        node.children = [self, other]
        return node

    def __and__(self, other: Q) -> Q:
        return self._combine(other, Q.AND)

    def __or__(self, other: Q) -> Q:
        return self._combine(other, Q.OR)

    def __invert__(self) -> Q:
        node = copy.copy(self)
        node.children = list(self.children)
        node.negated = not self.negated
        return node

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(
            repr(c) if isinstance(c, Q) else f"{c[0]}={c[1]!r}" for c in self.children
        )
        return f"<Q: {'NOT ' if self.negated else ''}({inner})>"


# -- compiled conditions -------------------------------------------------------


class Leaf:
    """One lookup on one field: ``field`` [json ``keys``] ``lookup`` ``arg``."""

    __slots__ = ("field", "keys", "lookup", "arg", "test", "comparable")

    def __init__(self, field: _fields.Field[Any], keys: list[str], lookup: str, arg: Any) -> None:
        self.field = field
        self.keys = keys
        self.lookup = lookup
        #: date and time fields compare values in one frame (see gitmodel.datefields)
        self.comparable = getattr(field, "comparable", None)
        self.arg = arg if self.comparable is None else _comparable_arg(self.comparable, lookup, arg)
        self.test = LOOKUPS[lookup]

    def __call__(self, row: Row) -> bool:
        value = row.get(self.field)
        if self.comparable is not None:
            value = self.comparable(value)
        for key in self.keys:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = None
        return self.test(value, self.arg)


def _comparable_arg(comparable: Callable[[Any], Any], lookup: str, arg: Any) -> Any:
    if lookup == "in":
        return {comparable(a) for a in arg}
    if lookup == "range":
        return tuple(comparable(a) for a in arg)
    return arg if lookup == "isnull" else comparable(arg)


class Related:
    """A lookup across a ``RelatedField``: resolved to ``field__in=ids``
    (across a ``ManyToManyField``: one of its ids in ``ids``)."""

    __slots__ = ("field", "key", "value", "model")

    def __init__(self, field: _fields.RelatedField[Any], key: str, value: Any, model: Any) -> None:
        self.field = field
        self.key = key
        self.value = value
        self.model = model

    def resolve(self, treeish: Any) -> Leaf:
        ids = set(self.model.all(treeish=treeish).filter(**{self.key: self.value}).ids())
        leaf = Leaf(self.field, [], "in", ids)
        if getattr(self.field, "many", False):  # a many-to-many field: one of its targets matches
            leaf.test = _shares_an_element
        return leaf


def _shares_an_element(value: Any, ids: set[Any]) -> bool:
    return isinstance(value, list) and any(isinstance(v, str) and v in ids for v in value)


class Node:
    """AND / OR of children, possibly negated."""

    __slots__ = ("connector", "negated", "children")

    def __init__(self, connector: str, negated: bool, children: list[Any]) -> None:
        self.connector = connector
        self.negated = negated
        self.children = children

    def __call__(self, row: Row) -> bool:
        if self.connector == Q.AND:
            for child in self.children:
                if not child(row):
                    return self.negated
            return not self.negated
        for child in self.children:
            if child(row):
                return not self.negated
        return self.negated

    def resolve(self, treeish: Any) -> Any:
        """This condition with related lookups run (at ``treeish``) and
        single-child groups unwrapped: a ``Node`` or a ``Leaf``."""
        children = [c.resolve(treeish) if not isinstance(c, Leaf) else c for c in self.children]
        if len(children) == 1 and not self.negated:
            return children[0]
        return Node(self.connector, self.negated, children)


def compile_q(model: Any, q: Q) -> Node:
    """Check every lookup of ``q`` against ``model`` and build the condition."""
    children: list[Any] = []
    for child in q.children:
        if isinstance(child, Q):
            children.append(compile_q(model, child))
        else:
            children.append(parse_lookup(model, child[0], child[1]))
    return Node(q.connector, q.negated, children)


def _get_field(model: Any, name: str) -> _fields.Field[Any]:
    opts = model._meta
    if name == "pk":
        name = opts.id_attr
    field = opts._by_name.get(name)
    if field is None:
        choices = ", ".join(f.name for f in opts.fields)
        raise FieldError(f'{model.__name__} has no field "{name}" (choices: {choices})')
    return field  # type: ignore[no-any-return]


def parse_lookup(model: Any, key: str, value: Any) -> Union[Leaf, Related]:
    """``'author__name__startswith'`` -> a checked condition, or ``FieldError``."""
    name, *rest = key.split("__")
    field = _get_field(model, name)
    if not field.stored_in_json:
        raise FieldError(f'{model.__name__}.{field.name} is stored as a blob and cannot be queried')
    if isinstance(field, _fields.RelatedField):
        target = field.to_model
        if rest and rest[0] not in LOOKUPS:
            if rest[0] in ("pk", target._meta.id_attr):
                rest = rest[1:]
            else:
                sub_key = "__".join(rest)
                compile_q(target, Q(**{sub_key: value}))  # checks the far side now
                return Related(field, sub_key, value, target)
    if isinstance(field, _fields.ManyToManyField) and rest and rest[0] not in _LIST_LOOKUPS:
        # tags__label="Python": the objects one of whose targets matches
        target = field.to_model
        sub_key = "__".join(rest)
        compile_q(target, Q(**{sub_key: value}))  # checks the far side now
        return Related(field, sub_key, value, target)  # type: ignore[arg-type]
    if isinstance(field, _fields.ListField):
        return _list_lookup(model, field, rest, value)
    if isinstance(field, _fields.JSONField):
        if rest and rest[-1] in LOOKUPS:
            keys, lookup = rest[:-1], rest[-1]
        else:
            keys, lookup = rest, "exact"
        return Leaf(field, keys, lookup, _prepare(field, lookup, value, raw=True))
    if len(rest) > 1 or (rest and rest[0] not in LOOKUPS):
        bad = rest[0] if rest[0] not in LOOKUPS else "__".join(rest)
        raise FieldError(
            f'unknown lookup "{bad}" on {model.__name__}.{field.name} '
            f"(lookups: {', '.join(LOOKUPS)})"
        )
    lookup = rest[0] if rest else "exact"
    return Leaf(field, [], lookup, _prepare(field, lookup, value))


#: what a list field can be asked: the whole list, one element, or nothing
_LIST_LOOKUPS = ("exact", "contains", "isnull")


def _list_lookup(model: Any, field: _fields.ListField, rest: list[str], value: Any) -> Leaf:
    """``tags__contains="python"``: an exact element match (never a substring)."""
    lookup = rest[0] if len(rest) == 1 else "exact" if not rest else ""
    if lookup not in _LIST_LOOKUPS:
        raise FieldError(
            f'unknown lookup "{"__".join(rest)}" on list field {model.__name__}.{field.name} '
            f"(lookups: {', '.join(_LIST_LOOKUPS)})"
        )
    if lookup == "isnull":
        return Leaf(field, [], lookup, _prepare(field, lookup, value))
    arg = field.prepare_element(value) if lookup == "contains" else field.to_python(value)
    return Leaf(field, [], lookup, arg)


def _order_field(model: Any, name: str) -> _fields.Field[Any]:
    """Check an ``order_by`` name (``title``, ``author__name``...) and return its first field."""
    return field_path(model, name, "order by")[0]


def field_path(model: Any, name: str, action: str) -> list[_fields.Field[Any]]:
    """The fields a name such as ``author__name`` goes through, each but the
    last a relation to one object and the last stored in ``data.json``;
    ``FieldError`` naming ``action`` (``"order by"``) otherwise."""
    first, *path = name.split("__")
    fields = [_get_field(model, first)]
    for part in path:
        current = fields[-1]
        if not isinstance(current, _fields.RelatedField):
            raise FieldError(f"cannot {action} {name!r} on {model.__name__}: "
                             f"{current.name!r} is not a relation to one object")
        fields.append(_get_field(current.to_model, part))
    if not fields[-1].stored_in_json:
        raise FieldError(f"cannot {action} {name!r} on {model.__name__}: {fields[-1].name!r} is a blob field")
    return fields


def _prepare(field: _fields.Field[Any], lookup: str, value: Any, raw: bool = False) -> Any:
    """Coerce a lookup's argument to what the field's values compare with."""
    from ..models import GitModel

    def one(item: Any) -> Any:
        if isinstance(item, GitModel):
            return item.get_id()
        if raw or item is None:
            return item
        return field.to_python(item)

    if lookup == "isnull":
        if not isinstance(value, bool):
            raise FieldError(f'"{field.name}__isnull" takes True or False, not {value!r}')
        return value
    if lookup == "in":
        if isinstance(value, QuerySet):
            return set(value.ids())
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise FieldError(f'"{field.name}__in" takes a list of values, not {value!r}')
        items = [one(v) for v in value]
        try:
            return set(items)
        except TypeError:
            return items
    if lookup == "range":
        try:
            low, high = value
        except (TypeError, ValueError):
            raise FieldError(f'"{field.name}__range" takes (low, high), not {value!r}') from None
        return (one(low), one(high))
    if lookup in _TEXT_LOOKUPS:
        if isinstance(value, GitModel):
            value = value.get_id()
        if not isinstance(value, str):
            if lookup == "contains" and raw:
                return value
            raise FieldError(f'"{field.name}__{lookup}" takes a string, not {value!r}')
        return value
    return one(value)


# -- the queryset ----------------------------------------------------------------


class QuerySet(Generic[M]):
    """The objects of one model at one revision; nothing is read until used.

    ``treeish`` ``None`` means the workspace, pending changes included.
    Iterating, ``len()``, ``count()`` and the like run the query once and
    keep the result; every refining method returns a new ``QuerySet``.
    """

    def __init__(self, model: type[M], treeish: Any = None, errors: str = "raise") -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f'errors must be "raise" or "skip", not {errors!r}')
        self.model = model
        self.treeish = treeish
        self._where: Optional[Node] = None
        self._order: tuple[str, ...] = ()
        self._low = 0
        self._high: Optional[int] = None
        self.errors = errors
        #: with ``errors="skip"``: a ``CorruptObject`` for each object left out
        self.skipped: list[CorruptObject] = []
        self._cache: Optional[list[M]] = None
        self._rows: Optional[list[Row]] = None
        #: relations whose targets are loaded in one batch with the objects
        self._related: tuple[str, ...] = ()
        #: keyset bound: only rows after these values of the order keys are fetched
        self._after: Optional[tuple[Any, ...]] = None

    # -- building -----------------------------------------------------------
    def _clone(self) -> QuerySet[M]:
        clone = copy.copy(self)
        clone._cache = None
        clone._rows = None
        return clone

    def _refuse_sliced(self, action: str) -> None:
        if self._low or self._high is not None:
            raise TypeError(f"cannot {action} a query once a slice has been taken")

    def _add(self, q: Q) -> QuerySet[M]:
        self._refuse_sliced("filter")
        node = compile_q(self.model, q)
        clone = self._clone()
        if clone._where is None:
            clone._where = node
        else:
            clone._where = Node(Q.AND, False, [clone._where, node])
        return clone

    def _seek_after(self, bounds: Sequence[Any]) -> QuerySet[M]:
        """Only the rows that come after ``bounds`` (one value per order key)
        in this query's order, which must end with ``pk`` (keyset pages).
        Fetching rows honours it, by SQL where the index orders the keys."""
        self._refuse_sliced("seek")
        if (not self._order or self._order[-1] != "pk" or len(bounds) != len(self._order)
                or any("__" in name for name in self._order)):
            raise FieldError("a keyset bound needs an order of the model's own fields ending "
                             "with 'pk', and one value per key")
        clone = self._clone()
        clone._after = tuple(bounds)
        return clone

    def filter(self, *args: Q, **lookups: Any) -> QuerySet[M]:
        """The objects matching every lookup (``title__startswith='a'``) and ``Q``."""
        return self._add(Q(*args, **lookups))

    def exclude(self, *args: Q, **lookups: Any) -> QuerySet[M]:
        """The objects not matching the lookups."""
        return self._add(~Q(*args, **lookups))

    def order_by(self, *names: str) -> QuerySet[M]:
        """Sort by fields; ``'-title'`` descends, ``'author__name'`` sorts by
        a related object's field. Missing values sort first."""
        self._refuse_sliced("reorder")
        for name in names:
            if not isinstance(name, str) or not name.lstrip("-"):
                raise FieldError(f"order_by() takes field names, not {name!r}")
            _order_field(self.model, name.lstrip("-"))
        clone = self._clone()
        clone._order = tuple(names)
        return clone

    def all(self) -> QuerySet[M]:
        """A fresh copy of this query (its result is read again)."""
        return self._clone()

    # -- running ------------------------------------------------------------
    def _fetch_rows(self) -> list[Row]:
        if self._rows is None:
            from .planner import execute

            try:
                rows = execute(self)
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            if self.errors == "skip":  # leave out (and report) what cannot be read
                loaded = []
                for row in rows:
                    try:
                        loaded.append((row, row.load()))
                    except CorruptObject as exc:
                        self.skipped.append(exc)
                rows = [row for row, _obj in loaded]
                self._cache = [obj for _row, obj in loaded]
                commit = self._commit()
                self.skipped = [exc.at(commit) for exc in self.skipped]
            self._rows = rows
        return self._rows

    def _commit(self) -> Any:
        from ..objects import commit_of

        return commit_of(self.model._meta.require_workspace(), self.treeish)

    def _fetch(self) -> list[M]:
        if self._cache is None:
            try:
                rows = self._fetch_rows()
                self._cache = [row.load() for row in rows]
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            if self._related and rows:
                from ..relations import prefetch

                prefetch(self.model, self._cache, self._related, rows[0].ctx.root)
        return self._cache

    def __iter__(self) -> Iterator[M]:
        return iter(self._fetch())

    def __len__(self) -> int:
        return len(self._fetch_rows())

    def __bool__(self) -> bool:
        return bool(self._fetch_rows())

    @overload
    def __getitem__(self, index: int) -> M: ...

    @overload
    def __getitem__(self, index: slice) -> QuerySet[M]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[M, QuerySet[M], list[M]]:
        if isinstance(index, slice):
            start, stop, step = index.start, index.stop, index.step
            if (start or 0) < 0 or (stop is not None and stop < 0) or step not in (None, 1):
                return self._fetch()[index]
            clone = self._clone()
            base = self._low
            clone._low = base + (start or 0)
            if stop is not None:
                clone._high = base + stop if self._high is None else min(self._high, base + stop)
            if clone._high is not None and clone._high < clone._low:
                clone._high = clone._low
            if self._rows is not None:
                clone._rows = self._rows[index]
            return clone
        if not isinstance(index, int):
            raise TypeError(f"QuerySet indices must be integers or slices, not {type(index).__name__}")
        rows = self._fetch_rows()
        return rows[index].load()  # type: ignore[no-any-return]

    def count(self) -> int:
        """How many objects match (objects are not built)."""
        if self._rows is None:
            from .answers import count

            try:
                found = count(self)
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            if found is not None:
                return found
        return len(self._fetch_rows())

    def exists(self) -> bool:
        """True if any object matches."""
        if self._rows is not None:
            return bool(self._rows)
        return bool(self[:1]._fetch_rows())

    def none(self) -> QuerySet[M]:
        """A query that matches nothing (Django's ``none()``)."""
        return self.filter(pk__in=[])

    def reverse(self) -> QuerySet[M]:
        """This query in the opposite ``order_by`` order (an unordered query
        is unchanged, as in Django)."""
        self._refuse_sliced("reverse")
        clone = self._clone()
        clone._order = tuple(_flipped(name) for name in self._order)
        return clone

    def latest(self, *fields: str) -> M:
        """The match that sorts last by ``fields`` (``'-field'`` reverses
        one); ``DoesNotExist`` if there is none."""
        return self._end(fields, "latest", latest=True)

    def earliest(self, *fields: str) -> M:
        """The match that sorts first by ``fields``; ``DoesNotExist`` if none."""
        return self._end(fields, "earliest", latest=False)

    def _end(self, fields: tuple[str, ...], action: str, latest: bool) -> M:
        if not fields:
            raise FieldError(f"{action}() takes the fields to order by")
        self._refuse_sliced(action)
        names = [*(_flipped(f) if latest else f for f in fields), "-pk" if latest else "pk"]
        found = self.order_by(*names).first()
        if found is None:
            raise self.model.DoesNotExist(f"no {self.model.__name__} matches, so none is the {action}")
        return found

    def first(self) -> Optional[M]:
        """The first match (in ``order_by`` order, else path order), or ``None``."""
        rows = self._fetch_rows() if self._rows is not None else self[:1]._fetch_rows()
        return rows[0].load() if rows else None

    def last(self) -> Optional[M]:
        """The last match, or ``None``."""
        rows = self._fetch_rows()
        return rows[-1].load() if rows else None

    def get(self, *args: Q, **lookups: Any) -> M:
        """The one object matching; ``DoesNotExist`` or ``MultipleObjectsReturned``."""
        qs = self.filter(*args, **lookups) if (args or lookups) else self
        rows = qs[:2]._fetch_rows() if qs._high is None and not qs._low else qs._fetch_rows()
        if not rows:
            raise self.model.DoesNotExist(
                f"{self.model.__name__} matching {_describe(args, lookups)} does not exist"
            )
        if len(rows) > 1:
            raise self.model.MultipleObjectsReturned(
                f"more than one {self.model.__name__} matches {_describe(args, lookups)}"
            )
        return rows[0].load()  # type: ignore[no-any-return]

    def ids(self) -> list[Any]:
        """The ids of the matches, read from paths and indexes, not objects."""
        return [row.object_id() for row in self._fetch_rows()]

    def _fields_for(self, names: tuple[str, ...]) -> list[_fields.Field[Any]]:
        if not names:
            return list(self.model._meta.json_fields)
        out = []
        for name in names:
            field = _get_field(self.model, name)
            if not field.stored_in_json:
                raise FieldError(f"{self.model.__name__}.{field.name} is a blob field")
            out.append(field)
        return out

    def values(self, *fields: str, json_safe: bool = False) -> Values:
        """One dict per match: field name -> value (related fields give ids).

        ``json_safe=True`` gives the values as stored (dates as ISO 8601
        text, decimals as strings), ready for ``json.dumps``. The list has
        ``annotate()`` (group-by aggregates) and ``distinct()``.
        """
        from ..aggregates import Values

        from .columns import columns

        rows = self._fetch_rows()
        chosen = columns(self, fields, rows, json_safe)
        return Values(({name: get(row) for name, get in chosen} for row in rows),
                      self.model, rows, tuple(name for name, _get in chosen) if fields else (), json_safe)

    def values_list(self, *fields: str, flat: bool = False, named: bool = False,
                    json_safe: bool = False) -> ValuesList:
        """One tuple per match; ``flat=True`` with one field gives plain values,
        ``named=True`` named tuples; ``json_safe=True`` as for :meth:`values`.
        The list has ``distinct()`` and ``order_by()``."""
        if flat and (len(fields) != 1 or named):
            raise TypeError("values_list(flat=True) takes exactly one field, and not named=True")
        from ..aggregates import ValuesList

        from .columns import columns

        rows = self._fetch_rows()
        chosen = columns(self, fields, rows, json_safe)
        names = tuple(name for name, _get in chosen)
        getters = [get for _name, get in chosen]
        if flat:
            return ValuesList((getters[0](row) for row in rows), names, flat=True)
        make: Any = tuple
        if named:
            make = collections.namedtuple("Row", names, rename=True)._make  # type: ignore[misc,attr-defined]
        return ValuesList((make(get(row) for get in getters) for row in rows), names)

    # -- relations, aggregates, bulk changes ----------------------------------
    def select_related(self, *names: str) -> QuerySet[M]:
        """Load the targets of the relations ``names`` in one batch with the
        objects (each target read once), so ``page.author`` costs no lookup."""
        from ..relations import RelationMixin

        for name in names:
            if not isinstance(_get_field(self.model, name), RelationMixin):
                raise FieldError(f"{self.model.__name__}.{name} is not a relation")
        return self._with_related(names)

    def _with_related(self, names: tuple[str, ...]) -> QuerySet[M]:
        clone = self._clone()
        clone._related = tuple(dict.fromkeys((*self._related, *names)))
        return clone

    def prefetch_related(self, *names: str) -> QuerySet[M]:
        """:meth:`select_related`, and also reverse queries: with
        ``Author.all().prefetch_related("pages")`` each author's ``pages``
        is read in batches with the authors, so iterating it reads nothing
        (filtering it runs a query, as in Django)."""
        from ..relations import RelationMixin, reverse_relation

        for name in names:
            if reverse_relation(self.model, name) is None and not isinstance(
                    _get_field(self.model, name), RelationMixin):
                raise FieldError(f"{self.model.__name__}.{name} is not a relation or a reverse query")
        return self._with_related(names)

    def distinct(self) -> QuerySet[M]:
        """This query: objects are distinct already (``values(...).distinct()``
        drops repeated values)."""
        return self._clone()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``{"rank__sum": ..., "n": ...}`` for ``aggregate(Sum("rank"), n=Count("pk"))``."""
        from ..aggregates import aggregate, named

        from .answers import aggregate as from_index

        aggregates = named(args, kwargs)
        bound = {name: (agg, agg.bind(self.model)) for name, agg in aggregates.items()}
        if self._rows is None:
            try:
                found = from_index(self, bound)
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            if found is not None:
                return found
        return aggregate(self.model, self._fetch_rows(), aggregates)

    def in_bulk(self, ids: Optional[Iterable[Any]] = None, *, field_name: str = "pk") -> dict[Any, M]:
        """``id -> object`` for the ``ids`` that exist (all matches if ``None``),
        read at one commit; ``field_name`` keys them by a unique field instead."""
        from ..bulkops import in_bulk

        return in_bulk(self, ids, field_name)  # type: ignore[return-value]

    def _get_each(self, ids: Iterable[Any], tree: Optional[pygit2.Tree]) -> dict[Any, M]:
        out: dict[Any, M] = {}
        for object_id in ids:
            try:
                obj = self.model.get(object_id, treeish=tree)
            except self.model.DoesNotExist:
                continue
            out[obj.get_id()] = obj
        return out

    def get_or_create(self, defaults: Optional[dict[str, Any]] = None, **lookups: Any) -> tuple[M, bool]:
        """The object matching ``lookups``, or a new one made from them and
        ``defaults`` and saved (staged); and whether it was created."""
        from ..bulkops import get_or_create

        return get_or_create(self, defaults, lookups)  # type: ignore[return-value]

    def update_or_create(self, defaults: Optional[dict[str, Any]] = None, **lookups: Any) -> tuple[M, bool]:
        """Like :meth:`get_or_create`, but an existing object gets ``defaults`` and is saved."""
        from ..bulkops import update_or_create

        return update_or_create(self, defaults, lookups)  # type: ignore[return-value]

    def update(self, commit: bool = False, **values: Any) -> int:
        """Set ``values`` on every match and save them all (validated first:
        nothing is staged if one is refused); ``commit=True`` makes it one
        commit. Returns how many objects were updated."""
        from ..bulkops import update

        return update(self, values, commit)

    def delete(self, commit: bool = False, **commit_info: Any) -> int:
        """Delete every match, with the ``on_delete`` rules of relations to
        them, staged together (``commit=True``: one commit). Returns how
        many objects were deleted, cascades included."""
        from ..bulkops import delete

        return delete(self, commit, commit_info)

    def explain(self) -> str:
        """How the query would run: which index it uses, or a scan."""
        from .planner import explain

        return explain(self)

    def __repr__(self) -> str:
        where = "" if self._where is None else " filtered"
        at = "" if self.treeish is None else f" at {self.treeish!r}"
        return f"<QuerySet {self.model.__name__}{where}{at}>"




def _flipped(name: str) -> str:
    """An ``order_by`` key in the opposite direction."""
    return name[1:] if name.startswith("-") else f"-{name}"


def _describe(args: tuple[Q, ...], lookups: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in sorted(lookups.items())]
    return ", ".join(parts) or "the query"
