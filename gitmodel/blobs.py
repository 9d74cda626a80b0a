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

What the repository holds is untrusted: a missing or mistyped blob, and a
``<field>`` folder that is not one named file (:class:`UnreadableFile`),
are :class:`~gitmodel.exceptions.CorruptObject` naming the path when read,
and a save that does not change the field leaves them exactly as they are.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import zlib
from typing import IO, TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

import pygit2

from .exceptions import CorruptObject, GitModelError, ValidationError
from .git.odb import write_blob, write_blob_from, write_tree
from .git.tree import BLOB_MODE, TREE_MODE, tree_entry
from .validation import blob_at, has_surrogates, id_problem, read_blob

if TYPE_CHECKING:
    from .fields import Field
    from .models import GitModel
    from .schema.options import ModelOptions
    from .workspace import Workspace

__all__ = ["BlobFile", "BlobReader", "UnreadableFile", "open_blob", "blob_info"]

#: the file beside a named file that keeps an explicit content type
CONTENT_TYPE_FILE = ".content-type"
#: a content type longer than this, or not ``type/subtype``, is not taken
_MAX_CONTENT_TYPE = 255
#: ``type/subtype`` then perhaps ``; parameters``: printable ASCII, no control characters
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+( *;[\x20-\x7e]*)?\Z", re.ASCII)
#: bytes read from git per step when streaming a blob
CHUNK = 64 * 1024
_BLOB = int(pygit2.enums.ObjectType.BLOB)
_TREE = int(pygit2.enums.ObjectType.TREE)
_GITLINK = int(pygit2.enums.FileMode.COMMIT)

Content = Union[bytes, pygit2.Oid, IO[bytes]]


def content_type_problem(value: Any) -> Optional[str]:
    """Why ``value`` cannot be a content type, or ``None`` if it can."""
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > _MAX_CONTENT_TYPE or not _CONTENT_TYPE.match(value):
        return "is not type/subtype (printable ASCII, no control characters)"
    return None


class _Origin(NamedTuple):
    """Where a value read from the repository came from."""

    key: Optional[tuple[str, Any, str]]  #: (model folder, object id, field), when known
    entry: tuple[pygit2.Oid, int]  #: the ``<field>`` entry as stored
    state: tuple[Any, ...]  #: (content, name, content type) as read


class BlobFile:
    """Bytes (or a readable file, or a stored blob id) with a file name and
    a content type (guessed from the name when not given)."""

    #: the path it was read from (``None``: not read from the repository)
    _path: Optional[str] = None
    _origin: Optional[_Origin] = None
    #: (blob id, its bytes) once read
    _loaded: Optional[tuple[pygit2.Oid, bytes]] = None

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
        if content_type is not None:
            problem = content_type_problem(content_type)
            if problem:
                raise ValidationError(f"BlobFile content type {content_type!r} {problem}", code="invalid_blob")
        self.content: Content = content  # type: ignore[assignment]
        self.name = name
        guessed = (mimetypes.guess_type(name)[0] if name else None) or "application/octet-stream"
        self.content_type = content_type or guessed
        #: the content type must be stored: the name alone would not give it
        self.explicit_type = content_type is not None and content_type != guessed

    def _as_read(self) -> Optional[_Origin]:
        """Where this value was read from, if it is still as it was read."""
        origin = self._origin
        if origin is not None and origin.state == (self.content, self.name, self.content_type):
            return origin
        return None

    def __bytes__(self) -> bytes:
        if isinstance(self.content, bytes):
            return self.content
        raise TypeError("a stored or streamed BlobFile has no bytes in memory")

    def __repr__(self) -> str:
        return f"<BlobFile {self.name or '(no name)'} {self.content_type}>"


class UnreadableFile(BlobFile):
    """What a ``<field>`` entry holds that is not one named file (another
    tool's data: several files, a subfolder, a gitlink, a bad name, ...).

    Reading it is :class:`CorruptObject` naming ``path``; a save that does
    not change the field leaves the entry exactly as it is.
    """

    def __init__(self, entry: tuple[pygit2.Oid, int], path: str, reason: str,
                 key: Optional[tuple[str, Any, str]] = None) -> None:
        super().__init__(entry[0])
        self.path = self._path = path
        self.reason = reason
        self._origin = _Origin(key, entry, (entry[0], None, self.content_type))

    def error(self) -> CorruptObject:
        return CorruptObject(self.path, self.reason)

    def __repr__(self) -> str:
        return f"<UnreadableFile {self.path}: {self.reason}>"


