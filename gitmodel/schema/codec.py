"""The one decoder from data blob to model instance.

Everything that reads stored objects goes through here: ``get``, listings
and query rows, indexes, history, diffs and merges. Data that cannot be
read is reported one way, as :class:`~gitmodel.exceptions.CorruptObject`
naming the path (a value that no longer fits its field as
:class:`~gitmodel.exceptions.StoredValueMismatch`, which is one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, TypeVar

import pygit2

from .. import blobs as blob_files
from ..exceptions import CorruptObject, StoredValueMismatch, ValidationError
from ..git.tree import tree_entry
from ..serializers import json as json_format
from ..validation import json_problem

if TYPE_CHECKING:
    from ..fields import Field
    from ..models import GitModel
    from ..workspace import Workspace

M = TypeVar("M", bound="GitModel")
_BLOB = int(pygit2.enums.ObjectType.BLOB)


# -- stored JSON fields -> blob ----------------------------------------------------------
def encode(model_name: str, stored: dict[str, Any]) -> bytes:
    """The data blob of ``stored`` (cleaned field values), or a ``ValidationError``
    naming the field whose value JSON cannot hold (a field class that checks
    nothing, such as the base ``Field``, lets any value through its clean)."""
    try:
        return json_format.dumps(model_name, stored)
    except (TypeError, ValueError, RecursionError) as exc:
        for name, value in stored.items():
            reason = json_problem(value)
            if reason:
                raise ValidationError(f'"{name}" must be JSON-serializable: {reason}',
                                      field=name, code="invalid_json") from None
        raise ValidationError(f"cannot be stored as JSON ({exc})", code="invalid_json") from None


# -- blob -> stored JSON fields ----------------------------------------------------------
def read_stored(ws: Workspace, path: str, oid: pygit2.Oid) -> tuple[str, dict[str, Any]]:
    """``(model name, stored fields)`` of data blob ``oid`` at ``path``."""
    try:
        kind, data = ws.read_object(oid)
    except KeyError:
        raise CorruptObject(path, f"blob {oid} is missing") from None
    except pygit2.GitError as exc:
        raise CorruptObject(path, f"blob {oid} cannot be read ({exc})") from None
    if kind != _BLOB:
        raise CorruptObject(path, f"expected a blob, found a {_type_name(kind)}")
    try:
        return json_format.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CorruptObject(path, f"not a valid data file ({exc})") from None


def stored_fields(ws: Workspace, cls: type, path: str, oid: pygit2.Oid) -> dict[str, Any]:
    """The stored fields of data blob ``oid``, checked to hold a ``cls`` (shared: do not mutate)."""
    cached = ws.store.cached(oid)
    if cached is not None and cached[0] == cls.__name__:
        return cached[2]  # type: ignore[no-any-return]
    model_name, stored = read_stored(ws, path, oid)
    check_model_name(cls, path, model_name)
    return stored


def check_model_name(cls: type, path: str, model_name: str) -> None:
    """Refuse data written for another model (its current or a previous name is fine)."""
    opts = cls._meta  # type: ignore[attr-defined]
    if model_name != cls.__name__ and model_name not in opts.previous_names and (
            model_name not in opts.__dict__.get("recorded_names", ())):  # see schema.renames
        raise CorruptObject(path, f"holds a {model_name!r}, expected {cls.__name__!r}")


# -- stored fields -> instance ---------------------------------------------------------------
def decode(cls: type[M], path: str, model_name: str, stored: dict[str, Any]) -> M:
    """An instance of ``cls`` from its stored fields (not yet tied to a blob)."""
    check_model_name(cls, path, model_name)
    opts = cls._meta
    obj = cls.__new__(cls)
    obj._blob_oids = None
    obj._data = data = {}
    for field in opts.json_fields:
        name = field.name
        if name not in stored and field.previous_names:  # stored under an older name
            name = next((old for old in field.previous_names if old in stored), name)
        if name in stored:
            try:
                data[field.name] = field.from_json(stored[name])
            except ValidationError as exc:
                raise StoredValueMismatch(path, field.name, exc.message) from None
            except (ValueError, TypeError, ArithmeticError, AttributeError) as exc:
                raise StoredValueMismatch(path, field.name, repr(exc)) from None
        else:
            data[name] = field.get_default()
    for field in opts.transient_fields:
        data[field.name] = field.get_default()
    id_attr = opts.id_attr
    if id_attr not in stored and opts._custom_data_path is None:
        # a data file without its id: the folder it sits in names it
        data[id_attr] = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else None  # type: ignore[index]
    known = opts.__dict__.get("_json_names")
    if known is None:  # computed once per model
        known = frozenset(n for f in opts.json_fields for n in (f.name, *f.previous_names))
        opts.__dict__["_json_names"] = known
    if known.issuperset(stored):
        obj._extra = {}
    else:  # keys no field reads: keep them as they were
        obj._extra = {k: v for k, v in stored.items() if k not in known}
    obj._stored = stored
    obj._stored_id = obj.get_id()
    obj._oid = None
    return obj


def load(
    ws: Workspace,
    cls: type[M],
    path: str,
    oid: pygit2.Oid,
    tree: Optional[pygit2.Tree] = None,
    path_id: Any = None,
    evict: bool = True,
) -> M:
    """The instance stored in data blob ``oid`` at ``path`` (in ``tree``, or the staged state).

    ``path_id``: the id ``path`` was computed from, if known (then an object
    holding that id is known to sit where it belongs). ``evict``: whether
    caching this object may push older ones out of a full cache (a scan over
    every object should not flush what is read often).
    """
    opts = cls._meta
    cached = ws.store.cached(oid)
    if cached is not None and cached[0] == cls.__name__:
        obj = from_snapshot(cls, cached)
    else:  # not cached, or equal bytes cached for another model: decoding refuses them
        model_name, stored = read_stored(ws, path, oid)
        try:
            obj = decode(cls, path, model_name, stored)
        except StoredValueMismatch as exc:  # name the commit read
            commit = ws._start if tree is None else None
            raise StoredValueMismatch(path, exc.field, exc.reason, commit) from None
        if ws.store.object_cache_size > 0:  # the cache takes the decoded values as they are
            ws.store.remember(oid, snapshot(obj, copy=False), evict)
        # the caller's object shares nothing it may change with the cache: its
        # own dict of values, its own copies of mutable ones
        obj._data = copy_data(obj._data, opts.mutable_fields)
        if obj._extra:
            obj._extra = dict(obj._extra)
    obj._oid = oid
    if opts.id_attr not in obj._stored and opts._custom_data_path is None:  # type: ignore[operator]
        # the id comes from the folder, and equal blobs may sit in several folders
        obj._data[opts.id_attr] = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else None  # type: ignore[index]
    obj._stored_id = obj.get_id()
    expected = path if path_id is not None and obj._stored_id == path_id else (
        _expected_path(opts, obj._stored_id))
    if expected != path:
        raise CorruptObject(
            path, f"holds {cls.__name__} id {obj._stored_id!r}, which belongs at {expected!r}"
        )
    obj._read_at = tree  # type: ignore[attr-defined]  # related objects are read in the same tree
    if opts.blob_fields:
        obj._blob_oids = {}
        for field in opts.blob_fields:
            blob_path = opts.get_blob_path(obj._stored_id, field)  # type: ignore[arg-type]
            entry = ws.stage.lookup(blob_path) if tree is None else tree_entry(tree, blob_path)
            # a named file (gitmodel.blobs) sits in a folder of its own, which stands for it
            lookup = ws.stage.lookup if tree is None else (lambda p, t=tree: tree_entry(t, p))
            obj._blob_oids[field.name] = entry[0] if entry else blob_files.entry_id(
                lookup, opts, obj._stored_id, field)
            obj._data[field.name] = entry[0] if entry else blob_files.find(ws, opts, obj._stored_id, field, tree)
    return obj


Snapshot = tuple  # (model name, decoded fields, stored fields, unknown stored keys or None)


def snapshot(obj: GitModel, copy: bool = True) -> Snapshot:
    """What the object cache keeps of ``obj`` as read: plain dicts in a tuple
    (which the garbage collector stops walking), sharing nothing mutable
    with ``obj`` unless ``copy`` is false."""
    data = copy_data(obj._data, obj._meta.mutable_fields) if copy else obj._data
    extra = obj._extra
    return (type(obj).__name__, data, obj._stored, (dict(extra) if copy else extra) or None)


def from_snapshot(cls: type[M], snap: Snapshot) -> M:
    """A fresh instance of ``cls`` from a cache :func:`snapshot` (sharing nothing mutable)."""
    obj = cls.__new__(cls)
    obj._blob_oids = None
    obj._data = copy_data(snap[1], cls._meta.mutable_fields)
    obj._stored = snap[2]
    extra = snap[3]
    obj._extra = dict(extra) if extra else {}
    return obj


def cached_instance(ws: Workspace, oid: pygit2.Oid) -> Optional[GitModel]:
    """A fresh instance of what the cache holds for blob ``oid`` (``None`` if nothing,
    or a model this workspace does not know)."""
    snap = ws.store.cached(oid)
    model = ws.models.get(snap[0]) if snap is not None else None
    if model is None:
        return None
    obj = from_snapshot(model, snap)
    obj._oid = oid
    obj._stored_id = obj.get_id()
    return obj


def cache_instance(ws: Workspace, oid: pygit2.Oid, obj: GitModel, evict: bool = True) -> bool:
    """Keep ``obj`` (handed over: it shares its values) as the decoded blob ``oid``."""
    if ws.store.object_cache_size <= 0:
        return False
    return ws.store.remember(oid, snapshot(obj, copy=False), evict)  # type: ignore[no-any-return]


class _PickledOid:
    """A blob id inside a pickled instance (``pygit2.Oid`` cannot be pickled)."""

    __slots__ = ("hex",)

    def __init__(self, hex: str) -> None:
        self.hex = hex

    def __reduce__(self) -> tuple[Any, ...]:
        return (_PickledOid, (self.hex,))


def _pickled(value: Any) -> Any:
    return _PickledOid(str(value)) if isinstance(value, pygit2.Oid) else value


def _unpickled(value: Any) -> Any:
    return pygit2.Oid(hex=value.hex) if isinstance(value, _PickledOid) else value


def instance_state(obj: GitModel) -> dict[str, Any]:
    """What pickling (and ``copy.deepcopy``) keeps of ``obj``: its attributes,
    with blob ids as text and the tree it was read in as that tree's id."""
    state = dict(obj.__dict__)
    state["_data"] = {k: _pickled(v) for k, v in obj._data.items()}
    state["_oid"] = _pickled(obj._oid)
    if obj._blob_oids:
        state["_blob_oids"] = {k: _pickled(v) for k, v in obj._blob_oids.items()}
    if state.get("_read_at") is not None:
        state["_read_at"] = _PickledOid(str(state["_read_at"].id))
    return state


