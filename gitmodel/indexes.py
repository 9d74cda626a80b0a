"""Running queries, and field indexes derived from git trees.

An index maps the values of a model's indexed fields to the data files that
hold them, for one *tree*: the tree id of the model's folder. It lives in
SQLite (``<git dir>/gitmodel/index.sqlite``) so a new process starts warm.
When the tree a query needs differs from the tree an index was built for,
the index is moved by the diff between the two trees, which skips subtrees
with equal ids without opening them, so the work follows the change, not
the size of the store.

Git stays the source of truth: a missing, stale or corrupt index file is
rebuilt from the trees, and a query that cannot use the index scans.

Several processes may share the file. SQLite runs in WAL mode: readers see
a consistent snapshot (an index and the tree it was built for are read in
one transaction) and index updates take SQLite's write lock
(``BEGIN IMMEDIATE``), so two processes never move the same index at once.

Indexes are kept in *slots*, one per lane (the branch a workspace is on, or
``@rev`` for queries at other revisions), so workspaces on different
branches do not undo each other's work; a new lane starts as a copy of the
most recently used slot and is moved by a diff.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence

import pygit2

from . import fields as _fields
from .exceptions import CorruptObject, IntegrityError, ValidationError
from .query import Leaf, Node, Q, QuerySet
from .serializers import json as json_format
from .tree import TREE_MODE, _Folder

if TYPE_CHECKING:
    from .models import GitModel
    from .workspace import Workspace

__all__ = [
    "IndexStore",
    "Row",
    "UpdateStats",
    "check_unique",
    "execute",
    "explain",
    "indexed_fields",
    "store_for",
    "update_index",
]

SCHEMA_VERSION = 1
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#: slots kept per model index (lanes beyond this are dropped, least recent first)
MAX_SLOTS = 6
#: pending edits under one model folder above which a query writes the tree
#: objects first and moves the index instead of checking each edit
PENDING_LIMIT = 256
#: after moving an index by more files than this, the WAL is folded into the
#: database at once, so the next small update does not pay for it
CHECKPOINT_AFTER = 2000
#: ``value IN (...)`` lists are sent in chunks of this size
IN_CHUNK = 500

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
_INT64 = (-(2**63), 2**63 - 1)


def indexed_fields(model: type[GitModel]) -> list[_fields.Field[Any]]:
    """The fields of ``model`` with an index (``index=True``, ``unique=True``, ``Meta.indexes``)."""
    opts = model._meta
    return [
        f
        for f in opts.fields
        if (f.index or f.name in opts.indexes) and f.stored_in_json and not f.id
    ]


def _signature(model: type[GitModel], names: Sequence[str]) -> str:
    opts = model._meta
    return f"{model.__name__}:{opts.folder}:{opts.data_filename}:{','.join(sorted(names))}"


def _sql_value(value: Any) -> Any:
    """What SQLite stores for a JSON field value (big ints become floats)."""
    if value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _exact_param(field: _fields.Field[Any], value: Any) -> Any:
    """The SQL parameter for ``field == value``; ``_NO`` if SQL cannot say."""
    stored = field.to_json(value)
    if isinstance(stored, int) and not isinstance(stored, bool):
        if not _INT64[0] <= stored <= _INT64[1]:
            return _NO
    if not isinstance(stored, (str, int, float)):
        return _NO
    return _sql_value(stored)


_NO = object()


class _Unavailable(Exception):
    """The index file cannot be used now; the caller scans instead."""


# -- the SQLite store -------------------------------------------------------------


class IndexStore:
    """The index file of one repository, opened by one workspace."""

    def __init__(self, git_dir: str) -> None:
        self.path = os.path.join(git_dir, "gitmodel", "index.sqlite")
        self._lock = threading.RLock()
        self._db: Optional[sqlite3.Connection] = None
        self._inode: Optional[int] = None
        self._checkpoint = False

    # -- connection ---------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            inode: Optional[int] = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if self._db is not None and inode is not None and inode == self._inode:
            return self._db
        self.close()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.executescript(
                    f"""
                    BEGIN IMMEDIATE;
                    DROP TABLE IF EXISTS slot;
                    DROP TABLE IF EXISTS val;
                    CREATE TABLE slot (
                        id INTEGER PRIMARY KEY, sig TEXT NOT NULL, lane TEXT NOT NULL,
                        tree TEXT NOT NULL, used REAL NOT NULL, UNIQUE (sig, lane));
                    CREATE TABLE val (
                        slot INTEGER NOT NULL, field TEXT NOT NULL, value,
                        path TEXT NOT NULL, oid BLOB NOT NULL);
                    CREATE INDEX val_value ON val (slot, field, value);
                    CREATE INDEX val_path ON val (slot, path);
                    PRAGMA user_version = {SCHEMA_VERSION};
                    COMMIT;
                    """
                )
        except sqlite3.Error:
            db.close()
            raise
        self._db = db
        self._inode = os.stat(self.path).st_ino
        return db

    def close(self) -> None:
        """Close the connection (the file stays)."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:  # pragma: no cover - closing a broken handle
                pass
        self._db = None
        self._inode = None

    def _discard_file(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(self.path + suffix)
            except FileNotFoundError:
                pass

    def _run(self, work: Any) -> Any:
        """Run ``work(db)``; a corrupt file is deleted and rebuilt once."""
        with self._lock:
            for attempt in (1, 2):
                db = None
                try:
                    db = self._connect()
                    return work(db)
                except sqlite3.Error as exc:
                    if db is not None and db.in_transaction:
                        try:
                            db.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                    text = str(exc).lower()
                    if "locked" in text or "busy" in text or attempt == 2:
                        raise _Unavailable(str(exc)) from exc
                    self._discard_file()  # not a database, malformed, ...
                except OSError as exc:
                    raise _Unavailable(str(exc)) from exc
        raise _Unavailable("unreachable")  # pragma: no cover

    # -- slots ------------------------------------------------------------------
    def lookup(
        self,
        ctx: _Context,
        names: Sequence[str],
        field: str,
        where: str,
        params: Sequence[Any],
    ) -> list[tuple[str, pygit2.Oid]]:
        """``(path, blob id)`` of the data files whose ``field`` matches ``where``."""
        sig = _signature(ctx.model, names)
        sql = f"SELECT path, oid FROM val WHERE slot = ? AND field = ? AND {where}"
        # one statement, so one snapshot: a first row (NULL, slot id) says an
        # index of this tree exists, the others are its matches
        fast = (
            "WITH s AS (SELECT id FROM slot WHERE sig = ? AND tree = ? "
            "ORDER BY lane = ? DESC LIMIT 1) "
            "SELECT NULL, id FROM s UNION ALL "
            f"SELECT path, oid FROM val WHERE slot = (SELECT id FROM s) AND field = ? AND {where}"
        )

        def work(db: sqlite3.Connection) -> list[tuple[str, pygit2.Oid]]:
            found = db.execute(fast, (sig, ctx.tree_hex, ctx.lane, field, *params)).fetchall()
            if any(p is None for p, _o in found):
                return [(p, pygit2.Oid(raw=o)) for p, o in found if p is not None]
            db.execute("BEGIN IMMEDIATE")
            try:
                slot, _changed = self._bring_up(db, ctx, sig, names)
                found = db.execute(sql, (slot, field, *params)).fetchall()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._fold_wal(db)
            return [(p, pygit2.Oid(raw=o)) for p, o in found]

        return self._run(work)  # type: ignore[no-any-return]

    def update(self, ctx: _Context, names: Sequence[str]) -> UpdateStats:
        """Bring the index of ``ctx``'s lane to ``ctx``'s tree."""
        sig = _signature(ctx.model, names)

        def work(db: sqlite3.Connection) -> UpdateStats:
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            try:
                _slot, changed = self._bring_up(db, ctx, sig, names)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._fold_wal(db)
            return UpdateStats(changed, time.perf_counter() - started)

        return self._run(work)  # type: ignore[no-any-return]

    def _bring_up(
        self, db: sqlite3.Connection, ctx: _Context, sig: str, names: Sequence[str]
    ) -> tuple[int, int]:
        """Inside a write transaction: the id of a slot at ``ctx.tree_hex``
        and how many data files were re-read to get it there."""
        now = time.time()
        row = db.execute(
            "SELECT id FROM slot WHERE sig = ? AND tree = ? ORDER BY lane = ? DESC LIMIT 1",
            (sig, ctx.tree_hex, ctx.lane),
        ).fetchone()
        if row is not None:
            return row[0], 0
        row = db.execute(
            "SELECT id, tree FROM slot WHERE sig = ? AND lane = ?", (sig, ctx.lane)
        ).fetchone()
        if row is None:
            source = db.execute(
                "SELECT id, tree FROM slot WHERE sig = ? ORDER BY used DESC LIMIT 1", (sig,)
            ).fetchone()
            cur = db.execute(
                "INSERT INTO slot (sig, lane, tree, used) VALUES (?, ?, ?, ?)",
                (sig, ctx.lane, source[1] if source else EMPTY_TREE, now),
            )
            slot = cur.lastrowid
            assert slot is not None
            if source is not None:
                db.execute(
                    "INSERT INTO val SELECT ?, field, value, path, oid FROM val WHERE slot = ?",
                    (slot, source[0]),
                )
            old_tree = source[1] if source else EMPTY_TREE
            self._evict(db, sig)
        else:
            slot, old_tree = row
        changed = _move(db, slot, ctx, names, old_tree)
        db.execute("UPDATE slot SET tree = ?, used = ? WHERE id = ?", (ctx.tree_hex, now, slot))
        self._checkpoint = changed > CHECKPOINT_AFTER
        return slot, changed

    def _fold_wal(self, db: sqlite3.Connection) -> None:
        if self._checkpoint:
            self._checkpoint = False
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _evict(self, db: sqlite3.Connection, sig: str) -> None:
        stale = db.execute(
            "SELECT id FROM slot WHERE sig = ? ORDER BY used DESC LIMIT -1 OFFSET ?",
            (sig, MAX_SLOTS),
        ).fetchall()
        for (slot,) in stale:
            db.execute("DELETE FROM val WHERE slot = ?", (slot,))
            db.execute("DELETE FROM slot WHERE id = ?", (slot,))


def _move(
    db: sqlite3.Connection, slot: int, ctx: _Context, names: Sequence[str], old_hex: str
) -> int:
    """Apply the diff from tree ``old_hex`` to ``ctx.tree_hex`` to slot rows."""
    repo = ctx.ws.repo
    found = None if old_hex == EMPTY_TREE else repo.get(old_hex)
    old = found if isinstance(found, pygit2.Tree) else None
    if old_hex != EMPTY_TREE and old is None:
        db.execute("DELETE FROM val WHERE slot = ?", (slot,))  # pruned: start over
    new = ctx.folder_tree
    prefix = ctx.folder + "/"
    filename = ctx.filename
    fields = [ctx.model._meta.get_field(n) for n in names]
    removed: list[tuple[int, str]] = []
    added: list[tuple[str, pygit2.Oid]] = []
    if old is None and new is not None:
        added = [(prefix + rel, oid) for rel, oid in _walk(new, "", filename)]
    elif old is not None:
        gone: list[str] = []
        _tree_diff(repo, old, new, prefix, filename, gone, added)
        removed = [(slot, path) for path in gone]
    if removed:
        db.executemany("DELETE FROM val WHERE slot = ? AND path = ?", removed)
    rows = []
    model_name = ctx.model.__name__
    for path, oid in added:
        try:
            name, stored = json_format.loads(repo[oid].data)  # type: ignore[attr-defined]
        except (KeyError, ValueError, RecursionError):
            continue  # a scan reports it as CorruptObject
        if name != model_name:
            continue
        raw = oid.raw
        for field in fields:
            if field.name in stored and field.serialize:
                value = stored[field.name]
            else:
                value = field.to_json(field.get_default())
            rows.append((slot, field.name, _sql_value(value), path, raw))
    if rows:
        db.executemany("INSERT INTO val VALUES (?, ?, ?, ?, ?)", rows)
    return len(removed) + len(added)


def _tree_diff(
    repo: pygit2.Repository,
    old: Optional[pygit2.Tree],
    new: Optional[pygit2.Tree],
    prefix: str,
    filename: str,
    removed: list[str],
    added: list[tuple[str, pygit2.Oid]],
) -> None:
    """Collect the ``filename`` files that differ between two trees.

    Entries with equal ids are skipped without being opened, so only the
    folders on the path of a change are read.
    """
    before: dict[str, tuple[pygit2.Oid, bool]] = (
        {e.name: (e.id, e.type_str == "tree") for e in old} if old is not None else {}  # type: ignore[misc]
    )
    after: dict[str, tuple[pygit2.Oid, bool]] = (
        {e.name: (e.id, e.type_str == "tree") for e in new} if new is not None else {}  # type: ignore[misc]
    )
    for name, entry in before.items():
        other = after.get(name)
        if other == entry:
            continue
        if other is not None and entry[1] and other[1]:
            _tree_diff(repo, repo[entry[0]], repo[other[0]], f"{prefix}{name}/", filename, removed, added)  # type: ignore[arg-type]
            continue
        if entry[1]:
            removed.extend(path for path, _oid in _walk(repo[entry[0]], f"{prefix}{name}/", filename))  # type: ignore[arg-type]
        elif name == filename:
            removed.append(prefix + name)
        if other is not None:
            _add_side(repo, name, other, prefix, filename, added)
    for name, entry in after.items():
        if name not in before:
            _add_side(repo, name, entry, prefix, filename, added)


def _add_side(
    repo: pygit2.Repository,
    name: str,
    entry: tuple[pygit2.Oid, bool],
    prefix: str,
    filename: str,
    added: list[tuple[str, pygit2.Oid]],
) -> None:
    if entry[1]:
        added.extend(_walk(repo[entry[0]], f"{prefix}{name}/", filename))  # type: ignore[arg-type]
    elif name == filename:
        added.append((prefix + name, entry[0]))


def _walk(tree: pygit2.Tree, prefix: str, filename: str) -> Iterator[tuple[str, pygit2.Oid]]:
    """``(path, blob id)`` of every ``filename`` below ``tree``."""
    for obj in tree:
        if obj.type_str == "tree":
            yield from _walk(obj, f"{prefix}{obj.name}/", filename)  # type: ignore[arg-type]
        elif obj.name == filename:
            yield prefix + filename, obj.id


_stores: weakref.WeakKeyDictionary[Workspace, IndexStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def store_for(ws: Workspace) -> IndexStore:
    """The index store of ``ws`` (one SQLite connection per workspace)."""
    with _stores_lock:
        store = _stores.get(ws)
        if store is None:
            store = _stores[ws] = IndexStore(ws.repo.path)
        return store


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
            base = ws.resolve_tree(treeish)
            self.root = base
            self.lane = "@rev"
        folder_tree = None
        if base is not None:
            try:
                folder_tree = base[self.folder]
            except KeyError:
                folder_tree = None
        self.folder_tree = folder_tree if isinstance(folder_tree, pygit2.Tree) else None
        self.tree_hex = str(self.folder_tree.id) if self.folder_tree is not None else EMPTY_TREE


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

    __slots__ = ("ctx", "path", "oid", "obj", "stored", "memo")

    def __init__(self, ctx: _Context, path: str, oid: pygit2.Oid) -> None:
        self.ctx = ctx
        self.path = path
        self.oid = oid
        self.obj: Optional[GitModel] = None
        self.stored: Optional[dict[str, Any]] = None
        self.memo: Optional[dict[str, Any]] = None

    def _read(self) -> None:
        ctx = self.ctx
        cached = ctx.ws.cached_object(self.oid)
        if cached is not None:
            self.obj = cached
            return
        try:
            name, stored = json_format.loads(ctx.ws.repo[self.oid].data)  # type: ignore[attr-defined]
        except (KeyError, ValueError, RecursionError):
            name, stored = "", {}
        if name != ctx.model.__name__:
            ctx.model._load(ctx.ws, self.path, self.oid, ctx.root)  # raises CorruptObject
        self.stored = stored

    def get(self, field: _fields.Field[Any]) -> Any:
        """The Python value of ``field`` (a related object as its id)."""
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
        value = self.obj._data.get(field.name)  # type: ignore[union-attr]
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

    def load(self) -> Any:
        """The model instance (decoded once per blob id, then copied from the cache)."""
        ctx = self.ctx
        if self.stored is not None and self.obj is None:
            decoded = ctx.model._decode(self.path, ctx.model.__name__, self.stored)
            ctx.ws.cache_object(self.oid, decoded)
        return ctx.model._load(ctx.ws, self.path, self.oid, ctx.root)


def _model_class() -> type:
    from .models import GitModel

    return GitModel


# -- planning and running ---------------------------------------------------------


def _conjuncts(node: Optional[Node]) -> tuple[list[Leaf], bool]:
    """Leaves ANDed at the top of ``node``, and whether that is all of it."""
    if node is None:
        return [], True
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


def _choose_plan(model: type[GitModel], where: Optional[Node]) -> Optional[_Plan]:
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


def execute(qs: QuerySet[Any]) -> list[Row]:
    """Run ``qs``: the matching rows, ordered and sliced."""
    model = qs.model
    where = qs._where.resolve(qs.treeish) if qs._where is not None else None
    ctx = _Context(model, qs.treeish)
    if ctx.custom_path:
        return _finish(qs, [r for r in _custom_rows(ctx) if where is None or where(r)], False)
    plan = _choose_plan(model, where)
    indexed = _index_lookup(ctx, plan) if plan is not None else None
    sort_paths = indexed is not None or bool(ctx.pending)
    found: Iterable[tuple[str, pygit2.Oid]]
    if indexed is not None:
        found = indexed
    else:
        found = _walk(ctx.folder_tree, ctx.folder + "/", ctx.filename) if ctx.folder_tree else ()
        plan = None
    pending = ctx.pending
    check = where is not None and not (plan is not None and plan.exact)
    rows = []
    for path, oid in found:
        if pending and pending.hides(path):
            continue
        row = Row(ctx, path, oid)
        if check and not where(row):  # type: ignore[misc]
            continue
        rows.append(row)
    extra = [Row(ctx, p, o) for p, o in pending.files]
    if where is not None:
        extra = [row for row in extra if where(row)]
    rows.extend(extra)
    return _finish(qs, rows, sort_paths)


def _custom_rows(ctx: _Context) -> Iterator[Row]:
    """Rows of a model whose ``Meta.get_data_path`` places files by pattern."""
    custom = ctx.model._meta.custom_data_path
    assert custom is not None
    folder, is_data_path = custom
    for path, oid, _tree in ctx.ws.iter_files(folder, lambda _name: True, ctx.treeish):
        if is_data_path(path):
            yield Row(ctx, path, oid)


def _finish(qs: QuerySet[Any], rows: list[Row], sort_paths: bool) -> list[Row]:
    """Order and slice the matching rows."""
    model = qs.model
    if qs._order:
        for name in reversed(qs._order):
            bare = name.lstrip("-")
            field = model._meta.id_field if bare == "pk" else model._meta.get_field(bare)
            rows.sort(key=_field_key(field), reverse=name.startswith("-"))
    elif sort_paths:
        rows.sort(key=lambda r: r.path)
    if qs._low or qs._high is not None:
        rows = rows[qs._low : qs._high]
    return rows


def _field_key(field: _fields.Field[Any]) -> Callable[[Row], tuple[int, Any]]:
    return lambda row: _sort_key(row.get(field))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (dict, list)):
        return (2, json.dumps(value, sort_keys=True))
    return (1, value)


def explain(qs: QuerySet[Any]) -> str:
    """``'index only: Page.slug (exact)'`` or ``'scan'``, as :func:`execute` would
    run it (lookups across related fields are resolved first, which reads them)."""
    where = qs._where.resolve(qs.treeish) if qs._where is not None else None
    plan = _choose_plan(qs.model, where)
    if plan is None:
        return "scan"
    how = "index only" if plan.exact else "index, rows checked"
    return f"{how}: {qs.model.__name__}.{plan.leaf.field.name} ({plan.leaf.lookup})"


# -- maintenance --------------------------------------------------------------------


@dataclass
class UpdateStats:
    """What :func:`update_index` did: data files re-read, and seconds taken."""

    changed: int
    seconds: float


def update_index(model: type[GitModel], treeish: Any = None) -> Optional[UpdateStats]:
    """Bring ``model``'s index up to date with the workspace (or ``treeish``) now.

    Queries do this on their own when needed; call it to pay the cost at a
    moment of your choosing. ``None`` if the model has no index (or stores
    its objects at custom paths, which queries scan).
    """
    names = [f.name for f in indexed_fields(model)]
    if not names or model._meta._custom_data_path is not None:
        return None
    ctx = _Context(model, treeish)
    try:
        return store_for(ctx.ws).update(ctx, names)
    except _Unavailable:
        return None


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
