"""What plain git sees of a gitmodel repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitmodel import fields
from gitmodel.workspace import Workspace


@pytest.fixture
def Page(ws: Workspace):
    class Page(ws.GitModel):
        slug = fields.SlugField()
        title = fields.CharField()
        body = fields.BlobField()

    return Page


def test_git_log_shows_the_commits(ws: Workspace, Page, run_git) -> None:
    page = Page(id="p", slug="a", title="One")
    first = page.save(commit=True, message="Add page", author=("Ann", "ann@example.com"))
    page.title = "Two"
    second = page.save(commit=True, message="Edit page\n\nLonger body.")
    Page.delete("p", commit=True, message="Remove page")
    log = run_git(ws.path, "log", "--format=%H|%an|%ae|%s", "master").splitlines()
    assert [line.split("|")[3] for line in log] == ["Remove page", "Edit page", "Add page"]
    assert log[1].split("|")[0] == str(second)
    assert log[2] == f"{first}|Ann|ann@example.com|Add page"
    assert "Longer body." in run_git(ws.path, "log", "-1", "--format=%b", str(second))
    assert [c.message.splitlines()[0] for c in ws.walk()] == ["Remove page", "Edit page", "Add page"]


def test_git_show_prints_the_json(ws: Workspace, Page, run_git) -> None:
    page = Page(id="p", slug="a", title="Shown", body=b"raw bytes")
    page.save(commit=True, message="add")
    shown = run_git(ws.path, "show", "master:page/p/data.json")
    assert shown == ws.repo[page.oid].data.decode()
    assert json.loads(shown) == {
        "model": "Page",
        "fields": {"id": "p", "slug": "a", "title": "Shown"},
    }
    assert run_git(ws.path, "show", "master:page/p/body.data") == "raw bytes"
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    assert listing == [".gitmodel/schema/Page.json", "page/p/body.data", "page/p/data.json"]


def test_git_diff_between_commits_reads_as_fields(ws: Workspace, Page, run_git) -> None:
    page = Page(id="p", slug="a", title="Before")
    first = page.save(commit=True, message="one")
    page.title = "After"
    second = page.save(commit=True, message="two")
    diff = run_git(ws.path, "diff", str(first), str(second))
    assert '-    "title": "Before"' in diff and '+    "title": "After"' in diff


def test_fsck_strict_is_clean(ws: Workspace, Page, run_git) -> None:
    for i in range(5):
        Page(id=f"p{i}", slug=f"s{i}", title=f"T{i}", body=b"x" * i).save()
    ws.commit("five")
    Page.delete("p2")
    p = Page.get("p3")
    p.slug = "moved"
    p.save()
    ws.commit("edit")
    ws.create_branch("side")
    with ws.lock("x"):
        result = subprocess.run(
            ["git", f"--git-dir={ws.path}", "fsck", "--strict", "--no-dangling"],
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower() and "warning" not in result.stderr.lower()


def test_git_sees_branches_made_by_the_workspace(ws: Workspace, Page, run_git) -> None:
    Page(id="p", slug="a", title="Main").save(commit=True, message="main")
    ws.create_branch("draft")
    ws.set_branch("draft")
    page = Page.get("p")
    page.title = "Draft"
    page.save(commit=True, message="draft edit")
    branches = run_git(ws.path, "branch", "--format=%(refname:short)").split()
    assert branches == ["draft", "master"]
    assert json.loads(run_git(ws.path, "show", "draft:page/p/data.json"))["fields"]["title"] == "Draft"
    assert json.loads(run_git(ws.path, "show", "master:page/p/data.json"))["fields"]["title"] == "Main"


def test_workspace_reads_what_plain_git_committed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    env_git = ["git", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "note").mkdir()
    (repo / "note" / "n1").mkdir()
    (repo / "note" / "n1" / "data.json").write_text(
        json.dumps({"model": "Note", "fields": {"id": "n1", "text": "from git"}})
    )
    subprocess.run([*env_git, "add", "."], check=True)
    subprocess.run([*env_git, "commit", "-q", "-m", "by hand"], check=True)
    ws = Workspace(str(repo))
    assert ws.head == "refs/heads/main"

    class Note(ws.GitModel):
        text = fields.CharField()

    assert Note.get("n1").text == "from git"
    note = Note.get("n1")
    note.text = "from gitmodel"
    oid = note.save(commit=True, message="by gitmodel")
    log = subprocess.run(
        [*env_git, "log", "--format=%s", "main"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert log[:2] == ["by gitmodel", "by hand"]
    assert str(ws.repo[oid].parents[0].id) == subprocess.run(
        [*env_git, "rev-parse", "main~1"], capture_output=True, text=True, check=True
    ).stdout.strip()
