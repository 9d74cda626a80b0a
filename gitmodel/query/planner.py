"""Running a query: what it reads, which index it uses, the rows it keeps.

A query on the workspace reads the last written tree (``ws.stage.base``)
through its index and checks the pending edits below the model's folder
one by one on top; a query at a revision reads that revision's tree. A
condition narrows the candidates through an index when one fits
(:mod:`gitmodel.query.indexes`), else every data file of the model is read.
Rows are read only as far as a condition needs: ids come from paths, and
model objects are built only for the rows returned.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

import pygit2

from .. import fields as _fields
from ..exceptions import CorruptObject, FieldError, IntegrityError, ValidationError
from .indexes import (
    _INT64,
    EMPTY_TREE,
    _sql_value,
    _Unavailable,
    indexed_fields,
    misplaced,
    store_for,
)
from . import Leaf, Node, Q, QuerySet, answers, field_path
from .columns import sort_key, value_key
from ..git.tree import TREE_MODE, _Folder, walk_files
from ..schema import codec, layout
from ..validation import has_surrogates

if TYPE_CHECKING:
    from ..models import GitModel
    from ..workspace import Workspace

__all__ = ["Row", "check_unique", "execute", "explain"]

#: pending edits under one model folder above which a query writes the tree
#: objects first and moves the index instead of checking each edit
PENDING_LIMIT = 256
#: ``value IN (...)`` lists are sent in chunks of this size
IN_CHUNK = 500
#: rows up to this many read an indexed column by path, not whole
FEW_ROWS = 5000

#: field types whose JSON form is equal exactly when the values are equal
_EXACT_TYPES = (
    _fields.CharField,
    _fields.IntegerField,
    _fields.FloatField,
    _fields.BooleanField,
    _fields.DateField,
    _fields.RelatedField,
)
#: field types whose JSON form sorts in SQLite as the values sort in Python
_ORDERED_TYPES = (_fields.CharField, _fields.IntegerField, _fields.FloatField, _fields.DateField)


def _exact_param(field: _fields.Field[Any], value: Any) -> Any:
    """The SQL parameter for ``field == value``; ``_NO`` if SQL cannot say."""
    stored = field.to_json(value)
    if isinstance(stored, int) and not isinstance(stored, bool):
        if not _INT64[0] <= stored <= _INT64[1]:
            return _NO
    if not isinstance(stored, (str, int, float)):
        return _NO
    if isinstance(stored, str) and has_surrogates(stored):  # no stored text holds one
        return _NO
    return _sql_value(stored)


_NO = object()


# -- what a query runs against ------------------------------------------------


class _Context:
    """The model, the tree and the pending edits one query runs against."""

    def __init__(self, model: type[GitModel], treeish: Any) -> None:
        opts = model._meta
        ws = opts.require_workspace()
        self.model = model
        self.ws = ws
        self.folder = opts.folder
        self.filename = opts.data_filename
        self.custom_path = opts._custom_data_path is not None
        self.treeish = treeish
        self.pending = _Pending()
        if self.custom_path:  # files found by pattern, in the staged view: no index
            self.root: Optional[pygit2.Tree] = (
                None if treeish is None else ws.resolve_tree(treeish)
            )
            self.lane = ws.head
            self.folder_tree: Optional[pygit2.Tree] = None
            self.tree_hex = EMPTY_TREE
            return
        if treeish is None:
            ws.refresh()  # nothing pending: read the branch's latest commit
            with ws.write_lock:
                pending = _pending(ws, self.folder, self.filename)
                if pending is None:
                    ws.index  # writes tree objects for the staged folders
                    pending = _Pending()
                self.pending = pending
                base = ws.stage.base
            self.root = None
            self.lane = ws.head
        else:
            from ..schema.renames import current_view  # a commit from before a RenameModel

            base = current_view(ws, ws.resolve_tree(treeish))
            self.root = base
            self.lane = "@rev"
        folder_tree = None
        if base is not None:
            try:
                folder_tree = base[self.folder]
            except KeyError:
                folder_tree = None
        if folder_tree is not None and not isinstance(folder_tree, pygit2.Tree):
            raise CorruptObject(self.folder, "expected a folder, found a file")
        if folder_tree is not None and folder_tree.id not in _CHECKED_TREES:
            # an entry with the folder mode may name a commit or a blob: read as
            # an empty folder it would hide every object
            real = ws.repo.get(folder_tree.id)
            if not isinstance(real, pygit2.Tree):
                what = "a missing object" if real is None else f"a {type(real).__name__.lower()}"
                raise CorruptObject(self.folder, f"expected a folder, found {what} ({folder_tree.id})")
            if len(_CHECKED_TREES) > 10_000:
                _CHECKED_TREES.clear()
            _CHECKED_TREES.add(folder_tree.id)
        self.folder_tree = folder_tree if isinstance(folder_tree, pygit2.Tree) else None
        self.tree_hex = str(self.folder_tree.id) if self.folder_tree is not None else EMPTY_TREE


#: model folder trees found to be trees (a check costs one object read)
_CHECKED_TREES: set[pygit2.Oid] = set()


class _Pending:
    """Staged edits below a model folder: what they hide and what they add."""

    def __init__(self) -> None:
        self.hidden: set[str] = set()
        self.hidden_below: tuple[str, ...] = ()
        self.files: list[tuple[str, pygit2.Oid]] = []

    def __bool__(self) -> bool:
        return bool(self.hidden or self.hidden_below)

    def hides(self, path: str) -> bool:
        return path in self.hidden or path.startswith(self.hidden_below)


def _pending(ws: Workspace, folder: str, filename: str) -> Optional[_Pending]:
    """The staged edits below ``folder``; ``None`` when writing trees is simpler."""
    stage = ws.stage
    node = stage._root
    if node.cleared:
        return None
    for name in folder.split("/"):
        child = node.entries.get(name, _ABSENT)
        if child is _ABSENT:
            return _Pending()
        if not isinstance(child, _Folder) or child.cleared:
            return None
        node = child
    out = _Pending()
    below: list[str] = []
    count = 0
    stack = [(folder, node)]
    while stack:
        prefix, current = stack.pop()
        for name, child in current.entries.items():
            path = f"{prefix}/{name}"
            count += 1
            if count > PENDING_LIMIT:
                return None
            if isinstance(child, _Folder):
                if child.cleared:
                    below.append(path)
                else:
                    stack.append((path, child))
            elif child is None or child[1] == TREE_MODE:
                out.hidden.add(path)  # a removed or replaced file, or a folder
                below.append(path)
            elif name == filename:
                out.hidden.add(path)
                out.files.append((path, child[0]))
    for path in below:
        for rel, entry in stage.find_files(path, filename):
            out.files.append((f"{path}/{rel}/{filename}" if rel else f"{path}/{filename}", entry[0]))
    out.hidden_below = tuple(p + "/" for p in below)
    return out


_ABSENT = object()


class Row:
    """One data file a query considers; read only as far as needed."""

    __slots__ = ("ctx", "path", "oid", "obj", "stored", "memo", "loaded", "path_id")

    def __init__(self, ctx: _Context, path: str, oid: pygit2.Oid, path_id: Optional[str] = None) -> None:
        self.ctx = ctx
        self.path = path
        self.oid = oid
        self.obj: Optional[dict[str, Any]] = None  # the decoded fields, if cached
        self.stored: Optional[dict[str, Any]] = None
        self.memo: Optional[dict[str, Any]] = None
        self.loaded: Optional[GitModel] = None  # built by verify(), handed out once
        #: the id this file's path is known to belong to (checked by the scan or
        #: the index), if any
        self.path_id = path_id

    def _read(self) -> None:
        ctx = self.ctx
        cached = ctx.ws.store.cached(self.oid)  # a codec snapshot: (model, data, stored, extra)
        if cached is not None and cached[0] == ctx.model.__name__:
            self.obj = cached[1]
            return
        try:
            name, stored = codec.read_stored(ctx.ws, self.path, self.oid)
        except CorruptObject:  # not a blob, unreadable
            name, stored = "", {}
        if name != ctx.model.__name__:
            codec.load(ctx.ws, ctx.model, self.path, self.oid, ctx.root)  # raises CorruptObject
        self.stored = stored

    def get(self, field: _fields.Field[Any]) -> Any:
        """The Python value of ``field`` (a related object as its id)."""
        if field.id and not self.ctx.custom_path and isinstance(field, _fields.CharField):
            return self.object_id()  # the folder names it (a mismatch raises on load)
        if self.obj is None:
            if self.stored is None:
                self._read()
            if self.obj is None:
                memo = self.memo
                if memo is None:
                    memo = self.memo = {}
                elif field.name in memo:
                    return memo[field.name]
                stored = self.stored
                assert stored is not None
                if field.name in stored and field.serialize:
                    try:
                        value = field.from_json(stored[field.name])
                    except ValidationError as exc:
                        raise CorruptObject(self.path, exc.message) from None
                else:
                    value = field.get_default()
                memo[field.name] = value
                return value
        value = self.obj.get(field.name)
        if isinstance(value, _model_class()):
            return value.get_id()  # type: ignore[attr-defined]
        return value

    def value(self, field: _fields.Field[Any]) -> Any:
        """Like :meth:`get`, but a copy safe to hand out."""
        return field.copy_value(self.get(field))

    def object_id(self) -> Any:
        """The object's id: its folder's name (or its id field if paths are custom)."""
        if not self.ctx.custom_path:
            return self.path.rsplit("/", 2)[-2]
        return self.get(self.ctx.model._meta.id_field)  # type: ignore[call-overload]

    def verify(self) -> None:
        """Raise ``CorruptObject`` if ``get()`` would refuse this file
        (each file read once per model and workspace, within a bound)."""
        ws = self.ctx.ws
        key = (id(self.ctx.model), self.oid, self.path)
        verified: set[Any] = ws.__dict__.setdefault("_verified_files", set())
        if key in verified or self.loaded is not None:
            return
        self.loaded = self.load()
        if len(verified) >= max(ws.object_cache_size, 1) * 4:
            verified.clear()
        verified.add(key)

    def load(self) -> Any:
        """The model instance (decoded once per blob id, then copied from the cache)."""
        if self.loaded is not None:
            obj, self.loaded = self.loaded, None
            return obj
        ctx = self.ctx
        if self.stored is not None and self.obj is None:
            decoded = codec.decode(ctx.model, self.path, ctx.model.__name__, self.stored)
            ctx.ws.cache_object(self.oid, decoded)
        return codec.load(ctx.ws, ctx.model, self.path, self.oid, ctx.root, self.path_id)


def _model_class() -> type:
    from ..models import GitModel

    return GitModel


# -- planning and running ---------------------------------------------------------


def _conjuncts(node: Any) -> tuple[list[Leaf], bool]:
    """Leaves ANDed at the top of ``node``, and whether that is all of it."""
    if node is None:
        return [], True
    if isinstance(node, Leaf):
        return [node], True
    if node.negated or (node.connector != Q.AND and len(node.children) > 1):
        return [], False
    leaves: list[Leaf] = []
    only = True
    for child in node.children:
        if isinstance(child, Leaf):
            leaves.append(child)
        elif not isinstance(child, Node):  # a related lookup not yet resolved
            only = False
        else:
            sub, sub_only = _conjuncts(child)
            leaves.extend(sub)
            only = only and sub_only
    return leaves, only


@dataclass
class _Plan:
    leaf: Leaf
    where: str
    params: list[Any]
    exact: bool  # the index alone decides (no need to check the rows)


_PLAN_RANK = {"exact": 0, "isnull": 3, "in": 1, "range": 2, "gt": 4, "gte": 4, "lt": 4, "lte": 4}


def _leaf_plan(leaf: Leaf, names: set[str]) -> Optional[_Plan]:
    field = leaf.field
    if leaf.keys or field.name not in names or leaf.lookup not in _PLAN_RANK:
        return None
    if not isinstance(field, _EXACT_TYPES):
        return None
    arg, lookup = leaf.arg, leaf.lookup
    if lookup == "isnull" or (lookup == "exact" and arg is None):
        null = arg if lookup == "isnull" else True
        return _Plan(leaf, "value IS NULL" if null else "value IS NOT NULL", [], True)
    if lookup == "exact":
        param = _exact_param(field, arg)
        return None if param is _NO else _Plan(leaf, "value = ?", [param], True)
    if lookup == "in":
        params = [_exact_param(field, a) for a in arg if a is not None]
        if any(p is _NO for p in params):
            return None
        with_null = any(a is None for a in arg)
        where = f"(value IN ({', '.join('?' * len(params))}){' OR value IS NULL' if with_null else ''})"
        if not params:
            where = "value IS NULL" if with_null else "0"
        return _Plan(leaf, where, params, True)
    if not isinstance(field, _ORDERED_TYPES):
        return None
    bounds = arg if lookup == "range" else (arg,)
    params = [_exact_param(field, b) for b in bounds]
    if any(p is _NO or p is None for p in params):
        return None
    ops = {"gt": "value > ?", "gte": "value >= ?", "lt": "value < ?", "lte": "value <= ?"}
    where = "value BETWEEN ? AND ?" if lookup == "range" else ops[lookup]
    # a text field's values are all text and a number field's are all numbers
    return _Plan(leaf, where, params, True)


def _choose_plan(model: type[GitModel], where: Any) -> Optional[_Plan]:
    names = {f.name for f in indexed_fields(model)}
    if not names or model._meta._custom_data_path is not None:
        return None
    leaves, only = _conjuncts(where)
    plans = [p for p in (_leaf_plan(leaf, names) for leaf in leaves) if p is not None]
    if not plans:
        return None
    plan = min(plans, key=lambda p: _PLAN_RANK[p.leaf.lookup])
    plan.exact = plan.exact and only and len(leaves) == 1
    return plan


def _index_lookup(ctx: _Context, plan: _Plan) -> Optional[list[tuple[str, pygit2.Oid]]]:
    names = [f.name for f in indexed_fields(ctx.model)]
    store = store_for(ctx.ws)
    params = plan.params
    try:
        if plan.where.startswith("(value IN") and len(params) > IN_CHUNK:
            found: list[tuple[str, pygit2.Oid]] = []
            null = " OR value IS NULL" if plan.where.endswith("IS NULL)") else ""
            for start in range(0, len(params), IN_CHUNK):
                chunk = params[start : start + IN_CHUNK]
                where = f"(value IN ({', '.join('?' * len(chunk))}){null})"
                found.extend(store.lookup(ctx, names, plan.leaf.field.name, where, chunk))
                null = ""
            return list(dict.fromkeys(found))
        return store.lookup(ctx, names, plan.leaf.field.name, plan.where, params)
    except _Unavailable:
        return None


#: ``in_bulk`` of at least this many ids finds their files through the index
#: (their paths looked up by SQL) instead of walking the trees to each
IN_BULK_FROM_INDEX = 16


def in_bulk(qs: QuerySet[Any], ids: list[Any]) -> Optional[dict[Any, Any]]:
    """``id -> object`` (in the order of ``ids``) for those of ``ids`` that
    exist, found through the index; ``None`` where the index cannot say
    (few ids, a custom path, pending edits under the model's folder): then
    they are read one by one. An id ``get()`` refuses raises as there."""
    model = qs.model
    opts = model._meta
    if len(ids) < IN_BULK_FROM_INDEX or opts._custom_data_path is not None:
        return None
    ctx = _Context(model, qs.treeish)
    with layout.reading(ctx.root) if qs.treeish is not None else contextlib.nullcontext(), \
            layout.fixed(model):  # the layout asked once, not for every path
        paths = {opts.get_data_path(opts.id_field.clean_id(i)): None for i in ids}
    found = answers.files_at(ctx, list(paths))
    if found is None:
        return None
    at = dict(found)
    out: dict[Any, Any] = {}
    for path in paths:
        oid = at.get(path)
        if oid is not None:
            obj = Row(ctx, path, oid, path.rsplit("/", 2)[-2]).load()
            out[obj.get_id()] = obj
    return out


def execute(qs: QuerySet[Any]) -> list[Row]:
    """Run ``qs``: the matching rows, ordered and sliced.

    A tree git cannot parse (written by another tool) raises ``CorruptObject``.
    """
    for attempt in (1, 2):
        try:
            if qs.treeish is None:
                return _execute(qs)
            tree = qs.model._meta.require_workspace().resolve_tree(qs.treeish)
            with layout.reading(tree):  # adaptive models: the layout that commit records
                return _execute(qs)
        except pygit2.GitError as exc:
            if attempt == 1 and "not found" in str(exc):
                # a pack another process merged away between libgit2's rescan of
                # the pack folder and its read: the next miss rescans again
                qs.skipped.clear()
                continue
            folder = qs.model._meta.folder
            raise CorruptObject(folder, f"a tree in this folder cannot be read ({exc})") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _execute(qs: QuerySet[Any]) -> list[Row]:
    model = qs.model
    where = qs._where.resolve(qs.treeish) if qs._where is not None else None
    ctx = _Context(model, qs.treeish)
    if ctx.custom_path:
        no_trees: list[tuple[str, str]] = []  # folder entries that name no tree
        custom = [r for r in _custom_rows(ctx, no_trees) if where is None or where(r)]
        _report_refused(qs, no_trees, "")
        return _finish(qs, custom, False)
    if qs._order or qs._low or qs._high is not None:
        # ordered and sliced by SQL when the keys are indexed (the index vouches)
        found_ordered = answers.ordered(qs, ctx, where)
        if found_ordered is not None:
            return [Row(ctx, p, o, p.rsplit("/", 2)[-2]) for p, o in found_ordered]
    plan = _choose_plan(model, where)
    indexed = _index_lookup(ctx, plan) if plan is not None else None
    if indexed is None:
        # an index that lists no unreadable file vouches for the whole tree
        # and lists it faster than a walk of the folder
        indexed = answers.listing(ctx)
        plan = None
    sort_paths = indexed is not None or bool(ctx.pending)
    found: Iterable[tuple[str, pygit2.Oid]]
    refused: list[tuple[str, str]] = []  # folder entries that name no tree
    if indexed is not None:
        found = indexed
    else:
        found = _walk(ctx, refused)
        plan = None
    pending = ctx.pending
    check = where is not None and not (plan is not None and plan.exact)
    rows = []
    for path, oid in found:
        if pending and pending.hides(path):
            continue
        if indexed is None and _foreign(qs, ctx, path):  # the index lists no such file
            continue
        # the index, or _foreign, checked that the path is where its folder's id belongs
        row = Row(ctx, path, oid, path.rsplit("/", 2)[-2])
        if check and not _matches(qs, where, row):
            continue
        rows.append(row)
    _report_refused(qs, refused, f"/{ctx.filename}")
    if indexed is None and qs.errors != "skip":
        # an index vouches for the files it lists; scanned ones are read, so a
        # file get() would refuse raises here, in count() and ids() too
        for row in rows:
            row.verify()
    extra = [Row(ctx, p, o) for p, o in pending.files if not _foreign(qs, ctx, p)]
    if where is not None:
        extra = [row for row in extra if _matches(qs, where, row)]
    if qs.errors != "skip":
        for row in extra:
            row.verify()
    rows.extend(extra)
    if qs.errors == "skip" and qs._order:  # sorting reads values: what cannot be read goes first
        rows = _readable(qs, rows)
    return _finish(qs, rows, sort_paths)


def _readable(qs: QuerySet[Any], rows: list[Row]) -> list[Row]:
    """The rows whose objects can be read; the others reported in ``qs.skipped``."""
    kept = []
    for row in rows:
        try:
            row.verify()
        except CorruptObject as exc:
            qs.skipped.append(exc)
            continue
        kept.append(row)
    return kept


def _walk(ctx: _Context, refused: list[tuple[str, str]]) -> Iterator[tuple[str, pygit2.Oid]]:
    """The data files of ``ctx``'s folder tree; folder entries naming no tree
    go to ``refused`` (checked once per folder tree found to hold none)."""
    tree = ctx.folder_tree
    if tree is None:
        return
    trusted = tree.id in _WALKED_TREES
    yield from walk_files(tree, ctx.filename, ctx.folder + "/", refused, trusted)
    if not trusted and not refused:
        if len(_WALKED_TREES) > 10_000:
            _WALKED_TREES.clear()
        _WALKED_TREES.add(tree.id)


#: model folder trees walked with no folder entry naming a commit, a blob or nothing
_WALKED_TREES: set[pygit2.Oid] = set()


def _foreign(qs: QuerySet[Any], ctx: _Context, path: str) -> bool:
    """True if ``path`` is not where an object of the model can be (a folder
    named by another tool: ``..``, ``a\\b``, nested, not NFC...); reported as
    ``CorruptObject`` like an unreadable object, or skipped with ``errors="skip"``."""
    name = misplaced(ctx.model, path)
    if name is None:
        return False
    exc = CorruptObject(path, f"the folder name {name!r} is not a valid {ctx.model.__name__} id")
    if qs.errors != "skip":
        raise exc
    qs.skipped.append(exc)
    return True


def _matches(qs: QuerySet[Any], where: Any, row: Row) -> bool:
    """``where(row)``; with ``errors="skip"`` a corrupt row is reported and left out."""
    if qs.errors != "skip":
        return bool(where(row))
    try:
        return bool(where(row))
    except CorruptObject as exc:
        qs.skipped.append(exc)
        return False


def _report_refused(qs: QuerySet[Any], refused: list[tuple[str, str]], suffix: str) -> None:
    """Folder entries naming no tree: get() refuses what is below them, so a
    listing raises ``CorruptObject`` (or, with ``errors="skip"``, reports them)."""
    for path, what in refused:
        exc = CorruptObject(f"{path}{suffix}", f"expected a folder, found {what}")
        if qs.errors != "skip":
            raise exc
        qs.skipped.append(exc)


def _custom_rows(ctx: _Context, refused: list[tuple[str, str]]) -> Iterator[Row]:
    """Rows of a model whose ``Meta.get_data_path`` places files by pattern;
    folder entries naming no tree go to ``refused``."""
    custom = ctx.model._meta.custom_data_path
    assert custom is not None
    folder, is_data_path = custom
    for path, oid, _tree in ctx.ws.iter_files(folder, lambda _name: True, ctx.treeish, refused):
        if is_data_path(path):
            yield Row(ctx, path, oid)


def _finish(qs: QuerySet[Any], rows: list[Row], sort_paths: bool) -> list[Row]:
    """Order and slice the matching rows."""
    model = qs.model
    if sort_paths:  # index answers come in index order: ties go by path, as in a scan
        rows.sort(key=lambda r: r.path)
    if qs._order:
        keys = [_order_key(model, name.lstrip("-"), rows) for name in qs._order]
        for name, key in reversed(list(zip(qs._order, keys))):
            sort_rows(rows, key, name)
        if qs._after is not None:
            rows = _after(rows, keys, qs._order, qs._after, model)
    if qs._low or qs._high is not None:
        rows = rows[qs._low : qs._high]
    return rows


def sort_rows(rows: list[Row], key: Callable[[Row], tuple[Any, ...]], name: str) -> None:
    """Sort ``rows`` stably by order key ``name`` (``-`` descends); values of
    a type that defines no order are a ``FieldError``, not a raw TypeError."""
    try:
        rows.sort(key=key, reverse=name.startswith("-"))
    except TypeError:
        raise FieldError(f"cannot order by {name.lstrip('-')!r}: its values are of kinds that do not compare") from None


def _order_key(model: type[GitModel], bare: str, rows: list[Row]) -> Callable[[Row], tuple[Any, ...]]:
    """The sort key of order key ``bare`` (``title``, ``pk``, ``author__name``) over ``rows``."""
    if "__" in bare:
        return _related_key(model, bare, rows)
    field = _key_field(model, bare)
    return _column_key(field, rows) if isinstance(field, _VALUE_TYPES) else _field_key(field)


def _key_field(model: type[GitModel], bare: str) -> _fields.Field[Any]:
    """The field of an order key of the model itself (``pk``: the id field)."""
    return model._meta.id_field if bare == "pk" else model._meta.get_field(bare)


def _after(rows: list[Row], keys: list[Callable[[Row], tuple[Any, ...]]], order: tuple[str, ...],
           bounds: tuple[Any, ...], model: type[GitModel]) -> list[Row]:
    """The sorted ``rows`` that come after the keyset ``bounds``, in ``order``."""
    bound_keys = [_value_key(_key_field(model, n.lstrip("-")))(value) for n, value in zip(order, bounds)]
    descending = [n.startswith("-") for n in order]
    for at, row in enumerate(rows):
        if _beyond([key(row) for key in keys], bound_keys, descending):
            return rows[at:]  # sorted: every later row is beyond too
    return []


def _beyond(keys: list[tuple[Any, ...]], bounds: list[tuple[Any, ...]], descending: list[bool]) -> bool:
    """Whether a row with sort ``keys`` comes after ``bounds`` (keys of the same order)."""
    for key, bound, desc in zip(keys, bounds, descending):
        if key != bound:
            try:
                return key < bound if desc else key > bound
            except TypeError:
                return False
    return False


def _related_key(model: type[GitModel], name: str, rows: list[Row]) -> Callable[[Row], tuple[Any, ...]]:
    """The sort key for ``author__name``: the related objects are read once each."""
    from ..relations import related_sort_values

    first, *path = name.split("__")
    field = model._meta.get_field(first)
    tree = rows[0].ctx.root if rows else None
    ids = dict(zip((id(row) for row in rows), column(rows, field)))
    values = related_sort_values(field, path, set(ids.values()) - {None}, tree)
    key = _value_key(field_path(model, name, "order by")[-1])  # the far field's frame
    return lambda row: key(values.get(ids[id(row)]))


def _column_key(field: _fields.Field[Any], rows: list[Row]) -> Callable[[Row], tuple[Any, ...]]:
    """The sort key of ``field``, its values read at once (from its index if it has one)."""
    key = _value_key(field)
    values = dict(zip((id(row) for row in rows), column(rows, field)))
    return lambda row: key(values[id(row)])


def _field_key(field: _fields.Field[Any]) -> Callable[[Row], tuple[Any, ...]]:
    key = _value_key(field)
    return lambda row: key(row.get(field))


#: where a value sorts, where a value of a field sorts (see :func:`.columns.sort_key`)
_sort_key, _value_key = sort_key, value_key


def explain(qs: QuerySet[Any]) -> str:
    """``'index only: Page.slug (exact)'`` or ``'scan'``, as :func:`execute` would
    run it (lookups across related fields are resolved first, which reads them)."""
    where = qs._where.resolve(qs.treeish) if qs._where is not None else None
    plan = _choose_plan(qs.model, where)
    if plan is None:
        return "scan"
    how = "index only" if plan.exact else "index, rows checked"
    return f"{how}: {qs.model.__name__}.{plan.leaf.field.name} ({plan.leaf.lookup})"


#: field types whose values the index holds exactly as the rows decode them
_VALUE_TYPES = (_fields.CharField, _fields.IntegerField, _fields.FloatField, _fields.RelatedField)


def column(rows: list[Row], field: _fields.Field[Any]) -> list[Any]:
    """``row.get(field)`` for each row, read from the field's index when it
    holds every row's value exactly (nothing pending, no big integers);
    else from the rows themselves."""
    if rows and field.id and isinstance(field, _fields.CharField) and not rows[0].ctx.custom_path:
        return [row.object_id() for row in rows]  # the folder names it: no need to read
    if rows and isinstance(field, _VALUE_TYPES) and not field.id:
        found = _indexed_column(rows, field)
        if found is not None:
            return found
    return [row.get(field) for row in rows]


def _indexed_column(rows: list[Row], field: _fields.Field[Any]) -> Optional[list[Any]]:
    ctx = rows[0].ctx
    names = [f.name for f in indexed_fields(ctx.model)]
    if field.name not in names or ctx.custom_path or ctx.pending or ctx.pending.files:
        return None
    try:
        # a few rows are looked up by path; many, with the whole column
        few = [row.path for row in rows] if len(rows) <= FEW_ROWS else None
        by_path = dict(store_for(ctx.ws).field_values(ctx, names, field.name, few))
    except _Unavailable:
        return None
    out = []
    integer = isinstance(field, _fields.IntegerField)
    for row in rows:
        value = by_path.get(row.path, _NO)
        if value is _NO or (integer and isinstance(value, float)):
            return None  # not indexed (unreadable) or too big for SQLite: read the rows
        out.append(value)
    return out


def check_unique(obj: GitModel, ws: Workspace) -> None:
    """Raise ``IntegrityError`` if another object holds one of ``obj``'s unique values.

    Pending (uncommitted) objects count: they are part of the workspace.
    """
    model = type(obj)
    mine = {obj.get_id(), obj._stored_id}
    for field in model._meta.unique_fields:
        value = obj._data.get(field.name)
        if value is None or not field.stored_in_json:
            continue
        others = QuerySet(model).filter(**{field.name: value}).ids()
        if any(other not in mine for other in others):
            raise IntegrityError(
                f'{model.__name__} with "{field.name}" = {field.to_json(value)!r} already exists'
            )
