"""Field indexes derived from git trees, kept in SQLite.

An index maps the values of a model's indexed fields to the data files that
hold them (a model with no indexed field: one row per data file, its
listing), for one *tree*: the tree id of the model's folder. It lives in
SQLite (``<git dir>/gitmodel/index.sqlite``) so a new process starts warm.
When the tree a query needs differs from the tree an index was built for,
the index is moved by the diff between the two trees, which skips subtrees
with equal ids without opening them, so the work follows the change, not
the size of the store.

Git stays the source of truth: a missing, stale or corrupt index file is
rebuilt from the trees, and a query that cannot use the index scans.

Several processes may share the file. SQLite runs in WAL mode: readers see
a consistent snapshot (an index and the tree it was built for are read in
one statement) and index updates take SQLite's write lock
(``BEGIN IMMEDIATE``), so two processes never move the same index at once.

Indexes are kept in *slots*, one per lane (the branch a workspace is on, or
``@rev`` for queries at other revisions), so workspaces on different
branches do not undo each other's work; a new lane starts as a copy of the
most recently used slot and is moved by a diff.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

import pygit2

from .. import fields as _fields
from ..git.diff import NotATree, tree_deltas
from ..git.tree import walk_files
from ..schema import codec, layout
from ..validation import has_surrogates, id_problem

if TYPE_CHECKING:
    from ..models import GitModel
    from .planner import _Context
    from ..workspace import Workspace

__all__ = ["IndexStore", "UpdateStats", "indexed_fields", "store_for", "update_index"]

SCHEMA_VERSION = 5
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#: slots kept per model index (lanes beyond this are dropped, least recent first)
MAX_SLOTS = 6
#: after moving an index by more files than this, the WAL is folded into the
#: database at once, so the next small update does not pay for it
CHECKPOINT_AFTER = 2000
_INT64 = (-(2**63), 2**63 - 1)
#: files SQLite keeps beside the database
_SIDE_FILES = ("-wal", "-shm", "-journal")


def indexed_fields(model: type[GitModel]) -> list[_fields.Field[Any]]:
    """The fields of ``model`` with an index (``index=True``, ``unique=True``, ``Meta.indexes``)."""
    opts = model._meta
    found: Optional[list[_fields.Field[Any]]] = opts.__dict__.get("_indexed_fields")
    if found is None:
        found = opts.__dict__["_indexed_fields"] = [
            f
            for f in opts.fields
            if (f.index or f.name in opts.indexes) and f.stored_in_json and not f.id
        ]
    return list(found)


def _signature(model: type[GitModel], names: Sequence[str]) -> str:
    """What an index depends on besides the tree: the model's layout, its
    indexed fields and what a file without the field reads as (its default).
    The layout is part of it, so a listed path is where its folder's id belongs."""
    opts = model._meta
    known: dict[tuple[str, ...], str] = opts.__dict__.setdefault("_index_signatures", {})
    key = tuple(names)
    fixed = known.get(key)
    if fixed is None:
        defaults = []
        for name in sorted(names):
            field = opts.get_field(name)
            default = field._default
            if default is _fields.NOT_PROVIDED:
                defaults.append("-")
            elif callable(default):
                defaults.append("()")  # a new value each time: never answered by the index
            else:
                defaults.append(json.dumps(_json_or_repr(field, default), sort_keys=True))
        fields_key = f"{','.join(sorted(names))}:{'|'.join(defaults)}"
        fixed = known[key] = f"{model.__name__}:{opts.folder}:{opts.data_filename}:{fields_key}"
    return f"{fixed}:{opts.shard}"


def _json_or_repr(field: _fields.Field[Any], value: Any) -> Any:
    try:
        return field.to_json(value)
    except Exception:  # a default the field cannot store: keyed by its text
        return repr(value)


#: the ``field`` column of a row saying that a data file's value of a field
#: cannot be compared in SQL exactly as a scan compares it (a query on that
#: field scans)
_ANY_INEXACT = "SELECT 1 FROM val WHERE slot = ? AND field IN (?, ?) LIMIT 1"
#: the ``field`` column of a row saying a data file sits where no object of
#: the model can be (a folder named ``..`` by another tool): queries scan,
#: and the scan reports it
FOREIGN = "\x00foreign"


#: the ``field`` column of the one row per data file of a model with no
#: indexed field: its index lists and counts the files (read once, checked)
FILE = "\x00file"


