"""An open merge's record (``refs/gitmodel/merge/<branch>``) written by
another tool: reading it is a ``CorruptObject`` naming the ref, in the
library, the command line and the admin, and aborting drops it, so the
branch can be worked on again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pygit2
import pytest
from starlette.testclient import TestClient

import gitmodel
from gitmodel import CorruptObject, Workspace, fields
from gitmodel.web import create_app

ROOT = Path(gitmodel.__file__).resolve().parents[1]
REF = "refs/gitmodel/merge/master"


def define(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    return Page


def open_merge(path: Path) -> None:
    ws = Workspace.init(path)
    page = define(ws)
    page(id="p0", title="base").save(commit=True, message="base")
    ws.create_branch("other")
    obj = page.get("p0")
    obj.title = "ours"
    obj.save(commit=True, message="ours")
    other = Workspace(path, "other")
    theirs = define(other).get("p0")
    theirs.title = "theirs"
    theirs.save(commit=True, message="theirs")
    assert ws.merge("other").conflicts


def rewrite_record(path: Path, change: Callable[[pygit2.Repository, dict[str, Any]], bytes]) -> None:
    repo = pygit2.Repository(str(path))
    ref = repo.references[REF]
    record = repo[ref.target]
    meta = json.loads(record.tree["merge.json"].data)
    builder = repo.TreeBuilder(record.tree)
    builder.insert("merge.json", repo.create_blob(change(repo, meta)), pygit2.GIT_FILEMODE_BLOB)
    sig = pygit2.Signature("Mallory", "m@example.com")
    ref.set_target(repo.create_commit(None, sig, sig, "x\n", builder.write(), record.parent_ids))


def _with(**values: Any) -> Callable[[pygit2.Repository, dict[str, Any]], bytes]:
    return lambda _repo, meta: json.dumps({**meta, **values}).encode()


CHANGES = {
    "theirs is no object": _with(theirs="5" * 40),
    "theirs is a blob": lambda repo, meta: json.dumps({**meta, "theirs": str(repo.create_blob(b"x"))}).encode(),
    "head is no object": _with(head="5" * 40),
    "head is short": _with(head="abc"),
    "an unknown strategy": _with(strategy="zzz"),
    "an unknown kind": _with(kind="octopus"),
    "an added file id that is no id": _with(added=[{"model": "Page", "id": "p9", "files": [{"data.json": "zz"}] * 3}]),
    "an added entry that is a string": _with(added=["x"]),
    "a record that is a list": lambda _repo, _meta: b"[1, 2]",
    "a record nested 100,000 deep": lambda _repo, _meta: b'{"format": 1, "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_damaged_merge_record_is_refused_everywhere_and_aborting_drops_it(tmp_path: Path, change: str) -> None:
    path = tmp_path / "store.git"
    open_merge(path)
    rewrite_record(path, CHANGES[change])
    ws = Workspace(path)
    page = define(ws)
    with pytest.raises(CorruptObject) as caught:
        ws.conflicts
    assert caught.value.path == REF
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shown = subprocess.run([sys.executable, "-m", "gitmodel", "-C", str(path), "conflicts"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in shown.stderr and REF in shown.stderr, shown.stderr[-1000:]
    site = TestClient(create_app(Workspace(path)), base_url="http://127.0.0.1", raise_server_exceptions=False)
    page_shown = site.get("/merge")  # the admin's error page, naming the record
    assert page_shown.status_code == 500 and REF in page_shown.text and "CorruptObject" in page_shown.text
    assert "Traceback" not in page_shown.text and site.get("/").status_code == 200
    assert pygit2.Repository(str(path)).references.get(REF) is not None  # looking changed nothing
    ws.abort_merge()
    assert pygit2.Repository(str(path)).references.get(REF) is None
    assert ws.conflicts == [] and page.get("p0").title == "ours"
    page(id="p1", title="after").save(commit=True, message="work goes on")
    fsck = subprocess.run(["git", "--git-dir", str(path), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_the_command_line_aborts_a_damaged_merge(tmp_path: Path) -> None:
    path = tmp_path / "store.git"
    open_merge(path)
    rewrite_record(path, CHANGES["a record nested 100,000 deep"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "gitmodel", "-C", str(path), "merge", "--abort"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-1000:]
    assert pygit2.Repository(str(path)).references.get(REF) is None
