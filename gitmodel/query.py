"""Lazy sets of model objects (``Model.all()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Iterator, Optional, TypeVar, Union, overload

if TYPE_CHECKING:
    from .models import GitModel

M = TypeVar("M", bound="GitModel")


class QuerySet(Generic[M]):
    """The objects of one model at one revision; nothing is read until used."""

    def __init__(self, model: type[M], treeish: Any = None) -> None:
        self.model = model
        self.treeish = treeish
        self._cache: Optional[list[M]] = None

    def _fetch(self) -> list[M]:
        if self._cache is None:
            self._cache = list(self.model._iter_stored(self.treeish))
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
