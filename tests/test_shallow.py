"""Shallow and single-branch clones over ``git daemon``: latest data only, deepen on demand."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitmodel import RemoteError, ShallowHistoryError, fields
from gitmodel.exceptions import ConfigurationError
from gitmodel.workspace import Workspace

from gitservers import GitDaemon


def git(repo: str | Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True).stdout


def define_page(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()

    return Page


@pytest.fixture
def hub(tmp_path: Path):
    """A hub whose master has 5 commits editing page ``home`` and adding ``p-<i>``; branch ``other``."""
    root = tmp_path / "srv"
    root.mkdir()
    ws = Workspace.init(root / "hub.git", initial_branch="master")
    Page = define_page(ws)
    for i in range(5):
        home = Page.get("home") if i else Page(slug="home")
        home.title = f"Home v{i}"
        home.save()
        Page(slug=f"p-{i}", title=f"Page {i}").save()
        ws.commit(f"commit {i}")
    ws.create_branch("other")
    ws.set_branch("other")
    Page(slug="elsewhere", title="only on other").save(commit=True, message="other")
    ws.set_branch("master")
    with GitDaemon(root) as daemon:
        yield daemon


def test_a_shallow_clone_has_the_latest_data_and_one_branch(hub: GitDaemon, tmp_path: Path):
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", depth=1)
    assert ws.repo.is_shallow
    Page = define_page(ws)
    assert Page.get("home").title == "Home v4"
    assert sorted(p.slug for p in Page.all()) == ["home"] + [f"p-{i}" for i in range(5)]
    assert [c.message for c in ws.walk()] == ["commit 4"]
    refs = git(ws.path, "for-each-ref", "--format=%(refname)").split()
    assert refs == ["refs/heads/master", "refs/remotes/origin/HEAD", "refs/remotes/origin/master"]
    assert len(git(ws.path, "rev-list", "--all").split()) == 1
    git(ws.path, "fsck", "--strict")

    # history that needs what lies past the edge: a clear error, not a wrong answer
    with pytest.raises(ShallowHistoryError, match="shallow") as info:
        Page.get("home").history()
    assert str(info.value.commit) == str(ws.branch.oid)

    # new work on top of the shallow clone commits and syncs as usual
    Page(slug="new", title="New").save(commit=True, message="new")
    assert [v.change for v in Page.get("new").history()] == ["added"]
    assert ws.sync().pushed
    assert git(hub.root / "hub.git", "show", "refs/heads/master:" + Page.get("new").get_data_path())


def test_fetch_deepens_and_unshallows(hub: GitDaemon, tmp_path: Path):
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", depth=1)
    Page = define_page(ws)
    ws.fetch(depth=3)
    assert [c.message for c in ws.walk()] == ["commit 4", "commit 3", "commit 2"]
    with pytest.raises(ShallowHistoryError):
        Page.get("home").history()  # still reaches past the edge
    assert [v.change for v in Page.get("p-4").history()] == ["added"]  # does not: fine
    ws.fetch(unshallow=True)
    assert not ws.repo.is_shallow
    assert [v.instance.title for v in Page.get("home").history()] == [f"Home v{i}" for i in range(4, -1, -1)]
    git(ws.path, "fsck", "--strict")


def test_a_shallow_clone_of_a_named_branch(hub: GitDaemon, tmp_path: Path):
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", branch="other", depth=2)
    assert ws.head == "refs/heads/other"
    assert define_page(ws).get("elsewhere").title == "only on other"
    assert [c.message for c in ws.walk()] == ["other", "commit 4"]
    assert git(ws.path, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/other", "refs/remotes/origin/other",
    ]
    full = Workspace.clone(hub.url("hub.git"), tmp_path / "full.git", branch="other", single_branch=True)
    assert not full.repo.is_shallow and len(list(full.walk())) == 6
    assert "refs/remotes/origin/master" not in git(full.path, "for-each-ref")


def test_bad_depths_and_transports_are_refused_clearly(hub: GitDaemon, tmp_path: Path):
    for depth in (-1, "2", 1.5):
        with pytest.raises(ConfigurationError, match="depth"):
            Workspace.clone(hub.url("hub.git"), tmp_path / "bad.git", depth=depth)  # type: ignore[arg-type]
        assert not (tmp_path / "bad.git").exists()
    with pytest.raises(RemoteError, match="shallow"):  # libgit2's local transport has no shallow fetch
        Workspace.clone(hub.root / "hub.git", tmp_path / "local.git", depth=1)
    assert not (tmp_path / "local.git").exists()
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", depth=1)
    for kwargs in ({"depth": 0}, {"depth": -2}, {"depth": 2, "unshallow": True}):
        with pytest.raises(ConfigurationError):
            ws.fetch(**kwargs)
    assert [c.message for c in ws.walk()] == ["commit 4"]


def test_a_shallow_clone_refuses_a_merge_whose_base_it_lacks(hub: GitDaemon, tmp_path: Path):
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", depth=1)
    Page = define_page(ws)
    Page(slug="mine", title="Mine").save(commit=True, message="mine")
    # the hub's master is rewritten from an old commit: the common ancestor is past the edge
    hub_repo = hub.root / "hub.git"
    old = git(hub_repo, "rev-parse", "master~3").strip()
    git(hub_repo, "update-ref", "refs/heads/master", old)
    server = Workspace(hub_repo)
    define_page(server)(slug="theirs", title="Theirs").save(commit=True, message="theirs")
    before = ws.branch.oid
    with pytest.raises(ShallowHistoryError, match="beyond the shallow edge"):
        ws.sync()
    with pytest.raises(ShallowHistoryError, match="beyond the shallow edge"):
        ws.pull()
    assert ws.branch.oid == before and not ws.merging and not ws.has_changes()
    ws.fetch(unshallow=True)
    assert ws.sync().merges == 1


def test_reverting_the_edge_commit_of_a_shallow_clone_is_refused(hub: GitDaemon, tmp_path: Path):
    """The edge commit's parent was not fetched: libgit2 sees no parent, and
    its inverse would be "delete everything". Refused; a full clone reverts."""
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", depth=1)
    define_page(ws)
    edge = ws.branch.oid
    index = ws.index.id
    with pytest.raises(ShallowHistoryError, match="edge of this shallow clone"):
        ws.revert(edge)
    assert ws.index.id == index and not ws.has_changes()
    ws.fetch(unshallow=True)
    changes = ws.revert(edge)
    assert changes and len(changes) < 3  # the commit's own change, not the whole store


def test_history_after_unshallow_goes_past_the_old_edge(hub: GitDaemon, tmp_path: Path):
    """libgit2 keeps the edge commit it parsed while shallow without parents;
    the history read after fetch(unshallow=True) still goes on past it."""
    ws = Workspace.clone(hub.url("hub.git"), tmp_path / "c.git", depth=1)
    Page = define_page(ws)
    assert ws.repo[ws.branch.oid].parent_ids == []  # the edge, parsed while shallow
    with pytest.raises(ShallowHistoryError):
        Page.get("home").history()
    ws.fetch(unshallow=True)
    assert [v.instance.title for v in Page.get("home").history()] == [f"Home v{i}" for i in range(4, -1, -1)]
    assert len(ws.revert(ws.branch.oid)) == 2  # home back to v3, p-4 gone
