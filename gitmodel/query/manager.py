"""``Model.objects``: Django's manager, the way in to a model's queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..models import GitModel
    from . import QuerySet

_M = TypeVar("_M", bound="GitModel")


class Manager:
    """``Model.objects``, Django's way in: ``Page.objects.filter(...)`` is
    ``Page.filter(...)``, a fresh query each time (a field named
    ``objects`` takes its place on its model)."""

    def __get__(self, instance: Any, owner: type[_M]) -> QuerySet[_M]:
        if instance is not None:
            raise AttributeError(f"objects is reached from the model ({owner.__name__}.objects), "
                                 "not from one of its objects")
        return owner.all()
