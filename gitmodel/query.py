"""Lazy sets of model objects (``Model.all()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Iterator, Optional, TypeVar, Union, overload

if TYPE_CHECKING:
    from .exceptions import CorruptObject
    from .models import GitModel

M = TypeVar("M", bound="GitModel")


class QuerySet(Generic[M]):
    """The objects of one model at one revision; nothing is read until used."""

    def __init__(self, model: type[M], treeish: Any = None, errors: str = "raise") -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f'errors must be "raise" or "skip", not {errors!r}')
        self.model = model
        self.treeish = treeish
        self.errors = errors
        #: with ``errors="skip"``: a ``CorruptObject`` for each object left out
        self.skipped: list[CorruptObject] = []
        self._cache: Optional[list[M]] = None

    def _fetch(self) -> list[M]:
        if self._cache is None:
            on_error = self.skipped.append if self.errors == "skip" else None
            self._cache = list(self.model._iter_stored(self.treeish, on_error))
        return self._cache

    def __iter__(self) -> Iterator[M]:
        return iter(self._fetch())

    def __len__(self) -> int:
        return len(self._fetch())

    @overload
    def __getitem__(self, index: int) -> M: ...

    @overload
    def __getitem__(self, index: slice) -> list[M]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[M, list[M]]:
        return self._fetch()[index]

    def count(self) -> int:
        """How many objects there are."""
        return len(self._fetch())

    def exists(self) -> bool:
        return bool(self._fetch())

    def ids(self) -> list[Any]:
        """The objects' ids."""
        return [obj.get_id() for obj in self._fetch()]

    def __repr__(self) -> str:
        return f"<QuerySet {self.model.__name__}>"
