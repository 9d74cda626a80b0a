"""Child-process programs for the concurrency and crash tests.

Run as ``python procs.py <command> <repo> ...``; each prints what it did, one
line per finished step, so the parent can check nothing was lost.
"""

from __future__ import annotations

import os
import sys
import time

from gitmodel import BranchMoved, fields
from gitmodel.workspace import Workspace


def models(ws: Workspace) -> type:
    class Item(ws.GitModel):
        n = fields.IntegerField(default=0)

    return Item


def writer(path: str, name: str, count: int) -> None:
    """Commit ``count`` objects of our own, retrying when the branch moved."""
    ws = Workspace(path)
    Item = models(ws)
    retries = 0
    for i in range(count):
        while True:
            try:
                oid = Item(id=f"{name}-{i}", n=i).save(commit=True, message=f"{name} {i}")
                break
            except BranchMoved:
                retries += 1
                ws.reset()
        print(f"done {name}-{i} {oid}", flush=True)
    print(f"retries {retries}", flush=True)


def hold_lock(path: str, lock: str) -> None:
    """Take ``lock``, say so, and hold it until stdin closes."""
    ws = Workspace(path)
    with ws.lock(lock, timeout=10):
        print("held", os.getpid(), flush=True)
        sys.stdin.read()
    print("released", flush=True)


def count_under_lock(path: str, lock: str, counter_file: str, count: int) -> None:
    """Read-modify-write a number in a file ``count`` times, under ``lock``."""
    ws = Workspace(path)
    for _ in range(count):
        with ws.lock(lock, timeout=30):
            with open(counter_file) as f:
                value = int(f.read() or 0)
            time.sleep(0.0005)
            with open(counter_file, "w") as f:
                f.write(str(value + 1))
    print("ok", flush=True)


def commit_one(path: str, object_id: str) -> None:
    ws = Workspace(path)
    Item = models(ws)
    oid = Item(id=object_id, n=1).save(commit=True, message=f"add {object_id}")
    print(oid, flush=True)


def pages(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(default="", required=False)
        content = fields.CharField(default="", required=False)

    return Page


def resolve(path: str, choice: str, how_many: int, then: str) -> None:
    """Settle ``how_many`` conflicts of the open merge with ``choice``, then
    ``commit``, ``abort`` or ``wait`` (until killed)."""
    ws = Workspace(path)
    pages(ws)
    print("merging", ws.merging, len(ws.conflicts), flush=True)
    for conflict in ws.conflicts[:how_many]:
        ws.resolve(conflict, choice)
        print("resolved", conflict.id, conflict.field, flush=True)
    if then == "commit":
        print("committed", ws.commit(), flush=True)
    elif then == "abort":
        ws.abort_merge()
        print("aborted", ws.has_changes(), flush=True)
    else:
        print("waiting", flush=True)
        sys.stdin.read()


def read_items(path: str, count: int) -> None:
    """Read items ``0..count-1`` (``n`` equal to the number in the id) in fresh
    workspaces, round after round, until a file ``stop`` appears beside the
    repository; prints the rounds and the reads that went wrong."""
    stop = os.path.join(os.path.dirname(os.path.abspath(path)), "stop")
    rounds = wrong = 0
    print("reading", flush=True)
    while not os.path.exists(stop) or rounds == 0:
        ws = Workspace(path)
        Item = models(ws)
        for i in range(count):
            try:
                if Item.get(f"item-{i}").n != i:
                    wrong += 1
            except Exception as exc:  # reported to the parent, which fails the test
                wrong += 1
                print("error", type(exc).__name__, exc, flush=True)
        listed = {item.id: item.n for item in Item.all()}
        if any(listed.get(f"item-{i}") != i for i in range(count)):
            wrong += 1
        rounds += 1
    print("rounds", rounds, "wrong", wrong, flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "writer":
        writer(args[0], args[1], int(args[2]))
    elif command == "hold_lock":
        hold_lock(args[0], args[1])
    elif command == "count":
        count_under_lock(args[0], args[1], args[2], int(args[3]))
    elif command == "resolve":
        resolve(args[0], args[1], int(args[2]), args[3])
    elif command == "commit_one":
        commit_one(args[0], args[1])
    elif command == "read_items":
        read_items(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown command {command}")
