"""Conditions: ``Q`` objects, the lookups they name, and what they compile
to (``Leaf`` tests on one field, ``Node`` groups, and lookups across a
relation, a many-to-many field or a reverse relation, resolved to ids at
the query's commit). Knows fields and models, not how rows are found."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

from .. import fields as _fields
from ..exceptions import FieldError, ValidationError

if TYPE_CHECKING:
    from .planner import Row


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
    "regex": lambda v, a: isinstance(v, str) and a.search(v),  # a: see gitmodel.query.regex
    "iregex": lambda v, a: isinstance(v, str) and a.search(v),
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

    def __bool__(self) -> bool:
        """False for an empty ``Q()``, which ``&`` and ``|`` drop, as Django's."""
        return bool(self.children)

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        if not other or not self:  # Q() | Q(rank=1) is Q(rank=1)
            kept = copy.copy(other if not self else self)
            kept.children = list(kept.children)
            return kept
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
    (across a ``ManyToManyField``: one of its ids in ``ids``). ``q`` is the
    condition on the target, all of it held by one target (the lookups of
    one ``filter()`` call on the same relation, see :mod:`.joins`)."""

    __slots__ = ("field", "q", "model")

    def __init__(self, field: Any, q: Q, model: Any) -> None:
        self.field = field
        self.q = q
        self.model = model

    def resolve(self, treeish: Any) -> Leaf:
        ids: set[Any] = set(self.model.all(treeish=treeish).filter(self.q).ids())
        if q_matches_null(self.q):  # as SQL's LEFT JOIN: no target matches too
            ids.add(None)
        leaf = Leaf(self.field, [], "in", ids)
        if getattr(self.field, "many", False):  # a many-to-many field: one of its targets matches
            leaf.test = _shares_an_element
        return leaf


def q_matches_null(q: Q) -> bool:
    """Whether ``q`` holds for a related object that is not there, as its
    lookups do through Django's LEFT OUTER JOIN (see :func:`matches_null`)."""
    found = [q_matches_null(c) if isinstance(c, Q) else matches_null(*c) for c in q.children]
    hit = all(found) if q.connector == Q.AND else any(found)
    return hit != q.negated


def matches_null(key: str, value: Any) -> bool:
    """Whether the lookup ``key=value`` holds for a related object that is
    not there (``name__isnull=True``, ``name=None``), as it does through
    Django's LEFT OUTER JOIN."""
    last = key.rsplit("__", 1)[-1]
    if last == "isnull":
        return value is True
    return value is None and (last not in LOOKUPS or last in ("exact", "iexact"))


@dataclasses.dataclass(frozen=True)
class Reverse:
    """A lookup across a reverse relation (``author.pages``): resolved to
    ``pk__in`` the ids the source objects matching ``q`` refer to
    (``negated``: not in)."""

    id_field: _fields.Field[Any]
    source: Any
    field: Any
    q: Q
    negated: bool = False

    def resolve(self, treeish: Any) -> Union[Leaf, Node]:
        leaf = Leaf(self.id_field, [], "in", self._referred(treeish, self.q))
        if self.negated:
            return Node(Q.AND, True, [leaf])
        if q_matches_null(self.q):  # as SQL's LEFT JOIN: referred to by none too
            unreferred = Node(Q.AND, True, [Leaf(self.id_field, [], "in", self._referred(treeish, Q()))])
            return Node(Q.OR, False, [leaf, unreferred])
        return leaf

    def _referred(self, treeish: Any, q: Q) -> set[Any]:
        """The ids the source objects matching ``q`` refer to."""
        ids: set[Any] = set()
        found = self.source.all(treeish=treeish).filter(q)
        for value in found.values_list(self.field.name, flat=True):
            ids.update(self.field.referenced_ids(value))
        return ids


def _shares_an_element(value: Any, ids: set[Any]) -> bool:
    if not value:  # no target: only a lookup that holds for a missing one (None in ids)
        return None in ids
    return isinstance(value, list) and any(isinstance(v, str) and v in ids for v in value)


