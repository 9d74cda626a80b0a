"""A loose object cut short by another process after the store was opened
(libgit2 would loop on it forever): following the branch that process moved
checks the objects folders again (only fan-out folders whose stamp changed
are read), so the read ends with ``CorruptObject`` naming the object and
the commit instead of hanging. Each case runs in a child process with a
timeout, so a hang fails the test instead of wedging the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
#: seconds the child may take (a hang would take forever)
BOUND = 120

CHILD = r'''
import json, os, sys, zlib
import pygit2
from gitmodel import GitModelError, CorruptObject, fields
from gitmodel.workspace import Workspace
path, what, call = sys.argv[1:4]
ws = Workspace.init(path)
class Page(ws.GitModel):
    n = fields.IntegerField(default=0)
Page(id="a", n=1).save(commit=True)
assert Page.get("a").n == 1  # opened and read: the open-time check is behind us
# another process writes a commit whose object (loose) is cut short
other = pygit2.Repository(path)
head = other[other.references["refs/heads/master"].target]
blob = other.create_blob(b'{"model": "Page", "fields": {"id": "a", "n": 2}}\n')
inner = other.TreeBuilder(head.tree["page/a"]); inner.insert("data.json", blob, pygit2.GIT_FILEMODE_BLOB)
folder = other.TreeBuilder(head.tree["page"]); folder.insert("a", inner.write(), pygit2.GIT_FILEMODE_TREE)
root = other.TreeBuilder(head.tree); root.insert("page", folder.write(), pygit2.GIT_FILEMODE_TREE)
tree = root.write()
sig = pygit2.Signature("Mallory", "mallory@example.com", 1_700_000_000, 0)
commit = other.create_commit(None, sig, sig, "later\n", tree, [head.id])
victim = {"data blob": blob, "root tree": tree, "commit": commit,
          "object folder": other[tree]["page/a"].id}[what]
loose = os.path.join(path, "objects", str(victim)[:2], str(victim)[2:])
packed = open(loose, "rb").read()
os.chmod(loose, 0o644)
open(loose, "wb").write(packed[: len(packed) // 2])
other.references["refs/heads/master"].set_target(commit)
calls = {"get": lambda: Page.get("a"), "all": lambda: list(Page.all()), "count": lambda: Page.all().count(),
         "history": lambda: Page.history("a"), "save": lambda: Page(id="b").save(commit=True)}
try:
    calls[call]()
    print(json.dumps({"error": None}))
except GitModelError as exc:
    print(json.dumps({"error": type(exc).__name__, "corrupt": isinstance(exc, CorruptObject),
                      "message": str(exc), "victim": str(victim)}))
'''


@pytest.mark.parametrize("what", ["data blob", "object folder", "root tree", "commit"])
@pytest.mark.parametrize("call", ["get", "all", "count", "history", "save"])
def test_an_object_cut_after_open_ends_in_an_error_not_a_hang(tmp_path, what, call):
    env_path = str(HERE.parent)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "store.git"), what, call],
        capture_output=True, text=True, timeout=BOUND, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["corrupt"], result
    assert result["victim"] in result["message"] or result["victim"][:12] in result["message"], result
