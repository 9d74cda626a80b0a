"""Lookups of a ``JSONField`` that are Django's and compare no single value:
``has_key``, ``has_keys`` and ``has_any_keys`` (keys of an object, at the
field or at a key path: ``meta__n__has_key="a"``), and ``contains`` given
an object or a list, as JSON containment (PostgreSQL's ``@>``)."""

from __future__ import annotations

from typing import Any

from ..exceptions import FieldError

#: lookup -> whether all (``True``) or any (``False``) of the keys must be there
KEY_LOOKUPS = {"has_key": True, "has_keys": True, "has_any_keys": False}


def key_test(name: str, lookup: str, value: Any) -> tuple[list[str], Any]:
    """The keys ``meta__has_keys=[...]`` asks for, and the test of a value."""
    if lookup == "has_key":
        if isinstance(value, (list, tuple, set, dict)) or value is None:
            raise FieldError(f'"{name}__has_key" takes one key, not {value!r}')
        keys = [str(value)]  # has_key=3 is the key "3", as Django's
    else:
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise FieldError(f'"{name}__{lookup}" takes a list of keys, not {value!r}')
        keys = [str(key) for key in value]
        if not keys:
            raise FieldError(f'"{name}__{lookup}" takes at least one key')
    every = KEY_LOOKUPS[lookup]

    def test(found: Any, wanted: list[str]) -> bool:
        if not isinstance(found, dict):
            return False
        return all(k in found for k in wanted) if every else any(k in found for k in wanted)

    return keys, test


def contains(value: Any, arg: Any) -> bool:
    """Whether the JSON ``value`` contains ``arg``: an object every key of
    ``arg`` with a value containing ``arg``'s, a list an element containing
    each of ``arg``'s, a scalar an equal one (of the same JSON type)."""
    if isinstance(arg, dict):
        return isinstance(value, dict) and all(k in value and contains(value[k], v) for k, v in arg.items())
    if isinstance(arg, list):
        return isinstance(value, list) and all(any(contains(e, a) for e in value) for a in arg)
    if isinstance(value, (dict, list)) or isinstance(value, bool) != isinstance(arg, bool):
        return False
    return bool(value == arg)
