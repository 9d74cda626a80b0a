"""Child program of the corrupt-object tests: open a store in which one
object was damaged and run every read path, printing one JSON line per path
(the error's type, whether it is a gitmodel error, its path and commit).
Run as ``python trust_sweep.py <repo>``; the parent bounds it with a timeout,
so a hang fails the test instead of wedging it."""

from __future__ import annotations

import json
import sys

from gitmodel import CorruptObject, GitModelError, fields
from gitmodel.workspace import Workspace


def define(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(required=False, index=True)
        n = fields.IntegerField(default=0)

    return Page


def read_paths(ws: Workspace, Page: type) -> dict:
    return {
        "get": lambda: Page.get("ok"),
        "first": lambda: Page.all().first(),
        "last": lambda: Page.all().last(),
        "iterate": lambda: list(Page.all()),
        "count": lambda: Page.all().count(),
        "ids": lambda: Page.all().ids(),
        "exists": lambda: Page.filter(id="ok").exists(),
        "values": lambda: list(Page.all().values()),
        "values_list": lambda: Page.all().values_list("title", flat=True),
        "filter indexed": lambda: Page.filter(title="fine").ids(),
        "filter scanned": lambda: Page.filter(n__gte=0).count(),
        "order_by": lambda: [p.id for p in Page.all().order_by("title")],
        "in_bulk": lambda: Page.all().in_bulk(["ok"]),
        "aggregate": lambda: Page.all().aggregate(total=__import__("gitmodel").aggregates.Sum("n")),
        "get at treeish": lambda: Page.get("ok", treeish="master"),
        "history": lambda: [v.instance for v in Page.history("ok")],
        "blame": lambda: Page.blame("ok"),
        "diff": lambda: Page.diff("ok", "master~1", "master"),
        "changes": lambda: ws.changes("master~1", "master"),
        "restore": lambda: Page.restore("ok", "master"),
        "walk": lambda: list(ws.walk()),
        "save and commit": lambda: Page(id="new", title="x").save(commit=True),
    }


def main(path: str) -> None:
    try:
        ws = Workspace(path)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        print(json.dumps(report("open", exc)), flush=True)
        return
    Page = define(ws)
    for name, call in read_paths(ws, Page).items():
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            print(json.dumps(report(name, exc)), flush=True)
        else:
            print(json.dumps({"call": name, "error": None}), flush=True)
        ws.reset()


def report(name: str, exc: BaseException) -> dict:
    return {
        "call": name,
        "error": type(exc).__name__,
        "gitmodel": isinstance(exc, GitModelError),
        "corrupt": isinstance(exc, CorruptObject),
        "path": getattr(exc, "path", None),
        "commit": str(getattr(exc, "commit", None) or ""),
        "message": str(exc),
    }


if __name__ == "__main__":
    main(sys.argv[1])
