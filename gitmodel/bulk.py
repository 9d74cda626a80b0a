"""``Model.bulk_save(objs)``: many saves, one pack.

Every object is validated and serialized first, and unique values are
checked in one pass (against each other and, with one query per unique
field, against the store), so a bad one raises before anything is written.
Then the data blobs, ``BlobField`` values and, for each new object, its
whole folder as one tree go into a single pack
(:class:`~gitmodel.git.packs.PackWriter`), and the staging tree records
them. The result is what saving each object in turn would give (same paths,
same blob ids, same commit tree), without one loose file per object, for
every model: blob fields, unique fields and ``Meta.get_data_path`` alike.
An adaptive model whose folder the bulk takes past the fan-out bound is
fanned out first (:mod:`gitmodel.schema.layout`), so the objects are staged
in their final place.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Union

import pygit2
from pygit2.enums import ObjectType

from . import relations
from .blobs import BlobFile, content_oid
from .blobs import writes as blob_writes
from .exceptions import IntegrityError
from .git.packs import PackWriter
from .git.tree import BLOB_MODE, TREE_MODE
from .models import staging_kept
from .schema import codec, layout

if TYPE_CHECKING:
    from .models import GitModel
    from .workspace import Workspace

_BLOB = int(ObjectType.BLOB)
_TREE = int(ObjectType.TREE)
#: a folder tree built in memory: name -> (mode, id) or a subfolder
_Node = dict[str, Union[tuple[int, pygit2.Oid], "_Node"]]


#: an iterable that is not a list is read and staged in chunks of this many
#: objects, so that a bulk of millions holds one chunk in memory at a time
CHUNK = 50_000


def bulk_save(
    model: type[GitModel], objs: Iterable[GitModel], commit: bool = False, **commit_info: Any
) -> Optional[pygit2.Oid]:
    """Validate and stage ``objs`` (instances of ``model``) at once.

    Raises before anything is staged if any object is invalid, if two share
    an id or a unique value, if a new object's id is taken or another
    object holds one of their unique values; if one is refused later (a
    conflict, a store that cannot be written), nothing stays staged either.
    With ``commit=True`` also commits (nothing else may be pending then) and
    returns the commit id; inside ``commit_on_success`` the block commits.
    An iterable that is not a list or tuple (a generator) is read once, in
    chunks; if one object is refused, nothing stays staged either.
    """
    opts = model._meta
    ws = opts.require_workspace()
    ws._require_writable()
    ws.check_commit_info("bulk_save", commit, commit_info)
    commit = ws._unit.commits_now(commit)  # inside commit_on_success: the block commits it
    if isinstance(objs, (list, tuple)):
        objs = list(objs)
        for obj in objs:
            _check_type(model, obj)
        with ws._unit.paused(), staging_kept(ws):  # one refused object: nothing stays staged
            if any(obj._oid is not None and obj._changed_meanwhile(ws) for obj in objs):
                _one_by_one(model, objs, commit)  # (save() merges those)
            else:
                bulk = _Bulk(ws, model)
                ids = bulk.validate(objs)
                if commit:
                    ws.require_only_pending(*_owned_paths(model, objs, ids))
                bulk.stage(objs, ids)
                bulk.finish()
    else:
        with ws._unit.paused():
            if commit:
                ws.require_only_pending()  # the paths are not known before the end
            with ws._unit.kept():  # a refused object in a later chunk: nothing stays staged
                bulk = _Bulk(ws, model)
                for chunk in _chunks(iter(objs), CHUNK):
                    for obj in chunk:
                        _check_type(model, obj)
                        if obj._oid is not None and obj._changed_meanwhile(ws):
                            raise IntegrityError(
                                f"{model.__name__} {obj._stored_id!r} changed since it was read; "
                                "bulk_save() a list to have it merged")
                    bulk.stage(chunk, bulk.validate(chunk))
                bulk.finish()
    if commit:
        return ws.commit(**commit_info)
    return None


def _check_type(model: type[GitModel], obj: Any) -> None:
    if not isinstance(obj, model):
        raise TypeError(f"bulk_save() of {model.__name__} got {type(obj).__name__}")


def _chunks(objs: Iterator[GitModel], size: int) -> Iterator[list[GitModel]]:
    while True:
        chunk = list(itertools.islice(objs, size))
        if not chunk:
            return
        yield chunk


class _Bulk:
    """One bulk save: what its chunks have seen and staged so far."""

    def __init__(self, ws: Workspace, model: type[GitModel]) -> None:
        self.ws, self.model = ws, model
        self.seen: set[Any] = set()
        #: unique field -> stored value (as JSON) -> id of the object of this bulk holding it
        self.values: dict[str, dict[str, Any]] = {}
        #: new object folders, written as trees in the pack: ``(id, tree id)``
        self.folders: list[tuple[str, pygit2.Oid]] = []
        self.added = 0

    def validate(self, objs: list[GitModel]) -> list[str]:
        """Clean every object, check references, ids and unique values; the ids."""
        ws, model = self.ws, self.model
        opts = model._meta
        name = model.__name__
        stage = ws.stage
        ids = []
        seen = self.seen
        for obj in objs:
            obj.full_clean()
            relations.check_targets(obj, ws)
            relations.check_move(ws, obj)
            object_id = obj.get_id()
            if object_id in seen:
                raise IntegrityError(f"{name} with id {object_id!r} appears twice in bulk_save()")
            seen.add(object_id)
            if obj._stored_id != object_id and stage.lookup(opts.get_data_path(object_id)) is not None:
                raise IntegrityError(f"{name} with id {object_id!r} already exists")
            ids.append(object_id)
        if opts.unique_fields:
            self._check_unique(objs)
        return ids

    def _check_unique(self, objs: list[GitModel]) -> None:
        """One pass per unique field: no two objects of the bulk share a value,
        and no other object holds one (one query, answered by the field's index)."""
        from .query import QuerySet

        model = self.model
        name = model.__name__
        mine = self.seen | {o._stored_id for o in objs if o._stored_id is not None}
        for field in model._meta.unique_fields:
            if not field.stored_in_json:
                continue
            by_value = self.values.setdefault(field.name, {})
            asked = []
            for obj in objs:
                value = obj._data.get(field.name)
                if value is None:
                    continue
                stored = field.to_json(value)
                key = json.dumps(stored, sort_keys=True, default=str)
                other = by_value.setdefault(key, obj.get_id())
                if other != obj.get_id():
                    raise IntegrityError(
                        f'{name} objects {other!r} and {obj.get_id()!r} both have '
                        f'"{field.name}" = {stored!r} in bulk_save(), which is unique; nothing was staged')
                asked.append(value)
            if not asked:
                continue
            for holder in QuerySet(model).filter(**{f"{field.name}__in": asked}):
                if holder.get_id() not in mine:
                    raise IntegrityError(
                        f'{name} with "{field.name}" = {field.to_json(holder._data.get(field.name))!r} '
                        "already exists; nothing was staged")

    def stage(self, objs: list[GitModel], ids: list[str]) -> None:
        """Write the objects' files into a pack and stage them (new folders: at :meth:`finish`)."""
        opts = self.model._meta
        new = sum(1 for obj in objs if obj._stored_id is None)
        self.added += new
        if opts.adaptive and new and opts.shard == 0:  # a bulk that passes the bound fans out first
            layout.fan_out_grown(self.ws, {self.model: self.added})
        with layout.fixed(self.model):  # one layout throughout: asked once, not per path
            _stage(self.ws, self.model, objs, ids, self.folders)

    def finish(self) -> None:
        """Stage the new object folders: the model's folder trees built in a pack."""
        ws, opts = self.ws, self.model._meta
        if not self.folders:
            return
        with layout.fixed(self.model):
            folders = [(opts.get_object_folder(i), oid) for i, oid in self.folders]
        if len(folders) < PACKED_FOLDERS_FROM:
            ws._unit.write_all((path, (oid, TREE_MODE)) for path, oid in folders)
            return
        writer = PackWriter(ws.repo)
        packed = _packed_folder(ws, writer, opts.folder, folders)
        writer.write()
        ws._unit.write(opts.folder, (packed, TREE_MODE))


#: a bulk adding at least this many new objects builds the model's folder
#: trees in the pack too (as ``git fast-import`` does), not at the commit
PACKED_FOLDERS_FROM = 64


def _stage(ws: Workspace, model: type[GitModel], objs: list[GitModel], ids: list[str],
           folders: list[tuple[str, pygit2.Oid]]) -> None:
    """Write every object's files into one pack, then stage them; the trees
    of new object folders are added to ``folders`` as ``(id, tree id)``."""
    opts = model._meta
    name = model.__name__
    filename = opts.data_filename
    custom = opts._custom_data_path is not None
    stage = ws.stage
    writer = PackWriter(ws.repo)
    repo = ws.repo
    plain = not opts.blob_fields and not custom and "/" not in filename
    entry_head = b"%o %s\0" % (BLOB_MODE, filename.encode("utf-8"))
    edits: list[tuple[str, Optional[tuple[pygit2.Oid, int]]]] = []
    saved: list[tuple[GitModel, pygit2.Oid, dict[str, Any], str, Optional[dict[str, Optional[pygit2.Oid]]]]] = []
    for obj, object_id in zip(objs, ids):
        stored = obj.to_json_fields()
        oid = writer.add(_BLOB, codec.encode(name, stored))
        moved = obj._stored_id is not None and obj._stored_id != object_id
        if moved:
            edits.extend((p, None) for p in opts.object_paths(obj._stored_id))  # type: ignore[arg-type]
        fresh = obj._stored_id != object_id and not custom and (
            stage.lookup(opts.get_object_folder(object_id)) is None)
        if plain:
            if fresh:  # the object's whole folder as one tree: one entry less to build later
                folders.append((object_id, writer.add(_TREE, entry_head + oid.raw)))
            else:
                edits.append((opts.get_data_path(object_id), (oid, BLOB_MODE)))
            saved.append((obj, oid, stored, object_id, None))
            continue
        files: dict[str, Any] = {}
        for field in opts.blob_fields:
            files.update(blob_writes(opts, object_id, field, obj._data.get(field.name)))
        files[opts.get_data_path(object_id)] = oid
        blob_oids: dict[str, Optional[pygit2.Oid]] = {}
        written: dict[str, pygit2.Oid] = {}
        for path, content in files.items():
            if content is not None:
                written[path] = _blob_id(writer, repo, content)
        for field in opts.blob_fields:
            blob_oids[field.name] = written.get(opts.get_blob_path(object_id, field))
        if fresh:  # a new folder: built here, staged as one tree
            folder = opts.get_object_folder(object_id)
            node: _Node = {}
            for path, blob in written.items():
                _insert(node, path[len(folder) + 1:].split("/"), blob)
            folders.append((object_id, _pack_tree(writer, node)))
        else:
            for path, content in files.items():
                if content is None:
                    if path not in written and stage.lookup(path) is not None:
                        edits.append((path, None))
                else:
                    edits.append((path, (written[path], BLOB_MODE)))
        saved.append((obj, oid, stored, object_id, blob_oids))
    writer.write()  # objects first: a path is staged only once its object exists
    unit = ws._unit
    unit.write_all(edits)
    for obj, oid, stored, object_id, saved_blobs in saved:
        unit.remember_saved(obj)  # as save() does: given back if the save is dropped
        obj._mark_saved(ws, oid, stored, object_id)
        if saved_blobs is not None:
            obj._blob_oids = saved_blobs


def _blob_id(writer: PackWriter, repo: pygit2.Repository, content: Any) -> pygit2.Oid:
    """The blob id of a file's content: bytes go into the pack, a blob id
    is itself, a readable file is streamed into the object store."""
    if isinstance(content, BlobFile):
        if not isinstance(content.content, (bytes, bytearray, pygit2.Oid)):
            return content_oid(repo, content)  # a stream, streamed once: the BlobFile keeps its blob id
        content = content.content
    if isinstance(content, (bytes, bytearray)):
        return writer.add(_BLOB, bytes(content))
    return content_oid(repo, content)


def _insert(node: _Node, parts: list[str], oid: pygit2.Oid) -> None:
    for name in parts[:-1]:
        child = node.setdefault(name, {})
        assert isinstance(child, dict)
        node = child
    node[parts[-1]] = (BLOB_MODE, oid)


def _pack_tree(writer: PackWriter, node: _Node) -> pygit2.Oid:
    """Add the tree of ``node`` (and its subtrees) to the pack, in git's entry order."""
    entries: dict[str, tuple[int, pygit2.Oid]] = {}
    for name, value in node.items():
        entries[name] = (TREE_MODE, _pack_tree(writer, value)) if isinstance(value, dict) else value
    return writer.add_tree(entries)


def _packed_folder(ws: Workspace, writer: PackWriter, top: str,
                   folders: list[tuple[str, pygit2.Oid]]) -> pygit2.Oid:
    """The tree of model folder ``top`` as staged, plus the new object
    ``folders``: every tree on the way built in the pack."""
    root: dict[str, Any] = {}
    for path, oid in folders:
        parts = path[len(top) + 1:].split("/")
        node = root
        for name in parts[:-1]:
            node = node.setdefault(name, {})
        node[parts[-1]] = oid
    stage, repo = ws.stage, ws.repo

    def build(prefix: str, node: dict[str, Any]) -> pygit2.Oid:
        entries: dict[str, tuple[int, pygit2.Oid]] = {}
        found = stage.lookup(prefix)
        if found is not None and found[1] == TREE_MODE:
            for entry in repo[found[0]]:  # type: ignore[attr-defined]
                entries[entry.name] = (int(entry.filemode), entry.id)
        for name, value in node.items():
            entries[name] = (TREE_MODE, build(f"{prefix}/{name}", value) if isinstance(value, dict) else value)
        return writer.add_tree(entries)

    return build(top, root)


def _owned_paths(model: type[GitModel], objs: list[GitModel], ids: list[Any]) -> list[str]:
    """The paths ``objs`` (to be saved under ``ids``) own now and had before."""
    opts = model._meta
    paths = [p for i in ids for p in opts.object_paths(i)]
    return paths + [p for o in objs if o._stored_id not in (None, o.get_id())
                    for p in opts.object_paths(o._stored_id)]  # type: ignore[arg-type]


def _one_by_one(model: type[GitModel], objs: list[GitModel], commit: bool) -> None:
    """Objects changed since they were read: ``save()`` each (it merges); the
    caller undoes them all if one is refused."""
    ws = model._meta.require_workspace()
    for obj in objs:
        obj.full_clean()
    if commit:
        ws.require_only_pending(*_owned_paths(model, objs, [o.get_id() for o in objs]))
    for obj in objs:
        obj.save()
