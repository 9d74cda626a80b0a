"""The JSON format: ``{"model": ..., "fields": {...}}``, one field per line.

Field names are sorted and nested JSON values are written with sorted keys,
so equal objects always give equal bytes (and equal blob ids), and ``git
diff`` shows one changed line per changed field.
"""

from __future__ import annotations

import json
import os
from json.encoder import encode_basestring
from typing import Any

_encode_line = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_encode_nested = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, indent=2
).encode


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (and never written by gitmodel)")


class StoredNumber(float):
    """A number read from JSON text no float writes back as it is
    (``0.10000000000000000001``, ``1E+2``): the float, remembering its text,
    which :func:`dumps` writes back unchanged (what others stored is kept)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, value: float, text: str) -> StoredNumber:
        made = super().__new__(cls, value)
        made.text = text
        return made

    def __reduce__(self) -> Any:
        return (StoredNumber, (float(self), self.text))


#: set once any :class:`StoredNumber` was read: nested values are searched for one only then
_read_exact = False


def _finite_float(text: str) -> float:
    global _read_exact
    value = float(text)
    if value in (_INF, -_INF):  # e.g. 1e999: would be written back as Infinity
        raise ValueError(f"number {text[:20]!r} is out of range")
    if float.__repr__(value) != text:
        _read_exact = True
        return StoredNumber(value, text)
    return value


_INF = float("inf")
# NaN and Infinity literals, and numbers too large for a float, are refused:
# no value gitmodel reads may be one it cannot write back
_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
_decode = _decoder.decode


#: the JSON text of the values written most, by exact type (anything else,
#: subclasses included, goes through the json module, which gives the same text)
_PLAIN: dict[type, Any] = {str: encode_basestring, int: int.__repr__,
                           bool: lambda value: "true" if value else "false",
                           type(None): lambda _value: "null", StoredNumber: lambda value: value.text}
#: field name -> its line's start, ``    "name": `` (names repeat from save to save)
_starts: dict[str, str] = {}


def _line_start(name: str) -> str:
    start = _starts.get(name)
    if start is None:
        start = f"    {_encode_line(name)}: "
        if len(_starts) >= 4096:
            _starts.clear()
        _starts[name] = start
    return start


#: marks a number's place while the rest is encoded (no stored string holds it)
_MARK = os.urandom(8).hex()


def _nested(value: Any) -> str:
    """A dict or list as JSON text, each :class:`StoredNumber` in it as it was read."""
    if not _read_exact:
        return _encode_nested(value)  # type: ignore[no-any-return]
    numbers: list[str] = []

    def marked(item: Any) -> Any:
        if type(item) is StoredNumber:
            numbers.append(item.text)
            return f"\x00{_MARK}{len(numbers) - 1}\x00"
        if isinstance(item, dict):
            return {key: marked(v) for key, v in item.items()}
        if isinstance(item, list):
            return [marked(v) for v in item]
        return item

    text: str = _encode_nested(marked(value))
    for i, number in enumerate(numbers):
        text = text.replace(f'"\\u0000{_MARK}{i}\\u0000"', number, 1)
    return text


def dumps(model_name: str, fields: dict[str, Any]) -> bytes:
    """Encode a model name and its JSON-ready field values."""
    lines = []
    for name in sorted(fields):
        value = fields[name]
        plain = _PLAIN.get(type(value))
        if plain is not None:
            text = plain(value)
        elif type(value) is list and value and all(type(item) in _PLAIN for item in value):
            text = "[\n      " + ",\n      ".join([_PLAIN[type(item)](item) for item in value]) + "\n    ]"
        elif isinstance(value, (dict, list)) and value:
            text = _nested(value).replace("\n", "\n    ")
        else:
            text = _encode_line(value)
        lines.append(_line_start(name) + text)
    body = ",\n".join(lines)
    inner = f"{{\n{body}\n  }}" if lines else "{}"
    return f'{{\n  "model": {_encode_line(model_name)},\n  "fields": {inner}\n}}\n'.encode()


def loads(data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode to ``(model name, fields)``; ``ValueError`` for the wrong shape."""
    text = None
    if isinstance(data, (bytes, bytearray)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    elif isinstance(data, str):
        text = data
    # the fast path for plain UTF-8; json.loads for a BOM or another encoding
    doc = (
        _decode(text)
        if text is not None and not text.startswith("\ufeff")
        else json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    )
    if not isinstance(doc, dict):
        raise ValueError("top level is not a JSON object")
    model = doc.get("model")
    fields = doc.get("fields")
    if not isinstance(model, str):
        raise ValueError('"model" is missing or not a string')
    if not isinstance(fields, dict):
        raise ValueError('"fields" is missing or not an object')
    return model, fields
