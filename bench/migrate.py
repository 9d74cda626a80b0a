"""Benchmark: a migration on a branch, beside ``Model.bulk_save`` of the same objects.

Builds a store of ``--n`` pages with ``Model.bulk_save`` (timed: the
baseline), then, on a branch, applies one migration that renames one field
and converts another's type (``RenameField`` + ``AlterField`` with a
converter) as one commit (timed, with its peak memory). Then 1% of the
objects are edited on master in the old shape and the migrated branch is
merged back (timed: it should follow the edits, not the store), beside the
raw baseline of a merge of the same edits without a migration (a branch
that edited one object, merged into a copy of the same master). Each phase
runs in its own process, so each peak memory is its own.

    python bench/migrate.py                 # 10,000 objects, well under a minute
    python bench/migrate.py --n 100000      # the real figure
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pygit2  # noqa: E402

from gitmodel import Workspace, fields  # noqa: E402
from gitmodel.migrations import AlterField, Migration, RenameField, load  # noqa: E402

AUTHOR = ("bench", "bench@example.com")


def old_page(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField()
        headline = fields.CharField(required=False)
        rating = fields.CharField(required=False)

    return Page


def to_int(value: str) -> int:
    return int(value)


MIGRATION = Migration("0001_rename_and_retype", [
    RenameField("Page", "headline", "summary"),
    AlterField("Page", "rating", fields.IntegerField(required=False), convert=to_int),
])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_bulk(path: str, n: int) -> dict[str, float]:
    ws = Workspace(path, author=AUTHOR)
    Page = old_page(ws)
    objs = [Page(id=f"page-{i:06d}", title=f"Title {i}", headline=f"Headline {i}",
                 rating=str(i % 5)) for i in range(n)]
    start, cpu = time.perf_counter(), time.process_time()
    Page.bulk_save(objs, commit=True, message="store")
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "peak_mb": peak_mb()}


def phase_migrate(path: str, n: int) -> dict[str, float]:
    ws = Workspace(path, author=AUTHOR)
    start, cpu = time.perf_counter(), time.process_time()
    commit = ws.migrate(MIGRATION, branch="migrated")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert commit is not None
    return {"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb()}


def phase_merge(path: str, n: int, branch: str = "migrated") -> dict[str, float]:
    load(MIGRATION)  # the application's migrations: the converter replays on master's edits
    ws = Workspace(path, author=AUTHOR)
    old_page(ws)
    start, cpu = time.perf_counter(), time.process_time()
    result = ws.merge(branch)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.commit is not None and not result.conflicts
    return {"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb()}


def phase_plain_merge(path: str, n: int) -> dict[str, float]:
    return phase_merge(path, n, "plain")


PHASES = {"bulk": phase_bulk, "migrate": phase_migrate, "merge": phase_merge,
          "plain_merge": phase_plain_merge}


def run_phase(name: str, path: str, n: int) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--phase", name, "--path", path, "--n", str(n)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def edit_master(path: str, n: int, percent: float) -> int:
    ws = Workspace(path, author=AUTHOR)
    Page = old_page(ws)
    ids = random.Random(7).sample(range(n), max(1, int(n * percent / 100)))
    pages = [Page.get(f"page-{i:06d}") for i in ids]
    for page in pages:
        page.headline = page.headline + " (edited)"
    Page.bulk_save(pages, commit=True, message="edits in the old shape")
    return len(pages)


def plain_branch(path: str, base: pygit2.Oid) -> None:
    """A branch from ``base`` that edited one object, without a migration."""
    ws = Workspace(path, author=AUTHOR)
    ws.repo.branches.create("plain", ws.repo[base])
    other = Workspace(path, "plain", author=AUTHOR)
    page = old_page(other).get("page-000000")
    page.title = "edited without a migration"
    page.save(commit=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="objects in the store")
    parser.add_argument("--percent", type=float, default=1.0, help="share edited on master")
    parser.add_argument("--tmpdir", default=None, help="where the repository goes")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.path, args.n)))
        return

    path = tempfile.mkdtemp(prefix="gitmodel-bench-migrate-", dir=args.tmpdir)
    try:
        pygit2.init_repository(path, bare=True)
        bulk = run_phase("bulk", path, args.n)
        stored = Workspace(path).create_branch("migrated").oid
        migrate = run_phase("migrate", path, args.n)
        edited = edit_master(path, args.n, args.percent)
        plain_branch(path, stored)
        shutil.copytree(path, path + "-plain")
        plain = run_phase("plain_merge", path + "-plain", args.n)
        merge = run_phase("merge", path, args.n)
    finally:
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(path + "-plain", ignore_errors=True)
    ratio = migrate["seconds"] / bulk["seconds"]
    print(f"store: {args.n} objects; migration: RenameField + AlterField(convert=int), one commit")
    print("  (wall time; CPU time of the process in brackets, steadier on a busy machine)")
    print(f"  Model.bulk_save(N) + commit      {bulk['seconds']:8.2f} s ({bulk['cpu']:.2f})   "
          f"peak {bulk['peak_mb']:7.1f} MB")
    print(f"  ws.migrate() on a branch         {migrate['seconds']:8.2f} s ({migrate['cpu']:.2f})   "
          f"peak {migrate['peak_mb']:7.1f} MB   ({ratio:.2f}x bulk_save, "
          f"{migrate['cpu'] / bulk['cpu']:.2f}x in CPU time; target <= 1.5x, < 500 MB)")
    print(f"  merge of {edited} edits, no migration  {plain['seconds'] * 1000:8.1f} ms ({plain['cpu'] * 1000:.1f})"
          "   (the raw baseline)")
    print(f"  merge back after {edited} old-shape edits {merge['seconds'] * 1000:8.1f} ms "
          f"({merge['cpu'] * 1000:.1f})   ({merge['seconds'] / plain['seconds']:.2f}x the baseline, "
          f"{merge['cpu'] / plain['cpu']:.2f}x in CPU time; "
          f"{(merge['cpu'] - plain['cpu']) * 1e6 / edited:.0f} us more CPU per edit)")

if __name__ == "__main__":
    main()
