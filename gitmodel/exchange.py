"""Objects in and out as text: JSON Lines, CSV and a JSON array.

:func:`export_objects` writes each object's stored JSON fields (the values
of its ``data.json``), so an export read back by :func:`import_objects`
gives the same blobs. An import validates every record first and then
saves them all through ``bulk_save`` as one commit: a bad record raises
before anything is written.

CSV has one column per stored field; an empty cell is ``null``. A column
of text (``CharField`` and its kin, dates, decimals) holds each string as it
is, unless it is empty or starts with ``"``: then it is written as a JSON
string (``""``). Any other column holds JSON text (``12``, ``true``,
``["a", "b"]``); on import, a related object's id may also be plain text
(``ada`` as well as ``"ada"``). A column named twice is refused.

A file's byte order mark (which some editors write at the start of UTF-8)
is skipped; a file opened as UTF-8 that is not is a ``ValidationError``.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, TextIO, Union

import pygit2

from . import datefields
from . import fields as field_types
from .exceptions import CorruptObject, ValidationError
from .schema import codec

if TYPE_CHECKING:
    from .models import GitModel

__all__ = ["Format", "ImportResult", "export_objects", "import_objects", "read_records"]

#: called with (objects done, objects in all or ``None`` if not known yet)
Progress = Callable[[int, Optional[int]], None]
_PROGRESS_EVERY = 1000


class Format(str, enum.Enum):
    """The text formats objects are exported to and imported from."""

    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"

    @classmethod
    def of(cls, name: Union[str, Format]) -> Format:
        """The format called ``name``; :class:`ValidationError` if none is."""
        try:
            return cls(name)
        except ValueError:
            raise ValidationError(
                f"unknown format {name!r}: use {', '.join(f.value for f in cls)}") from None

    @classmethod
    def guess(cls, filename: str) -> Format:
        """The format a file name's extension names (JSON Lines if none)."""
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        return {"csv": cls.CSV, "json": cls.JSON}.get(ext, cls.JSONL)


@dataclass(frozen=True)
class ImportResult:
    """What an import did: objects new to the branch, objects rewritten, the commit."""

    created: int
    updated: int
    commit: Optional[pygit2.Oid]


# -- export ---------------------------------------------------------------------------
def export_objects(model: type[GitModel], out: TextIO, format: Union[str, Format] = Format.JSONL,
                   treeish: Any = None, progress: Optional[Progress] = None) -> int:
    """Write every object of ``model`` (staged, or at ``treeish``) to ``out``
    in ``format``, in the order ``all()`` gives; returns how many were written."""
    fmt = Format.of(format)
    objs = model.all(treeish=treeish)
    total = objs.count() if progress is not None else None
    records = _stored_records(objs, progress, total)
    if fmt is Format.CSV:
        return _write_csv(model, records, out)
    count = 0
    if fmt is Format.JSON:
        out.write("[")
    for record in records:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        if fmt is Format.JSON:
            out.write(("\n" if count == 0 else ",\n") + line)
        else:
            out.write(line + "\n")
        count += 1
    if fmt is Format.JSON:
        out.write("\n]\n" if count else "]\n")
    return count


def _stored_records(objs: Iterable[GitModel], progress: Optional[Progress],
                    total: Optional[int]) -> Iterator[dict[str, Any]]:
    done = 0
    for obj in objs:
        stored = obj._stored if obj._stored is not None else obj.to_json_fields()
        id_attr = str(obj._meta.id_attr)
        if id_attr not in stored:  # a data file that leaves its id to its folder
            stored = {id_attr: obj.get_id(), **stored}
        yield stored
        done += 1
        if progress is not None and done % _PROGRESS_EVERY == 0:
            progress(done, total)
    if progress is not None:
        progress(done, total)


def _write_csv(model: type[GitModel], records: Iterator[dict[str, Any]], out: TextIO) -> int:
    names = [f.name for f in model._meta.json_fields]
    text = _text_columns(model)
    writer = csv.writer(out, lineterminator="\n")
    # a row with a carriage return in a cell is written fully quoted: the
    # minimal quoting of a "\n"-terminated writer would leave it bare
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(names)
    count = 0
    for record in records:
        extra = set(record) - set(names)
        if extra:
            raise ValidationError(f"{model.__name__} {record.get(str(model._meta.id_attr))!r} has stored "
                                  f"values no field reads ({', '.join(sorted(extra))}): export it "
                                  "as jsonl or json")
        cells = [_cell(record.get(name), name in text) for name in names]
        (quoted if any("\r" in cell for cell in cells) else writer).writerow(cells)
        count += 1
    return count


def _text_columns(model: type[GitModel]) -> set[str]:
    """The fields stored as JSON strings whatever their value."""
    text_types = (field_types.CharField, field_types.DecimalField, datefields._ISOField,
                  field_types.GitObjectField)
    return {f.name for f in model._meta.json_fields if isinstance(f, text_types)}


def _cell(value: Any, text: bool) -> str:
    if value is None:
        return ""
    if text and isinstance(value, str) and value and not value.startswith('"'):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _from_cell(cell: str, text: bool, where: str) -> Any:
    if cell == "":
        return None
    if text and not cell.startswith('"'):
        return cell
    return _json(cell, where)


