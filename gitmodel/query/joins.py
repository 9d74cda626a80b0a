"""Django's rule for multi-valued relationships: the lookups of one
``filter()`` call that cross the same relation (``books__rating=5,
books__pages=300``, or ``Q`` objects joined by ``&``) must hold for the
same related object, as one SQL join serves them all; chained ``filter()``
calls, and conditions under a negation (``exclude()``, ``~Q``), may each be
met by a different one, as in Django. Nested relations follow the same
rule at each step (``books__tags__slug``, ``books__tags__name``: one tag of
one book)."""

from __future__ import annotations

from typing import Any, Optional, Union

from .. import fields as _fields
from .conditions import LOOKUPS, Q

Child = Union[Q, tuple[str, Any]]


class Joined:
    """Lookups (relative to the related model) held by one object across ``name``."""

    __slots__ = ("name", "children")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: list[Child] = []

    def q(self) -> Q:
        return Q(*(_strip(c, self.name) for c in self.children))


def relation_of(model: Any, child: Child) -> Optional[str]:
    """The relation ``child`` reaches a field of a related object through
    (``books`` for ``books__rating``), or ``None`` (a field of the model, a
    lookup on the relation itself, or a ``Q`` that mixes relations or negates)."""
    if isinstance(child, Q):
        if child.negated or not child.children:
            return None
        found = {relation_of(model, c) for c in child.children}
        return found.pop() if len(found) == 1 and None not in found else None
    name, *rest = child[0].split("__")
    if not rest or rest[0] in LOOKUPS:
        return None
    opts = model._meta
    field = opts._by_name.get(name)
    if field is None:
        from ..relations import reverse_relation

        return name if name != "pk" and reverse_relation(model, name) is not None else None
    if isinstance(field, _fields.ManyToManyField):
        return name
    from ..relations import RelatedField

    if isinstance(field, RelatedField) and rest[0] not in ("pk", field.to_model._meta.id_attr):
        return name
    return None


def _strip(child: Child, name: str) -> Q:
    """``child`` with the relation's name taken off its lookups."""
    if isinstance(child, Q):
        out = Q(*(_strip(c, name) for c in child.children))
        out.connector = child.connector
        return out
    return Q(**{child[0][len(name) + 2:]: child[1]})


def grouped(model: Any, children: list[Child]) -> list[Union[Child, Joined]]:
    """``children`` (ANDed, under no negation) with those crossing the same
    relation gathered, in the order the first of each came."""
    out: list[Union[Child, Joined]] = []
    groups: dict[str, Joined] = {}
    for child in children:
        name = relation_of(model, child)
        if name is None:
            out.append(child)
            continue
        if name not in groups:
            groups[name] = Joined(name)
            out.append(groups[name])
        groups[name].children.append(child)
    return [c.children[0] if isinstance(c, Joined) and len(c.children) == 1 else c for c in out]
