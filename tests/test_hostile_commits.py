"""Commits others wrote with a date no calendar holds or an encoding no codec
reads: git shows them, and so do blame, history and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attacker import HOSTILE_SIGNATURES, hostile_commit
from gitmodel import Workspace, fields

ROOT = Path(__file__).resolve().parents[1]


def make(path: Path) -> Workspace:
    ws = Workspace.init(path)

    class Article(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

    Article(id="a000", title="First").save(commit=True, message="first")
    return ws


def gm(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gitmodel", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("kind", sorted(HOSTILE_SIGNATURES))
def test_blame_and_history_read_a_commit_with_a_hostile_date_or_encoding(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store.git"
    make(store)
    hostile = hostile_commit(store, *HOSTILE_SIGNATURES[kind])
    assert subprocess.run(["git", f"--git-dir={store}", "log", "-1", "--format=%H", hostile],
                          capture_output=True, check=True, text=True).stdout.strip() == hostile
    ws = Workspace(store)

    class Article(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

    entry = Article.blame("a000")["title"]
    assert str(entry.commit.id) == hostile and entry.value == "Changed by Mallory"
    assert entry.author.startswith("Mall") and entry.author.endswith("<m@x>")
    entry.author.encode("utf-8")  # no unpaired surrogate
    assert (entry.date is None) == ("date" in kind)
    assert [str(v.commit.id) for v in Article.history("a000")][0] == hostile


@pytest.mark.parametrize("kind", sorted(HOSTILE_SIGNATURES))
def test_the_command_line_shows_a_commit_with_a_hostile_date_or_encoding(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store.git"
    make(store)
    hostile = hostile_commit(store, *HOSTILE_SIGNATURES[kind])
    for args in (("log",), ("log", "Article", "a000"), ("blame", "Article", "a000")):
        shown = gm("-C", store, *args)
        assert shown.returncode == 0, (args, shown.stderr)
        assert "Traceback" not in shown.stderr
        as_json = gm("-C", store, *args, "--json")
        assert as_json.returncode == 0, (args, as_json.stderr)
        records = json.loads(as_json.stdout)
        ours = [r for r in records if r["commit"] == hostile]
        assert ours and all((r["date"] is None) == ("date" in kind) for r in ours)
        if "date" in kind:
            assert "(no valid date)" in shown.stdout
