"""``F()``: a field of each object itself, in ``QuerySet.update()`` and filters.

``Post.filter(...).update(views=F("views") + 1)`` sets each post's views to
its own views plus one, as Django's ``F`` does;
``Post.filter(likes__gt=F("views"))`` compares two fields of each post
(see :class:`gitmodel.query.conditions.Against`). Expressions combine with
``+``, ``-``, ``*``, ``/``, ``//``, ``%`` and unary ``-``, with numbers (or
other values) and with other ``F()``; each object's values are read from
the object as the query found it.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Iterator

from .exceptions import FieldError, ValidationError

__all__ = ["F", "Expression"]


class Expression:
    """What ``F()`` and arithmetic on it build; evaluated once per object."""

    def evaluate(self, obj: Any) -> Any:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def field_names(self) -> Iterator[str]:
        """The names of the fields the expression reads."""
        return iter(())

    def _combine(self, other: Any, op: Callable[[Any, Any], Any], symbol: str, flipped: bool = False) -> Expression:
        return Combined(other, op, symbol, self) if flipped else Combined(self, op, symbol, other)

    def __add__(self, other: Any) -> Expression:
        return self._combine(other, operator.add, "+")

    def __radd__(self, other: Any) -> Expression:
        return self._combine(other, operator.add, "+", flipped=True)

    def __sub__(self, other: Any) -> Expression:
        return self._combine(other, operator.sub, "-")

    def __rsub__(self, other: Any) -> Expression:
        return self._combine(other, operator.sub, "-", flipped=True)

    def __mul__(self, other: Any) -> Expression:
        return self._combine(other, operator.mul, "*")

    def __rmul__(self, other: Any) -> Expression:
        return self._combine(other, operator.mul, "*", flipped=True)

    def __truediv__(self, other: Any) -> Expression:
        return self._combine(other, operator.truediv, "/")

    def __rtruediv__(self, other: Any) -> Expression:
        return self._combine(other, operator.truediv, "/", flipped=True)

    def __floordiv__(self, other: Any) -> Expression:
        return self._combine(other, operator.floordiv, "//")

    def __rfloordiv__(self, other: Any) -> Expression:
        return self._combine(other, operator.floordiv, "//", flipped=True)

    def __mod__(self, other: Any) -> Expression:
        return self._combine(other, operator.mod, "%")

    def __rmod__(self, other: Any) -> Expression:
        return self._combine(other, operator.mod, "%", flipped=True)

    def __neg__(self) -> Expression:
        return Combined(0, operator.sub, "-", self)


class F(Expression):
    """The value of field ``name`` of each object (``"pk"`` is its id)."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise FieldError(f"F() takes a field name, not {name!r}")
        self.name = name

    def evaluate(self, obj: Any) -> Any:
        from .query import _get_field

        return getattr(obj, _get_field(type(obj), self.name).name)

    def field_names(self) -> Iterator[str]:
        yield self.name

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class Combined(Expression):
    """``left <op> right``, either side an expression or a plain value."""

    def __init__(self, left: Any, op: Callable[[Any, Any], Any], symbol: str, right: Any) -> None:
        self.left, self.op, self.symbol, self.right = left, op, symbol, right

    def evaluate(self, obj: Any) -> Any:
        left = self.left.evaluate(obj) if isinstance(self.left, Expression) else self.left
        right = self.right.evaluate(obj) if isinstance(self.right, Expression) else self.right
        try:
            return self.op(left, right)
        except (TypeError, ArithmeticError) as exc:
            raise ValidationError(f"{self!r} cannot be computed for {type(obj).__name__} "
                                  f"{obj.get_id()!r} ({left!r} {self.symbol} {right!r}: {exc})") from None

    def field_names(self) -> Iterator[str]:
        for side in (self.left, self.right):
            if isinstance(side, Expression):
                yield from side.field_names()

    def __repr__(self) -> str:
        return f"({self.left!r} {self.symbol} {self.right!r})"
