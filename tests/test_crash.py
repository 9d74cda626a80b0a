"""SIGKILL a committing process at random moments; nothing it reported is lost."""

from __future__ import annotations

from crash_harness import _models, check_repository, crash_rounds

from gitmodel.workspace import Workspace


def test_random_sigkills_lose_no_reported_commit(tmp_path):
    stats = crash_rounds(str(tmp_path / "store.git"), kills=30, max_delay=0.05, seed=6)
    assert stats.kills == 30
    assert stats.fsck_runs == 30
    # the children got work done between kills, and all of it is on the branch
    # (a commit made but not yet reported when the kill came is there too)
    assert stats.commits_reported > 0
    assert stats.commits_on_branch >= stats.commits_reported + 1


def test_check_repository_notices_a_lost_commit(tmp_path, run_git):
    """The checker itself fails when a reported commit is not on the branch."""
    import pytest

    path = str(tmp_path / "store.git")
    crash_rounds(path, kills=2, seed=1)
    # the last killed child may have left its ref lock: no one else is alive
    ws = Workspace(path, stale_lock_age=0.0)
    Item, Counter = _models(ws)
    counter = Counter.get("c")
    counter.n += 1
    Item(id="extra", n=counter.n).save()
    counter.save()
    extra = str(ws.commit("extra"))
    check_repository(path, [extra])  # consistent and present: passes
    run_git(path, "update-ref", "refs/heads/master", f"{extra}~1")  # "lose" it
    with pytest.raises(AssertionError, match="not on the branch"):
        check_repository(path, [extra])
