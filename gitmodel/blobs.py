"""Files in ``BlobField``\\ s: their name, content type and size.

Assign ``BlobFile(content, name="logo.png")`` to keep a file name: the
bytes are stored as ``<object folder>/<field>/logo.png``, so ``git log
--stat`` and ``git show`` name the real file. Bytes without a name are
stored as ``<field>.data`` beside the data file, as always (old objects
read unchanged). An explicit content type that the name would not give is
kept beside the file (``<field>/.content-type``). A file object in a
``BlobFile`` is streamed into git on save, never read whole into memory;
:func:`open_blob` reads a stored blob in chunks (:class:`BlobReader`) and
:func:`blob_info` gives the size from git's object header without loading
the bytes. Merges, history and restores treat the field's folder as the
field's value: name, bytes and content type together.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import zlib
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, Union

import pygit2

from .exceptions import CorruptObject, ValidationError
from .git.odb import write_blob, write_blob_from, write_tree
from .git.tree import BLOB_MODE, TREE_MODE, tree_entry
from .validation import has_surrogates, id_problem

if TYPE_CHECKING:
    from .fields import Field
    from .models import GitModel
    from .schema.options import ModelOptions
    from .workspace import Workspace

__all__ = ["BlobFile", "BlobReader", "open_blob", "blob_info"]

#: the file beside a named file that keeps an explicit content type
CONTENT_TYPE_FILE = ".content-type"
#: a content type longer than this, or not ``type/subtype``, is not taken
_MAX_CONTENT_TYPE = 255
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+(\s*;[\x20-\x7e]*)?\Z")
#: bytes read from git per step when streaming a blob
CHUNK = 64 * 1024

Content = Union[bytes, pygit2.Oid, IO[bytes]]


class BlobFile:
    """Bytes (or a readable file, or a stored blob id) with a file name and
    a content type (guessed from the name when not given)."""

    def __init__(self, content: Union[bytes, str, IO[bytes], pygit2.Oid], name: Optional[str] = None,
                 content_type: Optional[str] = None) -> None:
        if isinstance(content, str):
            if has_surrogates(content):
                raise ValidationError("BlobFile text must not contain unpaired surrogates "
                                      "(it is stored as UTF-8)", code="invalid_blob")
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, pygit2.Oid)) and not hasattr(content, "read"):
            raise ValidationError(f"BlobFile takes bytes, str or a readable file, not {type(content).__name__}",
                                  code="invalid_blob")
        if name is not None:
            reason = id_problem(name) if isinstance(name, str) else "must be a string"
            if reason or name in ("data", CONTENT_TYPE_FILE):
                raise ValidationError(f"BlobFile name {name!r} cannot be a file name: {reason or 'reserved'}",
                                      code="invalid_blob")
        if content_type is not None and (not isinstance(content_type, str)
                                         or len(content_type) > _MAX_CONTENT_TYPE
                                         or not _CONTENT_TYPE.match(content_type)):
            raise ValidationError(f"BlobFile content type {content_type!r} is not type/subtype",
                                  code="invalid_blob")
        self.content: Content = content  # type: ignore[assignment]
        self.name = name
        guessed = (mimetypes.guess_type(name)[0] if name else None) or "application/octet-stream"
        self.content_type = content_type or guessed
        #: the content type must be stored: the name alone would not give it
        self.explicit_type = content_type is not None and content_type != guessed

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
        if isinstance(value, BlobFile) and value.explicit_type and value.name and (
                opts._custom_data_path is None):
            folder = f"{opts.get_object_folder(object_id)}/{field.name}"
            out[f"{folder}/{CONTENT_TYPE_FILE}"] = value.content_type.encode("ascii")
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
        return write_blob(repo, bytes(value))
    return write_blob_from(repo, value)  # a file: streamed into the object store


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
    if found is None or found[1] != TREE_MODE:
        return None
    return from_folder(ws.repo, found[0])


def entry_id(lookup: Callable[[str], Any], opts: ModelOptions, object_id: Any,
             field: Field[Any]) -> Optional[pygit2.Oid]:
    """What stands for ``field``'s value in a tree (``lookup(path)`` gives
    entries): the ``<field>.data`` blob id or the named file's folder id."""
    entry = lookup(opts.get_blob_path(object_id, field))
    if entry is not None or opts._custom_data_path is not None:
        return entry[0] if entry else None
    found = lookup(f"{opts.get_object_folder(object_id)}/{field.name}")
    return found[0] if found is not None and found[1] == TREE_MODE else None


def from_folder(repo: pygit2.Repository, folder: pygit2.Oid) -> Optional[BlobFile]:
    """The named file kept in folder ``folder`` (``None`` unless it holds one
    file, and perhaps its content type)."""
    tree = repo.get(folder)
    if not isinstance(tree, pygit2.Tree):
        return None
    files = [(e.name, e.id) for e in tree if e.type_str == "blob" and e.name != CONTENT_TYPE_FILE]
    if len(files) != 1 or any(e.type_str != "blob" for e in tree):
        return None
    name, oid = files[0]
    content_type = None
    if CONTENT_TYPE_FILE in tree:
        type_id = tree[CONTENT_TYPE_FILE].id
        try:
            if repo.odb.read_header(type_id)[1] <= _MAX_CONTENT_TYPE:  # untrusted: small, or ignored
                text = repo[type_id].data.decode("ascii", "replace").strip()  # type: ignore[attr-defined]
                content_type = text if _CONTENT_TYPE.match(text) else None
        except (KeyError, pygit2.GitError):  # missing or unreadable: the name's guess stands
            content_type = None
    try:
        return BlobFile(oid, name=name, content_type=content_type)
    except ValidationError:  # a name no save would write (another tool): not a named file
        return None


