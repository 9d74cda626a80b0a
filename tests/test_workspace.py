"""Workspace: opening, staging, committing, branches, walk, locks, plain git."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import (
    BranchNotFound,
    GitModelError,
    LockWaitTimeoutExceeded,
    MergeConflict,
    ReferenceNotFound,
    RepositoryError,
    RepositoryNotFound,
)
from gitmodel.git import refs as git_refs
from gitmodel.workspace import Branch, Workspace


# -- opening -------------------------------------------------------------------
def test_open_bare_repository(bare_repo_path: Path) -> None:
    ws = Workspace(str(bare_repo_path))
    assert ws.repo.is_bare
    assert ws.head == "refs/heads/master"


def test_open_dot_git_folder_and_work_tree_are_the_same_repository(
    workdir_repo_path: Path,
) -> None:
    via_git = Workspace(str(workdir_repo_path / ".git"))
    via_tree = Workspace(workdir_repo_path)  # a PathLike works too
    assert not via_git.repo.is_bare
    assert Path(via_git.path).resolve() == Path(via_tree.path).resolve()
    via_git.add_blob("x.txt", "x")
    oid = via_git.commit("one")
    assert Workspace(str(workdir_repo_path)).branch.commit.id == oid


def test_missing_path_raises_repository_not_found(tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFound, match="does not exist"):
        Workspace(str(tmp_path / "nope"))


def test_non_git_folder_raises_repository_not_found(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("not a repo")
    with pytest.raises(RepositoryNotFound) as info:
        Workspace(str(plain))
    assert isinstance(info.value, GitModelError)


def test_folder_inside_a_repository_is_not_that_repository(workdir_repo_path: Path) -> None:
    inner = workdir_repo_path / "data" / "store"
    inner.mkdir(parents=True)
    with pytest.raises(RepositoryNotFound):
        Workspace(str(inner))


def test_init_creates_bare_repository_by_default(tmp_path: Path, run_git) -> None:
    ws = Workspace.init(tmp_path / "new.git")
    assert ws.repo.is_bare
    assert run_git(ws.path, "rev-parse", "--is-bare-repository").strip() == "true"
    assert ws.branch is None


def test_init_non_bare_with_initial_branch(tmp_path: Path, run_git) -> None:
    ws = Workspace.init(tmp_path / "new", bare=False, initial_branch="main")
    assert not ws.repo.is_bare
    assert ws.head == "refs/heads/main"
    ws.add_blob("a.txt", "a")
    ws.commit("first")
    assert run_git(ws.path, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert run_git(ws.path, "log", "--format=%s", "main").strip() == "first"


def test_default_branch_is_what_head_names(bare_repo_path: Path) -> None:
    repo = pygit2.Repository(str(bare_repo_path))
    repo.references["HEAD"].set_target("refs/heads/trunk")
    ws = Workspace(str(bare_repo_path))
    assert ws.head == "refs/heads/trunk"


def test_initial_branch_argument(bare_repo_path: Path) -> None:
    ws = Workspace(str(bare_repo_path), initial_branch="develop")
    assert ws.head == "refs/heads/develop"
    ws2 = Workspace(str(bare_repo_path), initial_branch="refs/heads/feature")
    assert ws2.head == "refs/heads/feature"


def test_invalid_initial_branch_is_refused(bare_repo_path: Path) -> None:
    with pytest.raises(GitModelError):
        Workspace(str(bare_repo_path), initial_branch="bad..name")


def test_workspace_does_not_touch_head_and_keeps_the_checked_out_branch_in_step(
    workdir_repo_path: Path,
) -> None:
    ws = Workspace(str(workdir_repo_path))
    ws.add_blob("a.txt", "a")
    ws.commit("one")
    repo = pygit2.Repository(str(workdir_repo_path))
    assert repo.references["HEAD"].target == "refs/heads/master"
    assert [entry.path for entry in repo.index] == ["a.txt"]  # see test_worktree.py
    assert (workdir_repo_path / "a.txt").read_text() == "a"


# -- position -------------------------------------------------------------------
def test_branch_is_none_before_first_commit_then_describes_it(ws: Workspace) -> None:
    assert ws.branch is None
    ws.add_blob("a.txt", "a")
    oid = ws.commit("one")
    branch = ws.branch
    assert isinstance(branch, Branch)
    assert branch.ref.name == "refs/heads/master"
    assert branch.commit.id == oid
    assert branch.tree.id == ws.repo[oid].tree.id


def test_index_is_a_tree_of_the_staged_state(ws: Workspace) -> None:
    assert isinstance(ws.index, pygit2.Tree)
    assert len(ws.index) == 0
    ws.add_blob("dir/a.txt", "hello")
    index = ws.index
    assert isinstance(index, pygit2.Tree)
    assert index["dir/a.txt"].data == b"hello"


# -- staging and committing ----------------------------------------------------
def test_fresh_workspace_has_no_changes(ws: Workspace) -> None:
    assert not ws.has_changes()
    ws.index  # writing the empty tree changes nothing
    assert not ws.has_changes()
    assert ws.commit("nothing") is None
    assert ws.branch is None


def test_add_blob_accepts_str_and_bytes(ws: Workspace) -> None:
    a = ws.add_blob("a.txt", "héllo")
    b = ws.add_blob("b.bin", b"\x00\x01")
    assert ws.repo[a].data == "héllo".encode()
    assert ws.repo[b].data == b"\x00\x01"
    assert ws.has_changes()


def test_add_entries_under_a_folder(ws: Workspace) -> None:
    one = ws.repo.create_blob(b"1")
    two = ws.repo.create_blob(b"2")
    ws.add("nums", [("one", one, pygit2.enums.FileMode.BLOB), ("two", two)])
    ws.add("more", {"three": str(ws.repo.create_blob(b"3"))})
    index = ws.index
    assert index["nums/one"].data == b"1"
    assert index["nums/two"].data == b"2"
    assert index["more/three"].data == b"3"


def test_remove_file_and_folder(ws: Workspace) -> None:
    ws.add_blob("d/a.txt", "a")
    ws.add_blob("d/b.txt", "b")
    ws.add_blob("keep.txt", "k")
    ws.commit("one")
    assert ws.remove("d/a.txt")
    assert ws.has_changes()
    assert "d/a.txt" not in ws.index
    assert ws.remove("d")
    assert "d" not in ws.index
    assert not ws.remove("missing.txt")
    oid = ws.commit("two")
    assert sorted(e.name for e in ws.repo[oid].tree) == ["keep.txt"]


def test_has_changes_is_false_when_edits_cancel_out(ws: Workspace) -> None:
    ws.add_blob("a.txt", "a")
    ws.commit("one")
    ws.add_blob("a.txt", "b")
    assert ws.has_changes()
    ws.add_blob("a.txt", "a")
    assert not ws.has_changes()
    assert ws.commit("same") is None


def test_diff_compares_branch_with_index(ws: Workspace) -> None:
    ws.add_blob("a.txt", "a\n")
    diff = ws.diff()
    assert isinstance(diff, pygit2.Diff)
    assert [d.new_file.path for d in diff.deltas] == ["a.txt"]
    ws.commit("one")
    assert len(ws.diff()) == 0
    ws.add_blob("a.txt", "b\n")
    ws.add_blob("c.txt", "c\n")
    paths = sorted(d.new_file.path for d in ws.diff().deltas)
    assert paths == ["a.txt", "c.txt"]
    assert "+b" in ws.diff().patch


def test_commit_returns_id_with_correct_parents(ws: Workspace, run_git) -> None:
    ws.add_blob("a.txt", "1")
    first = ws.commit("first")
    assert ws.repo[first].parents == []
    ws.add_blob("a.txt", "2")
    second = ws.commit("second")
    assert [p.id for p in ws.repo[second].parents] == [first]
    assert ws.commit("third") is None
    log = run_git(ws.path, "log", "--format=%H %P %s", "master").splitlines()
    assert log == [f"{second} {first} second", f"{first}  first"]


def test_commit_author_and_committer_pairs(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    oid = ws.commit("m", author=("Ann", "ann@example.com"), committer=("Bob", "bob@example.com"))
    commit = ws.repo[oid]
    assert (commit.author.name, commit.author.email) == ("Ann", "ann@example.com")
    assert (commit.committer.name, commit.committer.email) == ("Bob", "bob@example.com")
    ws.add_blob("a.txt", "2")
    oid = ws.commit("m2", author=("Cy", "cy@example.com"))
    commit = ws.repo[oid]
    assert commit.committer.name == "Cy"  # the author commits when no committer is named


def test_default_identity_is_builtin_then_configurable(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    commit = ws.repo[ws.commit("m")]
    assert (commit.author.name, commit.author.email) == ("gitmodel", "gitmodel@localhost")
    ws.repo.config["user.name"] = "Config Name"
    ws.repo.config["user.email"] = "config@example.com"
    ws.add_blob("a.txt", "2")
    commit = ws.repo[ws.commit("m")]
    assert commit.author.email == "config@example.com"
    ws.default_author = ("Set", "set@example.com")
    ws.add_blob("a.txt", "3")
    commit = ws.repo[ws.commit("m")]
    assert (commit.author.name, commit.committer.name) == ("Set", "Set")


def test_identity_given_to_constructor(bare_repo_path: Path) -> None:
    ws = Workspace(str(bare_repo_path), author=("Dee", "dee@example.com"))
    ws.add_blob("a.txt", "1")
    assert ws.repo[ws.commit("m")].author.email == "dee@example.com"


def test_commit_rebases_when_branch_moved_elsewhere(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    other = Workspace(ws.path)
    other.add_blob("b.txt", "other")
    theirs = other.commit("theirs")
    ws.add_blob("c.txt", "mine")
    mine = ws.commit("mine")  # merged onto the other writer's commit, never over it
    assert ws.repo.references["refs/heads/master"].target == mine
    assert [p.id for p in ws.repo[mine].parents] == [theirs]
    assert "b.txt" in ws.index and "c.txt" in ws.index and not ws.has_changes()


def test_commit_refuses_when_the_same_file_changed_elsewhere(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    other = Workspace(ws.path)
    other.add_blob("a.txt", "other")
    theirs = other.commit("theirs")
    ws.add_blob("a.txt", "mine")
    with pytest.raises(MergeConflict, match="a.txt"):
        ws.commit("mine")
    assert ws.repo.references["refs/heads/master"].target == theirs
    assert ws.has_changes() and ws.repo[ws.index["a.txt"].id].data == b"mine"  # work kept


def test_stale_reference_cannot_be_moved(ws: Workspace) -> None:
    """The compare-and-swap used where pygit2 has no ref transactions:
    libgit2 moves a ref only if it still holds the value it was read with."""
    ws.add_blob("a.txt", "1")
    first = ws.commit("one")
    stale = ws.repo.references.get("refs/heads/master")
    other = Workspace(ws.path)
    other.add_blob("b.txt", "2")
    theirs = other.commit("theirs")
    with pytest.raises(pygit2.GitError):
        stale.set_target(first, "should not move")
    assert ws.repo.references["refs/heads/master"].target == theirs
    with pytest.raises(RepositoryError, match="moved"):
        git_refs._swap_matching(ws.repo, ws.head, first, first, "commit: stale")  # the fallback path refuses too
    assert ws.repo.references["refs/heads/master"].target == theirs


# -- commit_on_success ---------------------------------------------------------
def test_commit_on_success_commits(ws: Workspace, run_git) -> None:
    with ws.commit_on_success("block", author=("Ann", "ann@example.com")):
        ws.add_blob("a.txt", "a")
        ws.add_blob("b.txt", "b")
    assert not ws.has_changes()
    commit = ws.branch.commit
    assert commit.message == "block"
    assert commit.author.name == "Ann"
    assert sorted(e.name for e in commit.tree) == ["a.txt", "b.txt"]
    assert run_git(ws.path, "log", "--format=%s").strip() == "block"


def test_commit_on_success_refuses_pending_changes(ws: Workspace) -> None:
    ws.add_blob("pending.txt", "p")
    with pytest.raises(RepositoryError, match="pending"):
        with ws.commit_on_success("x"):
            ws.add_blob("other.txt", "o")  # pragma: no cover - never runs
    assert ws.branch is None
    assert "pending.txt" in ws.index  # the pending change is kept
    assert "other.txt" not in ws.index


def test_commit_on_success_discards_block_on_exception(ws: Workspace) -> None:
    ws.add_blob("a.txt", "a")
    before = ws.commit("base")
    with pytest.raises(ZeroDivisionError):
        with ws.commit_on_success("broken"):
            ws.add_blob("b.txt", "b")
            ws.remove("a.txt")
            1 / 0
    assert ws.branch.commit.id == before
    assert not ws.has_changes()
    assert "a.txt" in ws.index and "b.txt" not in ws.index


def test_commit_on_success_with_models(ws: Workspace) -> None:
    class Note(ws.GitModel):
        text = fields.CharField()

    with pytest.raises(RuntimeError):
        with ws.commit_on_success("notes"):
            Note(id="a", text="A").save()
            raise RuntimeError("boom")
    assert ws.branch is None
    with pytest.raises(Note.DoesNotExist):
        Note.get("a")
    with ws.commit_on_success("notes"):
        Note(id="a", text="A").save()
    assert Note.get("a", ws.head).text == "A"


# -- branches -------------------------------------------------------------------
def test_create_and_set_branch(ws: Workspace, run_git) -> None:
    ws.add_blob("a.txt", "1")
    first = ws.commit("one")
    branch = ws.create_branch("feature")
    assert branch.ref.name == "refs/heads/feature"
    assert branch.commit.id == first
    ws.set_branch("feature")
    assert ws.head == "refs/heads/feature"
    ws.add_blob("a.txt", "2")
    second = ws.commit("two")
    assert run_git(ws.path, "rev-parse", "feature").strip() == str(second)
    assert run_git(ws.path, "rev-parse", "master").strip() == str(first)
    ws.set_branch("master")
    assert ws.index["a.txt"].data == b"1"
    assert ws.get_branch("feature").commit.id == second
    assert ws.get_branch("refs/heads/feature").commit.id == second


def test_create_branch_at_start_point(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    first = ws.commit("one")
    ws.add_blob("a.txt", "2")
    ws.commit("two")
    assert ws.create_branch("old", first).commit.id == first
    assert ws.create_branch("old2", str(first)).commit.id == first
    ws.repo.create_tag("v1", first, pygit2.enums.ObjectType.COMMIT, ws.repo[first].author, "tag")
    assert ws.create_branch("fromtag", "v1").commit.id == first


def test_create_existing_branch_is_refused(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    ws.create_branch("x")
    with pytest.raises(RepositoryError):
        ws.create_branch("x")


def test_set_branch_refused_with_pending_changes(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    ws.create_branch("other")
    ws.add_blob("b.txt", "pending")
    with pytest.raises(RepositoryError, match="pending"):
        ws.set_branch("other")
    assert ws.head == "refs/heads/master"
    assert "b.txt" in ws.index


def test_missing_branch_is_gitmodel_error_and_key_error(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    for call in (lambda: ws.set_branch("nope"), lambda: ws.get_branch("nope")):
        with pytest.raises(BranchNotFound) as info:
            call()
        assert isinstance(info.value, GitModelError)
        assert isinstance(info.value, KeyError)
        assert "nope" in str(info.value)
    assert ws.head == "refs/heads/master"


def test_update_index_to_a_branch_switches(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    ws.create_branch("b2")
    ws.update_index("b2")
    assert ws.head == "refs/heads/b2"
    assert not ws.detached
    ws.update_index(ws.get_branch("master"))
    assert ws.head == "refs/heads/master" and not ws.detached
    ws.update_index("refs/heads/b2")
    assert ws.head == "refs/heads/b2" and not ws.detached
    ws.add_blob("a.txt", "2")
    assert ws.commit("on b2") is not None


def test_update_index_to_commit_or_tag_is_read_only(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    first = ws.commit("one")
    ws.add_blob("a.txt", "2")
    second = ws.commit("two")
    ws.update_index(first)
    assert ws.detached
    assert ws.index["a.txt"].data == b"1"
    assert [c.id for c in ws.walk()] == [first]
    with pytest.raises(RepositoryError, match="read-only"):
        ws.add_blob("a.txt", "3")
    with pytest.raises(RepositoryError):
        ws.commit("nope")
    assert ws.repo.references["refs/heads/master"].target == second
    ws.repo.references.create("refs/tags/t1", first)
    ws.set_branch("master")
    ws.update_index("t1")
    assert ws.detached and ws.index["a.txt"].data == b"1"
    ws.update_index("master")
    assert not ws.detached
    assert ws.index["a.txt"].data == b"2"


def test_update_index_to_unknown_name(ws: Workspace) -> None:
    ws.add_blob("a.txt", "1")
    ws.commit("one")
    with pytest.raises(ReferenceNotFound) as info:
        ws.update_index("does-not-exist")
    assert isinstance(info.value, KeyError)
    assert not ws.detached


# -- walk -----------------------------------------------------------------------
def test_walk_newest_first(ws: Workspace) -> None:
    assert list(ws.walk()) == []
    ids = []
    for i in range(4):
        ws.add_blob("a.txt", str(i))
        ids.append(ws.commit(f"c{i}"))
    assert [c.id for c in ws.walk()] == ids[::-1]
    assert [c.message for c in ws.walk()] == ["c3", "c2", "c1", "c0"]
    topo = [c.id for c in ws.walk(pygit2.enums.SortMode.TOPOLOGICAL)]
    assert topo == ids[::-1]


# -- locks ----------------------------------------------------------------------
def test_lock_is_a_ref_while_held(ws: Workspace, run_git) -> None:
    assert not ws.locked("job")
    with ws.lock("job"):
        assert ws.locked("job")
        assert "refs/locks/job" in run_git(ws.path, "for-each-ref", "refs/locks")
    assert not ws.locked("job")


def test_lock_wait_times_out(ws: Workspace) -> None:
    with ws.lock("busy"):
        with pytest.raises(LockWaitTimeoutExceeded) as info:
            with ws.lock("busy", timeout=0.05):
                pass  # pragma: no cover
        assert isinstance(info.value, TimeoutError)
        assert ws.locked("busy")
    assert not ws.locked("busy")


def test_lock_timeout_default_from_workspace(bare_repo_path: Path) -> None:
    ws = Workspace(str(bare_repo_path), lock_timeout=0.05)
    other = Workspace(str(bare_repo_path))
    with other.lock("x"):
        with pytest.raises(LockWaitTimeoutExceeded):
            with ws.lock("x"):
                pass  # pragma: no cover


def test_lock_released_on_exception(ws: Workspace) -> None:
    with pytest.raises(KeyError):
        with ws.lock("job"):
            raise KeyError("boom")
    assert not ws.locked("job")
    with ws.lock("job", timeout=0):
        assert ws.locked("job")


def test_lock_waits_for_release_by_another_thread(ws: Workspace) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with ws.lock("shared"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    timer = threading.Timer(0.05, release.set)
    timer.start()
    with ws.lock("shared", timeout=10):
        assert ws.locked("shared")
    thread.join()
    timer.join()
    assert not ws.locked("shared")


def test_lock_held_by_another_process_is_seen(ws: Workspace) -> None:
    script = (
        "import sys, time\n"
        "from gitmodel.workspace import Workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "with ws.lock('cross'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", script, ws.path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        assert ws.locked("cross")
        with pytest.raises(LockWaitTimeoutExceeded):
            with ws.lock("cross", timeout=0.05):
                pass  # pragma: no cover
    finally:
        proc.communicate("\n", timeout=30)
    assert not ws.locked("cross")


def test_lock_left_by_a_dead_process_is_broken(ws: Workspace) -> None:
    import sys

    script = (
        "import os, sys\n"
        "from gitmodel.workspace import Workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "with ws.lock('orphan'):\n"
        "    os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, ws.path], check=True)
    assert ws.locked("orphan")  # the dead process never released it
    with ws.lock("orphan", timeout=1):
        assert ws.lock_info("orphan").pid == __import__("os").getpid()
    assert not ws.locked("orphan")


def test_invalid_lock_name(ws: Workspace) -> None:
    with pytest.raises(GitModelError):
        with ws.lock(""):
            pass  # pragma: no cover


# -- plain git -----------------------------------------------------------------------
def test_sync_repo_index_makes_state_visible_to_git(workdir_repo_path: Path) -> None:
    ws = Workspace(str(workdir_repo_path))
    ws.add_blob("a.txt", "committed\n")
    ws.commit("one")
    ws.add_blob("a.txt", "changed\n")
    ws.add_blob("new.txt", "new\n")
    ws.sync_repo_index()
    git = ["git", "-C", str(workdir_repo_path)]
    show = subprocess.run([*git, "show", ":new.txt"], capture_output=True, text=True, check=True)
    assert show.stdout == "new\n"
    assert (workdir_repo_path / "a.txt").read_text() == "changed\n"
    status = subprocess.run(
        [*git, "status", "--porcelain"], capture_output=True, text=True, check=True
    ).stdout
    assert "M  a.txt" in status and "A  new.txt" in status


def test_sync_repo_index_bare_writes_index_only(bare_repo_path: Path, run_git) -> None:
    ws = Workspace(str(bare_repo_path))
    ws.add_blob("a.txt", "x\n")
    ws.sync_repo_index()
    assert run_git(ws.path, "ls-files", "--stage").split()[-1] == "a.txt"
