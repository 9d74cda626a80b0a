"""Writers bench: N processes x M commits on one branch, one shared counter.

Usage: python bench/writers.py [--writers 4] [--commits 250]

Each process creates its own objects and increments one shared counter whose
field has a merge rule (``IntegerField(merge=add)``); a commit that lost the
race is rebased field by field. Checked at the end: every object present,
the counter exact, ``git fsck --strict`` clean, history linear. Printed side
by side with two baselines measured in the same run: one gitmodel writer
alone, and raw pygit2 (blob + trees + commit + ref update) alone.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import tempfile
import time

import pygit2

from gitmodel import MergeConflict, RepositoryError, fields
from gitmodel.workspace import Workspace


def add(base: int, ours: int, theirs: int) -> int:
    return ours + theirs - base


def models(ws: Workspace) -> tuple[type, type]:
    class Item(ws.GitModel):
        writer = fields.CharField()
        n = fields.IntegerField()

    class Counter(ws.GitModel):
        n = fields.IntegerField(default=0, merge=add)

    return Item, Counter


def writer(path: str, name: str, commits: int, queue: "multiprocessing.Queue[tuple]") -> None:
    ws = Workspace(path, lock_timeout=60)
    Item, Counter = models(ws)
    rebased = gave_up = 0
    for i in range(commits):
        counter = Counter.get("c")  # a clean workspace reads the latest commit
        counter.n += 1
        Item(id=f"{name}-{i}", writer=name, n=i).save()
        counter.save()
        started = ws._start
        while True:
            try:
                oid = ws.commit(f"{name} {i}")
                break
            except MergeConflict:
                raise
            except RepositoryError:  # lost the race too often: changes kept, try again
                gave_up += 1
                time.sleep(0.05)
        if ws.repo[oid].parent_ids != ([started] if started else []):
            rebased += 1
    queue.put((name, rebased, gave_up))


def gitmodel_alone(path: str, commits: int) -> float:
    ws = Workspace.init(path)
    Item, Counter = models(ws)
    Counter(id="c").save(commit=True)
    start = time.perf_counter()
    for i in range(commits):
        counter = Counter.get("c")
        counter.n += 1
        Item(id=f"solo-{i}", writer="solo", n=i).save()
        counter.save()
        ws.commit(f"solo {i}")
    return commits / (time.perf_counter() - start)


def raw_alone(path: str, commits: int) -> float:
    repo = pygit2.init_repository(path, bare=True)
    sig = pygit2.Signature("bench", "bench@example.com")
    tree = repo.TreeBuilder().write()
    parents: list[pygit2.Oid] = []
    items = repo.TreeBuilder()
    start = time.perf_counter()
    for i in range(commits):
        blob = repo.create_blob(f'{{"n": {i}}}\n'.encode())
        folder = repo.TreeBuilder()
        folder.insert("data.json", blob, pygit2.enums.FileMode.BLOB)
        items.insert(f"solo-{i}", folder.write(), pygit2.enums.FileMode.TREE)
        counter = repo.TreeBuilder()
        counter.insert("data.json", repo.create_blob(f'{{"n": {i + 1}}}\n'.encode()), pygit2.enums.FileMode.BLOB)
        root = repo.TreeBuilder()
        root.insert("item", items.write(), pygit2.enums.FileMode.TREE)
        root.insert("counter", counter.write(), pygit2.enums.FileMode.TREE)
        tree = root.write()
        commit = repo.create_commit(None, sig, sig, f"raw {i}", tree, parents)
        with repo.transaction() as tx:
            tx.lock_ref("refs/heads/master")
            tx.set_target("refs/heads/master", commit, message="raw")
        parents = [commit]
    return commits / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--commits", type=int, default=250)
    args = parser.parse_args()
    total = args.writers * args.commits
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "store.git")
        ws = Workspace.init(path)
        Item, Counter = models(ws)
        Counter(id="c", n=0).save(commit=True, message="counter")
        queue: multiprocessing.Queue[tuple] = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=writer, args=(path, f"w{w}", args.commits, queue))
            for w in range(args.writers)
        ]
        start = time.perf_counter()
        for proc in procs:
            proc.start()
        results = []
        while len(results) < len(procs):
            try:
                results.append(queue.get(timeout=1))
            except Exception:  # queue.Empty: check that nobody died
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise SystemExit(f"a writer failed (exit codes {dead}); see its traceback above")
        for proc in procs:
            proc.join()
        seconds = time.perf_counter() - start
        assert all(proc.exitcode == 0 for proc in procs), [p.exitcode for p in procs]

        check = Workspace(path)
        Item, Counter = models(check)
        ids = set(Item.all().ids())
        counter_value = Counter.get("c").n
        expected = {f"w{w}-{i}" for w in range(args.writers) for i in range(args.commits)}
        history = list(check.walk())
        fsck = subprocess.run(
            ["git", f"--git-dir={path}", "fsck", "--strict", "--no-dangling"],
            capture_output=True, text=True,
        )
        solo = gitmodel_alone(os.path.join(tmp, "solo.git"), min(total, 500))
        raw = raw_alone(os.path.join(tmp, "raw.git"), min(total, 500))

    rebased = sum(r[1] for r in results)
    gave_up = sum(r[2] for r in results)
    print(f"writers                 {args.writers} processes x {args.commits} commits, one branch")
    print(f"objects present         {len(ids & expected)} / {total} (extra: {len(ids - expected)})")
    print(f"shared counter          {counter_value} (expected {total})")
    print(f"commits on the branch   {len(history) - 1} (+1 initial); linear: {all(len(c.parents) <= 1 for c in history)}")
    print(f"rebased after a race    {rebased} of {total} commits")
    print(f"commit() gave up        {gave_up} time(s) after its bounded retries (changes kept, retried)")
    print(f"git fsck --strict       {'clean' if fsck.returncode == 0 and not fsck.stderr.strip() else fsck.stderr}")
    print(f"time                    {seconds:.1f} s")
    print(f"throughput              {total / seconds:.0f} commits/s with {args.writers} writers")
    print(f"baseline: one writer    {solo:.0f} commits/s (gitmodel, same operations)")
    print(f"baseline: raw pygit2    {raw:.0f} commits/s (blob + trees + commit + ref, one writer)")
    ok = ids == expected and counter_value == total and fsck.returncode == 0 and len(history) == total + 1
    print("RESULT                  " + ("OK" if ok else "FAILED"))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
