"""Web admin benchmark: the admin's server time beside the library doing the same.

    python bench/web.py              # a quick run (2,000 objects)
    python bench/web.py --n 100000   # the figure quoted in the admin guide

Builds a store of ``--n`` pages and gives one of them ``--versions``
versions, then measures in one run, each through the admin (the ASGI
application called in process on its own event loop, as a server runs it,
so the time is the server's: routing, reading the request, the query, the
template, the response) and through the library, in turns, as processor
time:

* a list page of 50 objects (with the total count), against
  ``Page.all().count()`` and ``list(Page.all()[:50])``;
* the object page of the page with the long history (fields, history,
  blame), against ``Page.get(id)`` and ``Page.history(id)`` with each
  version's changed fields;
* a save from the edit form (one commit), against ``obj.save(commit=True)``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from gitmodel import Workspace, fields
from gitmodel.web import create_app

TARGET = 1.5


class Server:
    """The ASGI application on an event loop of its own, in a thread, as a
    server runs it; :meth:`request` hands it one request and returns the
    answer with the processor time it took (processor time, unlike the wall
    clock, does not count what other programs of the machine run meanwhile;
    the calling thread only waits)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: Any = None) -> tuple[int, str, float]:
        body = urlencode(form).encode() if form is not None else b""
        headers = [(b"host", b"127.0.0.1"),
                   (b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode())]
        if form is not None:
            headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                        (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 80)}
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = message.get("headers", [])
            else:
                answer["body"] += message.get("body", b"")

        async def call() -> None:
            await self.app(scope, receive, send)

        start = time.process_time()
        asyncio.run_coroutine_threadsafe(call(), self.loop).result()
        spent = time.process_time() - start
        for name, value in answer["headers"]:
            if name == b"set-cookie":
                key, _, rest = value.decode().partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return answer["status"], answer["body"].decode(), spent


def compared(admin_fn: Callable[[], float], library_fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median server seconds of ``repeat`` requests made by ``admin_fn`` and
    median processor seconds of as many ``library_fn`` calls, taken in
    turns so that both meet the same state of the machine."""
    served, timed = [], []
    for _ in range(repeat):
        served.append(admin_fn())
        start = time.process_time()
        library_fn()
        timed.append(time.process_time() - start)
    return statistics.median(served), statistics.median(timed)


def build(path: Path, n: int, versions: int) -> None:
    ws = Workspace.init(path)

    class Page(ws.GitModel):
        title = fields.CharField()
        body = fields.CharField()
        rank = fields.IntegerField()

        class Meta:
            shard = 1

    print(f"building {n:,} objects and {versions} versions of one ...", flush=True)
    start = time.perf_counter()
    for i in range(n):
        Page(id=f"p{i:07d}", title=f"page {i}", body="lorem ipsum " * 8, rank=i).save()
    ws.commit("import")
    page = Page.get("p0000000")
    for v in range(versions - 1):
        page.rank = v
        page.save(commit=True, message=f"version {v + 2}")
    print(f"  built in {time.perf_counter() - start:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000, help="objects in the store")
    parser.add_argument("--versions", type=int, default=100, help="versions of the object page's object")
    parser.add_argument("--repeat", type=int, default=15, help="runs per measure (the median is shown)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitmodel-web-bench-"))
    try:
        run(tmp / "store.git", args.n, args.versions, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(path: Path, n: int, versions: int, repeat: int) -> None:
    build(path, n, versions)
    ws = Workspace(path)
    server = Server(create_app(ws))
    from gitmodel.web.models import admin_models

    Page = admin_models(Workspace(path))[0]["Page"]
    library_ws = Page._meta.workspace
    object_id = "p0000000"

    def admin_list() -> float:
        status, _, spent = server.request("GET", "/m/Page")
        assert status == 200
        return spent

    def library_list() -> None:
        library_ws.refresh()
        qs = Page.all()
        qs.count()
        list(qs[:50])

    def admin_object() -> float:
        status, _, spent = server.request("GET", f"/m/Page/o/{object_id}")
        assert status == 200
        return spent

    def library_object() -> None:
        library_ws.refresh()
        Page.get(object_id)
        for version in Page.history(object_id):
            list(version.changes)

    server.request("GET", "/")
    token = server.cookies["gitmodel_csrf"]
    counter = iter(range(10**9))

    def admin_save() -> float:
        page = server.request("GET", f"/m/Page/o/{object_id}/edit")[1]
        version = re.search(r'name="_version" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        commit = re.search(r'name="_commit" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"csrf_token": token, "_version": version, "_commit": commit, "title": f"t{next(counter)}",
                "body": "x", "rank": "1", "message": "edit", "author_name": "B", "author_email": "b@x"}
        status, text, spent = server.request("POST", f"/m/Page/o/{object_id}/edit", form)
        assert status == 303, text[:500]
        return spent

    def library_save() -> None:
        library_ws.refresh()
        obj = Page.get(object_id)
        obj.title = f"t{next(counter)}"
        obj.save(commit=True, message="edit", author=("B", "b@x"))

    rows = []
    for label, admin_fn, library_fn in (
        ("list page of 50 (with the count)", admin_list, library_list),
        (f"object page, {versions} versions", admin_object, library_object),
    ):
        admin_fn()
        library_fn()  # warm both
        rows.append((label, *compared(admin_fn, library_fn, repeat)))
    admin_save()
    library_save()
    rows.append(("save from the edit form (one commit)", *compared(admin_save, library_save, repeat)))
    print(f"\n{n:,} objects; median of {repeat} runs; processor time; the admin's is its server's, from request to response\n")
    print(f"{'operation':40} {'admin':>10} {'library':>10} {'ratio':>7}")
    for label, admin_s, library_s in rows:
        ratio = admin_s / library_s if library_s else float("inf")
        mark = "" if ratio <= TARGET else f"  (target {TARGET}x missed)"
        print(f"{label:40} {admin_s * 1000:8.1f}ms {library_s * 1000:8.1f}ms {ratio:6.2f}x{mark}")


if __name__ == "__main__":
    main()
