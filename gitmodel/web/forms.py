"""Forms generated from field types: the widget each field gets, the text a
value shows as, and the value a submitted text means."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

import pygit2

from .. import datefields
from .. import fields as f
from ..blobs import BlobFile
from ..exceptions import ValidationError
from ..listfield import ListField
from ..models import GitModel
from ..relations import RelationMixin

#: how many related ids a picker offers as suggestions
PICKER_SUGGESTIONS = 200
#: what turning a submitted text into a value may raise; each means "not a
#: valid value" (RecursionError: JSON nested too deep for the decoder;
#: ArithmeticError: decimal.InvalidOperation, OverflowError)
PARSE_ERRORS = (ValueError, ArithmeticError, RecursionError, TypeError)
#: the texts an ``<input>`` of each type holds as they are; any other text
#: would be emptied or rewritten by the browser (HTML's value sanitization)
_BROWSER_TEXTS = {
    "number": re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z"),
    "time": re.compile(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,3})?)?\Z"),
    "date": re.compile(r"[0-9]{4,}-[0-9]{2}-[0-9]{2}\Z"),
}
#: widgets that are a one-line ``<input>``: a browser drops the line breaks of their text
_ONE_LINE = {"text", "number", "date", "datetime", "time", "related"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class Widget:
    """How one field is edited: ``kind`` is the template's name for it."""

    name: str
    kind: str
    label_type: str
    required: bool
    choices: tuple[Any, ...] = ()
    related: Optional[str] = None
    max_length: Optional[int] = None


def widget(field: f.Field[Any]) -> Widget:
    """The widget for ``field``."""
    kind = "text"
    if field.choices:
        kind = "select"
    elif isinstance(field, f.BooleanField):
        kind = "checkbox"
    elif isinstance(field, (f.IntegerField, f.FloatField, f.DecimalField)):
        kind = "number"
    elif isinstance(field, datefields.DateTimeField):
        kind = "datetime"
    elif isinstance(field, datefields.DateField):
        kind = "date"
    elif isinstance(field, datefields.TimeField):
        kind = "time"
    elif isinstance(field, f.RelatedField):
        kind = "related"
    elif isinstance(field, ListField):
        kind = "list"  # one element (or related id) per line
    elif isinstance(field, f.BlobField):
        kind = "blob"
    elif isinstance(field, f.JSONField):
        kind = "json"
    elif isinstance(field, f.GitObjectField):
        kind = "readonly"
    related = field._model_name() if isinstance(field, RelationMixin) else None
    return Widget(
        name=field.name, kind=kind, label_type=type(field).__name__, required=bool(field.required),
        choices=tuple(c[0] if isinstance(c, tuple) else c for c in (field.choices or ())),
        related=related, max_length=getattr(field, "max_length", None),
    )


def input_kind(w: Widget, text: str) -> str:
    """How the edit form shows ``text`` for widget ``w``: ``w.kind``, unless
    that input cannot hold the text as it is: a text with line breaks gets a
    ``"textarea"``, a number, date or time the browser's typed input would
    empty or rewrite (a time with microseconds or an offset) a ``"text"``."""
    kind = w.kind
    if kind in _ONE_LINE and ("\n" in text or "\r" in text):
        return "textarea"
    pattern = _BROWSER_TEXTS.get(kind)
    if pattern is not None and text and not pattern.match(text):
        return "text"
    return kind


def same_text(submitted: str, shown: str) -> bool:
    """True if a browser sends ``submitted`` for an input that showed
    ``shown`` and was left alone: browsers send every line break as CR LF,
    and an HTML page cannot hold a NUL."""
    def norm(text: str) -> str:
        return _LINE_BREAK.sub("\n", text).replace("\x00", "\ufffd")
    return submitted == shown or norm(submitted) == norm(shown)


