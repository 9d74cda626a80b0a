"""Writing migrations: :func:`make_migration`, the source of a migration
module for the difference between the application's classes and the stored
schemas (re-exported by :mod:`gitmodel.migrations`).

The module it writes compiles and imports as it is: each field is written as
the class declares it, a default as the Python value the class gives (a
``datetime`` as ``datetime.datetime(...)``, a function by its importable
name), so applying the module stores the schema the class declares and a
second ``make_migration`` has nothing left to write. A default that cannot
be written as Python source is left out, with a comment saying so.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import uuid
from typing import TYPE_CHECKING, Any, Optional

from . import fields as fields_module
from .fields import NOT_PROVIDED, Field
from .schema import FieldSchema, constructor_options, declared_schema

if TYPE_CHECKING:
    from .models import GitModel
    from .refs import Treeish
    from .workspace import Workspace

__all__ = ["make_migration"]

#: the names a written default may use, with the import that brings each
_VALUE_NAMES: dict[str, tuple[Any, str]] = {
    "datetime": (datetime, "import datetime"),
    "decimal": (decimal, "import decimal"),
    "Decimal": (decimal.Decimal, "from decimal import Decimal"),
    "uuid": (uuid, "import uuid"),
    "UUID": (uuid.UUID, "from uuid import UUID"),
}
_BUILTIN_FACTORIES = {list: "list", dict: "dict", set: "set", tuple: "tuple", str: "str",
                      int: "int", float: "float", bool: "bool"}


class _Writer:
    """The source of the fields of one module, and the imports and notes it needs."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.notes: list[str] = []

    def field(self, record: FieldSchema, declared: Optional[Field[Any]], where: str) -> str:
        options = dict(record.options)
        klass = record.type if "." not in record.type else str(options.get("base", "JSONField"))
        kwargs = constructor_options(getattr(fields_module, klass, fields_module.Field), options)
        kwargs.pop("default", None)
        args = [f"{k}={v!r}" for k, v in sorted(kwargs.items())]
        default = self._default(record, declared, where)
        if default is not None:
            args.append(f"default={default}")
        if record.type in ("RelatedField", "ManyToManyField"):
            args.insert(0, repr(options.get("to")))
        elif record.type == "ListField" and isinstance(options.get("of"), dict):
            of = options["of"]
            element = getattr(declared, "base_field", None)
            args.insert(0, self.field(FieldSchema("element", str(of.get("type")), dict(of.get("options", {}))),
                                      element if isinstance(element, Field) else None, f"{where} element"))
        return f"fields.{klass}({', '.join(args)})"

    def _default(self, record: FieldSchema, declared: Optional[Field[Any]], where: str) -> Optional[str]:
        """The source of the field's default, or ``None`` to write none."""
        if not record.has_default:
            return None
        if declared is not None and declared.has_default():
            value = declared._default
        else:  # from the record: a JSON value, or a factory a stored schema may name
            reader = record.to_field()
            value = reader._default
            if value is NOT_PROVIDED:
                return None
            if "default" in record.options and not callable(value):
                try:
                    value = reader.from_json(record.options["default"])
                except Exception:  # a default its own field does not read: written as stored
                    value = record.options["default"]
        if callable(value):
            own = _own_default(record)
            if own is not None and getattr(own, "__qualname__", None) == getattr(value, "__qualname__", ""):
                return None  # the field's class gives it by itself
            found = self._importable(value)
            if found is None:
                self.notes.append(f"{where}: its default {_name(value)} cannot be imported: set default= yourself")
            return found
        return self._literal(value, where)

    def _importable(self, function: Any) -> Optional[str]:
        if function in _BUILTIN_FACTORIES:
            return _BUILTIN_FACTORIES[function]
        owner = getattr(function, "__self__", None)
        module = getattr(function, "__module__", None) or getattr(owner, "__module__", None)
        qualname = getattr(function, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
            return None
        try:
            found: Any = importlib.import_module(module)
            for part in qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            return None
        if found is not function and found != function:
            return None
        if module == "builtins":
            return qualname
        self.imports.add(f"import {module}")
        return f"{module}.{qualname}"

    def _literal(self, value: Any, where: str) -> Optional[str]:
        source = repr(value)
        names = {name: item for name, (item, _import) in _VALUE_NAMES.items()}
        try:
            same = eval(source, {"__builtins__": {}, **names}) == value  # noqa: S307 -- our own repr
        except Exception:
            same = False
        if not same:
            self.notes.append(f"{where}: its default {source[:60]} cannot be written here: set default= yourself")
            return None
        for name, (_item, statement) in _VALUE_NAMES.items():
            if f"{name}." in source or f"{name}(" in source:
                self.imports.add(statement)
        return source


def _own_default(record: FieldSchema) -> Any:
    """The default the record's field class gives when none is passed."""
    bare = FieldSchema(record.name, record.type, {k: v for k, v in record.options.items()
                                                  if k not in ("default", "default_factory")})
    found = bare.to_field()._default
    return found if callable(found) else None


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))


