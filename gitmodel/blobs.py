"""Files in ``BlobField``\\ s: their name, content type and size.

Assign ``BlobFile(content, name="logo.png")`` to keep a file name: the
bytes are stored as ``<object folder>/<field>/logo.png``, so ``git log
--stat`` and ``git show`` name the real file. Bytes without a name are
stored as ``<field>.data`` beside the data file, as always (old objects
read unchanged). A file object in a ``BlobFile`` is streamed into git on
save, never read whole into memory; :func:`blob_info` gives the size from
git's object header without loading the bytes.
"""

from __future__ import annotations

import io
import mimetypes
from typing import IO, TYPE_CHECKING, Any, Optional, Union

import pygit2

from .exceptions import ValidationError
from .git.tree import BLOB_MODE, tree_entry
from .validation import id_problem

if TYPE_CHECKING:
    from .fields import Field
    from .models import GitModel
    from .schema.options import ModelOptions
    from .workspace import Workspace

__all__ = ["BlobFile", "open_blob", "blob_info"]

Content = Union[bytes, pygit2.Oid, IO[bytes]]


class BlobFile:
    """Bytes (or a readable file, or a stored blob id) with a file name and
    a content type (guessed from the name when not given)."""

    def __init__(self, content: Union[bytes, str, IO[bytes], pygit2.Oid], name: Optional[str] = None,
                 content_type: Optional[str] = None) -> None:
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, pygit2.Oid)) and not hasattr(content, "read"):
            raise ValidationError(f"BlobFile takes bytes, str or a readable file, not {type(content).__name__}",
                                  code="invalid_blob")
        if name is not None:
            reason = id_problem(name) if isinstance(name, str) else "must be a string"
            if reason or name == "data":
                raise ValidationError(f"BlobFile name {name!r} cannot be a file name: {reason or 'reserved'}",
                                      code="invalid_blob")
        self.content: Content = content  # type: ignore[assignment]
        self.name = name
        self.content_type = content_type or (
            mimetypes.guess_type(name)[0] if name else None) or "application/octet-stream"

    def __bytes__(self) -> bytes:
        if isinstance(self.content, bytes):
            return self.content
        raise TypeError("a stored or streamed BlobFile has no bytes in memory")

    def __repr__(self) -> str:
        return f"<BlobFile {self.name or '(no name)'} {self.content_type}>"


def stored_path(opts: ModelOptions, object_id: Any, field: Field[Any], value: Any) -> str:
    """Where ``value`` goes: ``<field>/<name>`` for a named file, else the usual blob path."""
    if isinstance(value, BlobFile) and value.name and opts._custom_data_path is None:
        return f"{opts.get_object_folder(object_id)}/{field.name}/{value.name}"
    return opts.get_blob_path(object_id, field)


def writes(opts: ModelOptions, object_id: Any, field: Field[Any], value: Any) -> dict[str, Any]:
    """Path -> what to stage (``None``: remove) for ``value`` of ``field``."""
    out: dict[str, Any] = {opts.get_blob_path(object_id, field): None}
    if opts._custom_data_path is None:
        out[f"{opts.get_object_folder(object_id)}/{field.name}"] = None  # a named file before
    if value is not None:
        out[stored_path(opts, object_id, field, value)] = (
            value.content if isinstance(value, BlobFile) else value)
    return out


def stage(ws: Workspace, path: str, content: Any) -> None:
    """Stage ``content`` (bytes, a blob id, a readable file, or ``None``) at ``path``."""
    if content is None:
        ws.remove(path)
    elif isinstance(content, (bytes, bytearray)):
        ws.add_blob(path, bytes(content))
    else:
        ws._unit.write(path, (content_oid(ws.repo, content), BLOB_MODE))


