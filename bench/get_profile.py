#!/usr/bin/env python3
"""Where the time of one ``get()`` goes: each step timed alone, beside raw pygit2.

    python bench/get_profile.py --n 100000 --tmpdir /dev/shm

Builds a store of N pages (as ``bench/run.py`` does), then, on fresh
workspaces and repositories, times a first ``Page.get`` of every object in
random order and the steps it is made of, each over the same objects: the
path lookup (libgit2's trees, through the workspace), the blob read (gitmodel's own loose reader, and
libgit2's for comparison), ``json`` decoding, field conversion, and the
object cache. What is left is gitmodel's own Python (id check, following
the branch, bookkeeping). CPU time, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import pygit2  # noqa: E402

import run as bench  # noqa: E402
from gitmodel.schema import codec  # noqa: E402
from gitmodel.serializers import json as json_format  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402


def best(func: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        func()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.n
    root = Path(tempfile.mkdtemp(prefix="gitmodel-get-", dir=args.tmpdir))
    try:
        bench.run_child("gm-bulk", n, root / "gm.git")
        ids = [r["id"] for r in bench.make_records(n)]
        random.Random(1).shuffle(ids)
        path = str(root / "gm.git")
        # the paths of gitmodel's default layout at N (flat below 1,024 objects, sharded above)
        shard = bench.default_shard(n)
        paths = ["/".join([*bench.shard_parts(i, shard), "data.json"]) for i in ids]
        steps: dict[str, float] = {}

        def fresh_gets() -> None:
            ws = Workspace(path)
            page = bench.define_model(ws)
            t0 = time.process_time()
            for object_id in ids:
                page.get(object_id)
            steps["get"] = min(steps.get("get", 1e9), time.process_time() - t0)

        for _ in range(args.repeat):
            gc.collect()
            fresh_gets()

        def raw_lookups() -> list[pygit2.Oid]:
            tree = pygit2.Repository(path).revparse_single(bench.BRANCH).tree
            return [tree[p].id for p in paths]

        def fresh_lookups() -> None:  # on a fresh workspace each time: no memo, cold trees
            looker = Workspace(path)
            t0 = time.process_time()
            for p in paths:
                looker.lookup(p)
            steps["lookup"] = min(steps.get("lookup", 1e9), time.process_time() - t0)

        oids = raw_lookups()
        raw_lookup = best(raw_lookups, args.repeat)
        for _ in range(args.repeat):
            gc.collect()
            fresh_lookups()
        steps["path lookup (libgit2 trees, ws.lookup)"] = steps.pop("lookup")
        store = Workspace(path).store
        steps["blob read (gitmodel)"] = best(lambda: [store.read_object(o) for o in oids], args.repeat)
        odb = pygit2.Repository(path).odb
        libgit2_read = best(lambda: [odb.read(o) for o in oids], args.repeat)
        datas = [store.read_object(o)[1] for o in oids]
        steps["JSON (json_format.loads)"] = best(lambda: [json_format.loads(d) for d in datas],
                                                 args.repeat)
        raw_json = best(lambda: [json.loads(d) for d in datas], args.repeat)
        ws = Workspace(path)
        page = bench.define_model(ws)
        stored = [json_format.loads(d) for d in datas]
        steps["field conversion (codec.decode)"] = best(
            lambda: [codec.decode(page, p, m, s) for p, (m, s) in zip(paths, stored)], args.repeat)
        objs = [codec.decode(page, p, m, s) for p, (m, s) in zip(paths, stored)]
        steps["object cache (snapshot + remember)"] = best(
            lambda: [ws.store.remember(o, codec.snapshot(x)) for o, x in zip(oids, objs)],
            args.repeat)
        total = steps.pop("get")
        rest = total - sum(steps.values())
        raw = raw_lookup + libgit2_read + raw_json
        print(f"first get of each of {n:,} objects, loose, random order (CPU µs per get)")
        for name, seconds in [*steps.items(), ("gitmodel's own Python (the rest)", rest)]:
            print(f"  {name:<38} {seconds / n * 1e6:7.2f}  {seconds / total:6.1%}")
        print(f"  {'one get() in all':<38} {total / n * 1e6:7.2f}")
        print(f"raw pygit2 (lookup + odb.read + json.loads) {raw / n * 1e6:7.2f} µs "
              f"(lookup {raw_lookup / n * 1e6:.2f}, libgit2 blob read {libgit2_read / n * 1e6:.2f}, "
              f"json.loads {raw_json / n * 1e6:.2f})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
