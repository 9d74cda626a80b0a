"""Checks on the records gitmodel keeps in a repository, which are untrusted input.

A stored schema (``.gitmodel/schema/<Model>.json``) names each field's type
and options; a migration record (``.gitmodel/migrations/<name>.json``) names
its operations. Either may come from a collaborator's branch or a remote, so
every key is checked for the JSON type gitmodel writes before anything reads
it: :func:`field_spec_problem` for a field of a schema record (what
:meth:`ModelSchema.from_json <gitmodel.schema.ModelSchema.from_json>`
refuses as a :class:`~gitmodel.exceptions.CorruptObject`),
:func:`operation_problem` for an operation of a migration record (what a
merge refuses as a :class:`~gitmodel.exceptions.MigrationError` before it
replays anything). Each returns why the record is not one, or ``None``.

Values of the right type that a field still refuses (``"on_delete":
"EXPLODE"``) are not checked here: building the field refuses them, and
:func:`~gitmodel.schema.model_from_schema` reports the model as unreadable.
"""

from __future__ import annotations

import reprlib
from typing import Any, Optional

from ..exceptions import FieldError
from ..validation import id_problem

__all__ = ["RECORDED_OPTIONS", "field_spec_problem", "options_problem", "operation_problem",
           "field_name_problem", "model_name_problem"]

#: options that are true or false (or a number a declaration gave for one: ``index=1``)
_FLAGS = frozenset({"required", "readonly", "unique", "serialize", "index", "nullable", "id"})
#: options that are sizes: one that is not a whole number is read, and its field
#: reads as a JSONField (``FieldSchema.to_field``), so any value passes here
_SIZES = frozenset({"max_length", "max_digits", "decimal_places"})
#: options that are one non-empty string
_TEXTS = frozenset({"base", "default_factory", "to", "on_delete", "related_name", "kind",
                    "object_type"})
#: options that are lists of strings
_TEXT_LISTS = frozenset({"previous_names", "schemes"})
#: every option gitmodel records for a field (see ``field_schema``); the only
#: ones a field built from a record is given
RECORDED_OPTIONS = _FLAGS | _SIZES | _TEXTS | _TEXT_LISTS | {"choices", "default", "of"}
#: how deep ``of`` records (a list's element) may nest
_MAX_OF_DEPTH = 4


def field_spec_problem(spec: Any) -> Optional[str]:
    """Why ``spec`` (``{"type": ..., **options}``, a field of a schema record
    or of an ``AddField`` / ``AlterField`` record) is not a field record."""
    if type(spec) is not dict:
        return f"is {_kind(spec)}, not an object"
    if not _is_text(spec.get("type")):
        return f"type {_short(spec.get('type'))} is not a name"
    return options_problem({k: v for k, v in spec.items() if k != "type"})


def options_problem(options: Any, depth: int = 0) -> Optional[str]:
    """Why ``options`` (a field record's options) are not what gitmodel records."""
    if type(options) is not dict:
        return f"options are {_kind(options)}, not an object"
    for key, value in options.items():
        problem = _option_problem(key, value, depth)
        if problem:
            return f"option {_short(key)} {problem}"
    return None


def _option_problem(key: str, value: Any, depth: int) -> Optional[str]:
    if key in _FLAGS:
        return None if type(value) in (bool, int) else f"is {_kind(value)}, not true or false"
    if key in _TEXTS:
        return None if _is_text(value) else f"is {_short(value)}, not a name"
    if key in _TEXT_LISTS:
        if type(value) is not list or not all(_is_text(v) for v in value):
            return f"is {_short(value)}, not a list of names"
        return None
    if key == "choices":
        return None if value is None or type(value) is list else f"is {_kind(value)}, not a list"
    if key == "of":
        if depth >= _MAX_OF_DEPTH:
            return "is nested too deeply"
        if type(value) is not dict or set(value) - {"type", "options"}:
            return "is not an object of a type and options"
        if not _is_text(value.get("type")):
            return f"has the type {_short(value.get('type'))}, not a name"
        return options_problem(value.get("options", {}), depth + 1)
    return None  # "default" is any JSON value; options another version records are not read


