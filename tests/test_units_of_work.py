"""Never lose an update: versions remembered by instances, one unit of work
per thread, lost races that become merges, open merges kept in the repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pygit2
import pytest

from gitmodel import ConfigurationError, CorruptObject, MergeConflict, RepositoryError, fields
from gitmodel.workspace import Workspace

PROCS = str(Path(__file__).with_name("procs.py"))
sys.path.insert(0, str(Path(__file__).parent))
from procs import pages  # noqa: E402


def history(repo_path, ref: str = "master") -> list[pygit2.Commit]:
    repo = pygit2.Repository(str(repo_path))
    return list(repo.walk(repo.references[f"refs/heads/{ref}"].target))


def changed_paths(commit: pygit2.Commit) -> set[str]:
    repo = commit._repo if hasattr(commit, "_repo") else None  # noqa: F841
    parent = commit.parents[0].tree if commit.parents else None
    if parent is None:
        return {f"{e.name}" for e in commit.tree}
    return {d.new_file.path for d in parent.diff_to_tree(commit.tree).deltas}


@pytest.fixture
def two(bare_repo_path):
    """Two workspaces on one repository, a page ``x`` and a page ``y`` committed."""
    a, b = Workspace(bare_repo_path), Workspace(bare_repo_path)
    PageA, PageB = pages(a), pages(b)
    PageA(id="x", title="t0", content="c0").save()
    PageA(id="y", title="y").save()
    a.commit("base")
    return a, PageA, b, PageB


# -- 1. saves merge, never overwrite ------------------------------------------------------
def test_stale_instance_keeps_the_other_writers_field(two, bare_repo_path, run_git):
    a, PageA, b, PageB = two
    x = PageA.get("x")
    theirs = PageB.get("x")
    theirs.content = "from B"
    theirs.save(commit=True)
    PageA.get("y")  # the clean workspace follows the branch to B's commit
    x.title = "from A"
    x.save(commit=True)
    now = PageB.get("x")
    assert (now.title, now.content) == ("from A", "from B")
    assert (x.title, x.content) == ("from A", "from B")  # the instance is up to date
    run_git(bare_repo_path, "fsck", "--strict")


def test_stale_instance_same_field_is_a_conflict_naming_model_id_field(two, bare_repo_path, run_git):
    a, PageA, b, PageB = two
    x = PageA.get("x")
    theirs = PageB.get("x")
    theirs.title = "B"
    head = theirs.save(commit=True)
    PageA.get("y")
    x.title = "A"
    with pytest.raises(MergeConflict) as info:
        x.save(commit=True)
    (conflict,) = info.value.conflicts
    assert (conflict.model.__name__, conflict.id, conflict.field) == ("Page", "x", "title")
    assert (conflict.ours, conflict.theirs, conflict.base) == ("A", "B", "t0")
    assert "Page 'x'" in str(info.value) and "title" in str(info.value)
    assert not a.has_changes() and a.branch.oid == head
    assert PageB.get("x").title == "B"
    run_git(bare_repo_path, "fsck", "--strict")


def test_second_save_after_a_rebased_first_save_keeps_the_other_writer(two, bare_repo_path, run_git):
    a, PageA, b, PageB = two
    x = PageA.get("x")
    x.title = "A1"
    x.save()
    theirs = PageB.get("x")
    theirs.content = "B"
    theirs.save(commit=True)
    a.commit("a1")  # lost the race: rebased onto B's commit
    assert PageA.get("x").content == "B"
    x.title = "A2"
    x.save(commit=True)
    now = PageB.get("x")
    assert (now.title, now.content) == ("A2", "B")
    assert [c.message for c in history(bare_repo_path)][:3] == ["", "a1", ""]
    run_git(bare_repo_path, "fsck", "--strict")


def test_delete_of_an_object_changed_meanwhile_is_a_conflict(two, bare_repo_path, run_git):
    a, PageA, b, PageB = two
    x = PageA.get("x")
    theirs = PageB.get("x")
    theirs.content = "B"
    theirs.save(commit=True)
    PageA.get("y")
    with pytest.raises(MergeConflict) as info:
        x.delete(commit=True)
    assert info.value.conflicts[0].kind == "delete/modify"
    assert PageB.get("x").content == "B" and not a.has_changes()
    fresh = PageA.get("x")
    fresh.delete(commit=True)  # the version just read may go
    with pytest.raises(PageB.DoesNotExist):
        PageB.get("x")
    run_git(bare_repo_path, "fsck", "--strict")


def test_stale_save_inside_an_open_merge_adds_a_conflict(two, bare_repo_path):
    a, PageA, b, PageB = two
    x, y = PageA.get("x"), PageA.get("y")
    x.title = "A"
    x.save()
    theirs = PageB.get("x")
    theirs.title = "B"
    theirs.save()
    other_y = PageB.get("y")
    other_y.title = "yB"
    other_y.save()
    b.commit("b")
    with pytest.raises(MergeConflict):
        a.commit("a")
    assert len(a.conflicts) == 1
    y.title = "yA"  # y was read before B changed it: a clash inside the merge
    y.save()
    assert sorted((c.id, c.field) for c in a.conflicts) == [("x", "title"), ("y", "title")]
    for conflict in a.conflicts:
        a.resolve(conflict, "ours")
    a.commit()
    assert (PageB.get("x").title, PageB.get("y").title) == ("A", "yA")


# -- 2. one unit of work per thread ------------------------------------------------------
def test_each_thread_commits_only_its_own_work(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    Page(id="seed").save(commit=True, message="seed")
    threads, count = 6, 15
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait(10)
            for i in range(count):
                Page(id=f"t{t}-{i}", title=str(i)).save()
                assert ws.has_changes()
                assert {e.name for e in ws.index["page"]} >= {f"t{t}-{i}"}
                ws.commit(message=f"t{t}-{i}")
                assert not ws.has_changes()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    commits = history(bare_repo_path)[:-1]
    assert len(commits) == threads * count
    for commit in commits:
        assert changed_paths(commit) == {f"page/{commit.message}/data.json"}
    assert not ws.has_changes()  # the main thread staged nothing
    run_git(bare_repo_path, "fsck", "--strict")


def test_staging_index_and_reset_speak_of_the_calling_thread(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    Page(id="mine").save()
    seen: dict[str, object] = {}

    def other() -> None:
        seen["changes"] = ws.has_changes()
        Page(id="theirs").save()
        seen["index"] = sorted(e.name for e in ws.index["page"])
        ws.reset()
        seen["after_reset"] = ws.has_changes()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == {"changes": False, "index": ["theirs"], "after_reset": False}
    assert ws.has_changes() and sorted(e.name for e in ws.index["page"]) == ["mine"]


def test_commit_on_success_rolls_back_on_exception(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    page = Page(id="p", title="v1")
    page.save(commit=True, message="v1")
    head = ws.branch.oid
    with pytest.raises(ZeroDivisionError):
        with ws.commit_on_success("never"):
            page.title = "v2"
            page.save()
            Page(id="q").save()
            1 / 0
    assert ws.branch.oid == head and not ws.has_changes()
    assert Page.get("p").title == "v1"
    with pytest.raises(Page.DoesNotExist):
        Page.get("q")
    page.save(commit=True, message="retry")  # the instance still holds v2: saved now
    assert Page.get("p").title == "v2"
    run_git(bare_repo_path, "fsck", "--strict")


def test_nested_commit_on_success_is_a_savepoint(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    with ws.commit_on_success("outer"):
        Page(id="outer").save()
        with pytest.raises(KeyError):
            with ws.commit_on_success():
                Page(id="inner").save()
                raise KeyError("inner fails")
        with ws.commit_on_success():
            Page(id="kept").save()
    (commit, *_rest) = history(bare_repo_path)
    assert commit.message == "outer"
    assert sorted(e.name for e in commit.tree["page"]) == ["kept", "outer"]


def test_commit_on_success_losing_a_race_with_a_conflict_leaves_nothing(two, bare_repo_path):
    a, PageA, b, PageB = two
    theirs = PageB.get("x")
    with pytest.raises(MergeConflict):
        with a.commit_on_success("a"):
            x = PageA.get("x")
            x.title = "A"
            x.save()
            theirs.title = "B"
            theirs.save(commit=True)
    assert not a.merging and not a.has_changes() and PageA.get("x").title == "B"


def test_commit_on_success_refuses_pending_changes(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    Page(id="p").save()
    with pytest.raises(RepositoryError, match="pending changes"):
        with ws.commit_on_success():
            pass  # pragma: no cover


# -- 3. a lost race becomes a merge you can finish ---------------------------------------
@pytest.fixture
def lost_race(two):
    """``a`` lost the race on ``x.title`` and ``x.content``; ``y`` merged cleanly."""
    a, PageA, b, PageB = two
    x = PageA.get("x")
    x.title, x.content = "A title", "A content"
    x.save()
    PageA(id="new", title="from A").save()
    theirs = PageB.get("x")
    theirs.title, theirs.content = "B title", "B content"
    theirs.save()
    y = PageB.get("y")
    y.content = "B"
    y.save()
    b.commit("b")
    with pytest.raises(MergeConflict) as info:
        a.commit("a's edit")
    return a, PageA, b, PageB, info.value


def test_race_loser_resolves_per_field_and_commits(lost_race, bare_repo_path, run_git):
    a, PageA, b, PageB, exc = lost_race
    assert a.merging and b.merging
    assert [(c.id, c.field) for c in a.conflicts] == [("x", "content"), ("x", "title")]
    assert a.conflicts == exc.conflicts
    content, title = exc.conflicts
    assert (title.ours, title.theirs, title.base) == ("A title", "B title", "t0")
    assert PageA.get("x").title == "A title"  # every edit kept meanwhile
    a.resolve(title, "ours")
    a.resolve(content, value="both")
    assert a.conflicts == []
    head = b.branch.oid
    mine = a.commit()
    commit = a.repo[mine]
    assert commit.parent_ids == [head] and commit.message == "a's edit"
    x = PageB.get("x")
    assert (x.title, x.content) == ("A title", "both")
    assert PageB.get("y").content == "B" and PageB.get("new").title == "from A"
    assert not a.merging and not b.merging
    assert "refs/gitmodel/merge/master" not in a.repo.references
    run_git(bare_repo_path, "fsck", "--strict")


def test_race_loser_takes_theirs_and_base(lost_race):
    a, PageA, b, PageB, exc = lost_race
    content, title = exc.conflicts
    a.resolve(title, "theirs")
    a.resolve(content, "base")
    a.commit()
    x = PageB.get("x")
    assert (x.title, x.content) == ("B title", "c0")


def test_abort_returns_the_race_loser_to_its_pending_edits(lost_race, bare_repo_path):
    a, PageA, b, PageB, _exc = lost_race
    base = history(bare_repo_path)[1].id
    a.abort_merge()
    assert not a.merging and a.has_changes() and a._start == base
    x = PageA.get("x")
    assert (x.title, x.content) == ("A title", "A content")
    assert PageA.get("new").title == "from A"
    a.reset()
    assert PageA.get("x").title == "B title"


def test_one_open_merge_per_branch(lost_race):
    a, PageA, b, PageB, _exc = lost_race
    c = Workspace(a.path)
    PageC = pages(c)
    y = PageC.get("y")
    y.title = "C"
    y.save()
    with pytest.raises(RepositoryError, match="merge"):
        c.merge("master")
    other_y = PageB.get("y")
    other_y.title = "B again"
    other_y.save(commit=True)  # other writers are never blocked by the open merge
    with pytest.raises(MergeConflict, match="another merge is open"):
        c.commit("c")  # lost its race on y.title: no second open merge
    assert c._unit.merge is None and c.has_changes() and PageC.get("y").title == "C"
    c.reset()
    for conflict in a.conflicts:
        a.resolve(conflict, "ours")
    a.commit()  # goes on top of the commit made meanwhile
    assert PageB.get("y").title == "B again" and PageB.get("x").title == "A title"


# -- 4. open merges live in the repository ---------------------------------------------------
def run_proc(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, PROCS, *args], capture_output=True, text=True,
                          check=True, timeout=60, **kwargs)


def test_a_second_process_resolves_and_commits(lost_race, bare_repo_path, run_git):
    a, PageA, b, PageB, _exc = lost_race
    out = run_proc("resolve", str(bare_repo_path), "ours", "2", "commit").stdout
    assert out.splitlines()[0] == "merging True 2"
    assert "committed" in out
    assert not a.merging
    x = PageB.get("x")
    assert (x.title, x.content) == ("A title", "A content")
    assert history(bare_repo_path)[0].message == "a's edit"
    run_git(bare_repo_path, "fsck", "--strict")


def sigkill_while_resolving(repo_path) -> None:
    child = subprocess.Popen([sys.executable, PROCS, "resolve", str(repo_path), "theirs", "1", "wait"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines = [child.stdout.readline() for _ in range(3)]
        assert lines[-1].strip() == "waiting", lines
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        child.stdout.close()
        child.stdin.close()


def test_sigkill_during_resolution_then_resume(lost_race, bare_repo_path, run_git):
    a, PageA, b, PageB, _exc = lost_race
    sigkill_while_resolving(bare_repo_path)
    later = Workspace(bare_repo_path)
    Page = pages(later)
    assert later.merging
    (left,) = later.conflicts  # the first resolution survived the kill
    assert (left.id, left.field) == ("x", "title")
    assert Page.get("x").content == "B content"  # "theirs", as resolved before the kill
    later.resolve(left, "ours")
    later.commit()
    x = PageB.get("x")
    assert (x.title, x.content) == ("A title", "B content")
    run_git(bare_repo_path, "fsck", "--strict")


def test_sigkill_during_resolution_then_abort(lost_race, bare_repo_path, run_git):
    a, PageA, b, PageB, _exc = lost_race
    head = b.branch.oid
    sigkill_while_resolving(bare_repo_path)
    out = run_proc("resolve", str(bare_repo_path), "ours", "0", "abort").stdout
    assert "aborted True" in out  # the other process got the pending edits back
    assert not PageB._meta.workspace.merging and b.branch.oid == head
    assert PageB.get("x").title == "B title"
    run_git(bare_repo_path, "fsck", "--strict")


def test_a_merge_with_conflicts_is_seen_by_another_workspace(forked_repo):
    ws, Page = forked_repo
    result = ws.merge("feature")
    assert len(result.conflicts) == 1
    other = Workspace(ws.path)
    OtherPage = other.register_model(Page)
    assert other.merging
    (conflict,) = other.conflicts
    other.resolve(conflict, "theirs")
    merged = other.commit()
    assert len(other.repo[merged].parents) == 2
    assert OtherPage.get("p").title == "feature" and not ws.merging


@pytest.fixture
def forked_repo(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    Page(id="p", title="base").save(commit=True)
    ws.create_branch("feature")
    page = Page.get("p")
    page.title = "master"
    page.save(commit=True)
    ws.set_branch("feature")
    page = Page.get("p")
    page.title = "feature"
    page.save(commit=True)
    ws.set_branch("master")
    return ws, Page


# -- 5. failed operations leave nothing behind --------------------------------------------
def test_a_pull_failing_half_way_leaves_everything_as_it_was(tmp_path, run_git):
    origin = Workspace.init(tmp_path / "origin.git")
    Page = pages(origin)
    Page(id="a", title="a").save()
    Page(id="q", title="q").save()
    origin.commit("base")
    clone = Workspace.clone(str(tmp_path / "origin.git"), tmp_path / "clone.git")
    Local = pages(clone)
    q = Local.get("q")
    q.title = "local"
    q.save(commit=True, message="local")
    # upstream: a clean change to a, and q's data file replaced by bytes nobody can read
    a = Page.get("a")
    a.title = "upstream"
    a.save()
    origin.add_blob(Page._meta.get_data_path("q"), b"not json")
    origin.commit("upstream")
    head = clone.branch.oid
    with pytest.raises(CorruptObject):
        clone.pull()
    assert clone.branch.oid == head and not clone.merging and not clone.has_changes()
    assert Local.get("a").title == "a"
    Local(id="later", title="later").save(commit=True, message="unrelated")
    (commit, *_rest) = history(tmp_path / "clone.git")
    assert changed_paths(commit) == {"page/later/data.json"}
    run_git(tmp_path / "clone.git", "fsck", "--strict")


def test_a_failed_restore_leaves_the_staging_as_it_was(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    Page(id="p", title="p").save(commit=True)
    ws.add_blob(Page._meta.get_data_path("p"), b"{broken")
    broken = ws.commit("broken")
    Page(id="pending").save()
    before = ws.index.id
    with pytest.raises(CorruptObject):
        Page.restore("p", broken)
    assert ws.index.id == before and ws.branch.oid == broken


def test_a_failed_revert_leaves_the_staging_as_it_was(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    page = Page(id="p", title="1")
    first = page.save(commit=True)
    page.title = "2"
    second = page.save(commit=True)
    page.title = "3"
    page.save(commit=True)
    Page(id="pending").save()
    before = ws.index.id
    with pytest.raises(MergeConflict):
        ws.revert(second)
    assert ws.index.id == before and first is not None


# -- 6. model folders are unique ---------------------------------------------------------------
def test_two_models_sharing_a_folder_are_refused(bare_repo_path):
    ws = Workspace(bare_repo_path)

    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    with pytest.raises(ConfigurationError) as info:
        class PAGE(ws.GitModel):
            title = fields.CharField(required=False)
    assert "Page" in str(info.value) and "PAGE" in str(info.value)
    assert list(ws.models) == ["GitModel", "Page"]
    Page(id="x").save(commit=True)
    assert [e.name for e in ws.index["page"]] == ["x"]


# -- the web app bench, at small numbers ----------------------------------------------------------
def test_webapp_bench_runs_and_checks_every_commit(tmp_path):
    bench = Path(__file__).resolve().parent.parent / "bench" / "webapp.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--clients", "4", "--requests", "15", "--pages", "5",
         "--tmpdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0] + " " + line.split()[1]: line.split() for line in out.stdout.splitlines()
            if line.startswith(("1 client", "4 clients"))}
    for row in rows.values():  # requests/s, ok, refused, commits, counter
        assert row[3:] == ["60", "0", "60", "60"]
    assert "threaded / single" in out.stdout


def test_a_tag_made_after_another_thread_committed_names_that_commit(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)

    class Note(ws.GitModel):
        slug = fields.SlugField(id=True)
        text = fields.CharField()

    Note(slug="first", text="one").save(commit=True)

    def request() -> None:
        with ws.commit_on_success("a request's edit"):
            Note(slug="second", text="two").save()

    worker = threading.Thread(target=request)
    worker.start()
    worker.join()
    tagged = ws.create_tag("published")
    assert tagged == ws.branch.oid
    assert run_git(bare_repo_path, "rev-parse", "published^{commit}").strip() == str(tagged)
    assert [n.slug for n in Note.all(treeish="published").order_by("slug")] == ["first", "second"]
