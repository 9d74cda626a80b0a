"""``Workspace.unit_of_work()``: a block (one web request) in a fresh unit of
work of the calling thread, on the branch's latest commit; two requests that
race on one field end in the conflict flow, and nothing is lost."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from gitmodel import MergeConflict, fields
from gitmodel.workspace import Workspace


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True,
                          capture_output=True, text=True).stdout


def site(path: Path, **kwargs: Any) -> tuple[Workspace, type]:
    ws = Workspace(path, **kwargs)

    class Page(ws.GitModel):
        title = fields.CharField()
        body = fields.CharField(required=False)

    return ws, Page


@pytest.fixture
def store(bare_repo_path: Path) -> Path:
    ws, Page = site(bare_repo_path)
    Page(id="home", title="Welcome", body="Hi").save()
    Page(id="about", title="About").save()
    ws.commit("First pages", author=("Ann", "ann@example.com"))
    return bare_repo_path


def two_requests(first: Any, second: Any) -> list[Any]:
    """Run ``first`` and ``second`` in two threads; ``first(wait)`` calls
    ``wait()`` to let ``second`` run to its end before it goes on."""
    ready, done = threading.Event(), threading.Event()
    results: list[Any] = [None, None]

    def run(i: int, job: Any, *args: Any) -> None:
        try:
            results[i] = job(*args)
        except BaseException as exc:  # looked at by the test
            results[i] = exc

    def wait() -> None:
        ready.set()  # ``first`` has read and saved: only now may ``second`` run
        assert done.wait(30)

    def then_second() -> Any:
        assert ready.wait(30)
        try:
            return second()
        finally:
            done.set()

    a = threading.Thread(target=run, args=(0, first, wait))
    b = threading.Thread(target=run, args=(1, then_second))
    a.start()
    b.start()
    a.join(60)
    b.join(60)
    return results


def test_a_lost_race_on_one_field_opens_the_merge_and_loses_nothing(store: Path) -> None:
    ws, Page = site(store)

    def slow(wait: Any) -> tuple[str, str]:
        with ws.unit_of_work():
            page = Page.get("home")
            page.title = "Mine"
            wait()  # the other request commits meanwhile
            try:
                page.save(commit=True, message="Mine", author=("Me", "me@example.com"))
            except MergeConflict as exc:
                (conflict,) = exc.conflicts
                seen = (conflict.field, conflict.ours, conflict.theirs)
                assert git(store, "for-each-ref", "--format=%(refname)", "refs/gitmodel/merge")
                ws.resolve(conflict, "ours")
                ws.commit("Mine, after theirs", author=("Me", "me@example.com"))
                return seen  # type: ignore[return-value]
        raise AssertionError("the race was not lost")

    def quick() -> None:
        with ws.unit_of_work():
            page = Page.get("home")
            page.title, page.body = "Theirs", "Their body"
            page.save(commit=True, message="Theirs", author=("You", "you@example.com"))

    seen, _ = two_requests(slow, quick)
    assert seen == ("title", "Mine", "Theirs")
    assert git(store, "log", "--format=%s|%an", "-3").split("\n")[:3] == [
        "Mine, after theirs|Me", "Theirs|You", "First pages|Ann"]
    head = git(store, "show", "HEAD:page/home/data.json")
    assert '"title": "Mine"' in head and '"body": "Their body"' in head  # their other field kept
    assert '"title": "Theirs"' in git(store, "show", "HEAD~1:page/home/data.json")
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""
    git(store, "fsck", "--strict")


def test_a_lost_race_inside_commit_on_success_commits_nothing_and_leaves_no_merge(store: Path) -> None:
    ws, Page = site(store)

    def slow(wait: Any) -> Any:
        with ws.unit_of_work():
            try:
                with ws.commit_on_success("Mine", author=("Me", "me@example.com")):
                    page = Page.get("home")
                    page.title = "Mine"
                    page.save()
                    wait()  # the other request commits before this block's commit
            except MergeConflict as exc:
                return [(c.field, c.ours, c.theirs) for c in exc.conflicts], ws.has_changes()
        raise AssertionError("the race was not lost")

    def quick() -> None:
        with ws.unit_of_work(), ws.commit_on_success("Theirs", author=("You", "you@example.com")):
            page = Page.get("home")
            page.title = "Theirs"
            page.save()

    (conflicts, pending), _ = two_requests(slow, quick)
    assert conflicts == [("title", "Mine", "Theirs")]  # the request still has its edit to show
    assert pending is False
    assert git(store, "log", "-1", "--format=%s") == "Theirs\n"
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""
    assert not ws.merging and Page.get("home").title == "Theirs"


def test_another_threads_open_merge_is_neither_taken_nor_dropped_by_looking(store: Path) -> None:
    """Thread X lost a race and holds the open merge. Requests of other
    threads that save nothing commit nothing and raise nothing (their
    commit_on_success does not take X's merge up, nor drop it on the way
    out); one that looks at ws.conflicts sees them, but its reads and its
    reset() are its own. X then settles its merge, nothing lost."""
    ws, Page = site(store)
    x_lost, others_done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def x() -> None:
        page = Page.get("home")
        page.title = "Mine"
        done = threading.Event()

        def theirs() -> None:
            other = Page.get("home")
            other.title = "Theirs"
            other.save(commit=True, message="Theirs")
            done.set()

        threading.Thread(target=theirs).start()
        assert done.wait(30)
        page.save()
        with pytest.raises(MergeConflict):
            ws.commit("Mine")
        x_lost.set()
        assert others_done.wait(30)
        seen["x"] = (ws.merging, ws.has_changes(), [c.field for c in ws.conflicts])
        ws.resolve(ws.conflicts[0], "ours")
        ws.commit("Mine, after theirs")

    def z() -> None:
        assert x_lost.wait(30)
        with ws.unit_of_work(), ws.commit_on_success("nothing to say"):
            seen["read"] = Page.get("home").title  # a read-only request
        with ws.unit_of_work():
            seen["commit"] = ws.commit("nothing either")
            seen["looked"] = [c.field for c in ws.conflicts]
            seen["after"] = (Page.get("home").title, ws.has_changes())
            ws.reset()
        others_done.set()

    threads = [threading.Thread(target=x), threading.Thread(target=z)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert seen["read"] == "Theirs" and seen["commit"] is None
    assert seen["looked"] == ["title"] and seen["after"] == ("Theirs", False)  # not X's pending "Mine"
    assert seen["x"] == (True, True, ["title"])
    assert git(store, "log", "--format=%s", "-2").split("\n")[:2] == ["Mine, after theirs", "Theirs"]
    assert '"title": "Mine"' in git(store, "show", "HEAD:page/home/data.json")
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""


def test_the_block_starts_on_the_latest_commit_and_sets_pending_work_aside(store: Path) -> None:
    ws, Page = site(store, follow=False)  # even a workspace that does not follow the branch
    other, OtherPage = site(store)
    draft = Page.get("about")
    draft.title = "Draft, not committed"
    draft.save()
    OtherPage(id="news", title="News").save(commit=True, message="News")
    with ws.unit_of_work():
        assert not ws.has_changes()
        assert Page.get("news").title == "News" and Page.get("about").title == "About"
        Page(id="contact", title="Contact").save(commit=True, message="Contact")
    assert ws.has_changes() and Page.get("about").title == "Draft, not committed"
    ws.commit("The draft")  # built on the commit before News and Contact: merged on top
    assert git(store, "log", "--format=%s", "-4").split() == ["The", "draft", "Contact", "News", "First", "pages"]
    assert '"title": "Draft, not committed"' in git(store, "show", "HEAD:page/about/data.json")
    assert "page/contact" in git(store, "ls-tree", "-r", "--name-only", "HEAD")


def test_what_a_block_leaves_pending_is_dropped(store: Path) -> None:
    ws, Page = site(store)
    before = git(store, "rev-parse", "HEAD")
    with ws.unit_of_work():
        page = Page.get("home")
        page.title = "Saved, never committed"
        page.save()
        assert ws.has_changes()
    assert not ws.has_changes() and Page.get("home").title == "Welcome"
    with pytest.raises(RuntimeError):
        with ws.unit_of_work():
            Page(id="half", title="Half done").save()
            raise RuntimeError("the request failed")
    assert not ws.has_changes() and git(store, "rev-parse", "HEAD") == before


def test_request_after_request_in_one_thread_each_fresh(store: Path) -> None:
    ws, Page = site(store)
    other, OtherPage = site(store)
    seen = []
    for i in range(3):
        with ws.unit_of_work():
            seen.append(Page.get("home").title)
            if i == 0:
                Page(id="left", title="Left pending").save()  # a request that forgot to commit
        home = OtherPage.get("home")
        home.title = f"Version {i}"
        home.save(commit=True, message=f"v{i}")
    assert seen == ["Welcome", "Version 0", "Version 1"]
    assert "page/left" not in git(store, "ls-tree", "-r", "--name-only", "HEAD")