class Node:
    """AND / OR of children, possibly negated. A group holding a comparison
    that can be unknown (``Against``: SQL's NULL) is evaluated in SQL's
    three-valued logic, so that its negation drops an unknown as SQL does."""

    __slots__ = ("connector", "negated", "children", "tri")

    def __init__(self, connector: str, negated: bool, children: list[Any]) -> None:
        self.connector = connector
        self.negated = negated
        self.children = children
        #: some child can be unknown: evaluate with :meth:`truth`
        self.tri = any(getattr(child, "tri", False) for child in children)

    def __call__(self, row: Row) -> bool:
        if self.tri:
            return self.truth(row) is True
        if self.connector == Q.AND:
            for child in self.children:
                if not child(row):
                    return self.negated
            return not self.negated
        for child in self.children:
            if child(row):
                return not self.negated
        return self.negated

    def truth(self, row: Row) -> Optional[bool]:
        """True, False or ``None`` (unknown), as SQL evaluates the condition."""
        return combine(self.connector, self.negated,
                       (child.truth(row) if getattr(child, "tri", False) else bool(child(row))
                        for child in self.children))

    def resolve(self, treeish: Any) -> Any:
        """This condition with related lookups run (at ``treeish``) and
        single-child groups unwrapped: a ``Node`` or a ``Leaf``."""
        children = [c.resolve(treeish) if not isinstance(c, Leaf) else c for c in self.children]
        if len(children) == 1 and not self.negated:
            return children[0]
        return Node(self.connector, self.negated, children)


def combine(connector: str, negated: bool, truths: Iterable[Optional[bool]]) -> Optional[bool]:
    """SQL's three-valued AND / OR of ``truths`` (``None``: unknown), negated
    if ``negated`` (the negation of unknown is unknown)."""
    decisive = connector != Q.AND  # False decides an AND, True an OR
    unknown = False
    for truth in truths:
        if truth is decisive:
            return decisive != negated
        unknown = unknown or truth is None
    return None if unknown else (not decisive) != negated


def compile_q(model: Any, q: Q, negated: bool = False) -> Node:
    """Check every lookup of ``q`` against ``model`` and build the condition
    (an empty ``Q()`` inside it is left out, as Django leaves it out). The
    lookups ANDed in ``q`` (not under a negation, ``negated``) that cross
    the same relation are held by one related object (see :mod:`.joins`)."""
    from .joins import Joined, grouped

    negated = negated or q.negated
    items: list[Any] = list(q.children)
    if not negated and q.connector == Q.AND and len(items) > 1:
        items = grouped(model, items)
    children: list[Any] = []
    for child in items:
        if isinstance(child, Joined):
            children.append(joined(model, child.name, child.q()))
        elif isinstance(child, Q):
            node = compile_q(model, child, negated)
            if node.children:
                children.append(node)
        else:
            children.append(parse_lookup(model, child[0], child[1]))
    return Node(q.connector, q.negated, children)


def joined(model: Any, name: str, q: Q) -> Union[Related, Reverse]:
    """The condition ``q`` (on the related model) held by one object across
    the relation ``name`` of ``model``, checked now."""
    field = model._meta._by_name.get(name)
    if field is None:
        from ..relations import reverse_relation

        reverse = reverse_relation(model, name)
        if reverse is None:
            _get_field(model, name)  # raises: no such field
            raise FieldError(f'{model.__name__} has no relation "{name}"')
        source = model._meta.require_workspace("query").models[reverse.source]
        compile_q(source, q)  # checks the far side now
        return Reverse(_get_field(model, "pk"), source, source._meta.get_field(reverse.field_name), q)
    compile_q(field.to_model, q)  # checks the far side now
    return Related(field, q, field.to_model)


def _get_field(model: Any, name: str) -> _fields.Field[Any]:
    opts = model._meta
    if name == "pk":
        name = opts.id_attr
    field = opts._by_name.get(name)
    if field is None:
        choices = ", ".join(f.name for f in opts.fields)
        raise FieldError(f'{model.__name__} has no field "{name}" (choices: {choices})')
    return field  # type: ignore[no-any-return]


