"""Two writers of one branch that make the same change: each made it, so
taking it once would lose one of them (two requests that each counted
1 -> 2 made two increments). A lost race or a stale instance is then a
conflict, an ``update()`` with ``F()`` is computed again, and branch merges
keep git's rule (both sides alike agree)."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from gitmodel import F, MergeConflict, Workspace, fields


def define(ws: Workspace) -> tuple[Any, Any]:
    class Counter(ws.GitModel):
        n = fields.IntegerField(default=0)
        hits = fields.IntegerField(default=0, merge=lambda base, ours, theirs: ours + theirs - base)
        events = fields.ListField(fields.CharField())

    return Counter, None


def log(path: Path) -> list[str]:
    out = subprocess.run(["git", "--git-dir", str(path), "log", "--format=%s"], capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Any, Any, Workspace, Workspace]:
    path = tmp_path / "store.git"
    ws1 = Workspace.init(path)
    ws2 = Workspace(path)
    c1, _ = define(ws1)
    c2, _ = define(ws2)
    c1(id="c", events=["open"]).save(commit=True, message="init")
    return path, c1, c2, ws1, ws2


def test_a_stale_instance_saving_the_same_new_value_conflicts(two: Any) -> None:
    path, c1, c2, _ws1, _ws2 = two
    a, b = c1.get("c"), c2.get("c")
    a.n += 1
    b.n += 1
    a.save(commit=True, message="A: +1")
    with pytest.raises(MergeConflict) as caught:
        b.save(commit=True, message="B: +1")
    assert [(c.field, c.ours, c.theirs) for c in caught.value.conflicts] == [("n", 1, 1)]
    assert c1.get("c").n == 1
    assert log(path) == ["A: +1", "init"]  # B's commit is not in history as if it had landed


def test_a_lost_race_with_the_same_change_opens_a_merge_that_keeps_the_edit(two: Any) -> None:
    path, c1, c2, ws1, ws2 = two
    a, b = c1.get("c"), c2.get("c")
    a.n, b.n = 5, 5
    a.save()
    b.save()
    ws1.commit("A sets 5")
    with pytest.raises(MergeConflict) as caught:
        ws2.commit("B sets 5")
    assert caught.value.conflicts[0].field == "n"
    ws2.abort_merge()  # the edit comes back, pending
    assert ws2.has_changes() and c2.get("c").n == 5
    ws2.reset()
    assert log(path) == ["A sets 5", "init"]


def test_the_same_element_appended_by_two_writers_conflicts_and_distinct_ones_merge(two: Any) -> None:
    path, c1, c2, ws1, ws2 = two
    a, b = c1.get("c"), c2.get("c")
    a.events = [*a.events, "click"]
    b.events = [*b.events, "click"]
    a.save(commit=True, message="A click")
    with pytest.raises(MergeConflict):
        b.save(commit=True, message="B click")
    assert c1.get("c").events == ["open", "click"]
    ws2.abort_merge()
    ws2.reset()
    a, b = c1.get("c"), c2.get("c")
    a.events = [*a.events, "buy"]
    b.events = [*b.events, "view"]
    a.save(commit=True, message="A buy")
    b.save(commit=True, message="B view")  # different elements: both kept
    assert sorted(c1.get("c").events) == ["buy", "click", "open", "view"]


def test_a_merge_rule_still_counts_both_writers(two: Any) -> None:
    _path, c1, c2, _ws1, _ws2 = two
    a, b = c1.get("c"), c2.get("c")
    a.hits += 1
    b.hits += 1
    a.save(commit=True, message="A hit")
    b.save(commit=True, message="B hit")
    assert c1.get("c").hits == 2


def test_branches_that_agree_still_merge_without_a_conflict(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "b.git")
    counter, _ = define(ws)
    counter(id="c").save(commit=True, message="init")
    ws.create_branch("other")
    obj = counter.get("c")
    obj.n = 7
    obj.save(commit=True, message="seven here")
    ws.set_branch("other")
    obj = counter.get("c")
    obj.n = 7
    obj.save(commit=True, message="seven there")
    ws.set_branch("master")
    ws.merge("other")  # git's rule for two branches: the same change agrees
    assert counter.get("c").n == 7 and ws.conflicts == []


def test_commit_on_success_blocks_racing_in_threads_lose_no_increment(two: Any) -> None:
    path, c1, c2, ws1, ws2 = two
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def request(ws: Workspace, model: Any, name: str) -> None:
        try:
            with ws.unit_of_work(), ws.commit_on_success(f"{name}: +1"):
                obj = model.get("c")
                obj.n += 1
                obj.save()
                barrier.wait()
            outcome[name] = "ok"
        except MergeConflict:
            outcome[name] = "conflict"

    threads = [threading.Thread(target=request, args=(w, m, name))
               for w, m, name in ((ws1, c1, "X"), (ws2, c2, "Y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcome.values()) == ["conflict", "ok"]
    assert c1.get("c").n == 1  # one increment landed, one was refused


def _increment(path: str, times: int, queue: Any) -> None:
    ws = Workspace(path)
    counter, _ = define(ws)
    done = 0
    for _ in range(times):
        with ws.unit_of_work():
            done += counter.filter(id="c").update(n=F("n") + 1, commit=True)
    queue.put(done)


def test_update_with_f_across_processes_is_an_atomic_increment(two: Any) -> None:
    path, c1, _c2, _ws1, _ws2 = two
    queue: Any = mp.get_context("spawn").Queue()
    procs = [mp.get_context("spawn").Process(target=_increment, args=(str(path), 15, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    counts = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert counts == [15, 15, 15]
    assert define(Workspace(path))[0].get("c").n == 45
    assert len(log(path)) == 46  # one commit per increment
    fsck = subprocess.run(["git", "--git-dir", str(path), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
