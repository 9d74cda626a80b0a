"""Answers computed inside the SQLite index: listings, orders and aggregates.

A query that only needs what the index holds (every data file's path and
blob id, and the values of indexed fields) is answered by SQL instead of a
walk of the model's folder: the full listing, ``order_by`` over indexed
fields (one hop across a relation included) with its slice, and ``Count``,
``Sum``, ``Min``, ``Max``, ``Avg`` over indexed fields; for a model with no
indexed field and a large folder, the listing, ``count()`` and slices
ordered by path or id (:data:`LISTING_FROM`). It applies only when
the index describes exactly the tree being read (no pending edits under the
model's folder), holds no file a scan must read and every value involved is
held exactly; otherwise the caller scans. The answers equal the scan's:
ties are broken by path as the scan does, missing values sort first.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from .. import fields as _fields
from ..exceptions import CorruptObject
from .indexes import FILE, _inexact, _signature, _Unavailable, indexed_fields, store_for, tally

if TYPE_CHECKING:
    from . import QuerySet
    from .planner import _Context

__all__ = ["aggregate", "count", "files_at", "listing", "ordered"]

#: field types whose index values sort, count and compare as the rows' values
#: the largest integer SQLite takes (a larger slice bound asks for no more rows)
_SQL_INT_MAX = 2**63 - 1
_KEY_TYPES = (_fields.CharField, _fields.IntegerField, _fields.FloatField, _fields.RelatedField)


def _names(model: Any) -> list[str]:
    return [f.name for f in indexed_fields(model)]


#: a model with no indexed field is listed and counted by its index (one
#: row per data file) once its folder holds this many entries, or fans out;
#: a smaller folder is walked, which costs less than keeping an index
LISTING_FROM = 1024


def _indexed(ctx: _Context) -> bool:
    """True if the index lists ``ctx``'s data files."""
    if ctx.custom_path:
        return False
    if _names(ctx.model):
        return True
    tree = ctx.folder_tree
    return tree is not None and (len(tree) >= LISTING_FROM or ctx.model._meta.shard > 0)


def _usable(ctx: _Context) -> bool:
    return not ctx.pending and not ctx.pending.files and _indexed(ctx)


def _base(ctx: _Context) -> tuple[str, list[Any]]:
    """The rows standing for the data files (one per file) of the slot ``?``."""
    names = _names(ctx.model)
    if not names:
        return "p.slot = ? AND p.field IN (?, ?)", [FILE, FILE]
    return "p.slot = ? AND p.field IN (?, ?)", [names[0], _inexact(names[0])]


def _id_sql(alias: str, ctx: _Context) -> str:
    """SQL for the object id of ``alias.path`` (the folder holding the data file)."""
    opts = ctx.model._meta
    tail = len(ctx.filename) + 1
    try:
        heads = {len(opts.get_data_path(i)) - len(i) - tail for i in ("a", "bb", "c-d")}
    except Exception:  # a layout that refuses these ids: use the general form
        heads = set()
    if len(heads) == 1:  # every id sits after a prefix of one length (shards are fixed width)
        head = heads.pop()
        return f"substr({alias}.path, {head + 1}, length({alias}.path) - {head + tail})"
    folder = f"substr({alias}.path, 1, length({alias}.path) - {tail})"
    return f"replace({folder}, rtrim({folder}, replace({folder}, '/', '')), '')"


def _where_sql(qs: QuerySet[Any], where: Any) -> Optional[tuple[str, list[Any]]]:
    """The condition as SQL on ``p`` (slot given as the first ``?``); ``None``
    if the index cannot decide it alone."""
    if where is None:
        return "", []
    own = _on_its_field(qs, where)
    if own is None:
        return None
    field, sql, params = own
    sub = f"SELECT path FROM val WHERE slot = ? AND field = ? AND {sql}"
    return f" AND p.path IN ({sub})", [field, *params]


def _on_its_field(qs: QuerySet[Any], where: Any) -> Optional[tuple[str, str, list[Any]]]:
    """``(field, SQL on its value, params)`` of a condition the index decides
    alone, to apply to that field's own rows (one per file)."""
    if where is None:
        return None
    from .planner import IN_CHUNK, _choose_plan

    plan = _choose_plan(qs.model, where)
    if plan is None or not plan.exact or len(plan.params) > IN_CHUNK:
        return None
    return plan.leaf.field.name, plan.where, list(plan.params)


def _where_fields(cond: tuple[str, list[Any]]) -> list[str]:
    """The field a condition reads (it must be held exactly too)."""
    return [cond[1][0]] if cond[0] else []