def stored_path(opts: ModelOptions, object_id: Any, field: Field[Any], value: Any) -> str:
    """Where ``value`` goes: ``<field>/<name>`` for a named file, else the usual blob path."""
    if isinstance(value, BlobFile) and value.name and opts._custom_data_path is None:
        return f"{opts.get_object_folder(object_id)}/{field.name}/{value.name}"
    return opts.get_blob_path(object_id, field)


def writes(opts: ModelOptions, object_id: Any, field: Field[Any], value: Any) -> dict[str, Any]:
    """Path -> what to stage (``None``: remove) for ``value`` of ``field``.

    A value as it was read from this object's folder is not written again
    (nothing: its entry stays exactly as it is)."""
    if isinstance(value, BlobFile):
        origin = value._as_read()
        if origin is not None and origin.key == (opts.folder, object_id, field.name):
            return {}
        if isinstance(value, UnreadableFile):
            raise CorruptObject(value.path, f"{value.reason}; it cannot be saved elsewhere")
    out: dict[str, Any] = {opts.get_blob_path(object_id, field): None}
    if opts._custom_data_path is None:
        out[f"{opts.get_object_folder(object_id)}/{field.name}"] = None  # a named file before
    if value is not None:
        streamed = isinstance(value, BlobFile) and not isinstance(value.content, (bytes, pygit2.Oid))
        out[stored_path(opts, object_id, field, value)] = (  # a stream: the BlobFile, which keeps its blob id
            value.content if isinstance(value, BlobFile) and not streamed else value)
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
    if isinstance(value, UnreadableFile):
        raise value.error()
    if isinstance(value, BlobFile):
        oid = content_oid(repo, value.content)
        if not isinstance(value.content, (bytes, pygit2.Oid)):
            value.content = oid  # streamed once: a later save (or object) writes the same blob, not an emptied stream
            value._loaded = None
        return oid
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
    """The stored value of ``field``: a blob id, a ``BlobFile`` (named, or
    an :class:`UnreadableFile`), or ``None``."""
    path = opts.get_blob_path(object_id, field)
    view = ws.stage if tree is None else None
    entry = view.lookup(path) if view is not None else tree_entry(tree, path)
    if entry is not None or opts._custom_data_path is not None:
        return entry[0] if entry else None
    folder = f"{opts.get_object_folder(object_id)}/{field.name}"
    found = view.lookup(folder) if view is not None else tree_entry(tree, folder)
    if found is None:
        return None
    return from_folder(ws.repo, found[0], folder, found[1], (opts.folder, object_id, field.name))


def entry_id(lookup: Callable[[str], Any], opts: ModelOptions, object_id: Any,
             field: Field[Any]) -> Optional[pygit2.Oid]:
    """What stands for ``field``'s value in a tree (``lookup(path)`` gives
    entries): the ``<field>.data`` blob id or the named file's folder id."""
    entry = lookup(opts.get_blob_path(object_id, field))
    if entry is not None or opts._custom_data_path is not None:
        return entry[0] if entry else None
    found = lookup(f"{opts.get_object_folder(object_id)}/{field.name}")
    return found[0] if found is not None and found[1] == TREE_MODE else None


def from_folder(repo: pygit2.Repository, folder: pygit2.Oid, path: str, mode: int = TREE_MODE,
                key: Optional[tuple[str, Any, str]] = None) -> BlobFile:
    """The named file kept in folder ``folder`` at ``path`` (``mode``: its
    entry's); an :class:`UnreadableFile` unless the folder holds one file,
    and perhaps its content type, as a save writes them."""
    entry = (folder, int(mode))
    if entry[1] != TREE_MODE:
        kind = "gitlink" if entry[1] == _GITLINK else "file"
        return UnreadableFile(entry, path, f"expected a folder holding the file, found a {kind}", key)
    try:
        tree = repo[folder]
        problem = _folder_problem(tree) if isinstance(tree, pygit2.Tree) else (
            f"expected a folder, found a {type(tree).__name__.lower()}")
    except KeyError:
        problem = f"tree {folder} is missing"
    except (pygit2.GitError, ValueError) as exc:
        problem = f"tree {folder} cannot be read ({exc})"
    if problem:
        return UnreadableFile(entry, path, problem, key)
    assert isinstance(tree, pygit2.Tree)
    (file,) = (e for e in tree if e.name != CONTENT_TYPE_FILE)
    named = BlobFile(file.id, name=file.name, content_type=_stored_type(repo, tree))
    named._path = f"{path}/{file.name}"
    named._origin = _Origin(key, entry, (file.id, file.name, named.content_type))
    return named


