#!/usr/bin/env python3
"""Web app bench: a threaded HTTP server editing pages through gitmodel.

Usage: python bench/webapp.py [--clients 8] [--requests 250] [--pages 50]

A real HTTP server (``http.server.ThreadingHTTPServer``, one thread per
connection) on 127.0.0.1 serves edit requests. Each request reads a page,
sets the field of its own client, adds its id to a dict field shared by all,
increments a counter whose field has a merge rule, saves, and commits under
its own message: half in ``ws.commit_on_success(...)``, half with ``save()``
then ``ws.commit(...)``. All clients edit the same pages at once, so commits
lose races and are merged field by field onto other requests' commits.

The same requests are first sent by one client alone (the single-threaded
figure), then by ``--clients`` clients at once, each run on a fresh
repository. Checked after each run: every commit holds exactly its own
request's edits under its own message, every request that got a success is
in history, the counters are exact, ``git fsck --strict`` is clean.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pygit2  # noqa: E402

from gitmodel import GitModelError, fields  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402


def add(base: Optional[int], ours: int, theirs: int) -> int:
    return ours + theirs - (base or 0)


def define_page(ws: Workspace, clients: int) -> type:
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "title": fields.CharField(default="", required=False),
        "requests": fields.JSONField(default=dict, required=False),
        "hits": fields.IntegerField(default=0, merge=add),
    }
    for c in range(clients):
        attrs[f"c{c}"] = fields.CharField(default="", required=False)
    return type("Page", (ws.GitModel,), attrs)


class App:
    """The web application: one workspace shared by every server thread."""

    def __init__(self, path: str, clients: int) -> None:
        self.ws = Workspace(path, lock_timeout=60)
        self.Page = define_page(self.ws, clients)

    def edit(self, page_id: str, client: int, request: str, atomic: bool) -> str:
        """One edit request; each thread has its own unit of work."""
        ws, message = self.ws, f"request {request}"
        if atomic:
            with ws.commit_on_success(message):
                self._change(page_id, client, request).save()
        else:
            self._change(page_id, client, request).save()
            ws.commit(message)
        return str(ws.branch.oid)

    def _change(self, page_id: str, client: int, request: str) -> Any:
        page = self.Page.get(page_id)
        setattr(page, f"c{client}", request)
        page.requests[request] = client
        page.hits += 1
        return page


def make_handler(app: App) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one server thread per client
        disable_nagle_algorithm = True  # no 40 ms wait between headers and body

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            try:
                commit = app.edit(query["page"], int(query["client"]), query["request"],
                                  query["mode"] == "atomic")
                status, body = 200, commit
            except GitModelError as exc:
                if app.ws.merging:  # leave nothing open for the next request
                    app.ws.reset()
                status, body = 409, f"{type(exc).__name__}: {exc}"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def plan(clients: int, requests: int, pages: int, seed: int = 7) -> list[list[tuple[str, str, str]]]:
    """Per client: ``(page id, request id, mode)`` for each of its requests."""
    rng = random.Random(seed)
    out = []
    for c in range(clients):
        mine = []
        for i in range(requests):
            mode = "atomic" if (c + i) % 2 == 0 else "save"
            mine.append((f"p{rng.randrange(pages):02d}", f"{c}-{i}", mode))
        out.append(mine)
    return out


def serve(path: str, clients: int) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(App(path, clients)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def client_run(port: int, requests: list[tuple[int, str, str, str]],
               ok: dict[str, str], failed: dict[str, str]) -> None:
    """Send ``(client, page, request id, mode)`` requests over one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for client, page, request, mode in requests:
            conn.request("POST", f"/edit?page={page}&client={client}&request={request}&mode={mode}",
                         body=b"", headers={"Content-Length": "0"})
            response = conn.getresponse()
            body = response.read().decode()
            (ok if response.status == 200 else failed)[request] = body
    finally:
        conn.close()


def seed_repo(path: str, clients: int, pages: int) -> None:
    ws = Workspace.init(path)
    Page = define_page(ws, clients)
    for p in range(pages):
        Page(id=f"p{p:02d}", title=f"page {p}").save()
    ws.commit("seed")