def version(obj: GitModel) -> str:
    """The version of everything ``obj`` owns, as it was read: its data and
    its files. A form carries it, so a change of a file alone makes other
    open forms stale too. Without files it is the data blob's id."""
    data = str(obj.oid or "")
    blobs = obj._meta.blob_fields  # type: ignore[attr-defined]
    if not blobs or not data:
        return data
    read = obj._blob_oids or {}  # as read (the value may have been replaced since)
    ids = [f"{fd.name}={read.get(fd.name) if fd.name in read else current(obj, fd)}" for fd in blobs]
    return data + "+" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]


def form_fields(model: type[GitModel]) -> list[f.Field[Any]]:
    """The fields a form shows: the id first, then the others as declared."""
    opts = model._meta  # type: ignore[attr-defined]
    fields = [fd for fd in opts.fields if fd.serialize or not fd.stored_in_json]
    return sorted(fields, key=lambda fd: not fd.id)


def shown(field: f.Field[Any], value: Any) -> str:
    """``value`` as the text a form input holds."""
    if value is None:
        return ""
    if isinstance(field, ListField) and isinstance(value, (list, tuple, set, frozenset)):
        items = value if isinstance(value, (list, tuple)) else sorted(value, key=str)
        return "\n".join(shown(field.base_field, item) for item in items)
    if isinstance(field, f.JSONField):
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, GitModel):
        return str(value.get_id())
    return str(value)


def parse(field: f.Field[Any], text: Optional[str]) -> Any:
    """The Python value the submitted ``text`` means for ``field``;
    ``ValidationError`` naming the field if it means none."""
    if isinstance(field, f.BooleanField):
        return text is not None and text not in ("", "0", "false", "off")
    if isinstance(field, ListField):
        return parse_list(field, text or "")
    if text is None or text.strip() == "":
        return None
    try:
        if isinstance(field, f.JSONField):
            return json.loads(text)
        if isinstance(field, f.IntegerField):
            return int(text.strip())
        if isinstance(field, f.FloatField):
            return float(text.strip())
        if isinstance(field, f.DecimalField):
            return decimal.Decimal(text.strip())
        if isinstance(field, (datefields.DateField, datefields.DateTimeField, datefields.TimeField)):
            return field.to_python(text.strip())
    except PARSE_ERRORS:  # ValidationError is a ValueError
        raise invalid(field) from None
    return text


def invalid(field: f.Field[Any]) -> ValidationError:
    """The error of a text that means no value of ``field``."""
    kind = "JSON" if isinstance(field, f.JSONField) else type(field).__name__.removesuffix("Field").lower()
    return ValidationError(f"is not a valid {kind} value", field.name, "invalid")


def parse_list(field: ListField, text: str) -> list[Any]:
    """The elements of a list typed one per line (blank lines skipped)."""
    lines = [line.strip() for line in _LINE_BREAK.split(text) if line.strip()]
    if isinstance(field, RelationMixin):
        return lines  # related ids
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(parse(field.base_field, line))
        except ValidationError as exc:
            raise ValidationError(f"line {number}: {exc.message}", field.name, "invalid") from None
    return out


def current(obj: GitModel, field: f.Field[Any]) -> Any:
    """The value of ``field`` on ``obj`` as a form compares it (blobs by id)."""
    if isinstance(field, f.BlobField):
        value = obj._data.get(field.name)
        if isinstance(value, bytes):
            return pygit2.hash(value)
        if isinstance(value, BlobFile) and isinstance(value.content, pygit2.Oid):  # a named file
            return f"{value.content} {value.name} {value.content_type}"
        return value
    if isinstance(field, f.RelatedField):
        value = obj._data.get(field.name)
        return value.get_id() if isinstance(value, GitModel) else value
    if isinstance(field, RelationMixin):  # many: their ids
        value = obj._data.get(field.name)
        return [v.get_id() if isinstance(v, GitModel) else v for v in value] if value is not None else None
    return getattr(obj, field.name)


def comparable(field: f.Field[Any], value: Any) -> Any:
    """A form of ``value`` equal for equal stored values."""
    if value is None or isinstance(field, f.BlobField):
        return value
    try:
        return json.dumps(field.to_json(value), sort_keys=True, default=str)
    except (TypeError, ValueError, ValidationError):
        return repr(value)