def restore_state(obj: GitModel, state: dict[str, Any]) -> None:
    """The inverse of :func:`instance_state`: the tree read in is found again
    in the model's workspace (a store without it reads the staged state)."""
    state = dict(state)
    state["_data"] = {k: _unpickled(v) for k, v in state.get("_data", {}).items()}
    state["_oid"] = _unpickled(state.get("_oid"))
    if state.get("_blob_oids"):
        state["_blob_oids"] = {k: _unpickled(v) for k, v in state["_blob_oids"].items()}
    read_at = state.get("_read_at")
    if isinstance(read_at, _PickledOid):
        ws = type(obj)._meta.workspace
        try:
            tree = ws.repo.get(read_at.hex) if ws is not None else None
        except (pygit2.GitError, ValueError):  # a damaged store reads the staged state
            tree = None
        state["_read_at"] = tree if isinstance(tree, pygit2.Tree) else None
    obj.__dict__.update(state)


def copy_data(data: dict[str, Any], mutable_fields: list[Field[Any]]) -> dict[str, Any]:
    """A copy of ``data`` that shares no mutable value (immutable ones are shared)."""
    out = dict(data)
    for field in mutable_fields:
        name = field.name
        if name in out:
            out[name] = field.copy_value(out[name])
    return out


def _expected_path(opts: Any, object_id: Any) -> Optional[str]:
    try:
        return opts.get_data_path(object_id)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return None


def _type_name(kind: int) -> str:
    try:
        return pygit2.enums.ObjectType(kind).name.lower()
    except ValueError:
        return f"object of type {kind}"
