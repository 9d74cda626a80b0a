"""What changed between two trees, object by object and field by field.

The one differ shared by history, diff, revert, merge and rebase. Trees are
compared top-down, descending only into folders whose ids differ, so the
cost follows the number of changed files, not the size of the store. File
deltas are grouped into objects: the model comes from the top folder, the
object from the folder that holds its data file (flat or sharded layout).
Files that belong to no object (``add_blob``) are reported as paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

import pygit2

from ..exceptions import CorruptObject
from ..git.diff import Delta, FileEntry, refused_path, tree_deltas
from ..git.tree import BLOB_MODE, TREE_MODE, tree_entry
from ..relations import referrers, relation_fields
from ..schema import codec, layout

if TYPE_CHECKING:
    from ..models import GitModel
    from ..workspace import Workspace

ADDED, MODIFIED, DELETED = "added", "modified", "deleted"

#: ``(model class, object id)`` for an object, ``(None, path)`` for a raw file
Key = tuple[Optional[type], str]
#: the files an object owns: file name -> blob id (missing file: absent)
Files = dict[str, pygit2.Oid]


@dataclass
class ObjectChange:
    """How one object differs between two states.

    ``changes`` maps field names to ``(old, new)`` Python values; blob fields
    report their two blob ids (a named file: the id of its folder). Empty for additions and deletions.
    """

    model: type
    id: str
    kind: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    old: Optional[GitModel] = None
    new: Optional[GitModel] = None

    @property
    def path(self) -> str:
        """The object's folder."""
        return object_paths(self.model, self.id)[0]

    def __repr__(self) -> str:
        fields = f" {sorted(self.changes)}" if self.changes else ""
        return f"<ObjectChange {self.kind} {self.model.__name__} {self.id!r}{fields}>"


@dataclass
class PathChange:
    """A raw file (one that belongs to no object) that differs."""

    path: str
    kind: str
    old: Optional[pygit2.Oid] = None
    new: Optional[pygit2.Oid] = None
    model: None = None

    @property
    def id(self) -> str:
        return self.path

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        return {"content": (self.old, self.new)}

    def __repr__(self) -> str:
        return f"<PathChange {self.kind} {self.path!r}>"


Change = Union[ObjectChange, PathChange]


# -- layout -----------------------------------------------------------------
class Layout:
    """Maps file paths to the objects that own them, for one workspace."""

    def __init__(self, ws: Workspace, trees: Optional[tuple[Optional[pygit2.Tree], ...]] = None) -> None:
        self.ws = ws
        self.by_folder: dict[str, type] = {}
        #: the layouts each model has in the trees compared (adaptive models
        #: may be flat in one, fanned out in the other; a migration may have
        #: moved a declared one)
        self.shards: dict[type, tuple[int, ...]] = {}
        for cls in ws.models.values():
            opts = getattr(cls, "_meta", None)
            if opts is None or opts.abstract or opts._custom_data_path is not None:
                continue
            self.by_folder.setdefault(opts.folder, cls)
            if trees is None:
                self.shards[cls] = (opts.shard,)
            else:  # as each tree records it (a declared layout too, across an AlterModelLayout)
                default = 0 if opts.adaptive else opts.declared_shard
                found = {layout.shard_in(ws.repo, t, cls.__name__, default) for t in trees if t is not None}
                self.shards[cls] = tuple(sorted(found)) or (opts.shard,)

    def whole_folders(self) -> dict[str, int]:
        """Model folders (with their hash levels) a merge may take whole
        from the side that alone changed them, as ``git merge-tree`` does:
        those of models whose objects no integrity check needs to see (no
        unique field, no relation to or from them), alone in their folder
        and with one layout in every tree."""
        models = [m for m in self.ws.models.values()
                  if getattr(m, "_meta", None) is not None and not m._meta.abstract]  # type: ignore[attr-defined]
        out = {}
        for folder, cls in self.by_folder.items():
            shards = self.shards[cls]
            alone = sum(m._meta.folder == folder for m in models) == 1  # type: ignore[attr-defined]
            if (alone and len(shards) == 1 and not cls._meta.unique_fields  # type: ignore[attr-defined]
                    and not relation_fields(cls) and not referrers(self.ws, cls)):
                out[folder] = shards[0]
        return out

    def owner(self, path: str) -> tuple[Key, str]:
        """``((model, id), filename)`` owning ``path``; ``((None, path), '')`` for raw files."""
        parts = path.split("/")
        cls = self.by_folder.get(parts[0])
        if cls is not None:
            opts = cls._meta  # type: ignore[attr-defined]
            shard = len(parts) - 3
            if shard in self.shards[cls]:  # (adaptive models: flat or fanned out)
                name = parts[-1]
                if name in owned_files(cls):
                    object_id = parts[-2]
                    if opts.object_folder_at(object_id, shard) == "/".join(parts[:-1]):
                        return (cls, object_id), name
        return (None, path), ""

    def object_folder(self, path: str) -> Optional[Key]:
        """``(model, id)`` if ``path`` is an object's folder, else ``None``."""
        parts = path.split("/")
        cls = self.by_folder.get(parts[0])
        shard = len(parts) - 2
        if cls is None or shard not in self.shards[cls]:
            return None
        if cls._meta.object_folder_at(parts[-1], shard) != path:  # type: ignore[attr-defined]
            return None
        return (cls, parts[-1])


