"""The ``gitmodel`` command against hostile input and hostile repositories,
run as a user runs it (a subprocess, on a terminal where it matters): a
bad value is one error line and its exit code, never a traceback; data
from a repository never writes a control sequence to the terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pygit2
import pytest

import gitmodel
from gitmodel import Workspace, fields

ROOT = Path(gitmodel.__file__).resolve().parents[1]
DEEP = "[" * 50000 + "]" * 50000
#: retitle the window, clear the screen, write the clipboard (OSC 52), a C1 CSI
HOSTILE = "x\x1b]0;PWNED\x07\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\x9b31my"
#: a right-to-left override and an isolate ("Trojan Source"), a line separator
BIDI = "\u202e\u2066\u2028"


def gm(*args: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gitmodel", *map(str, args)], capture_output=True,
                          text=True, env=run_env, timeout=120)


def on_terminal(*args: Any) -> bytes:
    """What ``gitmodel ARGS`` writes to a terminal (stdout and stderr on a pty)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "gitmodel", *map(str, args)], stdin=slave,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out[-2000:]
    return out


def one_error_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitmodel: error: "), lines[:5]
    return lines[0]


def head(path: Path) -> str:
    repo = pygit2.Repository(str(path))
    return str(repo.head.target)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    ws = Workspace.init(tmp_path / "site.git")

    class Page(ws.GitModel):
        slug = fields.CharField(id=True)
        title = fields.CharField()
        data = fields.JSONField(required=False)

    Page(slug="home", title="Home", data=[1]).save(commit=True, message="First", author=("Ann", "ann@x"))
    return tmp_path / "site.git"


def test_deeply_nested_json_in_set_or_where_is_one_error_line(store: Path) -> None:
    before = head(store)
    line = one_error_line(gm("-C", store, "set", "Page", "home", f"data={DEEP}"), 6)
    assert '"data" is not a valid value' in line
    line = one_error_line(gm("-C", store, "ls", "Page", "--where", f"data__contains={DEEP}"), 6)
    assert '"data__contains" is not a valid value' in line
    assert head(store) == before
    assert gm("-C", store, "ls", "Page", "--where", "data__contains=1").stdout.count("home") == 1


def test_deeply_nested_json_given_to_resolve_is_refused_as_not_json(store: Path) -> None:
    from gitmodel.cli.context import open_workspace

    assert gm("-C", store, "branch", "other").returncode == 0
    assert gm("-C", store, "set", "Page", "home", "title=Ours").returncode == 0
    other = open_workspace(store, branch="other")
    page = other.models["Page"].get("home")
    page.title = "Theirs"
    page.save(commit=True, message="Theirs")
    assert gm("-C", store, "merge", "other").returncode == 7
    done = gm("-C", store, "resolve", "Page", "home", "title", "--value", DEEP)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "not JSON" in done.stderr
    assert gm("-C", store, "conflicts").returncode == 7  # still open, nothing resolved


def test_a_branch_or_tag_cannot_be_a_folder_of_another(store: Path) -> None:
    assert gm("-C", store, "branch", "a/b").returncode == 0
    assert gm("-C", store, "tag", "v1/rc").returncode == 0
    refs = pygit2.Repository(str(store)).listall_references()
    for args, text in ((["branch", "a"], "cannot create branch 'a': branch 'a/b' exists"),
                       (["branch", "a/b/c"], "cannot create branch 'a/b/c': branch 'a/b' exists"),
                       (["tag", "v1"], "cannot create tag 'v1': tag 'v1/rc' exists"),
                       (["tag", "v1/rc/2"], "cannot create tag 'v1/rc/2': tag 'v1/rc' exists")):
        line = one_error_line(gm("-C", store, *args), 6)
        assert text in line and "a name cannot be both" in line, line
    assert pygit2.Repository(str(store)).listall_references() == refs
    assert gm("-C", store, "branch", "a/c").returncode == 0  # a sibling is fine


