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


@pytest.mark.parametrize("what", ["data blob", "object folder", "root tree", "commit"])
@pytest.mark.parametrize("call", ["get at", "all at", "count at", "history at", "get at id", "merge"])
def test_an_object_cut_on_a_branch_not_followed_ends_in_an_error_not_a_hang(tmp_path, what, call):
    """The other process writes its commit on a branch of its own, which the
    workspace reads at (``treeish=``) or merges: the first read at a commit
    not checked yet checks the loose objects again."""
    child = CHILD.replace('other.references["refs/heads/master"].set_target(commit)',
                          'other.references.create("refs/heads/theirs", commit)')
    calls = ('calls = {"get at": lambda: Page.get("a", treeish="theirs"), '
             '"all at": lambda: list(Page.all(treeish="theirs")), '
             '"count at": lambda: Page.all(treeish="theirs~0").count(), '
             '"history at": lambda: Page.history("a", treeish="theirs"), '
             '"get at id": lambda: Page.get("a", treeish=str(commit)), '
             '"merge": lambda: ws.merge("theirs")}')
    child = child.replace(child[child.index("calls = {"):child.index("\ntry:")], calls)
    done = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "store.git"), what, call],
        capture_output=True, text=True, timeout=BOUND, env={"PYTHONPATH": str(HERE.parent), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["corrupt"], result
    assert result["victim"] in result["message"] or result["victim"][:12] in result["message"], result


READ_AGAIN = r'''
import json, sys
from gitmodel import fields
from gitmodel.workspace import Workspace
ws = Workspace.init(sys.argv[1])
class Page(ws.GitModel):
    n = fields.IntegerField(default=0)
Page(id="a", n=1).save(commit=True)
page = Page.get("a")
page.n = 2
page.save(commit=True)
from gitmodel import objects
calls = []
real = objects.refuse_cut_objects
objects.refuse_cut_objects = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
behind = [Page.get("a", treeish="master~1").n for _ in range(50)]
at_behind = len(calls)
first = str(ws.branch.commit.parents[0].id)
by_id = [Page.get("a", treeish=first).n for _ in range(50)]
print(json.dumps({"values": sorted(set(behind + by_id)), "checks": [at_behind, len(calls)]}))
'''


def test_reading_again_at_a_checked_commit_checks_nothing_again(tmp_path):
    """Reads reached from the commit the workspace stands on (``master~1``)
    check nothing; reads at another commit's id check once, not fifty times."""
    done = subprocess.run(
        [sys.executable, "-c", READ_AGAIN, str(tmp_path / "store.git")],
        capture_output=True, text=True, timeout=BOUND, env={"PYTHONPATH": str(HERE.parent), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"values": [1], "checks": [0, 1]}, result
