"""Several writers on one branch: processes, workspaces and threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pygit2
import pytest

from gitmodel import BranchMoved, LockWaitTimeoutExceeded, MergeConflict, RepositoryError, fields
from gitmodel.workspace import Workspace

PROCS = str(Path(__file__).with_name("procs.py"))


def item_model(ws: Workspace) -> type:
    class Item(ws.GitModel):
        n = fields.IntegerField(default=0)

    return Item


def run_proc(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, PROCS, *args], capture_output=True, text=True, check=True, **kwargs
    )


def commits_on(repo_path, ref: str = "master") -> list[pygit2.Commit]:
    repo = pygit2.Repository(str(repo_path))
    return list(repo.walk(repo.references[f"refs/heads/{ref}"].target))


# -- a clean workspace follows its branch --------------------------------------------
def test_clean_workspace_sees_commit_of_another_workspace(bare_repo_path):
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path)
    Item1, Item2 = item_model(ws1), item_model(ws2)
    Item1(id="a", n=1).save(commit=True, message="a")
    assert Item2.get("a").n == 1  # no refresh called
    Item2(id="b", n=2).save(commit=True, message="b")
    assert sorted(Item1.all().ids()) == ["a", "b"]
    assert [c.message for c in ws1.walk()] == ["b", "a"]


def test_follow_trusts_a_settled_ref_stamp_only_until_the_ref_changes(bare_repo_path, run_git):
    """The stat fingerprint that spares a ref read never hides a new commit,
    for a loose ref and for one that plain git has packed."""
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path)
    Item1, Item2 = item_model(ws1), item_model(ws2)
    Item1(id="a", n=1).save(commit=True, message="one")
    for round_no, pack in enumerate([False, True], start=2):
        if pack:
            run_git(bare_repo_path, "pack-refs", "--all")
            assert not (bare_repo_path / "refs" / "heads" / "master").exists()
        time.sleep(0.1)  # older than the settle window: the stamp is trusted
        assert Item1.get("a").n == round_no - 1
        assert Item1.get("a").n == round_no - 1  # answered from the stamp
        item = Item2.get("a")
        item.n = round_no
        item.save(commit=True, message=f"round {round_no}")
        time.sleep(0.1)  # the new ref file settles too: only its stamp differs
        assert Item1.get("a").n == round_no
    assert [c.message for c in ws1.walk()] == ["round 3", "round 2", "one"]


def test_clean_workspace_sees_commit_of_another_process(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Item = item_model(ws)
    Item(id="mine", n=1).save(commit=True)
    for i in range(3):
        out = run_proc("commit_one", str(bare_repo_path), f"theirs-{i}")
        assert Item.get(f"theirs-{i}").n == 1
        assert ws.branch.oid == pygit2.Oid(hex=out.stdout.strip())


def test_pending_changes_stay_on_their_commit_then_rebase(bare_repo_path, run_git):
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path)
    Item1, Item2 = item_model(ws1), item_model(ws2)
    Item1(id="base").save(commit=True, message="base")
    Item2(id="pending").save()  # ws2 now has pending changes built on "base"
    other = Item1(id="other").save(commit=True, message="other")
    # ws2 does not jump: its pending object is still there, "other" is not
    assert Item2.get("pending").id == "pending"
    with pytest.raises(Item2.DoesNotExist):
        Item2.get("other")
    mine = ws2.commit("pending")  # lost the race: rebased on top of "other"
    history = commits_on(bare_repo_path)
    assert [c.message for c in history] == ["pending", "other", "base"]
    assert history[0].id == mine and history[0].parent_ids == [other]
    assert sorted(Item2.all().ids()) == ["base", "other", "pending"]
    run_git(bare_repo_path, "fsck", "--strict")


def test_same_field_changed_by_two_writers_conflicts_and_keeps_both(bare_repo_path):
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path)
    Item1, Item2 = item_model(ws1), item_model(ws2)
    Item1(id="x", n=0).save(commit=True)
    mine = Item2.get("x")
    mine.n = 2
    mine.save()
    theirs = Item1.get("x")
    theirs.n = 1
    head = theirs.save(commit=True)
    with pytest.raises(MergeConflict) as info:
        ws2.commit("mine")
    assert "x" in str(info.value) and "n" in str(info.value)
    assert ws1.branch.oid == head  # the branch is untouched
    assert ws2.has_changes() and Item2.get("x").n == 2  # our change is kept


def test_move_branch_is_a_compare_and_swap(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Item = item_model(ws)
    first = Item(id="a").save(commit=True)
    second = Item(id="b").save(commit=True)
    with pytest.raises(BranchMoved) as info:
        ws._move_branch(first, "rewind", expected=first)  # stale expectation
    assert isinstance(info.value, RepositoryError)
    assert info.value.current == second
    assert ws.branch.oid == second


def test_follow_can_be_turned_off(bare_repo_path):
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path, follow=False)
    Item1, Item2 = item_model(ws1), item_model(ws2)
    Item1(id="a").save(commit=True)
    with pytest.raises(Item2.DoesNotExist):
        Item2.get("a")
    ws2.follow = True
    assert Item2.get("a").id == "a"


def test_detached_workspace_does_not_follow(bare_repo_path):
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path)
    Item1, Item2 = item_model(ws1), item_model(ws2)
    first = Item1(id="a").save(commit=True)
    ws2.update_index(str(first))
    Item1(id="b").save(commit=True)
    assert Item2.all().ids() == ["a"]


# -- many processes, one branch ---------------------------------------------------------
def test_concurrent_writer_processes_lose_nothing(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)
    Item = item_model(ws)
    Item(id="seed").save(commit=True, message="seed")
    writers, count = 4, 30
    procs = [
        subprocess.Popen(
            [sys.executable, PROCS, "writer", str(bare_repo_path), f"w{w}", str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    reported = {}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        for line in out.splitlines():
            if line.startswith("done "):
                _, object_id, oid = line.split()
                reported[object_id] = oid
    assert len(reported) == writers * count
    history = commits_on(bare_repo_path)
    assert len(history) == writers * count + 1
    assert all(len(c.parents) <= 1 for c in history)  # linear
    on_branch = {str(c.id) for c in history}
    assert set(reported.values()) <= on_branch  # every reported commit survived
    assert sorted(Item.all().ids()) == sorted([*reported, "seed"])
    run_git(bare_repo_path, "fsck", "--strict")


# -- threads sharing one workspace --------------------------------------------------------
def test_threads_sharing_a_workspace(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path)
    Item = item_model(ws)
    threads, count = 6, 20
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(t: int) -> None:
        try:
            for i in range(count):
                Item(id=f"t{t}-{i}", n=i).save(commit=True, message=f"t{t}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                for obj in Item.all():
                    assert Item.get(obj.id).n == obj.n
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in workers + readers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    history = commits_on(bare_repo_path)
    assert len(history) == threads * count
    repo = ws.repo
    for commit in history:  # each commit holds exactly its own object
        parent_tree = commit.parents[0].tree if commit.parents else repo[repo.TreeBuilder().write()]
        paths = {d.new_file.path for d in parent_tree.diff_to_tree(commit.tree).deltas
                 if not d.new_file.path.startswith(".gitmodel/")}  # the first holds the schema
        assert paths == {f"item/{commit.message}/data.json"}
    assert len(Item.all()) == threads * count
    run_git(bare_repo_path, "fsck", "--strict")


def test_commit_on_success_block_does_not_hold_up_other_threads(bare_repo_path, run_git):
    """Each thread has its own unit of work: another thread commits while a
    block is open, and neither commit holds the other's object."""
    ws = Workspace(bare_repo_path)
    Item = item_model(ws)
    inside, leave, other_done = threading.Event(), threading.Event(), threading.Event()

    def block() -> None:
        with ws.commit_on_success("block"):
            Item(id="in-block").save()
            inside.set()
            leave.wait(10)

    def other() -> None:
        inside.wait(10)
        Item(id="other").save(commit=True, message="other")
        other_done.set()

    threads = [threading.Thread(target=block), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    assert other_done.wait(10)  # committed while the block is still open
    leave.set()
    for thread in threads:
        thread.join()
    history = commits_on(bare_repo_path)
    assert [c.message for c in history] == ["block", "other"]
    assert [e.name for e in history[1].tree["item"]] == ["other"]
    assert [e.name for e in history[0].tree["item"]] == ["in-block", "other"]
    run_git(bare_repo_path, "fsck", "--strict")


def test_each_thread_may_have_its_own_workspace(bare_repo_path, run_git):
    errors: list[BaseException] = []

    def write(t: int) -> None:
        try:
            ws = Workspace(bare_repo_path)
            Item = item_model(ws)
            for i in range(15):
                while True:
                    try:
                        Item(id=f"t{t}-{i}").save(commit=True)
                        break
                    except BranchMoved:
                        ws.reset()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(commits_on(bare_repo_path)) == 60
    run_git(bare_repo_path, "fsck", "--strict")


# -- the branch ref lock ----------------------------------------------------------------
def _ref_lock(repo_path: Path) -> Path:
    return Path(repo_path) / "refs" / "heads" / "master.lock"


def test_busy_ref_lock_times_out_and_keeps_everything(bare_repo_path):
    ws = Workspace(bare_repo_path, lock_timeout=0.2)
    Item = item_model(ws)
    first = Item(id="a").save(commit=True)
    _ref_lock(bare_repo_path).write_text("held by someone\n")
    Item(id="b").save()
    with pytest.raises(LockWaitTimeoutExceeded):
        ws.commit("b")
    assert ws.branch.oid == first
    assert ws.has_changes()
    _ref_lock(bare_repo_path).unlink()
    second = ws.commit("b")
    assert ws.branch.oid == second


def test_stale_ref_lock_file_is_broken(bare_repo_path, run_git):
    ws = Workspace(bare_repo_path, lock_timeout=5, stale_lock_age=1.0)
    Item = item_model(ws)
    Item(id="a").save(commit=True)
    lock = _ref_lock(bare_repo_path)
    lock.write_text("left by a killed process\n")
    old = os.stat(lock).st_mtime - 60
    os.utime(lock, (old, old))
    oid = Item(id="b").save(commit=True, message="b")
    assert ws.branch.oid == oid
    assert not lock.exists()
    run_git(bare_repo_path, "fsck", "--strict")


def test_corrupt_branch_ref_is_a_clear_error_when_committing(bare_repo_path):
    ws = Workspace(bare_repo_path)
    Item = item_model(ws)
    Item(id="a").save(commit=True)
    Item(id="b").save()
    (Path(bare_repo_path) / "refs" / "heads" / "master").write_text("garbage\n")
    with pytest.raises(RepositoryError, match="corrupt"):
        ws.commit("b")
    assert ws.has_changes()


def test_a_save_builds_on_the_commit_its_object_was_read_from(bare_repo_path):
    """Even a save that reads (a unique check lists objects) does not jump ahead."""
    ws1, ws2 = Workspace(bare_repo_path), Workspace(bare_repo_path)

    def define(ws):
        class Tagged(ws.GitModel):
            code = fields.CharField(unique=True)
            n = fields.IntegerField(default=0)

        return Tagged

    T1, T2 = define(ws1), define(ws2)
    T1(id="x", code="a").save(commit=True)
    stale = T2.get("x")  # read at the first commit
    fresh = T1.get("x")
    fresh.n = 1
    head = fresh.save(commit=True)
    stale.n = 2
    with pytest.raises(MergeConflict):
        stale.save(commit=True)  # not a silent overwrite of n=1
    assert ws1.branch.oid == head
    assert T1.get("x").n == 1


def test_threads_reading_through_a_tiny_object_cache(bare_repo_path):
    """Many threads reading at once evict cache entries without tripping over each other."""
    ws = Workspace(bare_repo_path, object_cache_size=3)
    Item = item_model(ws)
    for i in range(40):
        Item(id=f"i{i}", n=i).save()
    ws.commit("items")
    errors: list[BaseException] = []

    def read(offset: int) -> None:
        try:
            for round_no in range(5):
                for i in range(40):
                    k = (i + offset + round_no) % 40
                    assert Item.get(f"i{k}").n == k
                assert sorted(o.n for o in Item.all()) == list(range(40))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ws._objects) <= 3