def _oids(found: list[tuple[str, bytes]]) -> list[tuple[str, pygit2.Oid]]:
    return [(path, pygit2.Oid(raw=raw)) for path, raw in found]


def listing(ctx: _Context) -> Optional[list[tuple[str, pygit2.Oid]]]:
    """Every data file of ``ctx``'s tree (pending edits not applied), in
    path order, from the index."""
    if not _indexed(ctx):
        return None
    base, params = _base(ctx)

    def work(db: sqlite3.Connection, slots: list[int]) -> Any:
        return db.execute(
            f"SELECT p.path, p.oid FROM val p WHERE {base} ORDER BY p.path", (slots[0], *params)
        ).fetchall()

    try:
        return _oids(store_for(ctx.ws).read([(ctx, _names(ctx.model), [])], work))
    except _Unavailable:
        return None


#: a path looked up costs about as much as this many rows listed in order
LOOKUPS_PER_ROW = 8


def files_at(ctx: _Context, paths: list[str]) -> Optional[list[tuple[str, pygit2.Oid]]]:
    """The data files of ``ctx``'s tree at ``paths`` (those it holds), from
    the index: looked up one query per 500 paths, or, when they are more
    than an eighth of the files, picked from the whole listing; ``None`` if
    the index cannot vouch for the tree (pending edits under the model's
    folder, say)."""
    if not _usable(ctx):
        return None
    from .planner import IN_CHUNK

    base, params = _base(ctx)

    def work(db: sqlite3.Connection, slots: list[int]) -> Any:
        rows = sum(tally(db, slots[0], field)[0] for field in dict.fromkeys(params))
        if len(paths) * LOOKUPS_PER_ROW >= rows:  # many of the files: list them all, keep those
            wanted = set(paths)
            listed = db.execute(f"SELECT p.path, p.oid FROM val p WHERE {base}", [slots[0], *params])
            return [row for row in listed if row[0] in wanted]
        found = []
        for start in range(0, len(paths), IN_CHUNK):
            chunk = paths[start : start + IN_CHUNK]
            found += db.execute(
                # by the (slot, path) index: SQLite would rather read every row of the field
                f"SELECT p.path, p.oid FROM val p INDEXED BY val_path WHERE {base} "
                f"AND p.path IN ({', '.join('?' * len(chunk))})",
                [slots[0], *params, *chunk],
            ).fetchall()
        return found

    try:
        return _oids(store_for(ctx.ws).read([(ctx, _names(ctx.model), [])], work))
    except _Unavailable:
        return None


