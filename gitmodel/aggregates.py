"""Aggregates over querysets: ``Count``, ``Sum``, ``Min``, ``Max``, ``Avg``,
for ``QuerySet.aggregate()`` and ``values(...).annotate(...)`` (group-by).

Values are read from the rows a query keeps (decoded field by field, no
model objects are built); ``None`` values are left out, as SQL does. The
sum of decimals is exact, as a database's numeric sum is. A sum or mean
that cannot be computed (a float past ``1.8e308``, decimals such as
``1E+999999999`` and ``1.00``, whose exact sum would have a billion digits)
is a ``FieldError`` naming the aggregate and its field, never a raw
``decimal.Overflow`` or an infinite result.
"""

from __future__ import annotations

import decimal
import math
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from .exceptions import FieldError

if TYPE_CHECKING:
    from .query.planner import Row

__all__ = ["Aggregate", "Count", "Sum", "Min", "Max", "Avg", "Values", "ValuesList"]


class Aggregate:
    """One aggregate of one field (``"pk"`` or ``"*"`` counts objects)."""

    #: the suffix of the default result name (``rank__sum``)
    function = ""

    def __init__(self, field: str, *, distinct: bool = False, filter: Any = None) -> None:
        from .query.conditions import Q

        if not isinstance(field, str) or not field:
            raise FieldError(f"{type(self).__name__}() takes a field name, not {field!r}")
        if filter is not None and not isinstance(filter, Q):
            raise FieldError(f"{type(self).__name__}({field!r}, filter=...) takes a Q object, not {filter!r}")
        self.field_name = field
        self.distinct = distinct
        #: ``filter=Q(...)``: only the rows matching it are aggregated, as Django's
        self.filter = filter

    def kept(self, model: Any, rows: list[Row], treeish: Any) -> list[Row]:
        """The rows this aggregate reads: those matching its ``filter`` (at ``treeish``)."""
        if self.filter is None:
            return rows
        from .query.conditions import compile_q

        condition = compile_q(model, self.filter).resolve(treeish)
        return [row for row in rows if condition(row)]

    @property
    def default_alias(self) -> str:
        return f"{self.field_name}__{self.function}"

    def bind(self, model: Any) -> Any:
        """The field this aggregate reads on ``model`` (``None``: the objects)."""
        from .query import _get_field

        if self.filter is not None:
            from .query.conditions import compile_q

            compile_q(model, self.filter)  # checked now: FieldError naming what is wrong
        if self.field_name in ("*", "pk") and self.function == "count":
            return None
        field = _get_field(model, self.field_name)
        if not field.stored_in_json:
            raise FieldError(f"cannot aggregate blob field {model.__name__}.{field.name}")
        self.check(model, field)
        return field

    def check(self, model: Any, field: Any) -> None:
        """Refuse a field this aggregate cannot compute over."""

    def compute(self, values: list[Any]) -> Any:
        raise NotImplementedError

    def over(self, field: Any, rows: list[Row]) -> Any:
        """This aggregate of ``field`` over ``rows``; over a list or
        many-to-many field, of their elements (Django's join rows: one per link)."""
        from .listfield import ListField
        from .query.planner import column

        if field is None:
            return len(rows)
        values = column(rows, field)
        if isinstance(field, ListField):
            values = [element for value in values if isinstance(value, list) for element in value]
        return self.of(values, getattr(field, "comparable", None), getattr(field, "model", None))

    def of(self, values: Iterable[Any], comparable: Any = None, model: Any = None) -> Any:
        """This aggregate of ``values`` (``None`` values left out, as SQL does);
        ``comparable``: the field's frame for comparing them (date-times:
        naive ones as UTC), if it has one; ``model``: the model whose field
        they are, named in errors."""
        kept = [v for v in values if v is not None]
        if self.distinct:
            kept = _distinct(kept)
        if comparable is not None and isinstance(self, (Min, Max)):
            return _extreme(self, kept, min if isinstance(self, Min) else max, comparable)
        try:
            with decimal.localcontext(wide_context()):
                return self.compute(kept)
        except _TooLarge as exc:
            reason = str(exc)
        except decimal.Overflow:
            reason = "the result is too large for a Decimal"
        except ArithmeticError as exc:  # OverflowError: an int past a float, say
            reason = f"{type(exc).__name__}: {exc}"
        owner = f" of {model.__name__}" if isinstance(model, type) else ""
        raise FieldError(f"{self!r}{owner} cannot be computed: {reason}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field_name!r})"


class _TooLarge(ArithmeticError):
    """A result too large for its type (its message says why)."""


def wide_context() -> decimal.Context:
    """The current decimal context (its precision and rounding) with the
    widest exponent range Python's decimals have, and overflow trapped: a
    stored ``1E+999999999`` (or ``1E-999999999``) computes as it is, rather
    than overflowing (or rounding to zero) in the default context's range,
    and a result past even that range is an error, never ``Infinity``."""
    context = decimal.getcontext().copy()
    context.Emax, context.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
    for trap in (decimal.Overflow, decimal.InvalidOperation, decimal.DivisionByZero):
        context.traps[trap] = True
    return context


#: the most digits an exact sum of decimals may have (from the highest digit
#: of the largest value to the lowest of the most precise one)
SUM_DIGITS = 100_000


def _decimal_sum(values: list[decimal.Decimal]) -> decimal.Decimal:
    """The exact sum of ``values`` (its exponent the smallest of theirs, as
    ``Decimal`` addition gives); ``_TooLarge`` if it would have more than
    :data:`SUM_DIGITS` digits, ``decimal.Overflow`` past the largest exponent."""
    context = wide_context()
    context.prec = max(context.prec, SUM_DIGITS)
    context.traps[decimal.Inexact] = True  # rounded: the exact sum needs more digits
    try:
        with decimal.localcontext(context):
            return sum(values[1:], values[0])
    except decimal.Inexact as exc:
        if isinstance(exc, decimal.Overflow):  # (signalled with Inexact)
            raise _TooLarge("the result is too large for a Decimal") from None
        raise _TooLarge(f"its values are too far apart in magnitude to add up exactly "
                        f"(the sum would have more than {SUM_DIGITS} digits)") from None


def _checked_sum(values: list[Any]) -> Any:
    """``sum(values)`` (decimals: exactly); ``_TooLarge`` for finite floats
    whose sum is not."""
    if all(isinstance(v, decimal.Decimal) for v in values):
        return _decimal_sum(values)
    total = sum(values)
    if isinstance(total, float) and not math.isfinite(total) and all(
            math.isfinite(v) for v in values if isinstance(v, float)):
        raise _TooLarge("the sum is too large for a float")
    return total


def _distinct(values: list[Any]) -> list[Any]:
    """``values`` with repeats left out; a list or dict (unhashable) by its JSON form."""
    seen: dict[Any, Any] = {}
    for value in values:
        try:
            key: Any = (0, value)
            hash(value)
        except TypeError:
            key = (1, _group_key(value))
        seen.setdefault(key, value)
    return list(seen.values())


def _numeric(aggregate: Aggregate, model: Any, field: Any) -> None:
    from . import fields

    if not isinstance(field, (fields.IntegerField, fields.FloatField, fields.DecimalField)):
        raise FieldError(
            f"{type(aggregate).__name__}() needs a number field; "
            f"{model.__name__}.{field.name} is a {type(field).__name__}"
        )


class Count(Aggregate):
    """How many objects (``Count("pk")``) or non-null values."""

    function = "count"

    def compute(self, values: list[Any]) -> int:
        return len(values)


class Sum(Aggregate):
    """The sum of a number field (``None`` when there is nothing to add)."""

    function = "sum"
    check = _numeric

    def compute(self, values: list[Any]) -> Any:
        return _checked_sum(values) if values else None


class Avg(Aggregate):
    """The mean of a number field (a ``Decimal`` for a decimal field)."""

    function = "avg"
    check = _numeric

    def compute(self, values: list[Any]) -> Any:
        if not values:
            return None
        floats = all(isinstance(v, float) for v in values)
        try:
            total = _checked_sum(values)
        except _TooLarge:
            if not floats:
                raise
            # finite floats whose sum is not: their mean is (each divided first)
            return math.fsum(v / len(values) for v in values)
        if isinstance(total, decimal.Decimal):
            return total / decimal.Decimal(len(values))
        try:
            return total / len(values)
        except OverflowError:  # whole numbers: a mean past the largest float
            raise _TooLarge("the mean is too large for a float") from None


class Min(Aggregate):
    """The smallest value."""

    function = "min"

    def compute(self, values: list[Any]) -> Any:
        return _extreme(self, values, min)


class Max(Aggregate):
    """The largest value."""

    function = "max"

    def compute(self, values: list[Any]) -> Any:
        return _extreme(self, values, max)


def _extreme(aggregate: Aggregate, values: list[Any], pick: Any, key: Any = None) -> Any:
    if not values:
        return None
    try:
        return pick(values, key=key)
    except TypeError:
        raise FieldError(f"{aggregate!r}: the values cannot be compared") from None


def named(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Aggregate]:
    """Result name -> aggregate, for ``aggregate(Count("pk"), top=Max("rank"))``."""
    out: dict[str, Aggregate] = {}
    for agg in args:
        if not isinstance(agg, Aggregate):
            raise FieldError(f"aggregate() takes Count, Sum, Min, Max or Avg, not {agg!r}")
        out[agg.default_alias] = agg
    for name, agg in kwargs.items():
        if not isinstance(agg, Aggregate):
            raise FieldError(f"{name}= takes Count, Sum, Min, Max or Avg, not {agg!r}")
        out[name] = agg
    if not out:
        raise FieldError("aggregate() needs at least one aggregate")
    return out


def aggregate(model: Any, rows: list[Row], aggregates: dict[str, Aggregate],
              treeish: Any = None) -> dict[str, Any]:
    """Compute each aggregate over ``rows`` (those its ``filter`` keeps,
    lookups across relations read at ``treeish``)."""
    bound = {name: (agg, agg.bind(model)) for name, agg in aggregates.items()}
    return {name: agg.over(field, agg.kept(model, rows, treeish)) for name, (agg, field) in bound.items()}


class Values(list):  # type: ignore[type-arg]
    """The list ``values()`` returns; ``annotate()`` groups it, ``distinct()``
    drops repeated dicts."""

    def __init__(self, items: Iterable[dict[str, Any]], model: Any = None,
                 rows: Optional[list[Row]] = None, names: tuple[str, ...] = (),
                 json_safe: bool = False) -> None:
        super().__init__(items)
        self._model = model
        self._rows = rows
        self._names = names
        self._json_safe = json_safe
        #: the revision of the rows (where an aggregate's ``filter=`` reads relations)
        self.treeish: Any = None

    def annotate(self, *args: Aggregate, **kwargs: Aggregate) -> Values:
        """One dict per distinct combination of the chosen fields, with each
        aggregate computed over that group: ``values("author").annotate(n=Count("pk"))``."""
        if self._rows is None or not self._names:
            raise FieldError("annotate() follows values() with the fields to group by")
        aggregates = named(args, kwargs)
        clash = set(aggregates) & set(self._names)
        if clash:
            raise FieldError(f"annotate() name {sorted(clash)[0]!r} is also a grouped field")
        groups: dict[str, tuple[dict[str, Any], list[Row]]] = {}
        for item, row in zip(self, self._rows):
            key = _group_key(item)
            groups.setdefault(key, (item, []))[1].append(row)
        out = []
        for item, rows in groups.values():
            out.append({**item, **aggregate(self._model, rows, aggregates, self.treeish)})
        return Values(out, self._model, None, self._names, self._json_safe)

    def distinct(self) -> Values:
        """The dicts with repeats left out (first occurrence kept)."""
        seen: dict[str, dict[str, Any]] = {}
        for item in self:
            seen.setdefault(_group_key(item), item)
        return Values(seen.values(), self._model, None, self._names, self._json_safe)

    def count(self, *value: Any) -> int:  # type: ignore[override]
        """How many dicts there are (``count(x)``: how often ``x`` is one, as a list's)."""
        return super().count(*value) if value else len(self)

    def filter(self, **lookups: Any) -> Values:
        """The dicts whose keys match ``lookups`` (``n__gt=1``: Django's HAVING
        after ``values(...).annotate(n=...)``), by the lookups of :data:`_ROW_LOOKUPS`."""
        tests = _row_tests(self, lookups)
        return self._kept([item for item in self if all(test(item) for test in tests)])

    def exclude(self, **lookups: Any) -> Values:
        """The dicts for which the lookups together are false (an unknown
        value, ``None`` compared, is left out of both, as SQL's NULL)."""
        tests = _row_tests(self, lookups)
        return self._kept([item for item in self if any(test(item) is False for test in tests)])

    def get(self, **lookups: Any) -> dict[str, Any]:
        """The one dict matching ``lookups``; the model's ``DoesNotExist`` or
        ``MultipleObjectsReturned`` otherwise, as a queryset's ``get()``."""
        from .exceptions import MultipleObjectsReturned, ObjectDoesNotExist

        found = self.filter(**lookups) if lookups else self
        if len(found) == 1:
            return found[0]  # type: ignore[no-any-return]
        name = getattr(self._model, "__name__", "value")
        if not found:
            raise getattr(self._model, "DoesNotExist", ObjectDoesNotExist)(f"no {name} values match {lookups}")
        raise getattr(self._model, "MultipleObjectsReturned", MultipleObjectsReturned)(
            f"{len(found)} {name} values match {lookups}")

    def first(self) -> Optional[dict[str, Any]]:
        """The first dict, or ``None``."""
        return self[0] if self else None

    def last(self) -> Optional[dict[str, Any]]:
        """The last dict, or ``None``."""
        return self[-1] if self else None

    def exists(self) -> bool:
        return bool(self)

    def _kept(self, items: list[dict[str, Any]]) -> Values:
        kept = Values(items, self._model, None, self._names, self._json_safe)
        kept.treeish = self.treeish
        return kept

    def order_by(self, *names: str) -> Values:
        """The dicts sorted by their keys ``names`` (``"-n"`` descending), as
        after ``annotate()``: ``values("author").annotate(n=Count("pk")).order_by("-n")``.
        Missing values sort first, as in a query."""
        keys = set().union(*(item.keys() for item in self)) if self else set(self._names)
        by_name = self._model._meta._by_name if self._model is not None else {}
        frames = {name: frame for name in keys  # (a list field: its elements' frame)
                  if (frame := getattr(by_name.get(name), "comparable", None)
                      or getattr(getattr(by_name.get(name), "base_field", None), "comparable", None)) is not None}
        return Values(_sorted(list(self), names, keys, lambda item, name: item.get(name), frames),
                      self._model, None, self._names, self._json_safe)


class ValuesList(list):  # type: ignore[type-arg]
    """The list ``values_list()`` returns: tuples (or, ``flat``, values)
    with ``distinct()`` and ``order_by()`` over the chosen fields."""

    def __init__(self, items: Iterable[Any], names: tuple[str, ...], flat: bool = False) -> None:
        super().__init__(items)
        self._names = names
        self._flat = flat

    def distinct(self) -> ValuesList:
        """The items with repeats left out (first occurrence kept)."""
        seen: dict[str, Any] = {}
        for item in self:
            seen.setdefault(_group_key(item), item)
        return ValuesList(seen.values(), self._names, self._flat)

    def count(self, *value: Any) -> int:  # type: ignore[override]
        """How many items there are (``count(x)``: how often ``x`` is one, as a list's)."""
        return super().count(*value) if value else len(self)

    def first(self) -> Any:
        """The first item, or ``None``."""
        return self[0] if self else None

    def last(self) -> Any:
        """The last item, or ``None``."""
        return self[-1] if self else None

    def exists(self) -> bool:
        return bool(self)

    def order_by(self, *names: str) -> ValuesList:
        """The items sorted by the chosen fields ``names`` (``"-name"`` descending)."""
        position = {name: i for i, name in enumerate(self._names)}
        if self._flat:
            return ValuesList(_sorted(list(self), names, set(position), lambda item, _name: item),
                              self._names, True)
        return ValuesList(_sorted(list(self), names, set(position), lambda item, name: item[position[name]]),
                          self._names, False)


#: the lookups :meth:`Values.filter` takes on a dict's keys: True, False or
#: ``None`` (unknown: a missing value compared)
_ROW_LOOKUPS: dict[str, Callable[[Any, Any], Optional[bool]]] = {
    "exact": lambda v, x: (v is None) if x is None else (None if v is None else v == x),
    "gt": lambda v, x: None if v is None else v > x,
    "gte": lambda v, x: None if v is None else v >= x,
    "lt": lambda v, x: None if v is None else v < x,
    "lte": lambda v, x: None if v is None else v <= x,
    "in": lambda v, x: None if v is None else v in x,
    "isnull": lambda v, x: (v is None) == bool(x),
}


def _row_tests(values: Values, lookups: dict[str, Any]) -> list[Callable[[dict[str, Any]], Optional[bool]]]:
    """One test per lookup ``key__op=value`` on the dicts of ``values``;
    ``FieldError`` for a key they lack or an operation not in :data:`_ROW_LOOKUPS`."""
    keys = set().union(*(item.keys() for item in values)) if values else set(values._names)
    by_name = values._model._meta._by_name if values._model is not None else {}
    tests: list[Callable[[dict[str, Any]], Optional[bool]]] = []
    for lookup, expected in lookups.items():
        key, _, op = lookup.partition("__")
        op = op or "exact"
        if key not in keys and keys:
            raise FieldError(f"values() rows have no {key!r}: choose from {sorted(keys)} "
                             "(filter the queryset before values() on other fields)")
        compare = _ROW_LOOKUPS.get(op)
        if compare is None:
            raise FieldError(f"values() rows take the lookups {sorted(_ROW_LOOKUPS)}, not {op!r}")
        if op == "in" and (isinstance(expected, (str, bytes)) or not hasattr(expected, "__iter__")):
            raise FieldError(f'"{lookup}" takes a list of values, not {expected!r}')

        # a field's missing value is false (exclude keeps it, as Django's does for a
        # nullable column); an aggregate's is unknown (exclude drops it, as SQL does)
        plain = key in by_name

        def test(item: dict[str, Any], key: str = key, compare: Any = compare, plain: bool = plain,
                 expected: Any = list(expected) if op == "in" else expected) -> Optional[bool]:
            try:
                found = compare(item.get(key), expected)
            except TypeError:  # values of kinds that do not compare: no match
                return False
            return False if found is None and plain else found  # type: ignore[no-any-return]
        tests.append(test)
    return tests


def _sorted(items: list[Any], names: tuple[str, ...], known: set[str], value: Any,
            frames: Optional[dict[str, Any]] = None) -> list[Any]:
    """``items`` sorted by ``names`` (each a known key, ``-`` for descending);
    ``frames``: the fields' frames for comparing values (naive date-times as UTC)."""
    from .query.columns import sort_key

    for name in reversed(names):
        if not isinstance(name, str) or name.lstrip("-") not in known:
            raise FieldError(f"cannot order by {name!r}: choose from {sorted(known)}")
        bare = name.lstrip("-")
        frame = (frames or {}).get(bare)

        def key(item: Any, bare: str = bare, frame: Any = frame) -> Any:
            found = value(item, bare)
            return sort_key(found, frame)  # (each leaf value in the field's frame)

        try:
            items.sort(key=key, reverse=name.startswith("-"))
        except TypeError:
            raise FieldError(f"cannot order by {bare!r}: its values are of kinds that do not compare") from None
    return items


def _group_key(item: dict[str, Any]) -> str:
    import json

    return json.dumps(item, sort_keys=True, default=repr)