def object_paths(cls: type, object_id: str) -> tuple[str, str, dict[str, str]]:
    """``(folder, data file name, {blob field: file name})`` of one object.

    The usual layout is ``<model>/[shards/]<id>/``; a model with its own
    ``Meta.get_data_path`` keeps its files wherever that puts them.
    """
    opts = cls._meta  # type: ignore[attr-defined]
    if opts._custom_data_path is None:
        names = owned_files(cls)
        blobs = {f.name: name for f, name in zip(opts.blob_fields, names[1:])}
        return opts.get_object_folder(object_id), names[0], blobs
    folder, _, data = opts.get_data_path(object_id).rpartition("/")
    blobs = {f.name: opts.get_blob_path(object_id, f).rpartition("/")[2] for f in opts.blob_fields}
    return folder, data, blobs


def owned_files(cls: type) -> tuple[str, ...]:
    """The entry names an object of ``cls`` owns in its folder: its data
    file, its blob fields' ``<field>.data`` files, then their named-file
    folders (``<field>``, see :mod:`gitmodel.blobs`)."""
    opts = cls._meta  # type: ignore[attr-defined]
    cached = opts.__dict__.get("_owned_files")
    if cached is None:
        cached = (opts.data_filename,) + tuple(
            f.blob_name(opts.data_filename) for f in opts.blob_fields
        ) + tuple(blob_folders(cls))
        opts._owned_files = cached
    return cached  # type: ignore[no-any-return]


def blob_folders(cls: type) -> tuple[str, ...]:
    """The folder names (one per blob field) that hold named files."""
    opts = cls._meta  # type: ignore[attr-defined]
    if opts._custom_data_path is not None:
        return ()
    return tuple(f.name for f in opts.blob_fields)


def owned_entries(cls: type, entries: dict[str, Any], names: Optional[tuple[str, ...]] = None) -> Files:
    """The entries (``name -> (id, mode)``) of an object folder that belong
    to the object (``names``, else :func:`owned_files`): files, except for
    the named-file folders, which are folders."""
    folders = blob_folders(cls)
    return {n: entries[n][0] for n in (names or owned_files(cls))
            if n in entries and (entries[n][1] == TREE_MODE) == (n in folders)}


def entry_mode(cls: type, name: str) -> int:
    """The git mode of owned entry ``name``: a folder for a named file, else a file."""
    return TREE_MODE if name in blob_folders(cls) else BLOB_MODE


def empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    return repo[repo.TreeBuilder().write()]  # type: ignore[return-value]


def tree_of(ws: Workspace, treeish: Any) -> pygit2.Tree:
    """The tree ``treeish`` names; ``None`` means the staged state (the index)."""
    if treeish is None:
        return ws.index
    from ..schema.renames import current_view  # a commit from before a RenameModel

    return current_view(ws, treeish if isinstance(treeish, pygit2.Tree) else ws.resolve_tree(treeish))


# -- raw deltas: gitmodel.git.diff ------------------------------------------------
def changed_keys(
    ws: Workspace,
    old: Optional[pygit2.Tree],
    new: Optional[pygit2.Tree],
    layout: Optional[Layout] = None,
    cache: Optional[dict[pygit2.Oid, set[bytes]]] = None,
    folders: bool = False,
    prune: Optional[set[str]] = None,
) -> dict[Key, dict[str, Delta]]:
    """The objects (and raw paths) whose files differ: file name -> (old, new).

    With ``folders``, object folders are not opened: each changed object maps
    ``'/'`` to its old and new folder (tree) entries. Folders in ``prune``
    are not looked at.
    """
    lay = layout or Layout(ws, (old, new))
    out: dict[Key, dict[str, Delta]] = {}
    a = old.id if old is not None else None
    b = new.id if new is not None else None
    stop = (lambda path: lay.object_folder(path) is not None) if folders else None
    for path, old_entry, new_entry in tree_deltas(ws.repo, a, b, "", cache, stop, prune):
        if path.endswith("/"):
            key: Optional[Key] = lay.object_folder(path[:-1])
            name = "/"
        else:
            key, name = lay.owner(path)
        files = out.setdefault(key, {})  # type: ignore[arg-type]
        before = files.get(name)
        if before is not None:  # the object moved folders (a fan-out): gone here, added there
            old_entry, new_entry = before[0] or old_entry, before[1] or new_entry
        files[name] = (old_entry, new_entry)
    return out