def ordered(qs: QuerySet[Any], ctx: _Context, where: Any) -> Optional[list[tuple[str, pygit2.Oid]]]:
    """The data files ``qs`` returns, ordered and sliced by SQL; ``None`` if
    an order key is not an indexed field of the model (or of a model one
    relation away) held exactly."""
    from ..relations import RelatedField
    from . import _get_field

    model = qs.model
    if not _usable(ctx):
        return None
    cond = _where_sql(qs, where)
    if cond is None:
        return None
    names = _names(model)
    exact: list[str] = []
    specs: list[tuple[Any, Any, Any]] = [(ctx, names, exact)]
    keys: list[tuple[str, bool, Optional[int]]] = []  # (kind or field, descending, spec index)
    for name in qs._order:
        bare = name.lstrip("-")
        desc = name.startswith("-")
        first, _, far_name = bare.partition("__")
        field = _get_field(model, first)
        if field.id or first == "pk":
            if far_name or not isinstance(field, _fields.CharField):
                return None
            keys.append(("@id", desc, None))
            continue
        if field.name not in names or not isinstance(field, _KEY_TYPES):
            return None
        exact.append(field.name)
        if not far_name:
            keys.append((field.name, desc, None))
            continue
        if not isinstance(field, RelatedField) or "__" in far_name:
            return None
        target = field.to_model
        far = _get_field(target, far_name)
        if far.id or far.name not in _names(target) or not isinstance(far, _KEY_TYPES):
            return None
        from .planner import _Context

        tctx = _Context(target, ctx.root)
        if not _usable(tctx):
            return None
        specs.append((tctx, _names(target), [far.name]))
        keys.append((f"{field.name}\x00{far.name}", desc, len(specs) - 1))
    seek = _seek_sql(qs, ctx, keys, exact) if qs._after is not None else ("", [])
    if seek is None:  # a keyset bound SQL cannot apply here: the rows are compared one by one
        return None
    specs[0] = (ctx, names, [*exact, *_where_fields(cond)])
    if exact:  # the rows of an exactly held key field stand for the files (one each)
        base, base_params = "p.slot = ? AND p.field = ?", [exact[0]]
    else:
        base, base_params = _base(ctx)
    where_sql, where_params = cond
    if exact and where_sql and where_params[0] == exact[0]:
        # the condition is on the first key field: applied to its rows, read in order
        from .planner import _choose_plan

        plan = _choose_plan(model, where)
        assert plan is not None
        where_sql, where_params = " AND " + re.sub(r"\bvalue\b", "p.value", plan.where), plan.params
        cond = ("", [])

    def work(db: sqlite3.Connection, slots: list[int]) -> Any:
        joins: list[str] = []
        order: list[str] = []
        join_params: list[Any] = []
        for i, (key, desc, spec) in enumerate(keys):
            direction = " DESC" if desc else ""
            if key == "@id":
                order.append(_id_sql("p", ctx) + direction)
                continue
            local, _, far_field = key.partition("\x00")
            if local == exact[0]:
                value = "p.value"
            else:
                joins.append(f"LEFT JOIN val k{i} ON k{i}.slot = p.slot AND k{i}.path = p.path "
                             f"AND k{i}.field = ?")
                join_params.append(local)
                value = f"k{i}.value"
            if spec is None:
                order.append(f"{value}{direction}")
                continue
            # the related values by id, in a temporary table keyed by id (SQLite
            # would not index a subquery's computed id and loop instead)
            tctx = specs[spec][0]
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS gm_order{i} "
                       "(id TEXT PRIMARY KEY, v) WITHOUT ROWID")
            db.execute(f"DELETE FROM gm_order{i}")
            db.execute(f"INSERT OR IGNORE INTO gm_order{i} SELECT {_id_sql('t', tctx)}, "
                       "t.value FROM val t WHERE t.slot = ? AND t.field = ?", (slots[spec], far_field))
            joins.append(f"LEFT JOIN gm_order{i} t{i} ON t{i}.id = {value}")
            order.append(f"t{i}.v{direction}")
        low, high = qs._low, qs._high
        limit = -1 if high is None else max(0, high - low)
        low, limit = min(low, _SQL_INT_MAX), min(limit, _SQL_INT_MAX)  # past any row: none
        head = f"FROM val p {' '.join(joins)} WHERE {base}{where_sql}{seek[0]}"
        order_sql = ", ".join([*order, "p.path"])
        slot = slots[0]
        cond_params = [slot, *where_params] if cond[0] else list(where_params)
        params = [*join_params, slot, *base_params, *cond_params, *seek[1]]
        start, start_params = "", list[Any]()
        if (low >= BOOKMARK_EVERY and len(keys) == 1 and keys[0][2] is None and exact
                and keys[0][0] == exact[0] and not joins and not seek[0]):
            # ordered by one field's own rows: start at a bookmark
            listing = (store.path, ctx.tree_hex, sig, head, order_sql, tuple(base_params), tuple(where_params))
            start, start_params, low = _start_at(db, listing, (head, order_sql, params), keys[0][1], low)
        sql = f"SELECT p.path, p.oid {head}{start} ORDER BY {order_sql} LIMIT ? OFFSET ?"
        return db.execute(sql, [*params, *start_params, limit, low]).fetchall()

    store = store_for(ctx.ws)
    sig = _signature(model, names)
    try:
        return _oids(store.read(specs, work))
    except _Unavailable:
        return None


#: a slice far into a listing ordered by one indexed field starts reading at
#: the nearest remembered row at a multiple of this many rows (a bookmark)
BOOKMARK_EVERY = 512
#: listings whose bookmarks are kept, at most (then they are all forgotten)
BOOKMARKED_LISTINGS = 256
#: (index, tree, signature, SQL, params) -> {row number: (value, path) of that row}
_BOOKMARKS: dict[tuple[Any, ...], dict[int, tuple[Any, str]]] = {}


def _from_mark(desc: bool, mark: tuple[Any, str]) -> tuple[str, list[Any]]:
    """SQL keeping the rows at or after ``mark`` in the order by ``p.value``
    (descending: missing values last) and then by path."""
    value, path = mark
    if desc:
        return (" AND (p.value <= ? OR p.value IS NULL) AND (p.value < ? OR p.value IS NULL"
                " OR p.path >= ?)", [value, value, path])
    return " AND p.value >= ? AND (p.value > ? OR p.path >= ?)", [value, value, path]


