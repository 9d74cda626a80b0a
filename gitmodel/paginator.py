"""Pages of a queryset: numbered (``Paginator``) or by key (``KeysetPaginator``).

A numbered page is a slice of the query, read by SQL from the index where
it orders the query (see the querying guide); the paginator counts the
objects once. It takes Django's arguments and names. A keyset page starts after the last object of the page before
(its sort values and id, carried in an opaque ``cursor`` string), so
objects committed meanwhile never shift or repeat what a reader pages
through; with an index on the first sort field the later pages read only
the objects from the cursor on.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Generic, Iterator, Optional, Sequence, TypeVar, Union, overload

from .exceptions import EmptyPage, FieldError, GitModelError, InvalidPage, PageNotAnInteger, ValidationError
from .query import QuerySet, _get_field

M = TypeVar("M")

__all__ = ["Paginator", "Page", "KeysetPaginator", "KeysetPage"]


#: the longest cursor read, and the longest text taken as a page number
_MAX_CURSOR = 4096
_MAX_NUMBER_TEXT = 18


def _whole(value: Any, name: str, least: int) -> int:
    """``value`` as a whole number of at least ``least``, its text taken too
    (``"20"`` is 20, as Django's ``int(per_page)``); ``InvalidPage`` otherwise
    (``2.5`` included, which Django would cut to 2)."""
    number = _whole_number(value)
    if number is None or number < least:
        raise InvalidPage(f"{name} must be a whole number of at least {least}, not {_shown(value)}")
    return number


def _per_page(value: Any) -> int:
    return _whole(value, "per_page", 1)


class Page(Generic[M]):
    """One numbered page: its objects and where it sits."""

    def __init__(self, object_list: list[M], number: int, paginator: Paginator[M]) -> None:
        self.object_list = object_list
        self.number = number
        self.paginator = paginator

    def __iter__(self) -> Iterator[M]:
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @overload
    def __getitem__(self, index: int) -> M: ...

    @overload
    def __getitem__(self, index: slice) -> list[M]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[M, list[M]]:
        if not isinstance(index, (int, slice)):
            raise TypeError(f"page indices must be integers or slices, not {type(index).__name__}")
        return self.object_list[index]

    def __contains__(self, obj: object) -> bool:
        return obj in self.object_list

    def index(self, obj: Any) -> int:
        """Where ``obj`` is on the page (``ValueError`` if it is not), as Django's page, a sequence."""
        return self.object_list.index(obj)

    def count(self, obj: Any) -> int:
        """How often ``obj`` is on the page."""
        return self.object_list.count(obj)

    def has_next(self) -> bool:
        return self.number < self.paginator.num_pages

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous() or self.has_next()

    def next_page_number(self) -> int:
        return self.paginator.validate_number(self.number + 1)

    def previous_page_number(self) -> int:
        return self.paginator.validate_number(self.number - 1)

    def start_index(self) -> int:
        """The 1-based position of the first object on this page (0 if none)."""
        if self.paginator.count == 0:
            return 0
        return (self.number - 1) * self.paginator.per_page + 1

    def end_index(self) -> int:
        """The 1-based position of the last object on this page (0 if none)."""
        if self.number == self.paginator.num_pages:  # the last page takes the orphans
            return self.paginator.count
        return self.number * self.paginator.per_page

    def __repr__(self) -> str:
        return f"<Page {self.number} of {self.paginator.num_pages}>"


class Paginator(Generic[M]):
    """``Paginator(Page.all().order_by("title"), 20).page(3)``, as Django's:
    a query, or any sequence that slices and has ``len()`` (a list, what
    ``values()`` returns).

    ``orphans``: a last page of that many objects or fewer joins the page
    before it; ``allow_empty_first_page=False``: no objects, no page. The
    objects are counted once per paginator; each page is read when asked
    for. ``PageNotAnInteger`` for a number that is not a whole number,
    ``EmptyPage`` for one below 1 or past the last page (both
    ``InvalidPage``).
    """

    #: what :meth:`get_elided_page_range` puts where pages are left out
    ELLIPSIS = "\u2026"

    def __init__(self, object_list: Union[QuerySet[Any], Sequence[Any]], per_page: Union[int, str],
                 orphans: Union[int, str] = 0, allow_empty_first_page: bool = True) -> None:
        if isinstance(object_list, QuerySet):
            object_list = object_list.all()
        elif not (hasattr(object_list, "__getitem__") and (hasattr(object_list, "__len__")
                                                        or callable(getattr(object_list, "count", None)))):
            raise TypeError(f"Paginator takes a query or a sequence, not {type(object_list).__name__}")
        #: what is paged (Django's name); ``queryset`` is the same
        self.object_list: Any = object_list
        self.queryset: Any = object_list
        self.per_page = _per_page(per_page)
        self.orphans = _whole(orphans, "orphans", 0)
        self.allow_empty_first_page = bool(allow_empty_first_page)

    @functools.cached_property
    def count(self) -> int:
        """How many objects there are over all pages (counted once)."""
        if isinstance(self.object_list, QuerySet) or not hasattr(self.object_list, "__len__"):
            return int(self.object_list.count())
        return len(self.object_list)

    @property
    def num_pages(self) -> int:
        """How many pages: at least 1, even when there is nothing, unless
        ``allow_empty_first_page`` is false."""
        if self.count == 0 and not self.allow_empty_first_page:
            return 0
        return math.ceil(max(1, self.count - self.orphans) / self.per_page)

    @property
    def page_range(self) -> range:
        return range(1, self.num_pages + 1)

    def __iter__(self) -> Iterator[Page[M]]:
        """Every page, in order (each read when reached)."""
        for number in self.page_range:
            yield self.page(number)

    def validate_number(self, number: Any) -> int:
        """``number`` as a page number, else ``InvalidPage``. As in Django, the
        text of a whole number (a query string's ``?page=3``) and a float with
        no fraction are taken too."""
        whole = _whole_number(number)
        if whole is None:
            raise PageNotAnInteger(f"a page number is a whole number, not {_shown(number)}")
        if whole < 1:
            raise EmptyPage(f"page {whole} does not exist: pages start at 1")
        if whole > self.num_pages and not (whole == 1 and self.allow_empty_first_page):
            raise EmptyPage(f"page {whole} does not exist ({_pages(self.num_pages)})")
        return whole

    def page(self, number: Any) -> Page[M]:
        """The objects of page ``number`` (1-based)."""
        number = self.validate_number(number)
        low = (number - 1) * self.per_page
        high = low + self.per_page
        if high + self.orphans >= self.count:  # the last page: it takes the orphans
            high = self.count
        return Page(list(self.object_list[low:high]), number, self)

    def get_page(self, number: Any) -> Page[M]:
        """Page ``number``, forgiving as Django's: the first page for what is
        not a number, the last for a number past the end."""
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            number = max(1, self.num_pages)
        return self.page(number)

    def get_elided_page_range(self, number: Any = 1, *, on_each_side: int = 3,
                              on_ends: int = 2) -> Iterator[Union[int, str]]:
        """The page numbers to show around page ``number``, with
        :attr:`ELLIPSIS` where runs of pages are left out (as Django's)."""
        number = self.validate_number(number)
        last = self.num_pages
        if last <= (on_each_side + on_ends) * 2:
            yield from self.page_range
            return
        if number > 1 + on_each_side + on_ends + 1:
            yield from range(1, on_ends + 1)
            yield self.ELLIPSIS
            yield from range(number - on_each_side, number + 1)
        else:
            yield from range(1, number + 1)
        if number < last - on_each_side - on_ends - 1:
            yield from range(number + 1, number + on_each_side + 1)
            yield self.ELLIPSIS
            yield from range(last - on_ends + 1, last + 1)
        else:
            yield from range(number + 1, last + 1)


def _pages(count: int) -> str:
    return "there are no pages" if count == 0 else f"pages 1 to {count}"


def _whole_number(value: Any) -> Optional[int]:
    """``value`` as an int if it is one, the text of one or a float without a fraction."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and 0 < len(value.strip()) <= _MAX_NUMBER_TEXT:
        text = value.strip()
        if text.isascii() and text.lstrip("+-").isdigit():
            return int(text)
    return None


def _shown(value: Any) -> str:
    """``repr`` of an untrusted value, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class KeysetPage(Generic[M]):
    """One keyset page: its objects and the cursor of the next (``None`` at the end)."""

    def __init__(self, object_list: list[M], next_cursor: Optional[str]) -> None:
        self.object_list = object_list
        self.next_cursor = next_cursor

    def __iter__(self) -> Iterator[M]:
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    def has_next(self) -> bool:
        return self.next_cursor is not None


class KeysetPaginator(Generic[M]):
    """``KeysetPaginator(Page.all(), 20, order_by=("title",))``; ``page()``
    gives the first page, ``page(cursor)`` the one after ``cursor``.

    Ordered by ``order_by`` (``'-title'`` descends) and then by id, so the
    order is total. Sort fields must be fields of the model itself.
    """

    def __init__(self, queryset: QuerySet[Any], per_page: Union[int, str], order_by: Sequence[str] = ()) -> None:
        if not isinstance(queryset, QuerySet):
            raise TypeError(f"KeysetPaginator takes a query, not {type(queryset).__name__}")
        if isinstance(order_by, str):
            order_by = (order_by,)
        model = queryset.model
        self.fields = []
        for name in order_by:
            if not isinstance(name, str) or "__" in name:
                raise FieldError(f"keyset pages sort by fields of {model.__name__}, not {name!r}")
            field = _get_field(model, name.lstrip("-"))
            if field.id or not field.stored_in_json:
                raise FieldError(f"keyset pages cannot sort by {model.__name__}.{field.name}")
            self.fields.append((field, name.startswith("-")))
        self.queryset = queryset
        self.per_page = _per_page(per_page)
        self.order = tuple(order_by) + ("pk",)

    def page(self, cursor: Optional[str] = None) -> KeysetPage[M]:
        """The page after ``cursor`` (the first page when ``None``)."""
        qs = self.queryset.order_by(*self.order)
        if cursor is not None:  # strictly after it: by SQL where the index orders the keys
            qs = qs._seek_after(self._decode(cursor))
        chosen = [row.load() for row in qs[: self.per_page + 1]._fetch_rows()]
        more = len(chosen) > self.per_page
        objs = chosen[: self.per_page]
        return KeysetPage(objs, self._cursor(objs[-1]) if more else None)

    def _cursor(self, obj: Any) -> str:
        values = [f.to_json(obj._data.get(f.name)) for f, _desc in self.fields]
        return json.dumps([*values, obj.get_id()], ensure_ascii=True)

    def _decode(self, cursor: Any) -> list[Any]:
        """The sort values and id a cursor carries; ``InvalidPage`` for
        anything else (a cursor comes back from a client: untrusted)."""
        if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
            raise InvalidPage(f"not a cursor of this paginator: {_shown(cursor)}")
        try:
            decoded = json.loads(cursor)
            if not isinstance(decoded, list) or len(decoded) != len(self.fields) + 1:
                raise ValueError(f"expected a list of {len(self.fields) + 1} values")
            *stored, last_id = decoded
            values = [f.from_json(v) for (f, _desc), v in zip(self.fields, stored)]
            if not isinstance(last_id, str):
                raise ValueError("the id is not a string")
            return [*values, self.queryset.model._meta.id_field.clean_id(last_id)]
        except (ValueError, TypeError, ArithmeticError, RecursionError, GitModelError) as exc:
            reason = exc.message if isinstance(exc, ValidationError) else str(exc)
            raise InvalidPage(f"not a cursor of this paginator: {_shown(cursor)} ({reason[:200]})") from None
