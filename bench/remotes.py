"""Clone and push over git's smart HTTP: gitmodel (libgit2) next to plain git.

Builds a store of ``--n`` model objects (each a data blob and its folder's
tree, so about ``2 * n`` git objects), serves it with ``git http-backend``
behind basic authentication on 127.0.0.1, then times, in the same run:

- a clone with ``Workspace.clone`` and with ``git clone --bare``;
- a push of ``--edits`` changed objects with ``ws.push()`` and with
  ``git push`` of the very same commit to an identical copy of the server.

Usage: ``python bench/remotes.py`` (100,000 objects) or ``--n 5000`` for a
quick run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from gitmodel import Workspace, fields  # noqa: E402
from gitmodel.remotes import Callbacks  # noqa: E402
from gitmodel.serializers import json as json_format  # noqa: E402

from gitservers import GitHttpServer  # noqa: E402

USER, PASSWORD = "bench", "bench-password"


def git(*args: str, cwd: Path | None = None) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout


def define_page(ws: Workspace):
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        body = fields.CharField(required=False, default="")

    return Page


def build_store(path: Path, n: int) -> None:
    """``n`` pages, written as ``Page.save()`` would (same paths, same JSON), only faster."""
    ws = Workspace.init(path, initial_branch="master")
    Page = define_page(ws)
    for i in range(n):
        page = Page(slug=f"page-{i:06d}", title=f"Page {i}", body=f"Body of page {i}, " * 3)
        if i == 0:
            page.save()  # the reference: the loop below must write the same bytes
            reference = ws.repo[ws.lookup(page.get_data_path())[0]].data
            assert reference == json_format.dumps("Page", page.to_json_fields())
            continue
        ws.add_blob(page.get_data_path(), json_format.dumps("Page", page.to_json_fields()))
    ws.commit(f"{n} pages")
    git("--git-dir", str(path), "repack", "-adq")  # serve from one pack, as a server would


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def report(label: str, times: list[float], objects: int = 0) -> None:
    best, median = min(times), statistics.median(times)
    rate = f"  {objects / best:10,.0f} objects/s" if objects else ""
    print(f"  {label:28s} {best:8.2f} s / {median:6.2f} s{rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="model objects in the store")
    parser.add_argument("--edits", type=int, default=1_000, help="objects changed before the push")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="remotes-bench-"))
    try:
        root = tmp / "srv"
        root.mkdir()
        t_build, _ = timed(lambda: build_store(root / "a.git", args.n))
        shutil.copytree(root / "a.git", root / "b.git")  # identical server for the git baseline
        count = git("--git-dir", str(root / "a.git"), "count-objects", "-v")
        stats = dict(line.split(": ") for line in count.splitlines())
        objects = int(stats["in-pack"]) + int(stats["count"])
        pack_mb = int(stats["size-pack"]) / 1024
        print(f"store: {args.n:,} model objects = {objects:,} git objects, pack {pack_mb:.1f} MiB "
              f"(built in {t_build:.1f} s)")

        with GitHttpServer(root, USER, PASSWORD) as http:
            creds = Callbacks(USER, PASSWORD)
            url_a, url_b = http.url("a.git"), http.url("b.git")
            auth_b = url_b.replace("http://", f"http://{USER}:{PASSWORD}@")

            gm_clone, git_clone = [], []
            for r in range(args.repeat):  # alternate, so both see the same machine load
                for name in (f"gm{r}.git", f"plain{r}.git"):
                    shutil.rmtree(tmp / name, ignore_errors=True)
                t, ws = timed(lambda: Workspace.clone(url_a, tmp / f"gm{r}.git", callbacks=creds))
                gm_clone.append(t)
                t, _ = timed(lambda: git("clone", "--bare", "-q", auth_b, str(tmp / f"plain{r}.git")))
                git_clone.append(t)
            print(f"\nclone over smart HTTP with basic auth (best / median of {args.repeat})")
            report("gitmodel Workspace.clone", gm_clone, objects)
            report("git clone --bare", git_clone, objects)

            Page = define_page(ws)
            step = max(1, args.n // args.edits)
            for i in range(0, step * args.edits, step):
                page = Page.get(f"page-{i:06d}")
                page.title = f"Page {i} (edited)"
                page.save()
            base = ws.branch.oid
            commit = ws.commit(f"edit {args.edits} pages")
            gm, plain = tmp / f"gm{args.repeat - 1}.git", tmp / f"plain{args.repeat - 1}.git"
            # the plain clone gets the same commit locally, so both push the same objects
            git("--git-dir", str(plain), "fetch", "-q", str(gm), f"{commit}:refs/heads/edited")
            gm_push, git_push = [], []
            for _ in range(args.repeat):
                for name in ("a.git", "b.git"):  # the servers start where the clones did
                    git("--git-dir", str(root / name), "update-ref", "refs/heads/master", str(base))
                t, moved = timed(lambda: ws.push())
                assert moved == {"refs/heads/master": (base, commit)}, moved
                gm_push.append(t)
                t, _ = timed(lambda: git("--git-dir", str(plain), "push", "-q", auth_b,
                                         "refs/heads/edited:refs/heads/master"))
                git_push.append(t)
                for name in ("a.git", "b.git"):
                    head = git("--git-dir", str(root / name), "rev-parse", "master").strip()
                    assert head == str(commit), (name, head, commit)
            print(f"\npush of {args.edits:,} changed objects over smart HTTP (best / median of {args.repeat})")
            report("gitmodel ws.push", gm_push)
            report("git push", git_push)
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