def id_alias(model: Any, name: str) -> Any:
    """The relation to one object ``name`` names as Django's ``author_id``
    (the id it holds), or ``None``."""
    if not name.endswith("_id") or name in model._meta._by_name:
        return None
    from ..relations import RelatedField

    field = model._meta._by_name.get(name[:-3])
    return field if isinstance(field, RelatedField) else None


def plain_name(model: Any, name: str) -> str:
    """``name`` with Django's ``author_id`` read as the relation ``author``
    (whose stored value is that id)."""
    field = id_alias(model, name)
    return name if field is None else field.name


def parse_lookup(model: Any, key: str, value: Any) -> Union[Leaf, Related, Reverse, "Against"]:
    """``'author__name__startswith'`` -> a checked condition, or ``FieldError``."""
    name, *rest = key.split("__")
    alias = id_alias(model, name)
    if alias is not None:  # author_id="ann", author_id__in=[...]: the id the relation holds
        if len(rest) > 1 or (rest and rest[0] not in LOOKUPS):
            raise FieldError(f'unknown lookup "{"__".join(rest)}" on {model.__name__}.{name}: it is '
                             f"the id {alias.name!r} holds (lookups: {', '.join(LOOKUPS)})")
        name = alias.name
    from ..relations import reverse_relation

    reverse = reverse_relation(model, name) if name not in model._meta._by_name else None
    if reverse is not None:  # Author.filter(pages__rank__gt=3): the authors of such pages
        source = model._meta.require_workspace("query").models[reverse.source]
        absent = rest == ["isnull"]  # pages__isnull=True: the authors of no page
        if absent and not isinstance(value, bool):
            raise FieldError(f"{model.__name__}.filter({key}=...) takes True or False")
        far = "__".join(rest) if rest and rest[0] not in LOOKUPS else "__".join(["pk", *rest])
        sub_key, sub_value = ("pk__isnull", False) if absent else (far, value)
        if far.startswith("pk"):  # articles=<obj>, articles__in=[...]: objects of the source model
            _check_instances(name, source, value)
        compile_q(source, Q(**{sub_key: sub_value}))  # checks the far side now
        return Reverse(_get_field(model, "pk"), source, source._meta.get_field(reverse.field_name),
                       Q(**{sub_key: sub_value}), negated=absent and value)
    field = _get_field(model, name)
    if not field.stored_in_json:
        raise FieldError(f'{model.__name__}.{field.name} is stored as a blob and cannot be queried')
    if isinstance(field, _fields.RelatedField):
        target = field.to_model
        if rest and rest[0] not in LOOKUPS:
            if rest[0] in ("pk", target._meta.id_attr):
                rest = rest[1:]
            else:
                return joined(model, name, Q(**{"__".join(rest): value}))
    if isinstance(field, _fields.ManyToManyField) and (rest == ["in"] or (
            rest in ([], ["exact"]) and value is not None and not isinstance(value, (list, tuple)))):
        return _m2m_elements(field, rest[0] if rest else "exact", value)
    if isinstance(field, _fields.ManyToManyField) and rest and rest[0] not in _LIST_LOOKUPS:
        # tags__label="Python": the objects one of whose targets matches
        return joined(model, name, Q(**{"__".join(rest): value}))
    if isinstance(field, (_fields.DateField, _fields.DateTimeField)) and rest and rest[0] in _DATE_PARTS:
        return _date_part_lookup(model, field, rest, value)
    if isinstance(field, _fields.ListField):
        return _list_lookup(model, field, rest, value)
    if isinstance(field, _fields.JSONField):
        from . import jsonlookups

        if rest and rest[-1] in jsonlookups.KEY_LOOKUPS:  # meta__has_key="lang"
            wanted, test = jsonlookups.key_test(field.name, rest[-1], value)
            leaf = Leaf(field, rest[:-1], "exact", wanted)
            leaf.test, leaf.lookup = test, rest[-1]  # not a lookup the index plans
            return leaf
        if rest and rest[-1] == "contains" and isinstance(value, (dict, list)):  # JSON containment
            leaf = Leaf(field, rest[:-1], "contains", value)
            leaf.test = jsonlookups.contains
            return leaf
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
    from ..expressions import Expression

    if isinstance(value, Expression):  # views__gt=F("likes"): against the object's own values
        return Against(model, field, lookup, value)
    return Leaf(field, [], lookup, _prepare(field, lookup, value))