def folder_of(repo: pygit2.Repository, value: BlobFile) -> pygit2.Oid:
    """The folder (tree) id holding named file ``value``, written if new."""
    builder = repo.TreeBuilder()
    assert value.name is not None
    builder.insert(value.name, content_oid(repo, value), BLOB_MODE)
    if value.explicit_type:
        builder.insert(CONTENT_TYPE_FILE, write_blob(repo, value.content_type.encode("ascii")), BLOB_MODE)
    return write_tree(repo, builder)


def value_files(repo: pygit2.Repository, opts: ModelOptions, field: Field[Any],
                value: Any, data_name: str) -> dict[str, pygit2.Oid]:
    """The entries of an object folder that hold ``value`` of ``field``:
    ``{"<field>": folder id}`` for a named file, else ``{data_name: blob id}``."""
    if value is None:
        return {}
    if isinstance(value, BlobFile) and value.name and opts._custom_data_path is None:
        return {field.name: folder_of(repo, value)}
    return {data_name: content_oid(repo, value)}


def value_of(repo: pygit2.Repository, opts: ModelOptions, field: Field[Any], files: dict[str, Any],
             data_name: str) -> Any:
    """The value of ``field`` held by object-folder entries ``files`` (see :func:`value_files`)."""
    folder = files.get(field.name) if opts._custom_data_path is None else None
    if folder is not None:
        return from_folder(repo, folder)
    return files.get(data_name)


class BlobReader(io.RawIOBase):
    """A stored blob read in chunks: memory stays bounded whatever its size.

    A loose object is inflated step by step from its file, and its id is
    checked at the end (``CorruptObject`` if the bytes are not what the id
    names); a packed one is read through libgit2's blob stream. Has
    ``name``, ``content_type`` and ``size``.
    """

    def __init__(self, repo: pygit2.Repository, oid: pygit2.Oid, name: Optional[str] = None,
                 content_type: str = "application/octet-stream") -> None:
        super().__init__()
        self.oid = oid
        self.name = name
        self.content_type = content_type
        try:
            self.size = int(repo.odb.read_header(oid)[1])
        except (KeyError, pygit2.GitError) as exc:
            raise CorruptObject(str(oid), f"the blob cannot be read ({exc})") from None
        self._loose: Optional[IO[bytes]] = None
        self._inner: Optional[IO[bytes]] = None
        self._pending = b""
        self._done = False
        self._read = 0
        hexid = str(oid)
        path = os.path.join(repo.path, "objects", hexid[:2], hexid[2:])
        try:
            self._loose = open(path, "rb")
        except OSError:
            blob = repo[oid]
            if not isinstance(blob, pygit2.Blob):
                raise CorruptObject(hexid, "not a blob") from None
            self._inner = pygit2.BlobIO(blob)
            return
        self._zlib = zlib.decompressobj()
        self._hash = hashlib.new("sha1" if len(oid.raw) == 20 else "sha256")
        header = b""
        while b"\0" not in header:
            more = self._inflate(64)
            if not more or len(header) > 64:
                raise CorruptObject(hexid, "not a readable loose object")
            header += more
        head, _, rest = header.partition(b"\0")
        if head != b"blob %d" % self.size:
            raise CorruptObject(hexid, f"not a blob of {self.size} bytes")
        self._hash.update(head + b"\0" + rest)
        self._pending = rest

    def _inflate(self, limit: int) -> bytes:
        assert self._loose is not None
        while True:
            data = self._zlib.unconsumed_tail or self._loose.read(CHUNK)
            if not data:
                return self._zlib.flush()
            out = self._zlib.decompress(data, limit)
            if out or self._zlib.eof:
                return out

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._inner is not None:
            return self._inner.readinto(buffer)  # type: ignore[attr-defined,no-any-return]
        view = memoryview(buffer).cast("B")
        if not self._pending and not self._done:
            self._pending = self._inflate(min(len(view), CHUNK))
            if self._pending:
                self._hash.update(self._pending)
        chunk, self._pending = self._pending[: len(view)], self._pending[len(view):]
        if not chunk and not self._done:
            self._done = True
            if self._read != self.size or self._hash.digest() != self.oid.raw:
                raise CorruptObject(str(self.oid), "the blob's bytes do not match its id")
        view[: len(chunk)] = chunk
        self._read += len(chunk)
        return len(chunk)

    def close(self) -> None:
        for handle in (self._loose, self._inner):
            if handle is not None:
                handle.close()
        super().close()


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
    """A file object reading ``obj``'s blob field: a stored blob is read in
    chunks (:class:`BlobReader`, bounded memory); a file assigned but not
    yet saved is handed back as it was given."""
    value = obj._data.get(field_name)
    named = value if isinstance(value, BlobFile) else None
    content = named.content if named is not None else value
    if isinstance(content, pygit2.Oid):
        repo = obj._meta.require_workspace().repo
        if named is not None:
            return BlobReader(repo, content, named.name, named.content_type)  # type: ignore[return-value]
        return BlobReader(repo, content)  # type: ignore[return-value]
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
