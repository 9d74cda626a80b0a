"""``Model.bulk_save(objs)``: many saves, one pack.

Every object is validated and serialized first, so a bad one raises before
anything is written. Then the data blobs of all objects, and a one-entry
folder tree for each new object, go into a single pack
(:class:`~gitmodel.git.packs.PackWriter`), and the staging tree records them.
The result is what saving each object in turn would give (same paths, same
blob ids, same commit tree), without one loose file per object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional

import pygit2
from pygit2.enums import ObjectType

from . import relations
from .exceptions import IntegrityError
from .git.packs import PackWriter
from .serializers import json as json_format
from .git.tree import BLOB_MODE, TREE_MODE

if TYPE_CHECKING:
    from .models import GitModel

_BLOB = int(ObjectType.BLOB)
_TREE = int(ObjectType.TREE)


def bulk_save(
    model: type[GitModel], objs: Iterable[GitModel], commit: bool = False, **commit_info: Any
) -> Optional[pygit2.Oid]:
    """Validate and stage ``objs`` (instances of ``model``) at once.

    Raises before anything is staged if any object is invalid, if two share
    an id, or if a new object's id is taken. With ``commit=True`` also
    commits (nothing else may be pending then) and returns the commit id.
    """
    opts = model._meta
    ws = opts.require_workspace()
    ws._require_writable()
    objs = list(objs)
    for obj in objs:
        if not isinstance(obj, model):
            raise TypeError(f"bulk_save() of {model.__name__} got {type(obj).__name__}")
    if opts.unique_fields or opts.blob_fields or opts._custom_data_path is not None or any(
        obj._oid is not None and obj._changed_meanwhile(ws) for obj in objs
    ):  # (objects changed since they were read are merged by save())
        return _one_by_one(model, objs, commit, commit_info)

    name = model.__name__
    filename = opts.data_filename
    stage = ws.stage
    prepared = []
    seen: set[Any] = set()
    for obj in objs:
        obj.full_clean()
        relations.check_targets(obj, ws)
        object_id = obj.get_id()
        if object_id in seen:
            raise IntegrityError(f"{name} with id {object_id!r} appears twice in bulk_save()")
        seen.add(object_id)
        folder = opts.get_object_folder(object_id)
        path = f"{folder}/{filename}"
        moved = None  # the folder the object leaves, if its id changed
        if obj._stored_id is not None and obj._stored_id != object_id:
            moved = opts.get_object_folder(obj._stored_id)
        new_folder = False
        if obj._stored_id != object_id:
            if stage.lookup(path) is not None:
                raise IntegrityError(f"{name} with id {object_id!r} already exists")
            new_folder = "/" not in filename and stage.lookup(folder) is None
        stored = obj.to_json_fields()
        prepared.append((obj, object_id, folder, path, moved, new_folder, stored,
                         json_format.dumps(name, stored)))
    if commit:
        ws.require_only_pending(*(p[2] for p in prepared), *(p[4] for p in prepared if p[4]))

    writer = PackWriter(ws.repo)
    entry_head = b"%o %s\0" % (BLOB_MODE, filename.encode("utf-8"))
    staged = []
    for obj, _object_id, folder, path, _moved, new_folder, _stored, data in prepared:
        oid = writer.add(_BLOB, data)
        if new_folder:  # the object's whole folder as one tree: one entry less to build later
            staged.append((folder, writer.add(_TREE, entry_head + oid.raw), TREE_MODE, oid))
        else:
            staged.append((path, oid, BLOB_MODE, oid))
    with ws.write_lock:
        writer.write()  # objects first: a path is staged only once its object exists
        unit = ws._unit
        for (obj, _i, _f, _p, moved, _n, _s, _d), (target, oid, mode, _blob) in zip(prepared, staged):
            if moved:
                unit.write(moved, None)
            unit.write(target, (oid, mode))
    for (obj, object_id, _f, _p, _m, _n, stored, _d), (_t, _o, _mode, blob_oid) in zip(prepared, staged):
        obj._mark_saved(ws, blob_oid, stored, object_id)
    if commit:
        return ws.commit(**commit_info)
    return None


def _one_by_one(
    model: type[GitModel], objs: list[GitModel], commit: bool, commit_info: dict[str, Any]
) -> Optional[pygit2.Oid]:
    """Models with unique fields, blob fields or custom paths: ``save()`` each."""
    ws = model._meta.require_workspace()
    for obj in objs:
        obj.full_clean()
    if commit:
        opts = model._meta
        paths = [p for o in objs for p in opts.object_paths(o.get_id())]
        paths += [p for o in objs if o._stored_id not in (None, o.get_id())
                  for p in opts.object_paths(o._stored_id)]  # type: ignore[arg-type]
        ws.require_only_pending(*paths)
    for obj in objs:
        obj.save()
    if commit:
        return ws.commit(**commit_info)
    return None