#: the lookups that compare a field with an ``F()`` expression
_AGAINST_LOOKUPS = ("exact", "gt", "gte", "lt", "lte")


class Against:
    """``views__gt=F("likes") * 2``: a field compared with an expression of
    the same object's fields, row by row (the index never decides it). A
    value that is missing, or an expression that cannot be computed for an
    object (``None + 1``, a division by zero), matches nothing, as SQL's
    NULL does."""

    __slots__ = ("model", "field", "lookup", "expression", "test", "fields")

    def __init__(self, model: Any, field: _fields.Field[Any], lookup: str, expression: Any) -> None:
        if lookup not in _AGAINST_LOOKUPS:
            raise FieldError(f'"{field.name}__{lookup}" cannot take F(); a field compares with '
                             f"F() by {', '.join(_AGAINST_LOOKUPS)}")
        self.model, self.field, self.lookup, self.expression = model, field, lookup, expression
        self.test = LOOKUPS[lookup]
        self.fields: dict[str, _fields.Field[Any]] = {}
        for name in expression.field_names():
            found = _get_field(model, name)
            if not found.stored_in_json:
                raise FieldError(f"F({name!r}): {model.__name__}.{found.name} is a blob field")
            self.fields[name] = found

    def resolve(self, treeish: Any) -> Node:
        return Node(Q.AND, False, [self])  # a group: the planner plans only plain leaves

    #: can be unknown (see :meth:`truth`)
    tri = True

    def __call__(self, row: Row) -> bool:
        return self.truth(row) is True

    def truth(self, row: Row) -> Optional[bool]:
        """As SQL's comparison under Django's rules: a missing value of the
        field, or of a plain ``F("field")``, is false (Django adds ``IS NOT
        NULL`` for them, so a negation keeps the object); an expression that
        cannot be computed (``F("rating") * 60`` of a missing rating) is
        unknown, so its negation does not hold either."""
        from ..expressions import F

        value = row.get(self.field)
        if value is None:
            return False
        other = self._value(self.expression, row)
        if other is None:
            return False if isinstance(self.expression, F) else None
        comparable = getattr(self.field, "comparable", None)
        try:
            if comparable is not None:
                value, other = comparable(value), comparable(other)
            return bool(self.test(value, other))
        except (TypeError, ValueError, ArithmeticError):
            return None

    def _value(self, expression: Any, row: Row) -> Any:
        return expression_value(expression, lambda name: row.get(self.fields[name]))


def expression_value(expression: Any, read: Callable[[str], Any]) -> Any:
    """The value of an ``F()`` expression, ``read(name)`` giving each ``F``'s;
    ``None`` where an operand is missing or the operation fails, as SQL's NULL
    (decimals are computed in the widest exponent range, so that a stored
    ``1E-999999999`` times 10 is not rounded to zero)."""
    from ..aggregates import wide_context

    with decimal.localcontext(wide_context()):
        return _expression_value(expression, read)


def _expression_value(expression: Any, read: Callable[[str], Any]) -> Any:
    from ..expressions import Combined, F

    if isinstance(expression, F):
        return read(expression.name)
    if not isinstance(expression, Combined):
        return expression  # a plain value inside the expression
    left, right = _expression_value(expression.left, read), _expression_value(expression.right, read)
    if left is None or right is None:
        return None
    try:
        return expression.op(left, right)
    except (TypeError, ValueError, ArithmeticError):
        return None


#: parts of a date or date-time a lookup can name (``published__year=2024``)
_DATE_PARTS = ("year", "month", "day", "date")
#: how a part compares with the argument (``published__year__gte=2020``)
_PART_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "in", "range")