def run(path: str, work: list[list[tuple[str, str, str]]], clients: int, concurrent: bool) -> dict[str, Any]:
    server, thread = serve(path, clients)
    port = server.server_address[1]
    ok: dict[str, str] = {}
    failed: dict[str, str] = {}
    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=client_run, args=(port, [(c, *r) for r in reqs], ok, failed))
                   for c, reqs in enumerate(work)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:  # one client sends every request, the clients' lists interleaved
        longest = max(len(w) for w in work)
        client_run(port, [(c, *w[i]) for i in range(longest) for c, w in enumerate(work)
                          if i < len(w)], ok, failed)
    elapsed = time.perf_counter() - started
    server.shutdown()
    server.server_close()
    thread.join(10)
    total = sum(len(w) for w in work)
    return {"elapsed": elapsed, "rate": total / elapsed, "ok": ok, "failed": failed}


def check(path: str, work: list[list[tuple[str, str, str]]], ok: dict[str, str]) -> dict[str, int]:
    """Every commit holds exactly its own request's edits; nothing lost; fsck clean."""
    repo = pygit2.Repository(path)
    page_of = {r: (p, c) for c, reqs in enumerate(work) for p, r, _m in reqs}
    seen: set[str] = set()
    commits = list(repo.walk(repo.head.target))
    for commit in commits[:-1]:  # the last one is the seed
        request = commit.message.removeprefix("request ")
        assert request in page_of and request not in seen, f"unexpected commit {commit.message!r}"
        seen.add(request)
        assert len(commit.parents) == 1, f"{commit.message}: not linear"
        page, client = page_of[request]
        deltas = list(commit.parents[0].tree.diff_to_tree(commit.tree).deltas)
        paths = [d.new_file.path for d in deltas]
        assert paths == [f"page/{page}/data.json"], f"{commit.message}: changed {paths}"
        before = json.loads(repo[deltas[0].old_file.id].data)["fields"]
        after = json.loads(repo[deltas[0].new_file.id].data)["fields"]
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        assert changed == {f"c{client}", "requests", "hits"}, f"{commit.message}: changed {changed}"
        assert after[f"c{client}"] == request and after["hits"] == before.get("hits", 0) + 1
        assert set(after["requests"]) - set(before.get("requests", {})) == {request}
    assert seen == set(ok), f"{len(set(ok) - seen)} successful requests missing from history"
    head_tree = repo[repo.head.target].tree
    hits = 0
    expected: dict[str, int] = {}
    for request in ok:
        expected[page_of[request][0]] = expected.get(page_of[request][0], 0) + 1
    for entry in head_tree["page"]:
        data = json.loads(repo[entry.id]["data.json"].data)["fields"]
        assert data.get("hits", 0) == expected.get(entry.name, 0), f"page {entry.name}: counter"
        assert set(data.get("requests", {})) == {r for r in ok if page_of[r][0] == entry.name}
        hits += data.get("hits", 0)
    subprocess.run(["git", f"--git-dir={path}", "fsck", "--strict"], check=True, capture_output=True)
    return {"commits": len(commits) - 1, "hits": hits}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=250, help="per client")
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args(argv)
    work = plan(args.clients, args.requests, args.pages)
    total = args.clients * args.requests
    root = tempfile.mkdtemp(prefix="gitmodel-webapp-", dir=args.tmpdir)
    rows = []
    try:
        for label, concurrent in (("1 client", False), (f"{args.clients} clients", True)):
            path = str(Path(root) / f"{'threads' if concurrent else 'single'}.git")
            seed_repo(path, args.clients, args.pages)
            result = run(path, work, args.clients, concurrent)
            checked = check(path, work, result["ok"])
            rows.append((label, result, checked))
            if result["failed"]:
                print(f"{label}: {len(result['failed'])} request(s) refused, e.g. "
                      f"{next(iter(result['failed'].values()))}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{total} edit requests over {args.pages} pages, half commit_on_success, "
          "half save() then commit()")
    print(f"{'run':<12} {'requests/s':>11} {'ok':>6} {'refused':>8} {'commits':>8} {'counter':>8}")
    for label, result, checked in rows:
        print(f"{label:<12} {result['rate']:>11.0f} {len(result['ok']):>6} "
              f"{len(result['failed']):>8} {checked['commits']:>8} {checked['hits']:>8}")
    ratio = rows[1][1]["rate"] / rows[0][1]["rate"]
    print(f"threaded / single: {ratio:.2f}x (target 0.9x); every commit holds exactly its "
          "own request's edits, nothing lost, counters exact, fsck clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