def hostile_commit(store: Path) -> None:
    """A commit by another tool: a title, a commit message and an author name
    holding terminal control sequences."""
    repo = pygit2.Repository(str(store))
    tip = repo[repo.head.target]
    blob = repo.create_blob(json.dumps({"model": "Page", "fields": {
        "slug": "home", "title": HOSTILE + BIDI, "data": [HOSTILE]}}, indent=1).encode())
    page = repo.TreeBuilder(tip.tree / "page" / "home")
    page.insert("data.json", blob, pygit2.GIT_FILEMODE_BLOB)
    folder = repo.TreeBuilder(tip.tree / "page")
    folder.insert("home", page.write(), pygit2.GIT_FILEMODE_TREE)
    root = repo.TreeBuilder(tip.tree)
    root.insert("page", folder.write(), pygit2.GIT_FILEMODE_TREE)
    who = pygit2.Signature("Mallory \x1b[2J", "m@x", 1_700_000_000, 0)
    repo.create_commit("HEAD", who, who, f"Retitle {HOSTILE}{BIDI}\n", root.write(), [tip.id])


@pytest.mark.parametrize("args", [["ls", "Page"], ["show", "Page", "home"], ["log"], ["log", "Page", "home"],
                                  ["blame", "Page", "home"], ["diff"]])
def test_control_sequences_from_the_repository_are_shown_escaped(store: Path, args: list[str]) -> None:
    hostile_commit(store)
    for out in (on_terminal("-C", store, *args), gm("-C", store, *args).stdout.encode()):
        assert b"\x1b]" not in out and b"\x1b[2J" not in out and "\x9b".encode() not in out, out[-500:]
        assert b"\\x1b]0;PWNED\\x07" in out or b"\\x1b[2J" in out, out[-500:]
        assert not any(c.encode() in out for c in BIDI), out[-500:]
        if args[0] in ("show", "ls", "log"):
            assert b"\\u202e" in out, out[-500:]
    data = gm("-C", store, *args, "--json")
    assert data.returncode == 0 and "\x9b" not in data.stdout and "\x1b" not in data.stdout
    assert not any(c in data.stdout for c in BIDI)
    if args[0] in ("show", "ls"):  # the values themselves, exactly
        loaded = json.loads(data.stdout)
        assert (loaded[0] if isinstance(loaded, list) else loaded)["title"] == HOSTILE + BIDI


def test_json_output_escapes_c1_controls_and_keeps_the_values_exact(store: Path) -> None:
    hostile_commit(store)
    out = gm("-C", store, "show", "Page", "home", "--json").stdout
    assert "\x9b" not in out and "\\u009b" in out  # JSON escapes: the same string
    assert "\u202e" not in out and "\\u202e" in out
    shown = json.loads(out)
    assert shown["title"] == HOSTILE + BIDI and shown["data"] == [HOSTILE]


def test_models_lists_the_readable_models_and_names_the_broken_one(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "two.git")

    class Page(ws.GitModel):
        slug = fields.CharField(id=True)

    class Note(ws.GitModel):
        slug = fields.CharField(id=True)

    Page(slug="p").save()
    Note(slug="n").save()
    ws.commit("Both")
    repo = pygit2.Repository(str(tmp_path / "two.git"))
    tip = repo[repo.head.target]
    root = repo.TreeBuilder(tip.tree)
    root.insert("page", repo.create_blob(b"not a folder"), pygit2.GIT_FILEMODE_BLOB)
    who = pygit2.Signature("Mallory", "m@x")
    repo.create_commit("HEAD", who, who, "break page\n", root.write(), [tip.id])
    done = gm("-C", tmp_path / "two.git", "models")
    assert done.returncode == 10 and "Traceback" not in done.stderr
    assert "Note\t1\t" in done.stdout and "Page: cannot be read" in done.stdout
    assert "expected a folder, found a file" in done.stdout
    listed = gm("-C", tmp_path / "two.git", "models", "--json")
    assert listed.returncode == 10
    by_name = {m["model"]: m for m in json.loads(listed.stdout)}
    assert by_name["Note"]["count"] == 1
    assert by_name["Page"]["count"] is None and "expected a folder" in by_name["Page"]["error"]