def field_name_problem(name: Any) -> Optional[str]:
    """Why ``name`` cannot be the name of a declared field (the rules a
    class declaration follows: :func:`gitmodel.schema.options.check_field_name`)."""
    if not _is_text(name) or not name.isidentifier():
        return f"{_short(name)} is not a field name"
    from ..models import GitModel
    from .options import check_field_name

    try:
        check_field_name(GitModel, name)
    except FieldError as exc:
        return str(exc).replace("GitModel: ", "", 1)
    return None


def model_name_problem(name: Any) -> Optional[str]:
    """Why ``name`` cannot be the name of a model (a class name, one path component)."""
    if not _is_text(name) or not name.isidentifier():
        return f"{_short(name)} is not a model name"
    problem = id_problem(name)
    return f"model name {_short(name)} {problem}" if problem else None


def _stored_name_problem(name: Any) -> Optional[str]:
    """Why ``name`` cannot name a stored field (one a record renames or removes:
    another tool may have stored any name, so only its type is checked)."""
    return None if _is_text(name) else f"{_short(name)} is not a field name"


#: operation -> its keys: (key, check) pairs, a check returning a problem or None
_OPERATIONS: dict[str, tuple[tuple[str, Any], ...]] = {
    "RenameField": (("old_name", _stored_name_problem), ("new_name", field_name_problem)),
    "RemoveField": (("name", _stored_name_problem),),
    "AddField": (("name", field_name_problem),),
    "AlterField": (("name", _stored_name_problem),),
    "RenameModel": (("new_name", model_name_problem),),
    "AlterModelLayout": (),
    "RunPython": (),
}


def operation_problem(record: Any) -> Optional[str]:
    """Why ``record`` (one operation of a migration record) is not one
    gitmodel wrote. An operation of a kind gitmodel does not know (the
    application's own ``Operation`` class) passes: it needs the code anyway."""
    if type(record) is not dict:
        return f"an operation is {_kind(record)}, not an object"
    kind = record.get("operation")
    if type(kind) is not str or not kind:
        return f"an operation is named {_short(kind)}"
    problem = model_name_problem(record.get("model"))
    if problem:
        return f"{kind}: {problem}"
    for key, check in _OPERATIONS.get(kind, ()):
        if key not in record:
            return f"{kind} on {record['model']} has no {key!r}"
        problem = check(record[key])
        if problem:
            return f"{kind} on {record['model']}: {key} {problem}"
    if kind in ("AddField", "AlterField"):
        for flag in ("computed", "converted"):
            if flag in record and type(record[flag]) is not bool:
                return f"{kind} on {record['model']}: {flag} is {_kind(record[flag])}, not true or false"
        if not record.get("computed") and not record.get("converted"):
            problem = field_spec_problem(record.get("field"))
            if problem:
                return f"{kind} on {record['model']}: the field {problem}"
    elif kind == "RenameModel":
        folder = record.get("folder")
        if folder is not None:
            problem = id_problem(folder) if type(folder) is str else "is not a folder name"
            if problem is None and folder.startswith("."):
                problem = "is not a model folder"
            if problem:
                return f"RenameModel on {record['model']}: folder {_short(folder)} {problem}"
    elif kind == "AlterModelLayout":
        shard = record.get("shard")
        if type(shard) is not int or not 0 <= shard <= 8:
            return f"AlterModelLayout on {record['model']}: shard {_short(shard)} is not a whole number from 0 to 8"
    return None


def _is_text(value: Any) -> bool:
    return type(value) is str and bool(value)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)



_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


def _short(value: Any) -> str:
    """``repr(value)``, cut short: a record may hold anything, of any size."""
    return _REPR.repr(value)
