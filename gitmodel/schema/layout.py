"""The adaptive layout: flat while a folder is small, fanned out once it grows.

A model that declares no ``Meta.shard`` (and no ``Meta.get_data_path``)
keeps python-gitmodel 0.1's flat layout, ``<model>/<id>/data.json``, while
its folder holds fewer than :data:`FAN_OUT_AT` objects. The commit that
takes it to that many moves every object to ``<model>/<aa>/<bb>/<id>/``
(:data:`FANNED_SHARD` levels of a hash of the id) and records the new layout
in the model's stored schema, in the same commit: the
:class:`~gitmodel.migrations.AlterModelLayout` migration, done by the commit
path itself. From then on a commit rewrites a few small trees instead of one
that grows with the store.

The layout of an adaptive model is always the one recorded in the tree
being read: the staged state for the workspace, the commit's own tree for
reads at a treeish (:func:`reading`), so old commits still read flat.
Merges first bring a flat side into the fanned-out layout of the other
(:func:`aligned`), so that edits made flat land in the sharded place.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterator, Optional

import pygit2

from ..git.odb import write_blob
from ..git.packs import FOLDER_ENTRY, PackWriter, raw_entry
from ..git.tree import TREE_MODE, StagingTree
from .options import _shard_digest

if TYPE_CHECKING:
    from ..models import GitModel
    from ..workspace import Workspace
    from .options import ModelOptions

__all__ = ["FAN_OUT_AT", "FANNED_SHARD", "current_shard", "declared_shard", "shard_in", "reading",
           "fan_out_grown", "aligned", "relocated_folder"]

#: a flat adaptive folder fans out in the commit that gives it this many objects
FAN_OUT_AT = 1024
#: the layout it fans out to (two levels of two hex digits: 65,536 leaf folders)
FANNED_SHARD = 2

_reading: ContextVar[Optional[pygit2.Tree]] = ContextVar("gitmodel_layout_tree", default=None)
#: model name -> shard, for a block that works in one layout throughout
_fixed: ContextVar[Optional[dict[str, int]]] = ContextVar("gitmodel_layout_fixed", default=None)
#: schema blob id -> the shard it records (a schema blob never changes)
_shard_of_blob: dict[pygit2.Oid, int] = {}


def _schema_path(model_name: str) -> str:
    from . import schema_path

    return schema_path(model_name)


def _shard_of(repo: pygit2.Repository, oid: Optional[pygit2.Oid]) -> int:
    if oid is None:
        return 0
    found = _shard_of_blob.get(oid)
    if found is None:
        found = 0
        try:
            blob = repo.get(oid)
            doc = json.loads(blob.data) if isinstance(blob, pygit2.Blob) else {}
            shard = doc.get("layout", {}).get("shard", 0) if isinstance(doc, dict) else 0
            if isinstance(shard, int) and 0 <= shard <= 8:
                found = shard
        except (ValueError, AttributeError, RecursionError, pygit2.GitError):
            found = 0  # a corrupt schema is reported by the schema check, not here
        if len(_shard_of_blob) > 4096:
            _shard_of_blob.clear()
        _shard_of_blob[oid] = found
    return found


def shard_in(repo: pygit2.Repository, tree: Optional[pygit2.Tree], model_name: str,
             default: int = 0) -> int:
    """The layout (shard levels) ``tree`` records for ``model_name``;
    ``default`` (flat) if it records none (python-gitmodel 0.1, or a model
    not stored yet)."""
    if tree is None:
        return default
    try:
        entry = tree[_schema_path(model_name)]
    except (KeyError, pygit2.GitError):
        return default
    return _shard_of(repo, entry.id)


def current_shard(opts: ModelOptions) -> int:
    """The layout of adaptive model ``opts`` in the tree being read."""
    ws = opts.workspace
    if ws is None:
        return 0
    name = opts.model.__name__
    fixed = _fixed.get()
    if fixed is not None and name in fixed:
        return fixed[name]
    tree = _reading.get()
    if tree is not None:
        return shard_in(ws.repo, tree, name)
    stage = ws.stage
    clean = not stage.touches(".gitmodel")  # the schema records read as in the base tree
    memo = opts.__dict__.get("_layout_memo")
    if clean and memo is not None and memo[0] is stage.base:
        return memo[1]  # the layout recorded in the same tree
    path = opts.__dict__.get("_schema_path")
    if path is None:
        path = opts.__dict__["_schema_path"] = _schema_path(name)
    try:
        entry = stage.lookup(path)
    except (pygit2.GitError, ValueError):
        return 0
    shard = _shard_of(ws.repo, entry[0] if entry is not None else None)
    if clean:
        opts.__dict__["_layout_memo"] = (stage.base, shard)
    return shard


def declared_shard(opts: ModelOptions, declared: int) -> int:
    """The layout of a model declaring ``Meta.shard = declared``: that one,
    except in a tree being read (:func:`reading`) that records another, a
    commit from before an ``AlterModelLayout``."""
    tree = _reading.get()
    ws = opts.workspace
    if tree is None or ws is None:
        return declared
    return shard_in(ws.repo, tree, opts.model.__name__, declared)


@contextmanager
def fixed(model: type[GitModel]) -> Iterator[int]:
    """Within the block, ``model`` keeps the layout it has now (a bulk
    operation asks once, not for every path); yields it."""
    shard = model._meta.shard
    token = _fixed.set({**(_fixed.get() or {}), model.__name__: shard})
    try:
        yield shard
    finally:
        _fixed.reset(token)


@contextmanager
def reading(tree: Optional[pygit2.Tree]) -> Iterator[None]:
    """Within the block, adaptive models take the layout recorded in ``tree``
    (``None``: the staged state)."""
    token = _reading.set(tree)
    try:
        yield
    finally:
        _reading.reset(token)


# -- fanning out ------------------------------------------------------------------------------
def relocated_folder(repo: pygit2.Repository, folder: pygit2.Tree, shard: int,
                     from_shard: int = 0) -> pygit2.Oid:
    """The model folder ``folder`` (its objects ``from_shard`` hash levels
    down: 0 flat) rebuilt with each object folder ``shard`` levels down
    (files at the top stay where they are).

    The new trees (one per hash folder: thousands for a large folder) are
    written as one pack, not one loose file each; they hold the folder's
    own entries, byte for byte, so every object they name exists."""
    nested: dict[bytes, Any] = {}
    top: dict[bytes, bytes] = {}

    def collect(tree: pygit2.Tree, depth: int) -> None:
        for name, entry in PackWriter.tree_entries(tree).items():
            if not entry.startswith(FOLDER_ENTRY):
                if depth == 0:
                    top[name] = entry
                continue
            if depth < from_shard:  # a hash folder: its object folders are further down
                sub = repo.get(pygit2.Oid(raw=entry[-20:]))
                if isinstance(sub, pygit2.Tree):
                    collect(sub, depth + 1)
                continue
            if not shard:
                top[name] = entry
                continue
            digest = _shard_digest(name).encode()
            node = nested
            for level in range(shard - 1):
                node = node.setdefault(digest[level * 2: level * 2 + 2], {})
            node.setdefault(digest[(shard - 1) * 2: shard * 2], {})[name] = entry

    collect(folder, 0)
    writer = PackWriter(repo)

    def add(node: dict[bytes, Any], depth: int) -> pygit2.Oid:
        if depth == shard:
            return writer.add_raw_tree(node)  # the object folders' own entries
        return writer.add_raw_tree({key: raw_entry(TREE_MODE, key, add(value, depth + 1))
                                    for key, value in node.items()})

    for key, value in nested.items():
        top[key] = raw_entry(TREE_MODE, key, add(value, 1))
    oid = writer.add_raw_tree(top)
    writer.write()
    return oid


def _adaptive_models(ws: Workspace) -> Iterator[type[GitModel]]:
    seen: set[type] = set()
    for model in list(ws.models.values()):
        opts = getattr(model, "_meta", None)
        if opts is None or opts.abstract or opts.workspace is not ws or not opts.adaptive:
            continue
        if model not in seen:
            seen.add(model)
            yield model


def fan_out_grown(ws: Workspace, extra: Optional[dict[type, int]] = None) -> bool:
    """Before a commit: fan out each adaptive model whose flat staged folder
    holds :data:`FAN_OUT_AT` objects or more (``extra``: objects about to be
    added, per model), recording the layout in its stored schema. True if
    anything was staged."""
    stage = ws.stage
    done = False
    for model in _adaptive_models(ws):
        opts = model._meta
        if extra is not None and model not in extra:
            continue
        if opts.shard != 0:
            continue
        entry = stage.lookup(opts.folder)
        tree = ws.repo.get(entry[0]) if entry is not None and entry[1] == TREE_MODE else None
        count = len(tree) if isinstance(tree, pygit2.Tree) else 0
        if count + (extra or {}).get(model, 0) < FAN_OUT_AT:
            continue
        fan_out(ws, model, tree if isinstance(tree, pygit2.Tree) else None)
        done = True
    return done


def fan_out(ws: Workspace, model: type[GitModel], folder: Optional[pygit2.Tree],
            shard: int = FANNED_SHARD) -> None:
    """Stage ``model``'s objects in the ``shard`` layout and record it."""
    from . import _stored_one, declared_schema

    opts = model._meta
    unit = ws._unit
    if folder is not None:
        unit.write(opts.folder, (relocated_folder(ws.repo, folder, shard), TREE_MODE))
    found = _stored_one(ws, model.__name__)
    record = found[1] if found is not None else declared_schema(model)
    unit.add_blob(record.path, replace(record, shard=shard).to_json())


