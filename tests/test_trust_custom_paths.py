"""Hostile trees under a model whose ``Meta.get_data_path`` places its files.

A folder entry whose mode says folder but which names a commit, a blob or
nothing (written by another tool, with raw pygit2) must not hide objects
silently, nor crash libgit2's tree reader: every listing reports it as
``get()`` does, as a ``CorruptObject`` naming the path, and
``errors="skip"`` lists the rest and reports it in ``skipped``.
"""

import pygit2
import pytest

from attacker import ATTACKER, TREE, fsck, page_json, raw_tree
from gitmodel import fields
from gitmodel.exceptions import CorruptObject
from gitmodel.workspace import Workspace

KINDS = ["commit", "blob", "missing"]


def define(ws: Workspace) -> type:
    class Doc(ws.GitModel):
        name = fields.CharField(id=True)
        n = fields.IntegerField(default=0)

        class Meta:
            def get_data_path(self, object_id):
                return f"docs/{object_id}/d.json"

    return Doc


def _target(repo: pygit2.Repository, kind: str, head: pygit2.Commit) -> pygit2.Oid:
    return {"commit": head.id, "blob": repo.create_blob(page_json("c1", model="Doc", n=1)),
            "missing": pygit2.Oid(hex="3" * 40)}[kind]


def _commit_root(repo: pygit2.Repository, root: pygit2.Oid, head: pygit2.Commit) -> None:
    commit = repo.create_commit(None, ATTACKER, ATTACKER, "hide one\n", root, [head.id])
    repo.references["refs/heads/master"].set_target(commit)


def _two_docs(tmp_path) -> Workspace:
    ws = Workspace.init(tmp_path / "store.git")
    Doc = define(ws)
    Doc(name="a1", n=1).save()
    Doc(name="b1", n=2).save()
    ws.commit("two docs")
    return ws


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_folder_naming_no_tree_is_reported_not_hidden(tmp_path, kind):
    ws = _two_docs(tmp_path)
    repo = ws.repo
    head = repo[ws.branch.oid]
    docs = head.tree["docs"]
    entries = [(e.name.encode(), e.filemode, e.id) for e in docs] + [(b"c1", TREE, _target(repo, kind, head))]
    _commit_root(repo, raw_tree(repo, [(b"docs", TREE, raw_tree(repo, entries))]), head)

    Doc = define(Workspace(ws.path))
    with pytest.raises(CorruptObject):
        Doc.get("c1")
    for call in (lambda: Doc.all().ids(), lambda: Doc.all().count(), lambda: list(Doc.all()),
                 lambda: Doc.filter(n=1).ids()):
        with pytest.raises(CorruptObject) as exc:
            call()
        assert exc.value.path == "docs/c1", exc.value
    qs = Doc.all()
    qs.errors = "skip"
    assert sorted(d.name for d in qs) == ["a1", "b1"]
    assert [e.path for e in qs.skipped] == ["docs/c1"]
    assert Doc.get("a1").n == 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_model_folder_itself_naming_no_tree_is_reported(tmp_path, kind):
    ws = _two_docs(tmp_path)
    repo = ws.repo
    head = repo[ws.branch.oid]
    _commit_root(repo, raw_tree(repo, [(b"docs", TREE, _target(repo, kind, head))]), head)

    Doc = define(Workspace(ws.path))
    with pytest.raises(CorruptObject) as exc:
        Doc.all().ids()
    assert exc.value.path == "docs"
    qs = Doc.all()
    qs.errors = "skip"
    assert list(qs) == [] and [e.path for e in qs.skipped] == ["docs"]


def test_staged_objects_beside_a_folder_naming_no_tree_are_listed(tmp_path):
    """A save staged in the same folder keeps being listed; the damaged entry
    is still reported, and nothing staged is lost by the failed listing."""
    ws = _two_docs(tmp_path)
    repo = ws.repo
    head = repo[ws.branch.oid]
    docs = head.tree["docs"]
    entries = [(e.name.encode(), e.filemode, e.id) for e in docs] + [(b"c1", TREE, head.id)]
    _commit_root(repo, raw_tree(repo, [(b"docs", TREE, raw_tree(repo, entries))]), head)

    fresh = Workspace(ws.path)
    Doc = define(fresh)
    Doc(name="d1", n=4).save()  # staged, not committed
    with pytest.raises(CorruptObject):
        Doc.all().ids()
    qs = Doc.all()
    qs.errors = "skip"
    assert sorted(d.name for d in qs) == ["a1", "b1", "d1"]
    assert [e.path for e in qs.skipped] == ["docs/c1"]
    assert Doc.get("d1").n == 4


def test_a_clean_custom_store_lists_every_object_and_passes_fsck(tmp_path):
    ws = _two_docs(tmp_path)
    Doc = define(Workspace(ws.path))
    assert Doc.all().ids() == ["a1", "b1"] and Doc.all().count() == 2
    assert fsck(ws.path).returncode == 0