def make_migration(ws: Workspace, *models: type[GitModel], name: str = "auto",
                   treeish: Optional[Treeish] = None) -> str:
    """The source of a migration module taking the stored schemas (in the
    staged state or at ``treeish``) to what ``models`` declare (default:
    every registered model). Renames are written where a field names its
    ``previous_names``; a changed type gets an ``AlterField`` whose
    ``convert`` you may need to fill in."""
    from .migrations import applied

    stored = ws.schemas(treeish)
    targets = models or tuple(m for m in ws.models.values()
                              if not m._meta.abstract and m._meta.workspace is ws)
    lines: list[str] = []
    used: set[str] = set()
    writer = _Writer()
    for model in targets:
        declared = declared_schema(model)
        old = stored.get(declared.model)
        if old is None:
            continue
        label = declared.model
        objects = {f.name: f for f in model._meta.fields}

        def source(field_name: str, record: FieldSchema) -> str:
            return writer.field(record, objects.get(field_name), f"{label}.{field_name}")

        renamed: dict[str, str] = {}
        for field_name, record in declared.fields.items():
            if field_name in old.fields:
                continue
            earlier = [p for p in record.options.get("previous_names", ()) if p in old.fields]
            if earlier:
                renamed[earlier[0]] = field_name
                lines.append(f"    RenameField({label!r}, {earlier[0]!r}, {field_name!r}),")
                used.add("RenameField")
        for field_name, record in declared.fields.items():
            before = old.fields.get(field_name) or next(
                (old.fields[o] for o, n in renamed.items() if n == field_name), None)
            if before is None:
                lines.append(f"    AddField({label!r}, {field_name!r}, {source(field_name, record)}),")
                used.add("AddField")
            elif before.type != record.type:
                lines.append(f"    AlterField({label!r}, {field_name!r}, {source(field_name, record)}, "
                             "convert=None),")
                used.add("AlterField")
            elif _comparable(before) != _comparable(record):
                lines.append(f"    AlterField({label!r}, {field_name!r}, {source(field_name, record)}),")
                used.add("AlterField")
        for field_name in old.fields:
            if field_name not in declared.fields and field_name not in renamed:
                lines.append(f"    RemoveField({label!r}, {field_name!r}),")
                used.add("RemoveField")
        if old.shard != declared.shard and not declared.adaptive:
            lines.append(f"    AlterModelLayout({label!r}, shard={declared.shard}),")
            used.add("AlterModelLayout")
    head = f'"""Migration {name}: the stored schema to what the models declare."""\n\n'
    if used:
        head += "".join(f"{line}\n" for line in sorted(writer.imports, key=lambda i: (i.startswith("from"), i)))
        head += f"from gitmodel import fields  # noqa: F401\nfrom gitmodel.migrations import {', '.join(sorted(used))}\n\n"
    head += "".join(f"# {note}\n" for note in writer.notes) + ("\n" if writer.notes else "")
    body = "".join(f"{line}\n" for line in lines)
    return f"{head}dependencies = {applied(ws, treeish)[-1:]!r}\noperations = [\n{body}]\n"


def _comparable(record: FieldSchema) -> dict[str, Any]:
    return {k: v for k, v in record.options.items() if k != "previous_names"}