def _start_at(db: sqlite3.Connection, key: tuple[Any, ...], query: tuple[str, str, list[Any]],
              desc: bool, low: int) -> tuple[str, list[Any], int]:
    """``(SQL, params, offset left)`` starting a slice at row ``low`` from a
    bookmark, so that SQLite seeks into the index instead of stepping over
    ``low`` rows. The bookmark at the multiple of ``BOOKMARK_EVERY`` below
    ``low`` is found once per listing of one tree (a tree never changes),
    from the nearest one found before, and kept for the next page. A row
    with no value cannot be sought (missing values sort first, or last
    descending): then the nearest bookmark before it that has one is used."""
    head, order, params = query
    marks = _BOOKMARKS.get(key)
    if marks is None:
        if len(_BOOKMARKS) >= BOOKMARKED_LISTINGS:
            _BOOKMARKS.clear()
        marks = _BOOKMARKS[key] = {}
    target = low - low % BOOKMARK_EVERY

    def nearest(limit: int) -> Optional[int]:
        # a copy: another thread may add a bookmark meanwhile
        usable = [at for at, mark in list(marks.items()) if at <= limit and mark[0] is not None]
        return max(usable) if usable else None

    if target not in marks:
        near = nearest(target)
        after, extra = _from_mark(desc, marks[near]) if near is not None else ("", [])
        row = db.execute(f"SELECT p.value, p.path {head}{after} ORDER BY {order} LIMIT 1 OFFSET ?",
                         [*params, *extra, target - (near or 0)]).fetchone()
        if row is None:  # fewer rows than that: nothing to start from
            return "", [], low
        marks[target] = (row[0], row[1])
    near = nearest(target)
    if near is None:
        return "", [], low
    after, extra = _from_mark(desc, marks[near])
    return after, extra, low - near


def _seek_sql(qs: QuerySet[Any], ctx: _Context, keys: list[tuple[str, bool, Optional[int]]],
              exact: list[str]) -> Optional[tuple[str, list[Any]]]:
    """SQL keeping the rows after ``qs._after`` (see ``QuerySet._seek_after``) for
    an order by one indexed field and the id, or by the id alone; else ``None``."""
    from .planner import _EXACT_TYPES, _NO, _ORDERED_TYPES, _exact_param

    assert qs._after is not None
    object_id = _id_sql("p", ctx)
    if [k[:2] for k in keys] == [("@id", False)]:
        return f" AND {object_id} > ?", [qs._after[0]]
    if len(keys) != 2 or keys[1][:2] != ("@id", False) or keys[0][2] is not None or not exact:
        return None
    name, desc, _spec = keys[0]
    field = qs.model._meta.get_field(name)
    if name != exact[0] or not isinstance(field, _EXACT_TYPES) or not isinstance(field, _ORDERED_TYPES):
        return None
    param = _exact_param(field, qs._after[0])
    if param is _NO or param is None:  # (a missing value sorts first: compared one by one)
        return None
    # the range first, so that SQLite seeks into the index instead of reading
    # the order from its start; descending, missing values come last
    if desc:
        return (f" AND (p.value <= ? OR p.value IS NULL) AND (p.value < ? OR p.value IS NULL"
                f" OR {object_id} > ?)", [param, param, qs._after[1]])
    return f" AND p.value >= ? AND (p.value > ? OR {object_id} > ?)", [param, param, qs._after[1]]


def _corrupt(model: Any, exc: Exception) -> CorruptObject:
    return CorruptObject(model._meta.folder, f"a tree in this folder cannot be read ({exc})")


def count(qs: QuerySet[Any]) -> Optional[int]:
    """``qs.count()`` by SQL, or ``None``."""
    from ..aggregates import Count

    found = aggregate(qs, {"n": (Count("pk"), None)})
    return None if found is None else int(found["n"])


def _from_tally(
    db: sqlite3.Connection, slot: int, parts: list[tuple[str, str, Optional[str], Any]],
    base_fields: list[Any],
) -> Optional[tuple[list[Any], list[Any]]]:
    """Counts, sums and averages over a whole slot from the tally the index
    keeps as it moves (no row read); ``None`` where it cannot say (a minimum,
    a maximum, a distinct count, a sum over values that are not all integers)."""
    values: list[Any] = [None] * len(parts)
    counts: list[Any] = [0] * len(parts)
    for i, (_result, _sql, fname, agg) in enumerate(parts):
        if fname is None:
            values[i] = sum(tally(db, slot, field)[0] for field in dict.fromkeys(base_fields))
            continue
        if agg.distinct or agg.function not in ("count", "sum", "avg"):
            return None
        _rows, filled, total = tally(db, slot, fname)
        if agg.function == "count":
            values[i] = filled
            continue
        if total is None:
            return None
        values[i], counts[i] = (total if filled else None), filled
    return values, counts


