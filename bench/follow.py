"""What following the branch costs on the get() hot path.

Usage: python bench/follow.py [--objects 1000] [--reads 20000]

A clean workspace reads the branch ref once per operation so that it sees
other writers' commits. Prints get() per second with following on and off,
the cost of the ref read alone, and a raw pygit2 baseline (tree path lookup
plus blob read) measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from gitmodel import fields
from gitmodel.workspace import Workspace


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def best(fn, n: int, repeat: int = 5) -> float:
    return max(rate(fn, n) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "store.git")
        ws = Workspace.init(path)

        class Page(ws.GitModel):
            title = fields.CharField()

        for i in range(args.objects):
            Page(id=f"p{i}", title=f"page {i}").save()
        ws.commit("pages")

        ids = [f"p{i % args.objects}" for i in range(args.reads)]
        ws.follow = True
        following = best(lambda i: Page.get(ids[i]), args.reads)
        ws.follow = False
        fixed = best(lambda i: Page.get(ids[i]), args.reads)
        ws.follow = True
        refs = ws.repo.references
        ref_read = best(lambda i: refs.get(ws.head).target, args.reads)
        tree = ws.branch.tree
        repo = ws.repo
        raw = best(lambda i: repo[tree[f"page/{ids[i]}/data.json"].id].data, args.reads)

    per_get_follow = 1e6 / following
    per_get_fixed = 1e6 / fixed
    print(f"get(), following the branch   {following:>9.0f}/s  ({per_get_follow:.1f} us)")
    print(f"get(), follow=False           {fixed:>9.0f}/s  ({per_get_fixed:.1f} us)")
    print(f"difference                    {per_get_follow - per_get_fixed:+.1f} us per get")
    print(f"one ref read alone            {ref_read:>9.0f}/s  ({1e6 / ref_read:.1f} us)")
    print(f"raw pygit2 lookup + blob read {raw:>9.0f}/s  ({1e6 / raw:.1f} us)")


if __name__ == "__main__":
    main()
