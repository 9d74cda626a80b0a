"""Several writing clones converging through one hub with ``ws.sync()``.

The hub is a bare repository served by ``git daemon`` on 127.0.0.1; the
clones run in this process or, for the cluster, in real child processes.
Plain ``git`` checks what the hub holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pygit2
import pytest

from gitmodel import PushRaceLost, PushRejected, RemoteError, RepositoryError, fields
from gitmodel.exceptions import ConfigurationError
from gitmodel.workspace import Workspace

from gitservers import GitDaemon

BENCH = Path(__file__).resolve().parent.parent / "bench" / "cluster.py"


def git(repo: Path | str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True
    ).stdout


def models(ws: Workspace) -> tuple[Any, Any]:
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        content = fields.CharField(default="", required=False)

    class Counter(ws.GitModel):
        total = fields.IntegerField(default=0, merge=lambda base, ours, theirs: ours + theirs - base)

    return Page, Counter


@pytest.fixture
def hub(tmp_path: Path):
    """A bare hub with a first commit (two pages and a shared counter), served by git daemon."""
    root = tmp_path / "srv"
    root.mkdir()
    seed = Workspace.init(root / "hub.git", initial_branch="master")
    Page, Counter = models(seed)
    Page(slug="home", title="Home", content="first").save()
    Counter(id="shared", total=0).save()
    seed.commit("seed")
    with GitDaemon(root) as daemon:
        yield daemon


def clone(hub: GitDaemon, tmp_path: Path, name: str) -> Workspace:
    return Workspace.clone(hub.url("hub.git"), tmp_path / f"{name}.git")


def hub_head(hub: GitDaemon) -> str:
    return git(hub.root / "hub.git", "rev-parse", "refs/heads/master").strip()


class BeforePush(pygit2.RemoteCallbacks):
    """Runs ``action`` once, after the hub told where its refs are and before the pack goes."""

    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__()
        self.action: Callable[[], None] | None = action

    def push_negotiation(self, updates: list[Any]) -> None:
        action, self.action = self.action, None
        if action is not None:
            action()


def test_sync_merges_field_by_field_and_pushes(hub: GitDaemon, tmp_path: Path):
    a, b = clone(hub, tmp_path, "a"), clone(hub, tmp_path, "b")
    (PageA, CounterA), (PageB, CounterB) = models(a), models(b)
    page = PageA.get("home")
    page.title = "Title by A"
    page.save(commit=True, message="A: title")
    page = PageB.get("home")
    page.content = "Content by B"
    page.save(commit=True, message="B: content")

    first = a.sync()
    assert first.pushed and first.merges == 0 and first.rejected == 0
    second = b.sync()
    assert second.merges == 1 and second.pushed and not second.conflicts
    assert hub_head(hub) == str(b.branch.oid)
    third = a.sync()
    assert third.pushed == {} and a.branch.oid == b.branch.oid
    assert a.sync().up_to_date
    for Page in (PageA, PageB):
        merged = Page.get("home")
        assert (merged.title, merged.content) == ("Title by A", "Content by B")
    git(hub.root / "hub.git", "fsck", "--strict")


def test_a_push_refused_because_another_clone_was_first_is_retried(hub: GitDaemon, tmp_path: Path):
    a, b = clone(hub, tmp_path, "a"), clone(hub, tmp_path, "b")
    (PageA, CounterA), (PageB, CounterB) = models(a), models(b)

    def b_pushes_first() -> None:
        counter = CounterB.get("shared")
        counter.total += 10
        counter.save(commit=True, message="B: +10")
        b.push()

    counter = CounterA.get("shared")
    counter.total += 1
    counter.save(commit=True, message="A: +1")
    mine = a.branch.oid
    result = a.sync(callbacks=BeforePush(b_pushes_first))
    assert result.rejected == 1 and result.attempts == 2 and result.merges == 1
    assert hub_head(hub) == str(a.branch.oid)
    assert a.repo.descendant_of(a.branch.oid, mine)  # A's own commit is in the history
    b.sync()
    assert CounterA.get("shared").total == CounterB.get("shared").total == 11
    git(hub.root / "hub.git", "fsck", "--strict")


def test_retries_are_bounded(hub: GitDaemon, tmp_path: Path):
    a, b = clone(hub, tmp_path, "a"), clone(hub, tmp_path, "b")
    (PageA, _), (PageB, _) = models(a), models(b)
    counter = [0]

    class AlwaysFirst(pygit2.RemoteCallbacks):
        def push_negotiation(self, updates: list[Any]) -> None:
            counter[0] += 1
            PageB(slug=f"b-{counter[0]}", title="B").save(commit=True, message="B")
            b.push()

    PageA(slug="a-page", title="A").save(commit=True, message="A")
    mine = a.branch.oid
    with pytest.raises(PushRaceLost, match="rejected 3 times in a row") as info:
        a.sync(attempts=3, backoff=0.001, callbacks=AlwaysFirst())
    assert list(info.value.rejected) == ["refs/heads/master"] and info.value.attempts == 3
    assert isinstance(info.value, PushRejected)
    assert counter[0] == 3
    assert a.repo.descendant_of(a.branch.oid, mine) and not a.merging and not a.has_changes()
    assert a.sync().pushed  # later, with nobody in the way, it goes through
    b.sync()
    assert PageB.get("a-page").title == "A"


def test_a_same_field_conflict_leaves_an_open_merge_and_pushes_nothing(hub: GitDaemon, tmp_path: Path):
    a, b = clone(hub, tmp_path, "a"), clone(hub, tmp_path, "b")
    (PageA, _), (PageB, _) = models(a), models(b)
    page = PageA.get("home")
    page.title = "A's title"
    page.save(commit=True, message="A")
    a.sync()
    page = PageB.get("home")
    page.title = "B's title"
    page.save(commit=True, message="B")
    hub_before = hub_head(hub)

    result = b.sync()
    assert result.pushed == {} and len(result.conflicts) == 1
    assert b.merging and hub_head(hub) == hub_before
    (conflict,) = b.conflicts
    assert (conflict.field, conflict.ours, conflict.theirs) == ("title", "B's title", "A's title")
    with pytest.raises(RepositoryError, match="merge is in progress"):
        b.sync()
    b.resolve(conflict, value="Agreed")
    b.commit("settle the title")
    assert b.sync().pushed
    a.sync()
    assert PageA.get("home").title == PageB.get("home").title == "Agreed"
    git(hub.root / "hub.git", "fsck", "--strict")


def test_sync_is_refused_with_pending_changes(hub: GitDaemon, tmp_path: Path):
    a = clone(hub, tmp_path, "a")
    Page, _ = models(a)
    Page(slug="draft", title="not committed").save()
    with pytest.raises(RepositoryError, match="pending changes"):
        a.sync()
    assert a.has_changes() and Page.get("draft").title == "not committed"
    a.commit("draft")
    for attempts in (0, -1, "3"):
        with pytest.raises(ConfigurationError, match="attempts"):
            a.sync(attempts=attempts)
    assert hub_head(hub) != str(a.branch.oid)


def test_a_hub_killed_mid_push_keeps_the_commits_and_syncs_later(hub: GitDaemon, tmp_path: Path):
    a = clone(hub, tmp_path, "a")
    Page, Counter = models(a)
    for i in range(3):
        Page(slug=f"offline-{i}", title=f"Offline {i}").save(commit=True, message=f"offline {i}")
    mine = a.branch.oid
    hub_before = hub_head(hub)
    refs_before = git(a.path, "for-each-ref")

    with pytest.raises(RemoteError):
        a.sync(callbacks=BeforePush(hub.kill))
    assert a.branch.oid == mine and not a.has_changes() and not a.merging
    assert git(a.path, "for-each-ref") == refs_before  # origin/master did not move either
    assert hub_head(hub) == hub_before
    git(a.path, "fsck", "--strict")

    with pytest.raises(RemoteError):  # the hub is down: a clear error, the commits stay
        a.sync()
    assert a.branch.oid == mine

    with GitDaemon(hub.root) as again:
        a.remotes.set_url("origin", again.url("hub.git"))
        result = a.sync()
        assert result.pushed["refs/heads/master"][1] == mine
        assert hub_head(again) == str(mine)
        b = Workspace.clone(again.url("hub.git"), tmp_path / "b.git")
        assert [models(b)[0].get(f"offline-{i}").title for i in range(3)] == [f"Offline {i}" for i in range(3)]
    git(hub.root / "hub.git", "fsck", "--strict")


def test_a_cluster_of_processes_converges(hub: GitDaemon, tmp_path: Path):
    """Three processes, each with its own clone, commit and sync through the hub at once."""
    nodes, commits = 3, 6
    paths = [tmp_path / f"node-{i}.git" for i in range(nodes)]
    for path in paths:
        Workspace.clone(hub.url("hub.git"), path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH.parent.parent), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [sys.executable, str(BENCH), "node", str(path), f"n{i}", str(commits)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i, path in enumerate(paths)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert out.splitlines()[-1].startswith("synced ")

    heads = set()
    for path in paths:
        ws = Workspace(path)
        ws.sync()
        heads.add(ws.branch.oid)
    assert heads == {pygit2.Oid(hex=hub_head(hub))}
    ws = Workspace(paths[0])
    _, Counter = models(ws)

    class Item(ws.GitModel):  # what bench/cluster.py's nodes write
        owner = fields.CharField()
        n = fields.IntegerField()

    items = {(item.owner, item.n) for item in Item.all()}
    assert items == {(f"n{i}", j) for i in range(nodes) for j in range(commits)}
    assert Counter.get("shared").total == nodes * commits
    git(hub.root / "hub.git", "fsck", "--strict")
    for path in paths:
        git(path, "fsck", "--strict")
