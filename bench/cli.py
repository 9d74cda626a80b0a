"""Command-line benchmark: each command beside its baseline, in one run.

    python bench/cli.py               # 10,000 objects, under two minutes
    python bench/cli.py --n 100000    # the figures of the docs

On a store of ``--n`` pages (built with ``bulk_save``), and on one page
with ``--versions`` committed versions:

* ``export``: :func:`gitmodel.exchange.export_objects` as JSON Lines against
  ``list(Page.all())`` plus ``json.dumps`` of each object's fields
  (target: at least 0.7x as fast);
* ``import``: :func:`gitmodel.exchange.import_objects` of that file into an
  empty repository against ``Page.bulk_save`` of the same objects, built in
  memory (target: at least 0.8x);
* ``gitmodel log Page ID`` against ``git log --format=%H -- <path>``, both
  as processes (target: within 2x);
* ``gitmodel blame Page ID`` against ``git blame`` of the object's
  ``data.json`` (target: within 2x);
* ``gitmodel --version`` against ``python -c "import pygit2"`` (target:
  within 2x).

``ratio`` is the baseline's time divided by gitmodel's (more is better).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from gitmodel import Workspace, fields  # noqa: E402
from gitmodel.exchange import export_objects, import_objects  # noqa: E402


def declare(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        title = fields.CharField()
        body = fields.CharField()
        rank = fields.IntegerField()

        class Meta:
            shard = 1

    return Page


def compare(ours: Callable[[], Any], baseline: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of each, in seconds, taking turns after
    one run of each to warm the caches."""
    times: tuple[list[float], list[float]] = ([], [])
    for turn in range(repeat + 1):
        for fn, out in ((ours, times[0]), (baseline, times[1])):
            start = time.perf_counter()
            fn()
            if turn:
                out.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def run(*cmd: str, cwd: Any = None) -> None:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)


def build_store(path: Path, n: int) -> None:
    ws = Workspace.init(path)
    Page = declare(ws)
    Page.bulk_save([Page(title=f"Page {i}", body="lorem ipsum " * 20, rank=i) for i in range(n)],
                   commit=True, message=f"{n} pages")


def build_versions(path: Path, versions: int) -> str:
    ws = Workspace.init(path)
    Page = declare(ws)
    page = Page(title="Versioned", body="v0", rank=0)
    page.save(commit=True, message="v0")
    for i in range(1, versions):
        page.rank = i
        if i % 3 == 0:
            page.title = f"Versioned {i}"
        page.save(commit=True, message=f"v{i}")
    return str(page.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="objects in the store")
    parser.add_argument("--versions", type=int, default=1_000, help="versions of the blamed object")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the fastest is kept)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gitmodel-bench-cli-"))
    rows: list[tuple[str, float, float, float, str]] = []
    try:
        store = root / "store.git"
        build_store(store, args.n)

        def export_ours() -> str:
            ws = Workspace(store)
            out = io.StringIO()
            export_objects(declare(ws), out)
            return out.getvalue()

        def export_baseline() -> None:
            ws = Workspace(store)
            [json.dumps(o.to_json_fields()) for o in list(declare(ws).all())]

        ours, base = compare(export_ours, export_baseline, args.repeat)
        rows.append(("export (jsonl)", ours, base, base / ours, ">= 0.7"))

        dump = export_ours()
        counter = iter(range(10**6))

        def import_ours() -> None:
            ws = Workspace.init(root / f"import-{next(counter)}.git")
            import_objects(declare(ws), dump)

        def import_baseline() -> None:
            ws = Workspace.init(root / f"bulk-{next(counter)}.git")
            Page = declare(ws)
            records = [json.loads(line) for line in dump.splitlines()]
            Page.bulk_save([Page(**r) for r in records], commit=True, message="bulk")

        ours, base = compare(import_ours, import_baseline, args.repeat)
        rows.append(("import (jsonl)", ours, base, base / ours, ">= 0.8"))

        history = root / "history.git"
        object_id = build_versions(history, args.versions)
        ws = Workspace(history)
        data_path = declare(ws)._meta.get_data_path(object_id)
        work = root / "history-checkout"
        subprocess.run(["git", "clone", "-q", str(history), str(work)], check=True)
        gm = [sys.executable, "-m", "gitmodel", "-C", str(history)]
        ours, base = compare(lambda: run(*gm, "log", "Page", object_id, "--json"),
                             lambda: run("git", "-C", str(history), "log", "--format=%H", "--", data_path),
                             args.repeat)
        rows.append((f"log Page ID ({args.versions} versions)", ours, base, base / ours, ">= 0.5"))
        ours, base = compare(lambda: run(*gm, "blame", "Page", object_id, "--json"),
                             lambda: run("git", "-C", str(work), "blame", "--", data_path), args.repeat)
        rows.append((f"blame Page ID ({args.versions} versions)", ours, base, base / ours, ">= 0.5"))

        ours, base = compare(lambda: run(sys.executable, "-m", "gitmodel", "--version"),
                             lambda: run(sys.executable, "-c", "import pygit2"), args.repeat + 2)
        rows.append(("gitmodel --version", ours, base, base / ours, ">= 0.5"))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"N = {args.n:,} objects; blamed object: {args.versions:,} versions")
    print(f"{'scenario':<34} {'gitmodel s':>11} {'baseline s':>11} {'ratio':>6}  target")
    for name, ours, base, ratio, target in rows:
        met = ratio >= float(target.split()[-1])
        print(f"{name:<34} {ours:>11.3f} {base:>11.3f} {ratio:>6.2f}  {target} {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