def aggregate(qs: QuerySet[Any], bound: dict[str, tuple[Any, Any]]) -> Optional[dict[str, Any]]:
    """``name -> value`` of the aggregates, by SQL, or ``None`` (see :func:`_aggregate`)."""
    try:
        return _aggregate(qs, bound)
    except pygit2.GitError as exc:
        raise _corrupt(qs.model, exc) from None


def _aggregate(qs: QuerySet[Any], bound: dict[str, tuple[Any, Any]]) -> Optional[dict[str, Any]]:
    """``name -> value`` for aggregates bound to their fields, by SQL; ``None``
    if a field is not indexed, not held exactly, or of a type whose SQL
    result could differ from Python's (floats summed, booleans)."""
    if qs._low or qs._high is not None or qs._after is not None:
        return None  # counted from the rows
    from .planner import _Context

    model = qs.model
    names = _names(model)
    parts: list[tuple[str, str, Optional[str], Any]] = []  # (result, SQL, field, field object)
    for result, (agg, field) in bound.items():
        if field is None:
            parts.append((result, "COUNT(*)", None, None))
            continue
        if field.name not in names or field.id or not isinstance(field, _KEY_TYPES):
            return None
        fn = agg.function
        if fn in ("sum", "avg") and not isinstance(field, _fields.IntegerField):
            return None
        distinct = "DISTINCT " if agg.distinct else ""
        sql = {"count": "COUNT", "sum": "SUM", "avg": "SUM", "min": "MIN", "max": "MAX"}[fn]
        parts.append((result, f"{sql}({distinct}p.value)", field.name, agg))
    where = qs._where.resolve(qs.treeish) if qs._where is not None else None
    ctx = _Context(model, qs.treeish)
    if not _usable(ctx):
        return None
    cond = _where_sql(qs, where)
    if cond is None:
        return None
    base, base_params = _base(ctx)
    where_sql, where_params = cond
    exact = [f for _r, _s, f, _a in parts if f is not None]
    own = _on_its_field(qs, where)

    def rows_of(fname: str, slot: int) -> tuple[str, list[Any]]:
        """The rows of ``fname`` (one per file) that the condition keeps."""
        if own is not None and own[0] == fname:  # read in the field's own index range
            return f"p.slot = ? AND p.field = ? AND {own[1]}", [slot, fname, *own[2]]
        return f"p.slot = ? AND p.field = ?{where_sql}", [slot, fname, *cond_params(slot)]

    def cond_params(slot: int) -> list[Any]:
        return [slot, *where_params] if where_sql else []

    def work(db: sqlite3.Connection, slots: list[int]) -> Any:
        if not where_sql:
            kept = _from_tally(db, slots[0], parts, base_params)
            if kept is not None:
                return kept
        # every file has one row per exactly held field: the aggregates of a
        # field read its rows alone, through the (slot, field, value) index,
        # in one pass that counts the files too
        slot = slots[0]
        values: list[Any] = [None] * len(parts)
        counts: list[Any] = [0] * len(parts)
        files: Optional[int] = None
        for fname in dict.fromkeys(exact):
            mine = [i for i, part in enumerate(parts) if part[2] == fname]
            columns = []
            for i in mine:
                distinct = "DISTINCT " if parts[i][3].distinct else ""
                # an average also needs how many values it divides by
                count = f"COUNT({distinct}p.value)" if parts[i][3].function == "avg" else "0"
                columns += [parts[i][1], count]
            cond_sql, params = rows_of(fname, slot)
            found = db.execute(
                f"SELECT COUNT(*), {', '.join(columns)} FROM val p WHERE {cond_sql}", params
            ).fetchone()
            files = found[0]
            for k, i in enumerate(mine):
                values[i], counts[i] = found[1 + 2 * k], found[2 + 2 * k]
        if files is None and own is not None:  # the condition's field has a row per file
            cond_sql, params = rows_of(own[0], slot)
            files = db.execute(f"SELECT COUNT(*) FROM val p WHERE {cond_sql}", params).fetchone()[0]
        if files is None:
            files = db.execute(f"SELECT COUNT(*) FROM val p WHERE {base}{where_sql}",
                               (slot, *base_params, *cond_params(slot))).fetchone()[0]
        for i, part in enumerate(parts):
            if part[2] is None:
                values[i] = files
        return values, counts

    try:
        values, counts = store_for(ctx.ws).read([(ctx, names, [*exact, *_where_fields(cond)])], work)
    except _Unavailable:
        return None
    out: dict[str, Any] = {}
    for i, (result, _sql, _fname, agg) in enumerate(parts):
        value = values[i]
        if agg is not None and agg.function == "avg":
            value = None if not counts[i] else value / counts[i]
        out[result] = value
    return out
