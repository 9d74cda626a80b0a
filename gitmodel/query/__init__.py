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
import datetime
import random
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
from ..exceptions import CorruptObject, FieldError, RepositoryError, ValidationError
from .conditions import (
    LOOKUPS,
    Leaf,
    Node,
    Q,
    _get_field,
    _order_field,
    compile_q,
    day_of,
    field_path,
    plain_name,
)

if TYPE_CHECKING:
    import pygit2

    from ..aggregates import Values, ValuesList
    from ..models import GitModel
    from .planner import Row

M = TypeVar("M", bound="GitModel")

__all__ = ["Q", "QuerySet", "LOOKUPS"]

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
        #: ``order_by("?")``: the matches shuffled each time the query runs
        self._random = False
        #: values ``create()`` starts from (a reverse relation's own object)
        self._defaults: dict[str, Any] = {}
        #: ``(object, field)`` of a reverse relation (``author.pages``), for ``add()``
        self._owner: Optional[tuple[Any, Any]] = None
        #: ``annotate()``: name -> how each object's value is computed
        self._annotations: dict[str, Any] = {}
        #: their values for the rows fetched (name -> id -> value)
        self._annotated: Optional[dict[str, dict[Any, Any]]] = None
        #: conditions checked once the annotations are known (see annotating.compile_having)
        self._having: tuple[Node, ...] = ()

    # -- building -----------------------------------------------------------
    def _clone(self) -> QuerySet[M]:
        clone = copy.copy(self)
        clone._cache = None
        clone._rows = None
        clone._annotated = None
        return clone

    def _refuse_sliced(self, action: str) -> None:
        if self._low or self._high is not None:
            raise TypeError(f"cannot {action} a query once a slice has been taken")

    def _add(self, q: Q) -> QuerySet[M]:
        node = compile_q(self.model, q)
        if not node.children:  # no condition (filter(), exclude(Q())): every object, as Django's
            return self._clone()
        self._refuse_sliced("filter")
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
        """The objects matching every lookup (``title__startswith='a'``) and ``Q``
        (and an annotation's: ``n__gt=1``, ``Q(n=0) | Q(n__gt=F("rank"))``)."""
        having, args, lookups = self._split_having(args, lookups, negated=False)
        return self._add(Q(*args, **lookups))._with_having(having)

    def exclude(self, *args: Q, **lookups: Any) -> QuerySet[M]:
        """The objects not matching the lookups (all of them, when none is given)."""
        having, args, lookups = self._split_having(args, lookups, negated=True)
        return (self._add(~Q(*args, **lookups)) if not having else self._clone())._with_having(having)

    def _split_having(self, args: tuple[Q, ...], lookups: dict[str, Any],
                      negated: bool) -> tuple[list[Node], tuple[Q, ...], dict[str, Any]]:
        if not self._annotations:
            return [], args, lookups
        from . import annotating

        return annotating.split(self.model, self._annotations, args, lookups, negated)

    def _with_having(self, having: list[Node]) -> QuerySet[M]:
        if not having:
            return self
        self._refuse_sliced("filter")
        clone = self._clone()
        clone._having = (*self._having, *having)
        return clone

    def order_by(self, *names: str) -> QuerySet[M]:
        """Sort by fields; ``'-title'`` descends, ``'author__name'`` sorts by
        a related object's field. Missing values sort first. ``"?"`` alone
        shuffles the matches, anew each time the query runs."""
        self._refuse_sliced("reorder")
        random_order = "?" in names
        if random_order and len(names) > 1:
            raise FieldError(f"order_by('?') shuffles the matches and takes no other key, not {names!r}")
        for name in () if random_order else names:
            if not isinstance(name, str) or not name.lstrip("-"):
                raise FieldError(f"order_by() takes field names, not {name!r}")
            if name.lstrip("-") not in self._annotations:
                _order_field(self.model, plain_name(self.model, name.lstrip("-")))
        clone = self._clone()
        clone._order = () if random_order else tuple(_plain_order(self.model, name) for name in names)
        clone._random = random_order
        return clone

    def all(self) -> QuerySet[M]:
        """A fresh copy of this query (its result is read again)."""
        return self._clone()

    # -- combining ----------------------------------------------------------
    def __and__(self, other: QuerySet[M]) -> QuerySet[M]:
        """The objects both queries match (Django's ``qs1 & qs2``)."""
        return self._combine(other, "&", Q.AND)

    def __or__(self, other: QuerySet[M]) -> QuerySet[M]:
        """The objects either query matches, each once (``qs1 | qs2``)."""
        return self._combine(other, "|", Q.OR)

    def union(self, *others: QuerySet[M], all: bool = False) -> QuerySet[M]:  # noqa: A002 - Django's name
        """The objects any of the queries matches, each once (``all=True``,
        Django's repeats, is refused: a queryset holds an object once)."""
        if all:
            raise FieldError("union(all=True) would list an object once per query matching it; "
                             "a queryset holds each object once: use union()")
        out = self
        for other in others:
            out = out._combine(other, "union", Q.OR)
        return out

    def intersection(self, *others: QuerySet[M]) -> QuerySet[M]:
        """The objects every one of the queries matches."""
        out = self
        for other in others:
            out = out._combine(other, "intersection", Q.AND)
        return out

    def difference(self, *others: QuerySet[M]) -> QuerySet[M]:
        """The objects this query matches and none of ``others`` does."""
        out = self
        for other in others:
            out = out._combine(other, "difference", Q.AND, negate_other=True)
        return out

    def _combine(self, other: Any, action: str, connector: str,
                 negate_other: bool = False) -> QuerySet[M]:
        """One query whose condition joins both (at the same revision, of
        the same model; neither sliced). ``other``'s order wins, as in Django."""
        if not isinstance(other, QuerySet):
            if action in ("&", "|"):
                return NotImplemented  # type: ignore[no-any-return]
            raise TypeError(f"{action}() takes querysets, not {type(other).__name__}")
        if other.model is not self.model:
            raise TypeError(f"cannot combine a {self.model.__name__} query with a "
                            f"{other.model.__name__} query ({action})")
        if other.treeish != self.treeish:
            raise TypeError(f"cannot combine queries at different revisions ({self.treeish!r} "
                            f"and {other.treeish!r})")
        for query in (self, other):
            query._refuse_sliced("combine")
            if query._having:
                raise TypeError("cannot combine a query filtered by an annotation")
            if query._after is not None:
                raise TypeError("cannot combine a keyset page's query")
        mine, theirs = self._where, other._where
        if negate_other:
            theirs = Node(Q.AND, True, [theirs if theirs is not None else compile_q(self.model, Q())])
        clone = self._clone()
        if connector == Q.AND:
            parts = [w for w in (mine, theirs) if w is not None]
            clone._where = parts[0] if len(parts) == 1 else Node(Q.AND, False, parts) if parts else None
        else:  # a side with no condition matches everything
            clone._where = None if mine is None or theirs is None else Node(Q.OR, False, [mine, theirs])
        clone._order = other._order or self._order
        clone._random = other._random or (not other._order and self._random)
        clone._related = tuple(dict.fromkeys((*self._related, *other._related)))
        return clone

    # -- running ------------------------------------------------------------
    def _fetch_rows(self) -> list[Row]:
        if self._rows is None and (self._random or self._having or any(
                name.lstrip("-") in self._annotations for name in self._order)):
            self._rows = self._rows_in_python()
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

    def _rows_in_python(self) -> list[Row]:
        """Every match of the conditions the planner runs (paths only: nothing
        is read yet), kept by the annotation filters, shuffled or sorted
        here, then sliced."""
        from . import annotating
        from .planner import _order_key

        whole = self._clone()
        whole._random, whole._order, whole._having, whole._low, whole._high = False, (), (), 0, None
        rows = list(whole._fetch_rows())
        self.skipped = whole.skipped
        annotated: dict[str, dict[Any, Any]] = {}
        if self._having or any(name.lstrip("-") in self._annotations for name in self._order):
            annotated = self._annotated = annotating.compute(self, rows)
            rows = annotating.kept(rows, annotated, list(self._having), self.treeish)
        if self._random:
            random.shuffle(rows)
        else:
            rows.sort(key=lambda r: r.path)
            for name in reversed(self._order):
                bare = name.lstrip("-")
                key = (annotating.sort_key(annotated[bare]) if bare in self._annotations
                       else _order_key(self.model, bare, rows))
                rows.sort(key=key, reverse=name.startswith("-"))
        return rows[self._low:self._high]

    def _annotation_values(self, rows: list[Row]) -> dict[str, dict[Any, Any]]:
        """name -> id -> value for ``rows``: those already computed for this
        query's matches when they cover them, else computed (and kept when
        ``rows`` are the query's own)."""
        from . import annotating

        known = self._annotated
        if known is not None and all(row.object_id() in by_id for by_id in known.values() for row in rows):
            return known
        values = annotating.compute(self, rows)
        if rows is self._rows:
            self._annotated = values
        return values

    def _with_annotations(self, objs: list[M], rows: list[Row]) -> list[M]:
        """``objs`` (built from ``rows``) with their annotations set."""
        if self._annotations and objs:
            for name, by_id in self._annotation_values(rows).items():
                for obj in objs:
                    setattr(obj, name, by_id.get(obj.get_id()))
        return objs

    def _load(self, row: Row) -> M:
        """The object of one of this query's rows (with its annotations)."""
        return self._with_annotations([row.load()], [row])[0]

    def annotate(self, *args: Any, **kwargs: Any) -> QuerySet[M]:
        """Each object with aggregates of the objects that refer to it
        (``Tag.objects.annotate(n=Count("articles"))``) or the length of one of
        its lists (``Count("tags")``), as attributes; ``order_by()`` takes
        their names. See :mod:`gitmodel.query.annotating`."""
        from ..aggregates import named
        from . import annotating

        clone = self._clone()
        clone._annotations = {**self._annotations, **annotating.plan(self.model, named(args, kwargs))}
        return clone

    def _commit(self) -> Any:
        from ..objects import commit_of

        return commit_of(self.model._meta.require_workspace(), self.treeish)

    def _fetch(self) -> list[M]:
        if self._cache is None:
            try:
                rows = self._fetch_rows()
                self._cache = self._with_annotations([row.load() for row in rows], rows)
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            if self._related and rows:
                from ..relations import prefetch

                prefetch(self.model, self._cache, self._related, rows[0].ctx.root)
        return self._cache

    def __iter__(self) -> Iterator[M]:
        return iter(self._fetch())

    def iterator(self, chunk_size: Optional[int] = None) -> Iterator[M]:
        """The objects one by one, as Django's (``chunk_size`` is accepted and
        not needed: each object is built when reached)."""
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                       or chunk_size < 1):
            raise ValidationError(f"iterator()'s chunk_size must be a whole number of at least 1, "
                                  f"not {chunk_size!r}", code="invalid_chunk_size")
        return self._iterate()

    def _iterate(self) -> Iterator[M]:
        if self._annotations:  # computed for all the rows at once
            yield from self._fetch()
            return
        for row in self._fetch_rows():
            try:
                obj = row.load()
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            yield obj

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
            if (start or 0) < 0 or (stop is not None and stop < 0):
                raise ValueError("Negative indexing is not supported.")
            if step not in (None, 1):
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
                if self._cache is not None:  # evaluated: the same instances, as Django's
                    clone._cache = self._cache[index]
            return clone
        if not isinstance(index, int):
            raise TypeError(f"QuerySet indices must be integers or slices, not {type(index).__name__}")
        if index < 0:  # as Django's: order_by("-...") and [0], or last(), instead
            raise ValueError("Negative indexing is not supported.")
        if self._cache is not None:  # evaluated: the instance iterating gave, as Django's
            return self._cache[index]
        rows = self._fetch_rows()
        return self._load(rows[index])

    def count(self) -> int:
        """How many objects match (objects are not built)."""
        if self._rows is None and not self._having:
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

    def contains(self, obj: Any) -> bool:
        """Whether ``obj`` (an instance of this model) is among the matches."""
        if not isinstance(obj, self.model):
            raise TypeError(f"contains() takes a {self.model.__name__} instance, not {type(obj).__name__}")
        object_id = obj.get_id()
        if object_id is None:
            raise ValidationError(f"contains() takes a saved {self.model.__name__}; this one has no id")
        if self._rows is not None or self._low or self._high is not None:
            return object_id in self.ids()
        return self.filter(pk=object_id).exists()

    def none(self) -> QuerySet[M]:
        """A query that matches nothing (Django's ``none()``, sliced or not)."""
        clone = self._clone()
        clone._where = compile_q(self.model, Q(pk__in=[]))
        return clone

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
        """The first match (in ``order_by`` order, else path order), or ``None``
        (of an evaluated query: the instance iterating gave)."""
        if self._cache is not None:
            return self._cache[0] if self._cache else None
        rows = self._fetch_rows() if self._rows is not None else self[:1]._fetch_rows()
        return self._load(rows[0]) if rows else None

    def last(self) -> Optional[M]:
        """The last match, or ``None``; refused once sliced (``TypeError``), as Django's."""
        self._refuse_sliced("reverse")
        if self._cache is not None:  # evaluated: the instance iterating gave
            return self._cache[-1] if self._cache else None
        rows = self._fetch_rows()
        return self._load(rows[-1]) if rows else None

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
        return qs._load(rows[0])

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
        found = Values(({name: get(row) for name, get in chosen} for row in rows),
                       self.model, rows, tuple(name for name, _get in chosen) if fields else (), json_safe)
        found.treeish = self.treeish  # where an aggregate's filter=Q(...) reads across relations
        return found

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

    def dates(self, field_name: str, kind: str, order: str = "ASC") -> list[datetime.date]:
        """The distinct days, weeks (their Mondays), months or years (their
        first days) of a date or date-time field among the matches, as
        Django's ``dates()`` (an archive's index); a date-time is read in its
        field's frame, as its date-part lookups read it."""
        field = _get_field(self.model, field_name)
        if not isinstance(field, (_fields.DateField, _fields.DateTimeField)):
            raise FieldError(f"dates() takes a date or date-time field; {self.model.__name__}."
                             f"{field.name} is a {type(field).__name__}")
        if kind not in _PERIOD_START or order not in ("ASC", "DESC"):
            raise FieldError(f"dates() takes a kind of year, month, week or day and an order of "
                             f"ASC or DESC, not {kind!r} and {order!r}")
        start = _PERIOD_START[kind]
        days = (day_of(field, value) for value in self.values_list(field.name, flat=True))
        return sorted({start(day) for day in days if day is not None}, reverse=order == "DESC")

    def only(self, *fields: str) -> QuerySet[M]:
        """Django's ``only()``: the names are checked, and every field is read
        anyway (an object is one data file, read whole; a ``BlobField``'s
        bytes are read only when asked for)."""
        for name in fields:
            _get_field(self.model, name)
        return self._clone()

    def defer(self, *fields: str) -> QuerySet[M]:
        """Django's ``defer()``: see :meth:`only`."""
        return self.only(*fields)

    def distinct(self) -> QuerySet[M]:
        """This query: objects are distinct already (``values(...).distinct()``
        drops repeated values). Refused once sliced, as Django's."""
        self._refuse_sliced("create distinct fields on")
        return self._clone()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``{"rank__sum": ..., "n": ...}`` for ``aggregate(Sum("rank"), n=Count("pk"))``;
        an annotation's name aggregates its values (``annotate(n=...).aggregate(Avg("n"))``)."""
        from ..aggregates import aggregate, named

        from .answers import aggregate as from_index

        aggregates = named(args, kwargs)
        if any(agg.field_name in self._annotations for agg in aggregates.values()):
            from . import annotating

            return annotating.aggregate(self, aggregates)
        bound = {name: (agg, agg.bind(self.model)) for name, agg in aggregates.items()}
        if self._rows is None and all(agg.filter is None for agg in aggregates.values()):
            try:
                found = from_index(self, bound)
            except CorruptObject as exc:
                raise exc.at(self._commit()) from None
            if found is not None:
                return found
        return aggregate(self.model, self._fetch_rows(), aggregates, self.treeish)

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

    def create(self, **values: Any) -> M:
        """A new object made from ``values`` and saved (staged), as Django's:
        one whose id is already stored is refused (``IntegrityError``,
        nothing staged). Through ``author.pages`` the author is set, over
        any given, as by Django's related manager."""
        self._refuse_history("create")
        from ..bulkops import owned

        obj = self.model(**owned(self, values))
        self.model.bulk_create([obj])
        return obj

    def add(self, *objs: Any) -> int:
        """Through a reverse relation (``author.pages.add(page)``), as
        Django's: each saved object is made to refer to the relation's
        owner, all staged together or none; returns how many."""
        return self._referrers("add", add=objs)

    def remove(self, *objs: Any) -> int:
        """Through a reverse relation: the objects no longer refer to its
        owner (``None``, or the id dropped from a many-to-many list)."""
        return self._referrers("remove", remove=objs)

    def clear(self) -> int:
        """Through a reverse relation: :meth:`remove` of every object referring to its owner."""
        return self._referrers("clear", remove=tuple(self.all()))

    def set(self, objs: Iterable[Any]) -> int:
        """Through a reverse relation: exactly ``objs`` refer to its owner afterwards."""
        wanted = list(objs)
        keep = {obj.get_id() for obj in wanted if hasattr(obj, "get_id")}
        return self._referrers("set", add=tuple(wanted),
                               remove=tuple(o for o in self.all() if o.get_id() not in keep))

    def _referrers(self, action: str, add: tuple[Any, ...] = (), remove: tuple[Any, ...] = ()) -> int:
        if self._owner is None:
            raise TypeError(f"{action}() is for a reverse relation: author.pages.{action}(...)")
        self._refuse_sliced(action)  # author.pages[:2].clear() would clear two: refused
        self._refuse_history(action)
        from ..relations import change_referrers

        return change_referrers(self.model, *self._owner, add=add, remove=remove, action=action)

    def bulk_create(self, objs: Iterable[Any], commit: bool = False, **commit_info: Any) -> list[M]:
        """``Model.bulk_create(objs)``, from a query as from Django's manager."""
        self._refuse_history("bulk_create")
        return self.model.bulk_create(objs, commit, **commit_info)  # type: ignore[return-value]

    def bulk_update(self, objs: Iterable[Any], fields: Sequence[str], commit: bool = False,
                    **commit_info: Any) -> int:
        """``Model.bulk_update(objs, fields)``, from a query as from Django's manager."""
        self._refuse_history("bulk_update")
        return self.model.bulk_update(objs, fields, commit, **commit_info)

    def _refuse_history(self, action: str) -> None:
        """``RepositoryError`` if this query reads a revision: ``action`` writes."""
        if self.treeish is not None:
            where = getattr(self.treeish, "id", self.treeish)  # a tree an object was read in
            raise RepositoryError(f"{action}() changes the workspace; this query reads {str(where)!r}")

    def get_or_create(self, defaults: Optional[dict[str, Any]] = None, **lookups: Any) -> tuple[M, bool]:
        """The object matching ``lookups``, or a new one made from them and
        ``defaults`` and saved (staged); and whether it was created."""
        from ..bulkops import get_or_create

        return get_or_create(self, defaults, lookups)  # type: ignore[return-value]

    def update_or_create(self, defaults: Optional[dict[str, Any]] = None,
                         create_defaults: Optional[dict[str, Any]] = None, **lookups: Any) -> tuple[M, bool]:
        """Like :meth:`get_or_create`, but an existing object gets ``defaults``
        and is saved; a new one is made from ``create_defaults`` if given."""
        from ..bulkops import update_or_create

        return update_or_create(self, defaults, create_defaults, lookups)  # type: ignore[return-value]

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


#: ``dates()``: the first day of the period a day falls in
_PERIOD_START: dict[str, Callable[[datetime.date], datetime.date]] = {
    "year": lambda day: day.replace(month=1, day=1),
    "month": lambda day: day.replace(day=1),
    "week": lambda day: day - datetime.timedelta(days=day.weekday()),  # its Monday
    "day": lambda day: day,
}


def _plain_order(model: Any, name: str) -> str:
    """An ``order_by`` key with Django's ``author_id`` read as ``author``."""
    bare = name.lstrip("-")
    return name[:len(name) - len(bare)] + plain_name(model, bare)


def _flipped(name: str) -> str:
    """An ``order_by`` key in the opposite direction."""
    return name[1:] if name.startswith("-") else f"-{name}"


def _describe(args: tuple[Q, ...], lookups: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in sorted(lookups.items())]
    return ", ".join(parts) or "the query"