def folder_entries(repo: pygit2.Repository, tree_id: Optional[pygit2.Oid]) -> dict[str, FileEntry]:
    """``name -> (id, mode)`` of the entries of one (small) folder."""
    if tree_id is None:
        return {}
    return {e.name: (e.id, e.filemode) for e in repo[tree_id]}  # type: ignore[attr-defined,union-attr]


def object_files(tree: Optional[pygit2.Tree], cls: type, object_id: str) -> Files:
    """The files object ``object_id`` owns in ``tree`` (empty if it is not there)."""
    if tree is None:
        return {}
    with layout.reading(tree):  # the layout that tree records
        folder, data, blobs = object_paths(cls, object_id)
    try:
        sub = tree[folder] if folder else tree
    except KeyError:
        return {}
    if not isinstance(sub, pygit2.Tree):
        return {}
    names = (data, *blobs.values(), *blob_folders(cls))
    return owned_entries(cls, {n: (sub[n].id, sub[n].filemode) for n in names if n in sub}, names)


# -- decoding --------------------------------------------------------------------
def load(ws: Workspace, cls: type, object_id: str, files: Files, tree: Optional[pygit2.Tree]) -> Optional[GitModel]:
    """The object as stored in ``files``/``tree``, or ``None`` if it has no data file."""
    opts = cls._meta  # type: ignore[attr-defined]
    _folder, data, blobs = object_paths(cls, object_id)
    oid = files.get(data)
    if oid is None:
        return None
    with layout.reading(tree):  # the path, and where the stored id belongs, in that tree's layout
        path = opts.get_data_path(object_id)
        obj: Any = codec.load(ws, cls, path, oid, tree if tree is not None else empty_tree(ws.repo))  # type: ignore[type-var,misc]
    for f in opts.blob_fields:
        obj._data[f.name] = blob_value(ws.repo, cls, f, files, object_id)
    return obj  # type: ignore[no-any-return]


def blob_value(repo: pygit2.Repository, cls: type, field: Any, files: Files, object_id: str) -> Any:
    """A blob field's value in ``files``: a ``BlobFile`` (named), a blob id, or ``None``."""
    from .. import blobs as blob_files

    folder, _data, names = object_paths(cls, object_id)
    return blob_files.value_of(repo, cls._meta, field, files, names[field.name],  # type: ignore[attr-defined]
                               where=f"{folder}/{field.name}")  # errors name the path


def blob_key(cls: type, field: Any, files: Files,
             object_id: str) -> tuple[Optional[pygit2.Oid], Optional[pygit2.Oid]]:
    """What stands for a blob field in ``files``: (plain blob id, named-file folder id)."""
    folder = files.get(field.name) if field.name in blob_folders(cls) else None
    return files.get(object_paths(cls, object_id)[2][field.name]), folder


def python_value(cls: type, name: str, value: Any) -> Any:
    """The Python value of stored JSON ``value`` for field ``name`` (raw if unknown)."""
    fld = cls._meta._by_name.get(name)  # type: ignore[attr-defined]
    if fld is None or not fld.stored_in_json or value is None:
        return value
    try:
        return fld.from_json(value)
    except Exception:  # a value another version wrote; show it as stored
        return value


def field_changes(cls: type, old: Optional[dict[str, Any]], new: Optional[dict[str, Any]],
                  old_files: Files, new_files: Files, object_id: str = "x") -> dict[str, tuple[Any, Any]]:
    """``{field: (old, new)}`` between two stored dicts and file maps."""
    from ..schema import with_current_names

    old = with_current_names(cls, old or {})  # type: ignore[arg-type]
    new = with_current_names(cls, new or {})  # type: ignore[arg-type]
    out: dict[str, tuple[Any, Any]] = {}
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a != b or (name in old) != (name in new):
            pa, pb = python_value(cls, name, a), python_value(cls, name, b)
            if not _equal(pa, pb):  # not a rewrite of the same value (a missing key read as None, "5" as 5)
                out[name] = (pa, pb)
    opts = cls._meta  # type: ignore[attr-defined]
    for f in opts.blob_fields:
        if blob_key(cls, f, old_files, object_id) != blob_key(cls, f, new_files, object_id):
            out[f.name] = (_reported(cls, f, old_files, object_id), _reported(cls, f, new_files, object_id))
    return out