def _date_part_lookup(model: Any, field: _fields.Field[Any], rest: list[str], value: Any) -> Leaf:
    """``published__year=2024``, ``published__month__in=[1, 2]``,
    ``when__date=date(2024, 5, 1)``: a part of each value, compared. A
    date-time's parts are read in UTC (or the field's declared zone), the
    frame its filters compare in. Answered by reading the values, never by
    an index range."""
    part = rest[0]
    lookup = rest[1] if len(rest) == 2 else "exact" if len(rest) == 1 else ""
    if lookup not in _PART_LOOKUPS or (part == "date" and not isinstance(field, _fields.DateTimeField)):
        raise FieldError(f'unknown lookup "{"__".join(rest)}" on {model.__name__}.{field.name} '
                         f"(a date's parts: {', '.join(_DATE_PARTS)}, each with {', '.join(_PART_LOOKUPS)})")
    day_field = _fields.DateField()
    day_field.name = f"{field.name}__date"  # named in its errors

    def cast(item: Any) -> Any:
        if part == "date":
            return day_field.to_python(item)
        if isinstance(item, bool) or not isinstance(item, (int, str)) or not str(item).strip().isdigit():
            raise FieldError(f'"{field.name}__{part}" takes a whole number, not {item!r}')
        try:
            return int(item)
        except ValueError:  # "²" is a digit but no number; longer than int() reads
            raise FieldError(f'"{field.name}__{part}" takes a whole number, not {item!r:.40}') from None

    if lookup == "in":
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise FieldError(f'"{field.name}__{part}__in" takes a list of values, not {value!r}')
        arg: Any = {cast(v) for v in value if v is not None}  # IN never matches NULL
    elif lookup == "range":
        try:
            low, high = value
        except (TypeError, ValueError):
            raise FieldError(f'"{field.name}__{part}__range" takes (low, high), not {value!r}') from None
        arg = (cast(low), cast(high))
    else:
        arg = cast(value)
    frame = getattr(field, "timezone", None) or dt.timezone.utc
    test = LOOKUPS[lookup]

    def part_of(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            value = in_frame(value, frame)
            if value is None:  # its instant has no date in the frame: matches nothing
                return None
            return value.date() if part == "date" else getattr(value, part)
        return getattr(value, part) if isinstance(value, dt.date) else None

    leaf = Leaf(field, [], lookup, arg)
    leaf.test = lambda value, arg: test(part_of(value), arg)
    leaf.lookup = f"{part}__{lookup}"  # not a lookup the index plans: values are read
    return leaf


def day_of(field: _fields.Field[Any], value: Any) -> Any:
    """The day of a date, or of a date-time in its field's frame (its
    declared zone, else UTC; a naive one counts as UTC); ``None`` otherwise,
    and for a date-time whose instant has no date in the frame."""
    if isinstance(value, dt.datetime):
        found = in_frame(value, getattr(field, "timezone", None) or dt.timezone.utc)
        return None if found is None else found.date()
    return value if isinstance(value, dt.date) else None


def in_frame(value: dt.datetime, frame: dt.tzinfo) -> Any:
    """An aware ``value`` as the same instant in ``frame`` (a naive one as
    it is); ``None`` when that instant falls outside the years Python's
    dates hold (``9999-12-31T23:59-23:00`` is in year 10000 in UTC)."""
    if value.utcoffset() is None:
        return value
    try:
        return value.astimezone(frame)
    except (ArithmeticError, ValueError):  # OverflowError: date value out of range
        return None


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
        leaf = Leaf(field, [], lookup, _prepare(field, lookup, value))
        if isinstance(field, _fields.ManyToManyField):  # no target at all, as Django's LEFT JOIN
            leaf.test = lambda v, a: (not v) == a
        return leaf
    from ..expressions import Expression

    if isinstance(value, Expression):
        _prepare(field, lookup, value)  # refused: F() does not compare lists
    arg = field.prepare_element(value) if lookup == "contains" else field.to_python(value)
    return Leaf(field, [], lookup, arg)


def _m2m_elements(field: Any, lookup: str, value: Any) -> Leaf:
    """``tags=tag``, ``tags="web"``, ``tags__in=[...]`` or ``tags__in=<query>``
    on a many-to-many field: the objects one of whose targets is such, as
    Django's join finds them."""
    from ..models import GitModel
    from . import QuerySet

    def element(item: Any) -> Any:
        return _instance_id(field, item) if isinstance(item, GitModel) else field.prepare_element(item)

    if lookup == "exact":
        ids = {element(value)}
    elif isinstance(value, QuerySet):
        _check_query_model(field, value.model)
        ids = set(value.ids())
    elif isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise FieldError(f'"{field.name}__in" takes a list of values, not {value!r}')
    else:
        ids = {element(v) for v in value if v is not None}  # IN never matches NULL
    leaf = Leaf(field, [], "in", ids)
    leaf.test = _shares_an_element
    return leaf


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
    from ..expressions import Expression
    from ..models import GitModel

    if isinstance(value, Expression):
        raise FieldError(f'"{field.name}": F() compares a field of its own by exact, gt, gte, '
                         "lt or lte, not across a relation, a list or JSON keys")

    def one(item: Any) -> Any:
        if isinstance(item, GitModel):
            return _instance_id(field, item)
        if raw or item is None:
            return item
        return field.to_python(item)

    if lookup == "isnull":
        if not isinstance(value, bool):
            raise FieldError(f'"{field.name}__isnull" takes True or False, not {value!r}')
        return value
    if lookup == "in":
        from . import QuerySet

        if isinstance(value, QuerySet):
            _check_query_model(field, value.model)
            return set(value.ids())
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise FieldError(f'"{field.name}__in" takes a list of values, not {value!r}')
        items = [one(v) for v in value if v is not None]  # SQL's IN never matches NULL
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
    if lookup in ("regex", "iregex"):  # matched in time linear in the text
        from .regex import compile_pattern

        return compile_pattern(value, lookup == "iregex", f"{field.name}__{lookup}")
    if lookup in _TEXT_LOOKUPS:
        if isinstance(value, GitModel):
            value = _instance_id(field, value)
        if not isinstance(value, str):
            if lookup == "contains" and raw:
                return value
            raise FieldError(f'"{field.name}__{lookup}" takes a string, not {value!r}')
        return value
    return one(value)


def _instance_id(field: _fields.Field[Any], obj: Any) -> Any:
    """The id of ``obj`` as a lookup's argument on ``field``: an object of
    another model than the field refers to (or than the id field's own) is
    a ``ValidationError`` naming both, as Django's ``ValueError``."""
    from ..relations import RelationMixin

    if isinstance(field, RelationMixin):
        found = field.target_id(obj)
    else:
        owner = getattr(field, "model", None)
        if field.id and owner is not None and not isinstance(obj, owner):
            raise ValidationError(f'"{field.name}" takes a {owner.__name__} instance or id, not a '
                                  f"{type(obj).__name__} instance", field=field.name, code="wrong_model")
        found = obj.get_id()
    if found is None:  # it would match the objects with no value (Django 5 refuses it too)
        raise ValidationError(f'"{field.name}" takes a saved {type(obj).__name__}; this one has no id',
                              field=field.name, code="unsaved")
    return found


def _check_query_model(field: _fields.Field[Any], model: Any) -> None:
    """Refuse ``author__in=Tag.all()``: a query of another model than the field's."""
    from ..relations import RelationMixin

    expected = field.to_model if isinstance(field, RelationMixin) else None
    if expected is not None and model is not expected:
        raise ValidationError(f'"{field.name}__in" takes a query of {expected.__name__}, not of '
                              f"{model.__name__}", field=field.name, code="wrong_model")


def _check_instances(name: str, model: Any, value: Any) -> None:
    """Refuse ``articles=<Tag>``: an object of another model than the reverse
    relation's (``ValidationError`` naming both, as Django's ``ValueError``)."""
    from ..models import GitModel
    from . import QuerySet

    if isinstance(value, QuerySet) and value.model is not model:
        raise ValidationError(f'"{name}__in" takes a query of {model.__name__}, not of '
                              f"{value.model.__name__}", field=name, code="wrong_model")
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    for item in items:
        if isinstance(item, GitModel) and not isinstance(item, model):
            raise ValidationError(f'"{name}" takes a {model.__name__} instance or id, not a '
                                  f"{type(item).__name__} instance", field=name, code="wrong_model")
