"""``info/grafts`` from another tool: a graft that gives a commit one of
its descendants as a parent makes the history a loop, and libgit2's ordered
walk then stops early without a word. gitmodel's walks notice that and
raise :class:`CorruptObject`, instead of an empty or cut history; a graft
without a loop reads as git reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from attacker import git
from gitmodel import CorruptObject, fields
from gitmodel.workspace import Workspace


def store(path: Path, versions: int) -> list[str]:
    ws = Workspace.init(path)

    class Page(ws.GitModel):
        title = fields.CharField()

    Page(id="home", title="v0").save(commit=True, message="v0")
    for n in range(1, versions):
        page = Page.get("home")
        page.title = f"v{n}"
        page.save(commit=True, message=f"v{n}")
    return git(path, "rev-list", "--topo-order", "master").stdout.split()  # newest first


def graft(path: Path, line: str) -> Workspace:
    (path / "info").mkdir(exist_ok=True)
    (path / "info" / "grafts").write_text(line + "\n")
    ws = Workspace(path)

    class Page(ws.GitModel):
        title = fields.CharField()

    return ws


@pytest.mark.parametrize("shape", ["first onto the head", "the head onto itself", "deep in the history"])
def test_a_history_that_loops_is_a_corrupt_object_not_an_empty_one(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "store.git"
    ids = store(path, 4)
    line = {"first onto the head": f"{ids[-1]} {ids[0]}", "the head onto itself": f"{ids[0]} {ids[0]}",
            "deep in the history": f"{ids[-1]} {ids[1]}"}[shape]
    ws = graft(path, line)
    page = ws.models["Page"]
    assert page.get("home").title == "v3"  # the current state still reads
    for walk in (lambda: list(ws.walk()), lambda: page.history("home"), lambda: page.blame("home")):
        with pytest.raises(CorruptObject, match="loops back"):
            walk()


def test_a_graft_without_a_loop_reads_as_git_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "store.git"
    ids = store(path, 4)
    ws = graft(path, ids[1])  # v2 made a root: the history ends there
    assert [c.message for c in ws.walk()] == ["v3", "v2"]
    assert len(ws.models["Page"].history("home")) == 2
    assert git(path, "log", "--format=%s").stdout.split() == ["v3", "v2"]


def test_signature_checks_refuse_a_looping_history_instead_of_checking_part_of_it(tmp_path: Path) -> None:
    from gitmodel.signing import TrustedKeys

    path = tmp_path / "store.git"
    ids = store(path, 4)
    assert len(Workspace(path).signatures(TrustedKeys([]))) == 4  # unsigned, each listed
    ws = graft(path, f"{ids[-1]} {ids[1]}")
    for check in (lambda: ws.signatures(TrustedKeys([])), lambda: ws.signatures(TrustedKeys([]), since=ids[-1]),
                  lambda: ws.require_signed(TrustedKeys([]))):
        with pytest.raises(CorruptObject, match="loops back"):
            check()