# -- merging across a fan-out --------------------------------------------------------------------
def aligned(ws: Workspace, *trees: Optional[pygit2.Tree]) -> tuple[Optional[pygit2.Tree], ...]:
    """``trees`` with each model laid out alike in all of them, so that a
    merge or a revert compares like with like: an adaptive model flat in
    some and fanned out in others moves into the fanned-out layout (edits
    made flat land in the sharded place); a model declaring ``Meta.shard``
    moves into the declared layout (a tree from before an ``AlterModelLayout``)."""
    repo = ws.repo
    out = list(trees)
    for model in ws.models.values():
        opts = getattr(model, "_meta", None)
        if (opts is None or opts.abstract or opts.workspace is not ws
                or opts._custom_data_path is not None):
            continue
        name = model.__name__
        declared = opts.declared_shard
        shards = [shard_in(repo, t, name, 0 if declared is None else declared) for t in out]
        target = max(shards) if declared is None else declared
        for i, tree in enumerate(out):
            if tree is not None and shards[i] != target:
                out[i] = _relocated_tree(ws, tree, model, target, shards[i])
    return tuple(out)


def _relocated_tree(ws: Workspace, tree: pygit2.Tree, model: type[GitModel], shard: int,
                    from_shard: int) -> pygit2.Tree:
    from . import ModelSchema

    repo = ws.repo
    opts = model._meta
    stage = StagingTree(repo, tree)
    try:
        folder = tree[opts.folder]
    except KeyError:
        folder = None
    if isinstance(folder, pygit2.Tree):
        stage.set(opts.folder, relocated_folder(repo, folder, shard, from_shard), TREE_MODE)
    path = _schema_path(model.__name__)
    try:
        blob = tree[path]
    except KeyError:
        blob = None
    if isinstance(blob, pygit2.Blob):
        record = ModelSchema.from_json(blob.data, path)
        stage.set(path, write_blob(repo, replace(record, shard=shard).to_json()))
    return repo[stage.write()]  # type: ignore[return-value]