def misplaced(model: type[GitModel], path: str) -> Optional[str]:
    """The folder name of data file ``path`` if no object of ``model`` can
    sit there (not a valid id, nested, a wrong shard), else ``None``."""
    opts = model._meta
    name = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
    if id_problem(name) is None:
        shard = opts.shard  # asked once: an adaptive model looks its layout up
        if not shard:
            expected = f"{opts.folder}/{name}/{opts.data_filename}"
        elif opts._custom_data_path is None:
            expected = f"{opts.object_folder_at(name, shard)}/{opts.data_filename}"
        else:
            expected = opts.get_data_path(name)
        if path == expected:
            return None
    return name


def _readable(
    model: type[GitModel], path: str, ws: Workspace, oid: pygit2.Oid
) -> Optional[dict[str, Any]]:
    """The stored fields of data file ``path`` if ``get()`` would read it
    without error, else ``None`` (it sits where no object can, cannot be
    parsed, holds another model, a value its field refuses, a wrong id)."""
    if misplaced(model, path) is not None:
        return None
    try:
        name, stored = codec.read_stored(ws, path, oid)
        obj = codec.decode(model, path, name, stored)
    except Exception:  # whatever it is, the scan reports it as CorruptObject
        return None
    opts = model._meta
    if opts.id_attr in stored:
        try:
            if opts.get_data_path(obj._stored_id) != path:  # type: ignore[arg-type]
                return None
        except Exception:
            return None
    return stored


def _sql_path(path: str) -> str:
    """``path`` as SQLite can hold it (a name that is not UTF-8, spelled in hex)."""
    return path if not has_surrogates(path) else "\x00" + path.encode("utf-8", "surrogateescape").hex()


def _inexact(name: str) -> str:
    return f"\x00inexact:{name}"


def _index_value(field: _fields.Field[Any], stored: dict[str, Any]) -> tuple[Any, bool]:
    """``(value for SQL, exact)``: exact when SQL compares the value as a
    scan does (the stored JSON is the field's own form of what ``get()``
    reads, and SQLite holds it without loss)."""
    if field.name in stored and field.serialize:
        raw = stored[field.name]
        try:
            canonical = field.to_json(field.from_json(raw))
        except Exception:  # a scan reports it as CorruptObject
            return None, False
        exact = _same_json(canonical, raw)
    else:
        if callable(field._default):
            return None, False
        try:
            raw = field.to_json(field.get_default())
        except Exception:
            return None, False
        exact = True
    if isinstance(raw, float) and not math.isfinite(raw):
        return None, False
    if isinstance(raw, int) and not isinstance(raw, bool) and not _INT64[0] <= raw <= _INT64[1]:
        return None, False  # SQLite would hold it as a float, inexactly
    return _sql_value(raw), exact


