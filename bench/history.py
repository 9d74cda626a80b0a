"""Benchmark: one object's history through many commits, next to ``git log``.

Builds a store of ``--objects`` objects, then ``--commits`` commits that each
edit one random object (the tracked object every ``--every`` commits), packs
the repository, and times ``Model.history(id)`` against ``git log
--format=%H -- <object folder>`` on the same repository in the same run.

    python bench/history.py                  # 10,000 objects, 10,000 commits
    python bench/history.py --commits 2000   # a quick run
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import pygit2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gitmodel import Workspace, fields  # noqa: E402


def best_of(runs: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=100, help="edit the tracked object every N commits")
    parser.add_argument("--shard", type=int, default=2, help="Meta.shard of the model (0: flat)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the repository")
    args = parser.parse_args()

    path = tempfile.mkdtemp(prefix="gitmodel-bench-history-")
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("bench", "bench@example.com"))

    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

        class Meta:
            shard = args.shard

    rng = random.Random(42)
    t0 = time.perf_counter()
    ids = [f"page-{i:06d}" for i in range(args.objects)]
    for ident in ids:
        Page(id=ident, title=ident).save()
    ws.commit("initial store")
    tracked = ids[args.objects // 2]
    for n in range(1, args.commits):
        ident = tracked if n % args.every == 0 else rng.choice(ids)
        page = Page.get(ident)
        page.views += 1
        page.save()
        ws.commit(f"edit {ident}")
    subprocess.run(["git", f"--git-dir={path}", "repack", "-adq"], check=True)
    setup = time.perf_counter() - t0
    folder = Page._meta.get_object_folder(tracked)

    fresh = Workspace(path)  # cold caches, as a new process would have them

    class Page(fresh.GitModel):  # type: ignore[no-redef]
        title = fields.CharField()
        views = fields.IntegerField(default=0)

        class Meta:
            shard = args.shard

    git_time, git_out = best_of(args.runs, lambda: subprocess.run(
        ["git", f"--git-dir={path}", "log", "--format=%H", "master", "--", folder],
        check=True, capture_output=True, text=True).stdout.split())
    gm_time, versions = best_of(args.runs, lambda: Page.history(tracked))
    ours = [str(v.commit.id) for v in versions]  # type: ignore[union-attr]
    assert ours == git_out, "history differs from git log"
    inst_time, _ = best_of(args.runs, lambda: [(v.instance, v.changes) for v in Page.history(tracked)])

    print(f"store: {args.objects} objects, {args.commits} commits, shard={args.shard}, "
          f"{len(ours)} versions of {folder} (setup {setup:.1f}s)")
    print(f"  git log --format=%H -- <path>     {git_time * 1000:8.1f} ms")
    print(f"  Page.history(id)                  {gm_time * 1000:8.1f} ms   ({gm_time / git_time:.2f}x git)")
    print(f"  ... with .instance and .changes   {inst_time * 1000:8.1f} ms   ({inst_time / git_time:.2f}x git)")
    if not args.keep:
        import shutil

        shutil.rmtree(path)
    else:
        print(f"  repository kept at {path}")


if __name__ == "__main__":
    main()
