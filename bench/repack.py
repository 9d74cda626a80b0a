"""Benchmark: packing the loose objects of single commits, next to git.

Builds a store of ``--n`` objects with ``bulk_save`` (one pack), then makes
``--commits`` single commits (a new object each, auto-pack off), and copies
the store three times. Each copy's loose objects are then packed once:

* gitmodel's ``pack_loose`` (what auto-pack and ``ws.pack()`` run): each
  changed folder stored as a delta against its version in the parent commit;
* libgit2's pack builder (what gitmodel used before): a delta search;
* plain ``git repack -d`` (one thread), for reference.

It prints the CPU time per object packed and the size of the new pack, and
checks each store with ``git fsck --strict``.

    python bench/repack.py                      # 10,000 objects, 1,000 commits
    python bench/repack.py --n 100000 --commits 2000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gitmodel import Workspace, fields  # noqa: E402
from gitmodel.git.packs import loose_object_ids  # noqa: E402
from gitmodel.git.repack import pack_loose  # noqa: E402


def define(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField()
        body = fields.CharField(default="")
        views = fields.IntegerField(default=0)

    return Page


def build(path: Path, n: int, commits: int) -> None:
    ws = Workspace.init(path, bare=True)
    pygit2.Repository(str(path)).config["gitmodel.autoPack"] = 0
    ws = Workspace(str(path))
    Page = define(ws)
    Page.bulk_save([Page(id=f"p{i:07d}", title=f"Page {i}", body="text " * 20) for i in range(n)],
                   commit=True, message="import")
    for i in range(commits):
        Page(id=f"new{i:06d}", title=f"New {i}", body="text " * 20).save(commit=True, message=f"new {i}")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def new_pack_size(path: Path, before: set[str]) -> int:
    pack_dir = path / "objects" / "pack"
    return sum(p.stat().st_size for p in pack_dir.glob("*.pack") if p.name not in before)


def libgit2_pack(repo: pygit2.Repository) -> None:
    ids = loose_object_ids(repo)

    def add_all(builder: pygit2.PackBuilder) -> None:
        for oid in ids:
            builder.add(oid)

    repo.pack(pack_delegate=add_all)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gm-repack-", dir=args.tmpdir))
    try:
        build(root / "base.git", args.n, args.commits)
        loose = len(loose_object_ids(pygit2.Repository(str(root / "base.git"))))
        print(f"store of {args.n:,} objects, {args.commits:,} single commits: {loose:,} loose objects")
        rows = []
        for name in ("gitmodel", "libgit2", "git"):
            path = root / f"{name}.git"
            shutil.copytree(root / "base.git", path)
            before = {p.name for p in (path / "objects" / "pack").glob("*.pack")}
            repo = pygit2.Repository(str(path))
            start, child = time.process_time(), children_cpu()
            if name == "gitmodel":
                pack_loose(repo)
            elif name == "libgit2":
                libgit2_pack(repo)
            else:
                subprocess.run(["git", "-c", "pack.threads=1", f"--git-dir={path}", "repack", "-d", "-q"],
                               check=True)
            cpu = time.process_time() - start + children_cpu() - child
            subprocess.run(["git", f"--git-dir={path}", "fsck", "--strict", "--no-dangling"],
                           check=True, capture_output=True)
            rows.append((name, cpu, new_pack_size(path, before)))
        base_cpu, base_size = rows[1][1], rows[1][2]
        print(f"{'packer':<12}{'CPU s':>9}{'µs/object':>11}{'vs libgit2':>12}{'pack KB':>10}{'size vs libgit2':>17}")
        for name, cpu, size in rows:
            print(f"{name:<12}{cpu:>9.3f}{cpu / loose * 1e6:>11.1f}{base_cpu / cpu:>11.2f}x"
                  f"{size / 1024:>10.0f}{size / base_size:>16.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
