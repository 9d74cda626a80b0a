"""Benchmark: a field-level merge of two branches, next to ``git merge-tree``.

Builds a store of ``--n`` objects; two branches each edit 1% of them (one
edits ``title``, the other ``views``, so objects edited on both sides merge
field by field). Times ``ws.merge()`` (three-way merge plus the merge commit)
and ``git merge-tree --write-tree`` of the same two commits, in the same run.

    python bench/merge.py              # 100,000 objects, the default layout
    python bench/merge.py --n 10000    # a quick run
    python bench/merge.py --shard 0    # one flat folder (written by git fast-import)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

import pygit2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gitmodel import Workspace, fields  # noqa: E402


def define(ws: Workspace, shard: Optional[int]) -> type:
    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

        class Meta:
            pass

    if shard is not None:  # else the default: flat while small, fanned out past a bound
        Page._meta.shard = shard
    return Page


def import_store(path: str, model: type, ids: list[str]) -> None:
    """Write the initial store as one commit with ``git fast-import`` (a pack, fast)."""
    from gitmodel.serializers import json as json_format

    chunks = [b"commit refs/heads/master\n",
              b"committer bench <bench@example.com> 1700000000 +0000\n",
              b"data 5\nstore\n"]
    for ident in ids:
        obj = model(id=ident, title=ident)
        obj.full_clean()
        blob = json_format.dumps(model.__name__, obj.to_json_fields())
        chunks.append(f"M 100644 inline {model._meta.get_data_path(ident)}\n".encode())
        chunks.append(f"data {len(blob)}\n".encode() + blob + b"\n")
    subprocess.run(["git", f"--git-dir={path}", "fast-import", "--quiet"],
                   input=b"".join(chunks), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="objects in the store")
    parser.add_argument("--percent", type=float, default=1.0, help="share each branch edits")
    parser.add_argument("--shard", type=int, default=None,
                        help="Meta.shard of the model (0: flat); default: the default layout")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    path = tempfile.mkdtemp(prefix="gitmodel-bench-merge-")
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("bench", "bench@example.com"))
    Page = define(ws, args.shard)
    rng = random.Random(7)
    t0 = time.perf_counter()
    ids = [f"page-{i:06d}" for i in range(args.n)]
    if args.shard is None:  # bulk_save lays the store out as a model of the default layout does
        Page.bulk_save(Page(id=ident, title=ident) for ident in ids)
        ws.commit("store")
    else:
        import_store(path, Page, ids)
    ws = Workspace(path, author=("bench", "bench@example.com"))
    Page = define(ws, args.shard)
    ws.create_branch("theirs")
    k = max(1, int(args.n * args.percent / 100))
    mine, theirs = rng.sample(ids, k), rng.sample(ids, k)
    for ident in mine:
        page = Page.get(ident)
        page.title = page.title + " (ours)"
        page.save()
    ours_commit = ws.commit("ours edits titles")
    ws.set_branch("theirs")
    for ident in theirs:
        page = Page.get(ident)
        page.views = 1
        page.save()
    theirs_commit = ws.commit("theirs edits views")
    subprocess.run(["git", f"--git-dir={path}", "repack", "-adq"], check=True)
    setup = time.perf_counter() - t0
    both = len(set(mine) & set(theirs))

    git_times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        proc = subprocess.run(
            ["git", f"--git-dir={path}", "merge-tree", "--write-tree", str(ours_commit), str(theirs_commit)],
            capture_output=True, text=True,
        )
        git_times.append(time.perf_counter() - start)
    git_conflicts = proc.returncode == 1

    gm_times = []
    for run in range(args.runs):
        fresh = Workspace(path, author=("bench", "bench@example.com"))
        FreshPage = define(fresh, args.shard)
        fresh.create_branch(f"run-{run}", ours_commit)
        fresh.set_branch(f"run-{run}")
        start = time.perf_counter()
        result = fresh.merge(theirs_commit)
        gm_times.append(time.perf_counter() - start)
        assert result.conflicts == [] and result.commit is not None
    check = FreshPage.get(next(iter(set(mine) & set(theirs))) if both else mine[0])
    assert check.title.endswith("(ours)")

    git_best, gm_best = min(git_times), min(gm_times)
    layout = "the default layout" if args.shard is None else f"shard={args.shard}"
    print(f"store: {args.n} objects, {layout}; each branch edits {k} "
          f"({both} on both sides, different fields) (setup {setup:.1f}s)")
    print(f"  git merge-tree --write-tree   {git_best * 1000:8.1f} ms"
          f"{'   (text merge: conflicts on objects edited on both sides)' if git_conflicts else ''}")
    print(f"  ws.merge() incl. commit       {gm_best * 1000:8.1f} ms   ({gm_best / git_best:.2f}x git),"
          f" 0 conflicts")
    shutil.rmtree(path)


if __name__ == "__main__":
    main()