def _same_json(a: Any, b: Any) -> bool:
    """Equal JSON values of equal types (``1``, ``1.0``, ``True`` and ``"1"`` differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list)):
        try:
            return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _sql_value(value: Any) -> Any:
    """What SQLite stores for a JSON field value (big ints become floats)."""
    if value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


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
        #: (signature, tree) -> slot id, as last seen; checked on every use
        self._known: dict[tuple[str, str], int] = {}

    # -- connection ---------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            inode: Optional[int] = os.lstat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if self._db is not None and inode is not None and inode == self._inode:
            return self._db
        self.close()
        self._make_safe()
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
                    DROP TABLE IF EXISTS tally;
                    CREATE TABLE slot (
                        id INTEGER PRIMARY KEY, sig TEXT NOT NULL, lane TEXT NOT NULL,
                        tree TEXT NOT NULL, used REAL NOT NULL, UNIQUE (sig, lane));
                    CREATE TABLE val (
                        slot INTEGER NOT NULL, field TEXT NOT NULL, value,
                        path TEXT NOT NULL, oid BLOB NOT NULL);
                    -- lookups by value; orders by value, ties by path, read in index
                    -- order; it holds the blob id too, so a lookup never reads the table
                    CREATE INDEX val_value ON val (slot, field, value, path, oid);
                    CREATE INDEX val_path ON val (slot, path);
                    -- per slot and field: rows, non-null values, values that are
                    -- not integers, and the sum of the integers (text: exact at
                    -- any size), kept as rows come and go
                    CREATE TABLE tally (
                        slot INTEGER NOT NULL, field TEXT NOT NULL, n INTEGER NOT NULL,
                        nn INTEGER NOT NULL, other INTEGER NOT NULL, total TEXT NOT NULL,
                        PRIMARY KEY (slot, field));
                    PRAGMA user_version = {SCHEMA_VERSION};
                    COMMIT;
                    """
                )
        except sqlite3.Error:
            db.close()
            raise
        self._db = db
        self._inode = os.lstat(self.path).st_ino
        return db

    def _make_safe(self) -> None:
        """Never follow a symlink out of the git folder: a symlink at the
        place of the index folder or files is removed (the index is rebuilt);
        something else than a folder or file there makes queries scan."""
        folder = os.path.dirname(self.path)
        for path in (folder, self.path, *(self.path + s for s in _SIDE_FILES)):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(mode):
                os.unlink(path)  # removes the link itself, never what it points at
            elif not (stat.S_ISDIR(mode) if path == folder else stat.S_ISREG(mode)):
                raise _Unavailable(f"{path!r} is not a {'folder' if path == folder else 'file'}")

    def close(self) -> None:
        """Close the connection (the file stays)."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:  # pragma: no cover - closing a broken handle
                pass
        self._db = None
        self._inode = None
        self._known = {}

    def _discard_file(self) -> None:
        self.close()
        for suffix in ("", *_SIDE_FILES):
            try:
                os.unlink(self.path + suffix)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise _Unavailable(str(exc)) from None

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
        # one statement, so one snapshot: the first part gives a row (NULL,
        # NULL) only if the slot still describes this tree; the second, the
        # slot's matches
        checked = (
            "SELECT NULL, NULL FROM slot WHERE id = ? AND sig = ? AND tree = ? UNION ALL "
            f"SELECT '', NULL FROM ({_ANY_INEXACT}) UNION ALL " + sql
        )
        inexact = _inexact(field)
        key = (sig, ctx.tree_hex)

        def work(db: sqlite3.Connection) -> list[tuple[str, pygit2.Oid]]:
            for _attempt in (1, 2):
                slot = self._known.get(key)
                if slot is None:
                    row = db.execute(
                        "SELECT id FROM slot WHERE sig = ? AND tree = ? "
                        "ORDER BY lane = ? DESC LIMIT 1",
                        (sig, ctx.tree_hex, ctx.lane),
                    ).fetchone()
                    if row is None:
                        break
                    if len(self._known) > 64:
                        self._known.clear()
                    slot = self._known[key] = row[0]
                found = db.execute(
                    checked, (slot, sig, ctx.tree_hex, slot, inexact, FOREIGN, slot, field, *params)
                ).fetchall()
                if any(p is None for p, _o in found):
                    if any(p == "" for p, _o in found):
                        raise _Unavailable(f"some values of {field!r} need a scan")
                    return [(p, pygit2.Oid(raw=o)) for p, o in found if p is not None]
                self._known.pop(key, None)  # moved by someone since
            db.execute("BEGIN IMMEDIATE")
            try:
                slot, _changed = self._bring_up(db, ctx, sig, names)
                found = db.execute(sql, (slot, field, *params)).fetchall()
                needs_scan = db.execute(_ANY_INEXACT, (slot, inexact, FOREIGN)).fetchone()
                db.execute("COMMIT")
                self._known[key] = slot
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._fold_wal(db)
            if needs_scan:
                raise _Unavailable(f"some values of {field!r} need a scan")
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

    def field_values(self, ctx: _Context, names: Sequence[str], field: str,
                     paths: Optional[Sequence[str]] = None) -> list[tuple[str, Any]]:
        """``(path, value as SQLite holds it)`` of ``field`` for every data
        file of ``ctx``'s tree, or for ``paths`` (the index is brought there first)."""
        sig = _signature(ctx.model, names)

        def work(db: sqlite3.Connection) -> list[tuple[str, Any]]:
            db.execute("BEGIN IMMEDIATE")
            try:
                slot, _changed = self._bring_up(db, ctx, sig, names)
                if paths is None:
                    found = db.execute(
                        "SELECT path, value FROM val WHERE slot = ? AND field = ?", (slot, field)
                    ).fetchall()
                else:  # a few rows: looked up by path
                    found = []
                    for start in range(0, len(paths), 500):
                        chunk = paths[start : start + 500]
                        found += db.execute(
                            # found through (slot, path), not by scanning the field's rows
                            "SELECT path, value FROM val INDEXED BY val_path "
                            "WHERE slot = ? AND field = ? AND path IN "
                            f"({', '.join('?' * len(chunk))})", (slot, field, *chunk)).fetchall()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._fold_wal(db)
            return found

        return self._run(work)  # type: ignore[no-any-return]

    def read(
        self,
        specs: Sequence[tuple[_Context, Sequence[str], Sequence[str]]],
        work: Any,
    ) -> Any:
        """``work(db, slots)`` in one snapshot of the slots of ``specs``, each
        ``(ctx, indexed names, fields that must be exact)`` brought to its
        tree first. ``_Unavailable`` if a slot holds a file a scan must read
        (or, for the named fields, a value SQL cannot compare exactly) or a
        path SQL cannot spell."""
        sigs = [_signature(ctx.model, names) for ctx, names, _f in specs]

        def fresh(db: sqlite3.Connection) -> Optional[list[int]]:
            slots = []
            for (ctx, _n, _f), sig in zip(specs, sigs):
                row = db.execute(
                    "SELECT id FROM slot WHERE sig = ? AND tree = ? ORDER BY lane = ? DESC LIMIT 1",
                    (sig, ctx.tree_hex, ctx.lane),
                ).fetchone()
                if row is None:
                    return None
                slots.append(row[0])
            return slots

        def checked(db: sqlite3.Connection, slots: list[int]) -> Any:
            for slot, (_ctx, _n, exact) in zip(slots, specs):
                marks = [FOREIGN, *(_inexact(name) for name in exact)]
                bad = db.execute(
                    f"SELECT 1 FROM val WHERE slot = ? AND field IN ({', '.join('?' * len(marks))}) "
                    "LIMIT 1", (slot, *marks),
                ).fetchone() or db.execute(
                    "SELECT 1 FROM val WHERE slot = ? AND path < ' ' LIMIT 1", (slot,)
                ).fetchone()
                if bad:
                    raise _Unavailable("the index cannot answer this alone")
            try:
                return work(db, slots)
            except sqlite3.OperationalError as exc:  # an integer overflow in SUM, ...
                raise _Unavailable(str(exc)) from None

        def run(db: sqlite3.Connection) -> Any:
            db.execute("BEGIN")
            try:
                slots = fresh(db)
                if slots is None:
                    db.execute("COMMIT")
                    db.execute("BEGIN IMMEDIATE")
                    slots = [self._bring_up(db, ctx, sig, names)[0]
                             for (ctx, names, _f), sig in zip(specs, sigs)]
                result = checked(db, slots)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._fold_wal(db)
            return result

        return self._run(run)

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
            _clear(db, slot)  # an id SQLite hands out again holds nothing from before
            if source is not None:
                db.execute(
                    "INSERT INTO val SELECT ?, field, value, path, oid FROM val WHERE slot = ?",
                    (slot, source[0]),
                )
                db.execute(
                    "INSERT INTO tally SELECT ?, field, n, nn, other, total FROM tally WHERE slot = ?",
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
            _clear(db, slot)
            db.execute("DELETE FROM slot WHERE id = ?", (slot,))


def _deltas(
    repo: pygit2.Repository, slot: int, old: pygit2.Tree, new: Optional[pygit2.Tree],
    prefix: str, filename: str,
) -> tuple[list[tuple[int, str]], list[tuple[str, pygit2.Oid]]]:
    """The rows to remove and the data files to add, from tree ``old`` to ``new``."""
    gone: list[str] = []
    added: list[tuple[str, pygit2.Oid]] = []
    # a folder named like the data file is an entry (that get() refuses), as in a scan
    stop = lambda path: path.rpartition("/")[2] == filename  # noqa: E731
    for path, before, after in tree_deltas(repo, old.id, new.id if new is not None else None,
                                           "", None, stop):
        path = path.rstrip("/")
        if path.rpartition("/")[2] != filename:
            continue
        if before is not None:
            gone.append(prefix + path)
        if after is not None:
            added.append((prefix + path, after[0]))
    return [(slot, _sql_path(path)) for path in gone], added


def _move(
    db: sqlite3.Connection, slot: int, ctx: _Context, names: Sequence[str], old_hex: str
) -> int:
    """Apply the diff from tree ``old_hex`` to ``ctx.tree_hex`` to slot rows."""
    repo = ctx.ws.repo
    found = None if old_hex == EMPTY_TREE else repo.get(old_hex)
    old = found if isinstance(found, pygit2.Tree) else None
    if old_hex != EMPTY_TREE and old is None:
        _clear(db, slot)  # pruned: start over
    new = ctx.folder_tree
    prefix = ctx.folder + "/"
    filename = ctx.filename
    fields = [ctx.model._meta.get_field(n) for n in names]
    removed: list[tuple[int, str]] = []
    added: list[tuple[str, pygit2.Oid]] = []
    refused: list[tuple[str, str]] = []  # folder entries that name no tree
    if old is not None:
        try:
            removed, added = _deltas(repo, slot, old, new, prefix, filename)
        except NotATree:  # a folder entry names a commit, a blob or nothing
            _clear(db, slot)  # read it all again
            old = None
    if old is None and new is not None:
        added = list(walk_files(new, filename, prefix, refused))
    counts = _Tally()
    if removed:
        paths = [path for _slot, path in removed]
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            for field, value in db.execute(
                "SELECT field, value FROM val INDEXED BY val_path WHERE slot = ? AND path IN "
                f"({', '.join('?' * len(chunk))})", (slot, *chunk),
            ):
                counts.add(field, value, -1)
        db.executemany("DELETE FROM val WHERE slot = ? AND path = ?", removed)
    rows = []
    for path, oid in added:
        stored = _readable(ctx.model, path, ctx.ws, oid)
        if stored is None:  # a scan reports it: every query of this index scans
            rows.append((slot, FOREIGN, None, _sql_path(path), oid.raw))
            continue
        raw = oid.raw
        if not fields:
            rows.append((slot, FILE, None, path, raw))
        for field in fields:
            value, exact = _index_value(field, stored)
            rows.append((slot, field.name if exact else _inexact(field.name), value, path, raw))
    for path, _what in refused:  # a scan reports it: every query of this index scans
        rows.append((slot, FOREIGN, None, _sql_path(f"{path}/{filename}"), b""))
    if rows:
        db.executemany("INSERT INTO val VALUES (?, ?, ?, ?, ?)", rows)
        for row in rows:
            counts.add(row[1], row[2], 1)
    counts.save(db, slot)
    return len(removed) + len(added)


def _clear(db: sqlite3.Connection, slot: int) -> None:
    db.execute("DELETE FROM val WHERE slot = ?", (slot,))
    db.execute("DELETE FROM tally WHERE slot = ?", (slot,))


class _Tally:
    """Changes to a slot's tally: per field, rows, non-null values, values
    that are not integers, and the sum of the integers."""

    def __init__(self) -> None:
        self.fields: dict[str, list[int]] = {}

    def add(self, field: str, value: Any, sign: int) -> None:
        entry = self.fields.get(field)
        if entry is None:
            entry = self.fields[field] = [0, 0, 0, 0]
        entry[0] += sign
        if type(value) is bool:  # SQLite gives it back as an integer
            value = int(value)
        if value is not None:
            entry[1] += sign
            if type(value) is int:
                entry[3] += sign * value
            else:
                entry[2] += sign

    def save(self, db: sqlite3.Connection, slot: int) -> None:
        for field, (n, nn, other, total) in self.fields.items():
            row = db.execute(
                "SELECT n, nn, other, total FROM tally WHERE slot = ? AND field = ?", (slot, field)
            ).fetchone()
            if row is not None:
                n, nn, other = n + row[0], nn + row[1], other + row[2]
                total += int(row[3])
            db.execute(
                "INSERT OR REPLACE INTO tally VALUES (?, ?, ?, ?, ?, ?)",
                (slot, field, n, nn, other, str(total)),
            )


def tally(db: sqlite3.Connection, slot: int, field: str) -> tuple[int, int, Optional[int]]:
    """``(rows, non-null values, sum)`` of ``field`` in ``slot``, kept as the
    index moves; the sum is ``None`` if a value is not an integer."""
    row = db.execute(
        "SELECT n, nn, other, total FROM tally WHERE slot = ? AND field = ?", (slot, field)
    ).fetchone()
    if row is None:
        return 0, 0, 0
    return row[0], row[1], None if row[2] else int(row[3])

_stores: weakref.WeakKeyDictionary[Workspace, IndexStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def store_for(ws: Workspace) -> IndexStore:
    """The index store of ``ws`` (one SQLite connection per workspace)."""
    with _stores_lock:
        store = _stores.get(ws)
        if store is None:
            store = _stores[ws] = IndexStore(ws.repo.path)
        return store


# -- maintenance --------------------------------------------------------------------


@dataclass
class UpdateStats:
    """What :func:`update_index` did: data files re-read, and seconds taken."""

    changed: int
    seconds: float


def update_index(model: type[GitModel], treeish: Any = None) -> Optional[UpdateStats]:
    """Bring ``model``'s index up to date with the workspace (or ``treeish``) now.

    Queries do this on their own when needed; call it to pay the cost at a
    moment of your choosing. ``None`` if the model has no indexed field (the
    listing its queries keep once its folder is large is brought up by
    them) or stores its objects at custom paths, which queries scan.
    """
    from .planner import _Context

    names = [f.name for f in indexed_fields(model)]
    if not names or model._meta._custom_data_path is not None:
        return None
    ctx = _Context(model, treeish)
    try:
        with layout.reading(ctx.root):  # adaptive models: the layout of the tree indexed
            return store_for(ctx.ws).update(ctx, names)
    except _Unavailable:
        return None