def _equal(a: Any, b: Any) -> bool:
    """True if two Python values are the same value (``1`` is not ``True``, nor ``1.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list, tuple)):
        return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)
    return bool(a == b)


def _reported(cls: type, field: Any, files: Files, object_id: str) -> Optional[pygit2.Oid]:
    """A blob field's value as a change reports it: the blob id, or for a
    named file the id of the folder holding it (name, bytes, content type)."""
    plain, folder = blob_key(cls, field, files, object_id)
    return folder if folder is not None else plain


def object_change(
    ws: Workspace,
    cls: type,
    object_id: str,
    old_tree: Optional[pygit2.Tree],
    new_tree: Optional[pygit2.Tree],
    old_files: Optional[Files] = None,
    new_files: Optional[Files] = None,
) -> Optional[ObjectChange]:
    """The change of one object between two trees, or ``None`` if it is the same."""
    opts = cls._meta  # type: ignore[attr-defined]
    a = object_files(old_tree, cls, object_id) if old_files is None else old_files
    b = object_files(new_tree, cls, object_id) if new_files is None else new_files
    if a == b:
        return None
    data = object_paths(cls, object_id)[1]
    path = opts.get_data_path(object_id)
    old_stored = codec.stored_fields(ws, cls, path, a[data]) if data in a else None
    new_stored = codec.stored_fields(ws, cls, path, b[data]) if data in b else None
    if old_stored is None and new_stored is None:
        return None  # only stray blob files without a data file: not an object
    kind = ADDED if old_stored is None else DELETED if new_stored is None else MODIFIED
    changes = field_changes(cls, old_stored, new_stored, a, b, object_id) if kind == MODIFIED else {}
    if kind == MODIFIED and not changes and _renamed_model(ws, path, a[data], b[data]):
        return None  # the same fields, stored under the model's new name (RenameModel)
    return ObjectChange(
        cls, object_id, kind, changes,
        old=load(ws, cls, object_id, a, old_tree),
        new=load(ws, cls, object_id, b, new_tree),
    )


def _renamed_model(ws: Workspace, path: str, old: pygit2.Oid, new: pygit2.Oid) -> bool:
    """True if two data blobs name different models (a ``RenameModel`` between them)."""
    return codec.read_stored(ws, path, old)[0] != codec.read_stored(ws, path, new)[0]


def changes_between(ws: Workspace, old: Optional[pygit2.Tree], new: Optional[pygit2.Tree]) -> list[Change]:
    """Every object and raw path that differs from ``old`` to ``new``."""
    out: list[Change] = []
    for (cls, ident), _names in sorted(changed_keys(ws, old, new).items(), key=_key_order):
        if cls is None:
            a, b = tree_entry(old, ident), tree_entry(new, ident)
            if a == b:
                continue
            kind = ADDED if a is None else DELETED if b is None else MODIFIED
            out.append(PathChange(ident, kind, a[0] if a else None, b[0] if b else None))
            continue
        change = object_change(ws, cls, ident, old, new)
        if change is not None:
            out.append(change)
    return out


def _key_order(item: tuple[Key, Any]) -> tuple[str, str]:
    (cls, ident), _ = item
    return ("" if cls is None else cls.__name__, ident)


def refuse_foreign_names(ws: Workspace, ours: Optional[pygit2.Tree], theirs: pygit2.Tree, what: str) -> None:
    """``CorruptObject`` naming the first path that ``theirs`` brings into a
    model's folder (or the stored schema) with a name, mode or tree a merge
    would refuse; only the folders whose ids differ from ``ours`` are read."""
    folders = {m._meta.folder for m in ws.models.values()  # type: ignore[attr-defined]
               if getattr(m, "_meta", None) is not None and not m._meta.abstract} | {".gitmodel"}  # type: ignore[attr-defined]
    for folder in sorted(folders):
        new = tree_entry(theirs, folder)
        if new is None or new[1] != TREE_MODE:
            continue  # a folder that is a file: reads and merges name it
        old = tree_entry(ours, folder) if ours is not None else None
        path = refused_path(ws.repo, old[0] if old is not None and old[1] == TREE_MODE else None, new[0], folder)
        if path is not None:
            raise CorruptObject(path, f"brought in by {what}: a name, mode or folder git refuses "
                                "(fsck would report it); nothing was changed")
