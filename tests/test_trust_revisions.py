"""A revision expression (``master~1``, ``HEAD^``, ``v1~1``, a full id)
that reaches a damaged commit says so: every call that takes a treeish
raises ``CorruptObject`` naming the damaged commit's id, not
``ReferenceNotFound``; a revision that does not exist still raises
``ReferenceNotFound``. The damage is done to the loose object file, the
way a disk or an attacker leaves it."""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any, Callable

import pygit2
import pytest

from gitmodel import CorruptObject, GitModelError, ReferenceNotFound, fields
from gitmodel.workspace import Workspace


def define(ws: Workspace) -> type:
    class Page(ws.GitModel):
        n = fields.IntegerField(default=0)

    return Page


def damage(path: Path, how: str) -> None:
    """Damage the loose object at ``path`` the way ``how`` says."""
    raw = zlib.decompress(path.read_bytes())
    os.chmod(path, 0o644)
    if how == "missing":
        path.unlink()
    elif how == "flipped byte":  # a byte of the parent line: a hash mismatch
        at = raw.index(b"parent ") + 10
        path.write_bytes(zlib.compress(raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:]))
    elif how == "bad header":
        path.write_bytes(zlib.compress(b"cummit" + raw[6:]))
    elif how == "wrong length":
        head, _, body = raw.partition(b"\0")
        path.write_bytes(zlib.compress(b"commit %d\0" % (len(body) + 7) + body))
    elif how == "garbage body":  # a well-framed commit that is not one
        path.write_bytes(zlib.compress(b"commit 12\0not a commit"))
    elif how == "a tree in its place":
        path.write_bytes(zlib.compress(b"tree 0\0"))


DAMAGE = ["missing", "flipped byte", "bad header", "wrong length", "garbage body", "a tree in its place"]


@pytest.fixture
def history(tmp_path):
    """Four commits on master (``master~1`` is the one damaged), an
    annotated tag ``v1`` on the last and a lightweight tag ``light``."""
    ws = Workspace.init(tmp_path / "store.git")
    Page = define(ws)
    page = Page(id="a", n=0)
    page.save(commit=True)
    for n in (1, 2, 3):
        page.n = n
        page.save(commit=True)
    repo = ws.repo
    head = repo[ws.branch.oid]
    repo.create_tag("v1", head.id, pygit2.enums.ObjectType.COMMIT, pygit2.Signature("a", "a@example.com"), "v1\n")
    repo.create_reference("refs/tags/light", head.id)
    victim = head.parent_ids[0]
    return ws, victim


def calls(ws: Workspace, Page: type, treeish: str) -> dict[str, Callable[[], Any]]:
    """Every public call that takes ``treeish``."""
    return {
        "get": lambda: Page.get("a", treeish=treeish),
        "all": lambda: list(Page.all(treeish=treeish)),
        "filter count": lambda: Page.all(treeish=treeish).filter(n=1).count(),
        "history": lambda: Page.history("a", treeish=treeish),
        "diff": lambda: Page.diff("a", treeish),
        "changes": lambda: ws.changes(treeish),
        "restore": lambda: Page.restore("a", treeish),
        "resolve_treeish": lambda: ws.resolve_treeish(treeish),
        "schemas": lambda: ws.schemas(treeish),
        "merge": lambda: ws.merge(treeish),
        "create_branch": lambda: ws.create_branch("from-there", treeish),
        "update_index": lambda: ws.update_index(treeish),
    }


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("revision", ["master~1", "HEAD^", "v1~1", "light^1", "master~2", "HEAD~3", "<id>"])
def test_a_damaged_commit_on_the_way_is_named(history, how, revision):
    ws, victim = history
    path = Path(ws.repo.path) / "objects" / str(victim)[:2] / str(victim)[2:]
    damage(path, how)
    fresh = Workspace(ws.path)
    Page = define(fresh)
    treeish = str(victim) if revision == "<id>" else revision
    before = (fresh.repo.references["refs/heads/master"].target, fresh.has_changes())
    for name, call in calls(fresh, Page, treeish).items():
        if revision == "<id>" and how == "missing":
            with pytest.raises(ReferenceNotFound):  # an id of nothing: it does not exist
                call()
            continue
        with pytest.raises(GitModelError) as exc:
            call()
        assert isinstance(exc.value, CorruptObject), (name, exc.value)
        assert exc.value.commit == victim, (name, exc.value)
        assert str(victim)[:12] in str(exc.value), (name, exc.value)
        assert (fresh.repo.references["refs/heads/master"].target, fresh.has_changes()) == before, name
    assert Page.get("a").n == 3  # the branch itself stays readable


@pytest.mark.parametrize("revision", ["master~9", "HEAD^2", "v1~9", "nosuch~1", "nosuch", "master^^^^^", "0" * 40])
def test_a_revision_that_does_not_exist_is_still_not_found(history, revision):
    ws, _victim = history
    Page = define(ws)
    for name, call in calls(ws, Page, revision).items():
        with pytest.raises(ReferenceNotFound):
            call()