def _folder_problem(tree: pygit2.Tree) -> Optional[str]:
    """Why ``tree`` is not a named file's folder, or ``None``."""
    files = [e for e in tree if e.name != CONTENT_TYPE_FILE]
    if len(files) != 1:
        return f"the folder holds {len(files)} entries besides {CONTENT_TYPE_FILE}, not one file"
    for entry in tree:
        if int(entry.filemode) != BLOB_MODE:
            return f"{entry.name!r} is not a plain file (mode {int(entry.filemode):o})"
    name = files[0].name
    reason = id_problem(name) or ("reserved" if name == "data" else None)
    return f"{name!r} is not a file name gitmodel writes: {reason}" if reason else None


def _stored_type(repo: pygit2.Repository, tree: pygit2.Tree) -> Optional[str]:
    """The content type kept beside a named file; ``None`` (the name's guess
    stands) if there is none, or it is missing, too long or malformed."""
    if CONTENT_TYPE_FILE not in tree:
        return None
    type_id = tree[CONTENT_TYPE_FILE].id
    try:
        kind, size = repo.odb.read_header(type_id)
        if int(kind) != _BLOB or size > _MAX_CONTENT_TYPE:  # untrusted: small, or ignored
            return None
        text = repo[type_id].data.decode("ascii", "replace").strip()  # type: ignore[attr-defined]
    except (KeyError, pygit2.GitError, ValueError):
        return None
    return text if content_type_problem(text) is None else None


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
    ``{"<field>": folder id}`` for a named file (the folder as stored, for
    one as it was read), else ``{data_name: blob id}``."""
    if value is None:
        return {}
    if isinstance(value, BlobFile) and opts._custom_data_path is None:
        origin = value._as_read()
        if origin is not None and origin.entry[1] == TREE_MODE:
            return {field.name: origin.entry[0]}
        if value.name:
            return {field.name: folder_of(repo, value)}
    return {data_name: content_oid(repo, value)}


def value_of(repo: pygit2.Repository, opts: ModelOptions, field: Field[Any], files: dict[str, Any],
             data_name: str, where: Optional[str] = None, object_id: Any = None) -> Any:
    """The value of ``field`` held by object-folder entries ``files`` (see
    :func:`value_files`); ``where``: the folder's path, for errors, and
    ``object_id`` the object's, so that a save leaves the value as it is."""
    folder = files.get(field.name) if opts._custom_data_path is None else None
    if folder is not None:
        key = (opts.folder, object_id, field.name) if object_id is not None else None
        return from_folder(repo, folder, where or field.name, TREE_MODE, key)
    return files.get(data_name)


def check_incoming(repo: pygit2.Repository, path: str, entry: tuple[pygit2.Oid, int]) -> None:
    """:class:`CorruptObject` naming the path unless every object under
    ``entry`` (a file or folder another side brings) is there, with the type
    its mode says; gitlinks name commits that need not be there."""
    stack = [(path, entry[0], int(entry[1]))]
    while stack:
        where, oid, mode = stack.pop()
        if mode == _GITLINK:
            continue
        want = _TREE if mode == TREE_MODE else _BLOB
        what = "tree" if want == _TREE else "blob"
        try:
            kind = int(repo.odb.read_header(oid)[0])
            if kind == want == _TREE:
                stack.extend((f"{where}/{e.name}", e.id, int(e.filemode)) for e in repo[oid])  # type: ignore[attr-defined]
        except KeyError:
            raise CorruptObject(where, f"{what} {oid} is missing") from None
        except (pygit2.GitError, ValueError) as exc:
            raise CorruptObject(where, f"{what} {oid} cannot be read ({exc})") from None
        if kind != want:
            raise CorruptObject(where, f"expected a {'folder' if want == _TREE else 'file'}, "
                                       f"found a {_type_name(kind)}")


def _type_name(kind: int) -> str:
    try:
        return pygit2.enums.ObjectType(kind).name.lower()
    except ValueError:
        return f"object of type {kind}"


def _blob_size(repo: pygit2.Repository, oid: pygit2.Oid, path: str) -> int:
    """The size of blob ``oid`` at ``path``, from its header; :class:`CorruptObject`
    if it is missing, unreadable or not a blob."""
    try:
        kind, size = repo.odb.read_header(oid)
    except KeyError:
        raise CorruptObject(path, f"blob {oid} is missing") from None
    except (pygit2.GitError, ValueError) as exc:
        raise CorruptObject(path, f"blob {oid} cannot be read ({exc})") from None
    if int(kind) != _BLOB:
        raise CorruptObject(path, f"expected a file, found a {_type_name(int(kind))}")
    return int(size)


