"""Crash bench: SIGKILL a committing process hundreds of times, check after each kill.

Usage: python bench/crash.py [--kills 200] [--max-delay 0.05] [--seed 0]

After every kill: ``git fsck --strict`` clean, the branch at a complete
commit, every commit the child reported present, counter == items ==
commits - 1 (see tests/crash_harness.py). As a baseline it prints how fast
the same child commits with nobody killing it, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from crash_harness import _models, crash_rounds  # noqa: E402

from gitmodel.workspace import Workspace  # noqa: E402


def baseline(path: str, seconds: float = 1.0) -> float:
    """Commits per second of the child's loop, undisturbed."""
    ws = Workspace.init(path)
    Item, Counter = _models(ws)
    Counter(id="c").save(commit=True)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        counter = Counter.get("c")
        counter.n += 1
        Item(id=f"b-{done}", n=counter.n, text="x" * 2500).save()
        counter.save()
        ws.commit(f"b-{done}")
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--max-delay", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate = baseline(os.path.join(tmp, "baseline.git"))
        stats = crash_rounds(os.path.join(tmp, "store.git"), args.kills, args.max_delay, args.seed)
    print(f"kills survived          {stats.kills} (fsck --strict clean after each: {stats.fsck_runs})")
    print(f"commits reported done   {stats.commits_reported}, all on the branch")
    print(f"commits on the branch   {stats.commits_on_branch - 1} (+1 initial)")
    print(f"made, not yet reported  {stats.commits_on_branch - 1 - stats.commits_reported}")
    print(f"ref lock files left     {stats.ref_locks_left} (broken by the next writer)")
    print(f"kill delay              uniform 0..{args.max_delay * 1000:.0f} ms")
    print(f"total time              {stats.seconds:.1f} s")
    print(f"child commit rate       {rate:.0f} commits/s undisturbed (baseline, same run)")


if __name__ == "__main__":
    main()
