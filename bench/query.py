"""Query benchmark: gitmodel side by side with SQLite and a raw pygit2 loop.

    python bench/query.py            # 100,000 objects
    python bench/query.py --n 10000  # a quick run

Builds a store of ``--n`` pages (``group`` indexed, 10 pages per group)
through ``save()``, the same rows in an SQLite table with an index, then
measures, in one run on the same data:

* an equality filter on the indexed field returning 10 objects, against the
  same query on SQLite (rows parsed from JSON);
* a full-scan filter, against a pygit2 loop reading every blob and parsing
  its JSON, and the same by a regular expression (``__regex``) against the
  loop calling ``re.search``;
* the index update after one commit changing 10 objects, against building
  the index from nothing;
* a new process answering its first indexed query;
* on a second store of ``--n`` posts by ``--n``/10 authors (a
  ``RelatedField`` with ``related_name``, an indexed ``score``), beside
  SQLite doing the same with indexes and a join: the reverse relation
  (``author.posts``, 10 results: read from git, from the object cache, and
  ids only), listing 10,000 posts with
  ``post.author.name`` (``select_related``) against listing them alone,
  ``order_by("author__name")[:20]``, ``Count``/``Sum`` over the indexed
  field, and page 500 against page 1 (numbered and keyset pages).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import pygit2

from gitmodel import Count, KeysetPaginator, Paginator, Sum, Workspace, fields
from gitmodel.query import answers
from gitmodel.query.indexes import store_for, update_index

CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
from gitmodel import Workspace, fields
ws = Workspace(sys.argv[1])
class Page(ws.GitModel):
    title = fields.CharField()
    group = fields.CharField(index=True)
    body = fields.CharField()
    rank = fields.IntegerField()
    class Meta:
        shard = int(sys.argv[3])
t1 = time.perf_counter()
found = list(Page.filter(group=sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"import_open": t1 - t0, "first_query": t2 - t1, "found": len(found)}))
"""


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="objects in the store")
    parser.add_argument("--shard", type=int, default=1, help="Meta.shard of the model (0: flat)")
    parser.add_argument("--pack", action="store_true",
                        help="pack the objects (git repack -ad) before measuring")
    parser.add_argument("--dir", help="work in this folder and keep it (a store built "
                        "there before with the same --n and --shard is reused)")
    args = parser.parse_args()
    n = args.n
    groups = max(1, n // 10)
    tmp = args.dir or tempfile.mkdtemp(prefix="gitmodel-bench-")
    os.makedirs(tmp, exist_ok=True)
    try:
        run(tmp, n, groups, args.shard, args.pack)
    finally:
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")  # pragma: no cover


def run(tmp: str, n: int, groups: int, shard: int, pack: bool) -> None:
    shard_count = shard
    repo_path = os.path.join(tmp, "store.git")
    reuse = os.path.exists(repo_path)
    ws = Workspace(repo_path) if reuse else Workspace.init(repo_path)

    class Page(ws.GitModel):
        title = fields.CharField()
        group = fields.CharField(index=True)
        body = fields.CharField()
        rank = fields.IntegerField()

        class Meta:
            shard = shard_count

    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    if reuse:
        print(f"reusing the store in {repo_path}", flush=True)
    else:
        print(f"building {n:,} objects (shard={shard}) ...", flush=True)
        start = time.perf_counter()
        for i in range(n):
            Page(
                title=f"page {i}",
                group=f"g{i % groups:06d}",
                body=" ".join(rng.choice(words) for _ in range(12))
                + (" needle" if i % 1000 == 0 else ""),
                rank=i,
            ).save()
        ws.commit("import")
        build_s = time.perf_counter() - start
        print(f"  saved and committed in {build_s:.1f} s", flush=True)

    if pack:
        start = time.perf_counter()
        subprocess.run(["git", f"--git-dir={repo_path}", "repack", "-adq"], check=True)
        print(f"  packed in {time.perf_counter() - start:.1f} s", flush=True)
    layout = "packed" if pack else "loose objects"

    # -- the SQLite baseline: same rows, same JSON, an index on group ---------------
    baseline = os.path.join(tmp, "baseline.sqlite")
    if os.path.exists(baseline):
        os.unlink(baseline)
    db = sqlite3.connect(baseline, isolation_level=None)
    db.execute("CREATE TABLE page (id TEXT PRIMARY KEY, grp TEXT, data TEXT)")
    db.execute("BEGIN")
    for path, oid in _raw_files(ws.repo, ws.repo.head.peel().tree, "page", "data.json"):
        doc = ws.repo[oid].data.decode()
        db.execute(
            "INSERT INTO page VALUES (?, ?, ?)",
            (path.rsplit("/", 2)[-2], json.loads(doc)["fields"]["group"], doc),
        )
    db.execute("COMMIT")
    db.execute("CREATE INDEX page_grp ON page (grp)")

    def sqlite_query(group: str) -> list[dict[str, Any]]:
        return [json.loads(d) for (d,) in db.execute("SELECT data FROM page WHERE grp = ?", (group,))]

    # -- index build from nothing -------------------------------------------------------
    store_for(ws)._discard_file()
    build = update_index(Page)
    assert build is not None
    print(f"  index built from nothing in {build.seconds:.2f} s ({build.changed:,} files)", flush=True)

    picks = [f"g{rng.randrange(groups):06d}" for _ in range(50)]
    it = iter(picks * 100)

    sq_s, sq_res = timed(lambda: sqlite_query(next(it)), 200)
    assert len(sq_res) == 10
    gm_warm_s, res = timed(lambda: list(Page.filter(group=next(it))), 200)
    assert len(res) == 10

    def cold() -> list[Any]:
        ws._objects.clear()
        return list(Page.filter(group=next(it)))

    gm_cold_s, res = timed(cold, 200)
    assert len(res) == 10
    ids_s, res = timed(lambda: Page.filter(group=next(it)).ids(), 200)
    assert len(res) == 10

    # -- full scan ------------------------------------------------------------------------
    tree = ws.repo.head.peel().tree

    def raw_scan() -> list[dict[str, Any]]:
        out = []
        repo = ws.repo
        for _path, oid in _raw_files(repo, tree, "page", "data.json"):
            doc = json.loads(repo[oid].data)
            if "needle" in doc["fields"]["body"]:
                out.append(doc)
        return out

    def gm_scan() -> list[Any]:
        return list(Page.filter(body__contains="needle"))

    # interleaved, best of three each: the disk is shared, so take each side's
    # least disturbed run
    ws._objects.clear()
    raw_times, gm_times = [], []
    for _ in range(3):
        t, raw_res = timed(raw_scan, 1)
        raw_times.append(t)
        t, gm_res = timed(gm_scan, 1)
        gm_times.append(t)
    raw_s, gm_scan_s = min(raw_times), min(gm_times)
    assert len(raw_res) == len(gm_res) == (n + 999) // 1000, (len(raw_res), len(gm_res))

    # the same scan by a regular expression: Python's re (which backtracks) against
    # gitmodel's DFA (linear in the text)
    pattern = r"\bneed(le|ed)\b"
    searcher = re.compile(pattern)

    def raw_regex() -> list[dict[str, Any]]:
        out = []
        repo = ws.repo
        for _path, oid in _raw_files(repo, tree, "page", "data.json"):
            doc = json.loads(repo[oid].data)
            if searcher.search(doc["fields"]["body"]):
                out.append(doc)
        return out

    raw_rx_times, gm_rx_times = [], []
    for _ in range(3):
        t, raw_res = timed(raw_regex, 1)
        raw_rx_times.append(t)
        t, gm_res = timed(lambda: list(Page.filter(body__regex=pattern)), 1)
        gm_rx_times.append(t)
    raw_rx, gm_rx = min(raw_rx_times), min(gm_rx_times)
    assert len(raw_res) == len(gm_res) == (n + 999) // 1000, (len(raw_res), len(gm_res))

    # -- one commit changing 10 objects ------------------------------------------------------
    moved = f"moved-{time.time_ns()}"
    changed = list(Page.all()[:: max(1, n // 10)])[:10]
    for page in changed:
        page.group = moved
        page.save()
    ws.commit("move ten pages")
    update = update_index(Page)
    assert update is not None
    assert len(Page.filter(group=moved)) == 10
    for page in changed:  # put them back, so a rerun with --dir finds the same groups
        page.group = Page.all(treeish="HEAD~1").get(pk=page.id).group
        page.save()
    ws.commit("move them back")
    update_index(Page)

    # -- a new process ---------------------------------------------------------------------------
    env = dict(os.environ)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, repo_path, picks[0], str(shard)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    first = json.loads(child.stdout)
    assert first["found"] == 10, first

    relation_rows = relations_bench(tmp, n)

    # -- report --------------------------------------------------------------------------------------
    rows = [
        ("equality filter on an indexed field, 10 objects", "", ""),
        ("  SQLite with an index (rows parsed from JSON)", ms(sq_s), "baseline"),
        ("  gitmodel, objects cached by blob id", ms(gm_warm_s), f"{gm_warm_s / sq_s:.2f}x"),
        ("  gitmodel, object cache cleared", ms(gm_cold_s), f"{gm_cold_s / sq_s:.2f}x"),
        ("  gitmodel .ids() (no objects built)", ms(ids_s), f"{ids_s / sq_s:.2f}x"),
        (f"full-scan filter ({n:,} objects, best of 3 interleaved)", "", ""),
        ("  raw pygit2 loop: read every blob, json.loads", ms(raw_s), "baseline"),
        ("  gitmodel Page.filter(body__contains=...)", ms(gm_scan_s), f"{gm_scan_s / raw_s:.2f}x"),
        (f"  raw pygit2 loop with re.search({pattern!r})", ms(raw_rx), "baseline"),
        (f"  gitmodel Page.filter(body__regex={pattern!r}) (linear-time DFA)", ms(gm_rx),
         f"{gm_rx / raw_rx:.2f}x"),
        ("index maintenance", "", ""),
        (f"  build from nothing ({build.changed:,} files)", ms(build.seconds), "baseline"),
        (f"  update after a commit changing 10 ({update.changed} files)", ms(update.seconds),
         f"{update.seconds / build.seconds:.4f}x"),
        ("new process", "", ""),
        ("  import + open workspace + declare model", ms(first["import_open"]), ""),
        ("  first indexed query (index read from disk)", ms(first["first_query"]), ""),
        *relation_rows,
    ]
    print()
    print(f"gitmodel query benchmark: {n:,} objects ({layout}), shard={shard}, pygit2 {pygit2.__version__}, "
          f"SQLite {sqlite3.sqlite_version}")
    width = max(len(r[0]) for r in rows)
    for label, value, ratio in rows:
        print(f"{label:<{width}}  {value:>12}  {ratio}")


def relations_bench(tmp: str, n: int) -> list[tuple[str, str, str]]:
    """Relations, aggregates and pages on a store of ``n`` posts, beside SQLite."""
    path = os.path.join(tmp, "relations.git")
    ws = Workspace(path) if os.path.exists(path) else Workspace.init(path)

    class Author(ws.GitModel):
        name = fields.CharField(index=True)

    class Post(ws.GitModel):
        title = fields.CharField()
        author = fields.RelatedField(Author, related_name="posts")
        score = fields.IntegerField(index=True)

    authors = max(1, n // 10)
    if not Author.all().exists():
        print(f"building {authors:,} authors and {n:,} posts (bulk_save) ...", flush=True)
        start = time.perf_counter()
        Author.bulk_save(Author(id=f"a{i:06d}", name=f"author {(i * 7919) % authors:06d}")
                         for i in range(authors))
        ws.commit("authors")
        Post.bulk_save(Post(id=f"p{i:07d}", title=f"post {i}", author=f"a{i // 10:06d}",
                            score=(i * 31) % 1000) for i in range(n))
        ws.commit("posts")
        print(f"  saved and committed in {time.perf_counter() - start:.1f} s", flush=True)
    update_index(Post)
    update_index(Author)

    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE author (id TEXT PRIMARY KEY, name TEXT, data TEXT)")
    db.execute("CREATE TABLE post (id TEXT PRIMARY KEY, author TEXT, score INTEGER, data TEXT)")
    tree = ws.repo.head.peel().tree
    db.execute("BEGIN")
    for table in ("author", "post"):
        for file_path, oid in _raw_files(ws.repo, tree, table, "data.json"):
            doc = ws.repo[oid].data.decode()
            f = json.loads(doc)["fields"]
            key = file_path.rsplit("/", 2)[-2]
            if table == "author":
                db.execute("INSERT INTO author VALUES (?, ?, ?)", (key, f["name"], doc))
            else:
                db.execute("INSERT INTO post VALUES (?, ?, ?, ?)", (key, f["author"], f["score"], doc))
    db.execute("COMMIT")
    db.execute("CREATE INDEX post_author ON post (author)")
    db.execute("CREATE INDEX post_score ON post (score)")
    db.execute("CREATE INDEX author_name ON author (name)")

    rng = random.Random(11)
    picks = iter([f"a{rng.randrange(authors):06d}" for _ in range(400)])
    sq_rev, res = timed(lambda: [json.loads(d) for (d,) in db.execute(
        "SELECT data FROM post WHERE author = ?", (next(picks),))], 100)
    assert len(res) == min(10, n)
    held = iter([Author.get(f"a{rng.randrange(authors):06d}") for _ in range(200)])
    gm_rev, res = timed(lambda: list(next(held).posts), 100)
    assert len(res) == min(10, n)
    one = Author.get(f"a{rng.randrange(authors):06d}")
    list(one.posts)  # its posts are now in the object cache
    gm_rev_warm, res = timed(lambda: list(one.posts), 100)
    assert len(res) == min(10, n)
    gm_rev_ids, res = timed(lambda: next(held).posts.ids(), 100)
    assert len(res) == min(10, n)

    k = min(n, 10_000)
    # in id order ten posts share an author; in folder order (hashed ids) most have their own
    alone, res = timed(lambda: [p.title for p in Post.all().order_by("pk")[:k]], 5)
    assert len(res) == k
    joined, res = timed(lambda: [p.author.name for p in
                                 Post.all().order_by("pk")[:k].select_related("author")], 5)
    assert len(res) == k
    few = len({p.author.id for p in Post.all().order_by("pk")[:k]})
    alone_spread, res = timed(lambda: [p.title for p in Post.all()[:k]], 5)
    joined_spread, res = timed(lambda: [p.author.name for p in Post.all()[:k].select_related("author")], 5)
    assert len(res) == k
    many = len({p.author.id for p in Post.all()[:k]})
    sq_list, res = timed(lambda: [(json.loads(d), name) for d, name in db.execute(
        "SELECT p.data, a.name FROM post p JOIN author a ON a.id = p.author ORDER BY p.id LIMIT ?",
        (k,))], 3)

    sq_order, sq_top = timed(lambda: [r[0] for r in db.execute(
        "SELECT p.id FROM post p JOIN author a ON a.id = p.author ORDER BY a.name, p.id LIMIT 20")], 9)
    gm_order, gm_top = timed(lambda: [p.author.name for p in Post.all().order_by("author__name", "pk")[:20]], 9)
    assert len(gm_top) == len(sq_top) == min(20, n)

    sq_agg, sq_res = timed(lambda: db.execute("SELECT COUNT(*), SUM(score) FROM post").fetchone(), 15)
    gm_agg, gm_res = timed(lambda: Post.all().aggregate(n=Count("pk"), total=Sum("score")), 15)
    assert (gm_res["n"], gm_res["total"]) == tuple(sq_res), (gm_res, sq_res)
    # with a condition the tally cannot answer: the index rows are read
    sq_where, sq_res = timed(lambda: db.execute(
        "SELECT COUNT(*), SUM(score) FROM post WHERE score >= 500").fetchone(), 15)
    gm_where, gm_res = timed(lambda: Post.filter(score__gte=500).aggregate(
        n=Count("pk"), total=Sum("score")), 15)
    assert (gm_res["n"], gm_res["total"]) == tuple(sq_res), (gm_res, sq_res)

    last = min(500, max(1, n // 20))
    first_page, _ = timed(lambda: list(Paginator(Post.all().order_by("score"), 20).page(1)), 9)
    far_page, res = timed(lambda: list(Paginator(Post.all().order_by("score"), 20).page(last)), 9)
    assert len(res) == 20 or n < 20

    def far_page_cold() -> list[Any]:
        answers._BOOKMARKS.clear()  # as for the first deep page of a new commit
        return list(Paginator(Post.all().order_by("score"), 20).page(last))

    far_cold, _ = timed(far_page_cold, 9)
    keyset = KeysetPaginator(Post.all(), 20, order_by=("score",))
    cursor_obj = list(Post.all().order_by("score", "pk")[(last - 1) * 20 - 1:(last - 1) * 20])
    cursor = keyset._cursor(cursor_obj[0]) if cursor_obj else None
    key_first, _ = timed(lambda: list(keyset.page()), 9)
    key_far, res = timed(lambda: list(keyset.page(cursor)), 9)
    assert len(res) == 20 or n < 20

    return [
        (f"relations: {n:,} posts, {authors:,} authors", "", ""),
        ("  author.posts (10 results), SQLite with an index", ms(sq_rev), "baseline"),
        ("  author.posts (10 results), gitmodel (index), posts read from git", ms(gm_rev),
         f"{gm_rev / sq_rev:.2f}x"),
        ("  author.posts (10 results), gitmodel, posts in the object cache", ms(gm_rev_warm),
         f"{gm_rev_warm / sq_rev:.2f}x"),
        ("  author.posts.ids() (10 ids, no objects built)", ms(gm_rev_ids), f"{gm_rev_ids / sq_rev:.2f}x"),
        (f"  list {k:,} posts in id order alone, gitmodel", ms(alone), "baseline"),
        (f"  the same with post.author.name (select_related, {few:,} authors)", ms(joined),
         f"{joined / alone:.2f}x"),
        (f"  list {k:,} posts in folder order alone, gitmodel", ms(alone_spread), "baseline"),
        (f"  the same with post.author.name (select_related, {many:,} authors)", ms(joined_spread),
         f"{joined_spread / alone_spread:.2f}x"),
        (f"  list {k:,} posts with the author's name, SQLite join", ms(sq_list), f"{sq_list / alone:.2f}x"),
        ('  order_by("author__name")[:20], SQLite join', ms(sq_order), "baseline"),
        ('  order_by("author__name")[:20], gitmodel', ms(gm_order), f"{gm_order / sq_order:.2f}x"),
        ("  Count + Sum over the indexed score, SQLite", ms(sq_agg), "baseline"),
        ("  Count + Sum over the indexed score, gitmodel (kept by the index)", ms(gm_agg),
         f"{gm_agg / sq_agg:.2f}x"),
        ("  Count + Sum where score >= 500, SQLite", ms(sq_where), "baseline"),
        ("  Count + Sum where score >= 500, gitmodel (index rows read)", ms(gm_where),
         f"{gm_where / sq_where:.2f}x"),
        ("  Paginator page 1 (20 per page, by score)", ms(first_page), "baseline"),
        (f"  Paginator page {last}", ms(far_page), f"{far_page / first_page:.2f}x"),
        (f"  Paginator page {last}, bookmarks not yet found (first deep page of a commit)",
         ms(far_cold), f"{far_cold / first_page:.2f}x"),
        ("  KeysetPaginator first page", ms(key_first), "baseline"),
        (f"  KeysetPaginator page {last} (from its cursor)", ms(key_far), f"{key_far / key_first:.2f}x"),
    ]


def _raw_files(repo: pygit2.Repository, root: pygit2.Tree, folder: str, filename: str) -> Any:
    """Every ``filename`` below ``folder`` in ``root``: the raw pygit2 walk."""
    stack = [(root[folder], folder)]
    while stack:
        tree, prefix = stack.pop()
        for entry in tree:
            if entry.type_str == "tree":
                stack.append((entry, f"{prefix}/{entry.name}"))
            elif entry.name == filename:
                yield f"{prefix}/{filename}", entry.id


if __name__ == "__main__":
    main()
