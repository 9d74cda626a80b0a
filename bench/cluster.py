"""Many machines, one hub: writing clones syncing through ``git daemon``, and shallow clones.

Part 1, the cluster. A bare hub served by ``git daemon`` on 127.0.0.1 and
``--nodes`` clones, each driven by its own process: every process makes
``--commits`` commits, each saving one object of its own and adding 1 to a
shared counter (merged by a field rule: ours + theirs - base), and calls
``ws.sync()`` after every ``--sync-every`` commits. At the end every clone
syncs once more; then every clone and the hub must hold the same commit,
all ``nodes * commits`` objects, the counter exact, and ``git fsck --strict``
must be clean. Prints commits/s for the whole cluster and how many pushes
the hub refused because another clone was first (each refusal is a retry).

Part 2, shallow clones. A store of ``--objects`` objects (``Meta.shard = 2``)
with ``--store-commits`` commits: the first holds every object, each later
one edits one object (a store with a long history of small edits). Clones
it over ``git://`` in full and with ``depth=1``: time and bytes received.

Usage: ``python bench/cluster.py`` (small: under two minutes) or
``python bench/cluster.py --full`` for 4 nodes x 250 commits and a
100,000-object, 10,000-commit store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from gitmodel import PushRaceLost, RemoteError, Workspace, fields  # noqa: E402
from gitmodel.remotes import Progress  # noqa: E402
from gitmodel.serializers import json as json_format  # noqa: E402

from gitservers import GitDaemon  # noqa: E402

#: tries of a node's last sync (the others are simply tried again at the next commit)
FINAL_TRIES = 20


def git(repo: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], input=data, check=True, capture_output=True
    ).stdout.decode()


def cluster_models(ws: Workspace) -> tuple[Any, Any]:
    class Item(ws.GitModel):
        owner = fields.CharField()
        n = fields.IntegerField()

    class Counter(ws.GitModel):
        total = fields.IntegerField(default=0, merge=lambda base, ours, theirs: ours + theirs - base)

    return Item, Counter


# -- one node (a child process) ------------------------------------------------------------


def node(path: str, name: str, commits: int, sync_every: int) -> None:
    """Commit ``commits`` times into the clone at ``path``, syncing every ``sync_every``."""
    ws = Workspace(path)
    Item, Counter = cluster_models(ws)
    rejected = syncs = failed = 0
    for i in range(commits):
        Item(id=f"{name}-{i}", owner=name, n=i).save()
        counter = Counter.get("shared")
        counter.total += 1
        counter.save()
        ws.commit(f"{name}: item {i}, counter +1")
        if (i + 1) % sync_every and i < commits - 1:
            continue
        for _ in range(FINAL_TRIES if i == commits - 1 else 1):
            try:
                result = ws.sync()
            except RemoteError as exc:  # a lost race 10 times over, a dropped connection
                failed += 1
                rejected += exc.attempts if isinstance(exc, PushRaceLost) else 0
                print(f"{name}: sync failed, kept for the next one: {exc}", file=sys.stderr, flush=True)
                continue
            if result.conflicts:
                raise SystemExit(f"{name}: unexpected conflicts {result.conflicts}")
            rejected += result.rejected
            syncs += 1
            break
        else:
            if i == commits - 1:
                raise SystemExit(f"{name}: the last sync failed {FINAL_TRIES} times")
    print(f"synced {name} commits={commits} syncs={syncs} failed={failed} rejected={rejected}", flush=True)


# -- part 1: the cluster -------------------------------------------------------------------


def run_cluster(tmp: Path, nodes: int, commits: int, sync_every: int) -> None:
    root = tmp / "srv"
    root.mkdir()
    seed = Workspace.init(root / "hub.git", initial_branch="master")
    _, Counter = cluster_models(seed)
    Counter(id="shared", total=0).save(commit=True, message="seed")
    with GitDaemon(root) as daemon:
        paths = [tmp / f"node-{i}.git" for i in range(nodes)]
        for path in paths:
            Workspace.clone(daemon.url("hub.git"), path)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "node", str(path), f"n{i}", str(commits), "--sync-every", str(sync_every)],
                stdout=subprocess.PIPE, text=True, env=env,
            )
            for i, path in enumerate(paths)
        ]
        outs = [p.communicate()[0] for p in procs]
        elapsed = time.perf_counter() - start
        if any(p.returncode for p in procs):
            raise SystemExit(f"a node failed: {[p.returncode for p in procs]}")
        rejected = sum(int(out.split("rejected=")[1]) for out in outs)
        failed = sum(int(out.split("failed=")[1].split()[0]) for out in outs)
        heads = set()
        for path in paths:
            ws = Workspace(path)
            ws.sync()
            heads.add(str(ws.branch.oid))
    hub_head = git(root / "hub.git", "rev-parse", "refs/heads/master").strip()
    ws = Workspace(root / "hub.git")
    Item, Counter = cluster_models(ws)
    items = {(item.owner, item.n) for item in Item.all()}
    total = Counter.get("shared").total
    for repo in (root / "hub.git", *paths):
        git(repo, "fsck", "--strict")
    ok = (
        heads == {hub_head}
        and items == {(f"n{i}", j) for i in range(nodes) for j in range(commits)}
        and total == nodes * commits
    )
    history = int(git(root / "hub.git", "rev-list", "--count", "refs/heads/master"))
    print(f"cluster: {nodes} processes x {commits} commits, sync every {sync_every}, hub: git daemon")
    print(f"  {nodes * commits:,} commits in {elapsed:.1f} s = {nodes * commits / elapsed:,.1f} commits/s "
          f"for the whole cluster")
    print(f"  pushes refused (another clone was first, retried): {rejected}")
    print(f"  syncs that failed (10 lost races in a row or a dropped connection; "
          f"their commits went with a later sync): {failed}")
    print(f"  hub history: {history:,} commits (merges included); {len(items):,} objects, "
          f"counter {total:,} (expected {nodes * commits:,})")
    print(f"  every clone and the hub at one commit, fsck --strict clean: {'yes' if ok else 'NO'}")
    if not ok:
        raise SystemExit("the cluster did not converge")


# -- part 2: shallow against full clone --------------------------------------------------------


def build_store(path: Path, objects: int, commits: int) -> None:
    """``objects`` sharded objects in a first commit, then ``commits - 1`` one-object edits."""
    ws = Workspace.init(path, initial_branch="master")

    class Page(ws.GitModel):
        title = fields.CharField()
        body = fields.CharField(default="")

        class Meta:
            shard = 2

    def blob(i: int, edit: int) -> tuple[str, bytes]:
        page = Page(id=f"page-{i:06d}", title=f"Page {i} (edit {edit})", body=f"Body of page {i}. " * 3)
        return page.get_data_path(), json_format.dumps("Page", page.to_json_fields())

    chunks = [b"commit refs/heads/master\ncommitter bench <bench@example.com> 1700000000 +0000\n",
              b"data 5\nstore\n"]
    for i in range(objects):
        path_, data = blob(i, 0)
        chunks.append(f"M 100644 inline {path_}\ndata {len(data)}\n".encode() + data + b"\n")
    for c in range(1, commits):
        path_, data = blob((c * 7919) % objects, c)
        chunks.append(
            f"commit refs/heads/master\ncommitter bench <bench@example.com> {1700000000 + c} +0000\n"
            f"data 6\nedit {c % 10}\nM 100644 inline {path_}\ndata {len(data)}\n".encode() + data + b"\n"
        )
    git(path, "fast-import", "--quiet", data=b"".join(chunks))
    git(path, "repack", "-adq")  # serve from one pack, as a server would


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_shallow(tmp: Path, objects: int, commits: int) -> None:
    root = tmp / "store"
    root.mkdir()
    start = time.perf_counter()
    build_store(root / "big.git", objects, commits)
    built = time.perf_counter() - start
    count = dict(line.split(": ") for line in git(root / "big.git", "count-objects", "-v").splitlines())
    print(f"\nstore: {objects:,} objects, {commits:,} commits = {int(count['in-pack']):,} git objects, "
          f"pack {int(count['size-pack']) / 1024:.1f} MiB (built in {built:.1f} s)")
    with GitDaemon(root) as daemon:
        for label, depth in (("full clone", 0), ("shallow clone, depth=1", 1)):
            received: list[int] = [0]

            def seen(p: Progress) -> None:
                received[0] = max(received[0], p.bytes)

            target = tmp / f"clone-{depth}.git"
            start = time.perf_counter()
            ws = Workspace.clone(daemon.url("big.git"), target, depth=depth, progress=seen)
            elapsed = time.perf_counter() - start
            walked = sum(1 for _ in ws.walk())
            print(f"  {label:24s} {elapsed:7.2f} s  received {received[0] / 2**20:7.1f} MiB  "
                  f"on disk {folder_bytes(target) / 2**20:7.1f} MiB  commits {walked:,}")
            shutil.rmtree(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("node", help="one node of the cluster (run by the benchmark)")
    child.add_argument("path")
    child.add_argument("name")
    child.add_argument("commits", type=int)
    child.add_argument("--sync-every", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="4 x 250 commits; 100,000 objects, 10,000 commits")
    parser.add_argument("--nodes", type=int, default=None, help="cluster processes (default 3; --full: 4)")
    parser.add_argument("--commits", type=int, default=None, help="commits per process (default 40; --full: 250)")
    parser.add_argument("--sync-every", type=int, default=1, help="commits between syncs")
    parser.add_argument("--objects", type=int, default=None, help="objects in the store (default 10,000)")
    parser.add_argument("--store-commits", type=int, default=None, help="commits in the store (default 1,000)")
    parser.add_argument("--skip-shallow", action="store_true", help="run the cluster only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.command == "node":
        node(args.path, args.name, args.commits, args.sync_every)
        return
    full = args.full
    nodes = args.nodes or (4 if full else 3)
    commits = args.commits or (250 if full else 40)
    objects = args.objects or (100_000 if full else 10_000)
    store_commits = args.store_commits or (10_000 if full else 1_000)
    tmp = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    try:
        run_cluster(tmp, nodes, commits, args.sync_every)
        if not args.skip_shallow:
            run_shallow(tmp, objects, store_commits)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
