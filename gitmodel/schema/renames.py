"""The folders a model had before a ``RenameModel``: old commits read under today's name.

A renamed model's objects sit in its old folder in every commit from before
the rename. The names a model had come from its ``Meta.previous_names`` and
from the ``RenameModel`` operations recorded by the migrations applied in
the workspace (``.gitmodel/migrations/``), so a class built from the stored
schema follows them too. :func:`current_view` gives an old tree in today's
folders -- the old folder's tree put under today's name, one small root tree
written -- so ``get``, querysets, ``ws.changes`` and diffs at an old commit
read the objects where today's class looks for them; history and blame
follow an object through :func:`previous_folders`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from ..git.odb import write_tree
from ..validation import id_problem
from . import META_FOLDER

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["previous_folders", "current_view", "recorded_renames"]

_MIGRATIONS = f"{META_FOLDER}/migrations"
_TREE = int(pygit2.enums.FileMode.TREE)
#: migrations folder id -> {new model name: (old model name, old folder)}
_RECORDED: dict[pygit2.Oid, dict[str, tuple[str, str]]] = {}
#: (repository, tree id, moves) -> the tree in today's folders, written there
_VIEWS: dict[tuple[str, pygit2.Oid, tuple[tuple[str, str], ...]], pygit2.Oid] = {}
_CACHE_LIMIT = 256


def recorded_renames(repo: pygit2.Repository, folder_id: Optional[pygit2.Oid]) -> dict[str, tuple[str, str]]:
    """``{new name: (old name, old folder)}`` of the ``RenameModel``
    operations recorded in the migrations folder ``folder_id`` (records that
    cannot be read rename nothing)."""
    if folder_id is None:
        return {}
    found = _RECORDED.get(folder_id)
    if found is not None:
        return found
    ops: list[dict[str, Any]] = []
    records = repo.get(folder_id)
    for entry in records if isinstance(records, pygit2.Tree) else ():
        blob = repo.get(entry.id)
        try:
            record = json.loads(blob.data) if isinstance(blob, pygit2.Blob) else {}
            ops.extend(op for op in record.get("operations", ()) if isinstance(op, dict)
                       and op.get("operation") == "RenameModel")
        except (ValueError, AttributeError, TypeError, RecursionError):
            continue
    folders = {str(op.get("new_name")): str(op.get("folder") or str(op.get("new_name")).lower())
               for op in ops}
    found = {}
    for op in ops:
        old = str(op.get("model"))
        old_folder = folders.get(old, old.lower())
        if id_problem(old_folder) is None:  # a hostile record names no path outside a folder
            found[str(op.get("new_name"))] = (old, old_folder)
    if len(_RECORDED) >= _CACHE_LIMIT:
        _RECORDED.clear()
    _RECORDED[folder_id] = found
    return found


def previous_folders(ws: Workspace, cls: type) -> tuple[str, ...]:
    """The folders ``cls``'s objects had under its previous names, newest
    first (``Meta.previous_names``, then the recorded renames)."""
    opts = cls._meta  # type: ignore[attr-defined]
    if opts._custom_data_path is not None:
        return ()
    entry = ws.lookup(_MIGRATIONS)
    recorded = recorded_renames(ws.repo, entry[0] if entry is not None and entry[1] == _TREE else None)
    names: list[str] = []
    folders: list[str] = [name.lower() for name in opts.previous_names]
    current = cls.__name__
    while current in recorded and recorded[current][0] not in names and recorded[current][0] != cls.__name__:
        old, folder = recorded[current]
        names.append(old)
        folders.append(folder)
        current = old
    if names:  # data stored under those names is this model's (see codec.check_model_name)
        opts.__dict__["recorded_names"] = frozenset(opts.__dict__.get("recorded_names", ())) | set(names)
    out: list[str] = []
    for folder in folders:
        if folder != opts.folder and folder not in out:
            out.append(folder)
    return tuple(out)


def current_view(ws: Workspace, tree: pygit2.Tree) -> pygit2.Tree:
    """``tree`` with each registered model's objects in today's folder: a
    model whose folder ``tree`` lacks but that holds one of its previous
    folders reads from there. ``tree`` itself when nothing was renamed."""
    models = [m for m in list(ws.models.values()) if getattr(m, "_meta", None) is not None
              and not m._meta.abstract and m._meta._custom_data_path is None]
    moves: list[tuple[str, str]] = []
    for model in models:
        folder = model._meta.folder
        if folder in tree:
            continue
        for old in previous_folders(ws, model):
            if old in tree and tree[old].filemode == _TREE:
                moves.append((folder, old))
                break
    if not moves:
        return tree
    key = (ws.repo.path, tree.id, tuple(moves))
    found = _VIEWS.get(key)
    if found is None or found not in ws.repo.odb:  # (a repository made again at that path)
        owned = {m._meta.folder for m in models}
        builder = ws.repo.TreeBuilder(tree)
        for folder, old in moves:
            builder.insert(folder, tree[old].id, _TREE)
        for _folder, old in moves:
            if old not in owned and builder.get(old) is not None:
                builder.remove(old)
        found = write_tree(ws.repo, builder)
        if len(_VIEWS) >= _CACHE_LIMIT:
            _VIEWS.clear()
        _VIEWS[key] = found
    return ws.repo[found]  # type: ignore[return-value]