def content_oid(repo: pygit2.Repository, value: Any) -> pygit2.Oid:
    """The blob id of ``value`` (a blob id, bytes, a readable file or a
    ``BlobFile`` of one of them), writing the blob if it is new."""
    if isinstance(value, BlobFile):
        value = value.content
    if isinstance(value, pygit2.Oid):
        return value
    if isinstance(value, (bytes, bytearray)):
        return repo.create_blob(bytes(value))
    return repo.create_blob_fromiobase(value)  # a file: streamed into the object store


def plain_entry(entry: Optional[tuple[pygit2.Oid, int]]) -> Optional[pygit2.Oid]:
    """The blob id of a staged ``(oid, mode)`` entry, or ``None``."""
    return entry[0] if entry else None


def find(ws: Workspace, opts: ModelOptions, object_id: Any, field: Field[Any],
         tree: Optional[pygit2.Tree]) -> Any:
    """The stored value of ``field``: a blob id, a ``BlobFile`` (named), or ``None``."""
    path = opts.get_blob_path(object_id, field)
    view = ws.stage if tree is None else None
    entry = view.lookup(path) if view is not None else tree_entry(tree, path)
    if entry is not None or opts._custom_data_path is not None:
        return entry[0] if entry else None
    folder = f"{opts.get_object_folder(object_id)}/{field.name}"
    found = view.lookup(folder) if view is not None else tree_entry(tree, folder)
    if found is None or found[1] != int(pygit2.enums.FileMode.TREE):
        return None
    files = [(obj.name, obj.id) for obj in ws.repo[found[0]] if obj.type_str == "blob"]  # type: ignore[attr-defined]
    if len(files) != 1:
        return None
    name, oid = files[0]
    return BlobFile(oid, name=name)


def read(ws: Workspace, value: Any) -> Optional[io.BytesIO]:
    """``obj.<blob field>``: the bytes as a new ``io.BytesIO``, with ``name``,
    ``content_type`` and ``size`` attributes."""
    if value is None:
        return None
    named = value if isinstance(value, BlobFile) else None
    content = named.content if named is not None else value
    if isinstance(content, pygit2.Oid):
        content = ws.repo[content].data  # type: ignore[attr-defined]
        if named is not None:
            named.content = content
    elif not isinstance(content, (bytes, bytearray)):
        content = content.read()
        if named is not None:
            named.content = content
    out = io.BytesIO(content)
    out.name = named.name if named is not None else None  # type: ignore[misc]
    out.content_type = named.content_type if named is not None else "application/octet-stream"  # type: ignore[attr-defined]
    out.size = len(content)  # type: ignore[attr-defined]
    return out


def blob_info(obj: GitModel, field_name: str) -> Optional[BlobFile]:
    """The name, content type and size of ``obj``'s blob field (``size`` in
    bytes, read from git's object header: the bytes are not loaded)."""
    value = obj._data.get(field_name)
    if value is None:
        return None
    info = value if isinstance(value, BlobFile) else BlobFile(value)
    info.size = _size(obj._meta.require_workspace(), info.content)  # type: ignore[attr-defined]
    return info


def open_blob(obj: GitModel, field_name: str) -> IO[bytes]:
    """A file object reading ``obj``'s blob field (a file assigned but not
    yet saved is handed back as it was given)."""
    value = obj._data.get(field_name)
    content = value.content if isinstance(value, BlobFile) else value
    if isinstance(content, pygit2.Oid):
        content = obj._meta.require_workspace().repo[content].data  # type: ignore[attr-defined]
    if isinstance(content, (bytes, bytearray)):
        return io.BytesIO(content)
    if content is None:
        raise ValidationError(f'"{field_name}" holds no file', field=field_name, code="invalid_blob")
    return content  # type: ignore[no-any-return]


def _size(ws: Workspace, content: Any) -> Optional[int]:
    if isinstance(content, pygit2.Oid):
        return int(ws.repo.odb.read_header(content)[1]) if hasattr(ws.repo.odb, "read_header") \
            else len(ws.repo[content].data)  # type: ignore[attr-defined]
    if isinstance(content, (bytes, bytearray)):
        return len(content)
    return None