# -- import ---------------------------------------------------------------------------
def read_records(source: TextIO, format: Union[str, Format] = Format.JSONL,
                 text_columns: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line or item number, record)`` for each object in ``source``;
    :class:`ValidationError` naming the place that is not a JSON object.
    ``text_columns``: the CSV columns whose cells are plain text."""
    fmt = Format.of(format)
    try:
        yield from _records(_without_bom(source), fmt, text_columns)
    except UnicodeDecodeError as exc:  # a file opened as UTF-8 that is not
        raise ValidationError(f"the file is not UTF-8 text ({exc})") from None


def _without_bom(source: TextIO) -> Iterator[str]:
    """The lines of ``source``, without the byte order mark some editors
    write at the start of a UTF-8 file."""
    first = True
    for line in source:
        if first and line.startswith("\ufeff"):
            line = line[1:]
        first = False
        yield line


def _records(lines: Iterator[str], fmt: Format,
             text_columns: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt is Format.JSONL:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield number, _object(_json(line, f"line {number}"), f"line {number}")
    elif fmt is Format.JSON:
        items = _json("".join(lines), "the file")
        if not isinstance(items, list):
            raise ValidationError("the file is not a JSON array of objects")
        for number, item in enumerate(items, 1):
            yield number, _object(item, f"item {number}")
    else:
        yield from _csv_records(lines, text_columns)


#: the largest CSV cell read back (Python's csv module stops at 128 KiB by default)
CSV_CELL_LIMIT = 1 << 30


def _csv_records(lines: Iterator[str], text_columns: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    before = csv.field_size_limit()
    csv.field_size_limit(max(before, CSV_CELL_LIMIT))  # what an export writes, it reads
    try:
        rows = csv.reader(lines)
        text = set(text_columns)
        try:
            header = next(rows, None)
            if not header:
                return
            twice = sorted({name for name in header if header.count(name) > 1})
            if twice:
                raise ValidationError(f"line 1: column {twice[0]!r} is named twice")
            for row in rows:
                number = rows.line_num
                if len(row) != len(header):
                    raise ValidationError(f"line {number}: {len(row)} cells, the header names {len(header)}")
                where = f"line {number}, column"
                yield number, {name: _from_cell(cell, name in text, f"{where} {name}")
                               for name, cell in zip(header, row)}
        except csv.Error as exc:
            raise ValidationError(f"line {rows.line_num}: not CSV ({exc})") from None
    finally:
        csv.field_size_limit(before)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{where}: not JSON ({exc})") from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{where}: expected a JSON object, found {type(value).__name__}")
    return value


def import_objects(model: type[GitModel], source: Union[TextIO, str], format: Union[str, Format] = Format.JSONL,
                   message: Optional[str] = None, progress: Optional[Progress] = None,
                   **commit_info: Any) -> ImportResult:
    """Validate the records of ``source`` (a text stream or a string) as
    objects of ``model`` and commit them all as one commit; an id already
    stored is rewritten with the record's fields.

    Raises before anything is written if a record is not an object of
    ``model`` (:class:`ValidationError` naming its line or item), if two
    share an id, or if something else is pending.
    """
    opts = model._meta
    ws = opts.require_workspace("import")
    stream = io.StringIO(source) if isinstance(source, str) else source
    known = {f.name for f in opts.json_fields}
    objs: list[GitModel] = []
    created = 0
    ws.lookup(opts.folder)  # moves to the branch's latest commit first
    # a related object's id may be written as plain text, as a person writes it
    text = _text_columns(model) | {f.name for f in opts.json_fields if isinstance(f, field_types.RelatedField)}
    for number, record in read_records(stream, format, text):
        where = f"{'item' if Format.of(format) is Format.JSON else 'line'} {number}"
        unknown = set(record) - known
        if unknown:
            raise ValidationError(f"{where}: {model.__name__} has no field {sorted(unknown)[0]!r}")
        id_attr = str(opts.id_attr)
        if record.get(id_attr) is None and id_attr in record:
            record.pop(id_attr)  # an empty id: a new one
        obj = _instance(model, record, where)
        if ws.stage.lookup(opts.get_data_path(obj.get_id())) is None:
            obj._stored_id = None  # new: saved as a new object
            created += 1
        objs.append(obj)
        if progress is not None and len(objs) % _PROGRESS_EVERY == 0:
            progress(len(objs), None)
    if progress is not None:
        progress(len(objs), len(objs))
    commit_info.setdefault("message", message or f"Import {len(objs)} {model.__name__} object(s)")
    commit = model.bulk_save(objs, commit=True, **commit_info) if objs else None
    return ImportResult(created, len(objs) - created, commit)


def _instance(model: type[GitModel], record: dict[str, Any], where: str) -> GitModel:
    """An object of ``model`` holding ``record``'s stored values (a new id if it has none)."""
    opts = model._meta
    id_attr = str(opts.id_attr)
    try:
        if id_attr not in record:
            record[id_attr] = opts.id_field.to_json(model().get_id())
        object_id = opts.id_field.clean_id(record[id_attr])
        obj = codec.decode(model, opts.get_data_path(object_id), model.__name__, record)
        obj._stored_id = object_id
        obj.full_clean()
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}", exc.field, exc.code) from None
    except CorruptObject as exc:  # a stored value its field cannot read
        raise ValidationError(f"{where}: {exc.reason}") from None
    return obj