class BlobReader(io.RawIOBase):
    """A stored blob read in chunks: memory stays bounded whatever its size.

    A loose object is inflated step by step from its file, and its id is
    checked at the end (``CorruptObject`` if the bytes are not what the id
    names); a packed one is read through libgit2's blob stream. Has
    ``name``, ``content_type`` and ``size``; errors name ``path``.
    """

    def __init__(self, repo: pygit2.Repository, oid: pygit2.Oid, name: Optional[str] = None,
                 content_type: str = "application/octet-stream", path: Optional[str] = None) -> None:
        super().__init__()
        self.oid = oid
        self.name = name
        self.content_type = content_type
        self._where = where = path or str(oid)
        self.size = _blob_size(repo, oid, where)
        self._loose: Optional[IO[bytes]] = None
        self._inner: Optional[IO[bytes]] = None
        self._pending = b""
        self._done = False
        self._read = 0
        hexid = str(oid)
        loose = os.path.join(repo.path, "objects", hexid[:2], hexid[2:])
        try:
            self._loose = open(loose, "rb")
        except OSError:
            blob = blob_at(repo, oid, where)
            self._inner = pygit2.BlobIO(blob)
            return
        self._zlib = zlib.decompressobj()
        self._hash = hashlib.new("sha1" if len(oid.raw) == 20 else "sha256")
        header = b""
        while b"\0" not in header:
            more = self._inflate(64)
            if not more or len(header) > 64:
                raise CorruptObject(where, f"blob {hexid} is not a readable loose object")
            header += more
        head, _, rest = header.partition(b"\0")
        if head != b"blob %d" % self.size:
            raise CorruptObject(where, f"blob {hexid} is not a blob of {self.size} bytes")
        self._hash.update(head + b"\0" + rest)
        self._pending = rest

    def _inflate(self, limit: int) -> bytes:
        assert self._loose is not None
        while True:
            data = self._zlib.unconsumed_tail or self._loose.read(CHUNK)
            if not data:
                return self._zlib.flush()
            try:
                out = self._zlib.decompress(data, limit)
            except zlib.error as exc:
                raise CorruptObject(self._where, f"blob {self.oid} cannot be inflated ({exc})") from None
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
                raise CorruptObject(self._where, f"the bytes of blob {self.oid} do not match its id")
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
    if isinstance(value, UnreadableFile):
        raise value.error()
    named = value if isinstance(value, BlobFile) else None
    content = named.content if named is not None else value
    if isinstance(content, pygit2.Oid):
        oid = content
        loaded = named._loaded if named is not None else None
        if loaded is not None and loaded[0] == oid:
            content = loaded[1]
        else:
            content = read_blob(ws.repo, oid, (named._path if named is not None else None) or str(oid))
            if named is not None:  # kept as the blob id: the value stays as it was read
                named._loaded = (oid, content)
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
    if isinstance(value, UnreadableFile):
        raise value.error()
    info = value if isinstance(value, BlobFile) else BlobFile(value)
    content = info.content
    if isinstance(content, pygit2.Oid):
        repo = obj._meta.require_workspace().repo
        info.size = _blob_size(repo, content, _path_of(obj, field_name, value))  # type: ignore[attr-defined]
    else:
        info.size = len(content) if isinstance(content, (bytes, bytearray)) else None  # type: ignore[attr-defined]
    return info


def open_blob(obj: GitModel, field_name: str) -> IO[bytes]:
    """A file object reading ``obj``'s blob field: a stored blob is read in
    chunks (:class:`BlobReader`, bounded memory); a file assigned but not
    yet saved is handed back as it was given."""
    value = obj._data.get(field_name)
    if isinstance(value, UnreadableFile):
        raise value.error()
    named = value if isinstance(value, BlobFile) else None
    content = named.content if named is not None else value
    if isinstance(content, pygit2.Oid):
        repo = obj._meta.require_workspace().repo
        path = _path_of(obj, field_name, value)
        if named is not None:
            return BlobReader(repo, content, named.name, named.content_type, path)  # type: ignore[return-value]
        return BlobReader(repo, content, path=path)  # type: ignore[return-value]
    if isinstance(content, (bytes, bytearray)):
        return io.BytesIO(content)
    if content is None:
        raise ValidationError(f'"{field_name}" holds no file', field=field_name, code="invalid_blob")
    return content  # type: ignore[no-any-return]


def _path_of(obj: GitModel, field_name: str, value: Any) -> str:
    """Where ``value`` of ``obj``'s blob field is stored, for errors."""
    if isinstance(value, BlobFile) and value._path:
        return value._path
    opts = obj._meta
    try:
        object_id = obj._stored_id if obj._stored_id is not None else obj.get_id()
        return stored_path(opts, object_id, opts.get_field(field_name), value)
    except (GitModelError, TypeError, ValueError):
        return field_name
