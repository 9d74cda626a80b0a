"""examples/cms.py runs from a shell and leaves a repository plain git can read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cms.py"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def test_cms_example_builds_a_repository_git_can_read(tmp_path):
    repo = tmp_path / "cms"
    result = run_example(str(repo))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # the main branch is whatever the new repository's HEAD names (usually master)
    main = git(repo, "symbolic-ref", "--short", "HEAD").strip()

    assert "committed 3 pages, tagged 'launch'" in out
    assert 'refused: "slug" must contain only letters, numbers, underscores and dashes' in out
    assert "[redesign]" in out and "pages: about, blog, contact, home" in out
    assert f"[{main}] pages: about, contact, home" in out
    assert f"[{main}] home title: 'Welcome'" in out
    assert "[redesign] home title: 'Welcome to the new site'" in out
    assert "about at tag 'launch': <p>We make things.</p>" in out
    assert "about now: <p>We make things, carefully, since 2012.</p>" in out
    assert "work tree: .gitmodel/schema/Page.json, page/about/data.json, page/home/data.json" in out

    # what the example printed as the log is what git sees, newest first
    printed = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("  ")]
    master_log = git(repo, "log", "--format=%s", main).splitlines()
    redesign_log = git(repo, "log", "--format=%s", "redesign").splitlines()
    assert master_log == [
        "Remove the contact page",
        "Expand the about page",
        "Add the home, about and contact pages",
    ]
    assert redesign_log == [
        "Redesign the home page and add a blog",
        "Expand the about page",
        "Add the home, about and contact pages",
    ]
    assert printed == master_log + redesign_log
    assert git(repo, "log", "-1", "--format=%an <%ae>", main).strip() == "Ada Editor <ada@example.com>"

    # the tag names the first commit; the JSON is readable at every revision
    assert git(repo, "rev-parse", "launch").strip() == git(repo, "rev-parse", f"{main}~2").strip()
    about_then = json.loads(git(repo, "show", "launch:page/about/data.json"))
    assert about_then == {
        "model": "Page",
        "fields": {
            "content": "<p>We make things.</p>",
            "published": True,
            "slug": "about",
            "title": "About us",
        },
    }
    blog = json.loads(git(repo, "show", "redesign:page/blog/data.json"))
    assert blog["fields"]["published"] is False
    assert git(repo, "ls-tree", "-r", "--name-only", main).split() == [
        ".gitmodel/schema/Page.json",
        "page/about/data.json",
        "page/home/data.json",
    ]

    # relations, lists, aggregates and pages on the branch "people"
    assert "[people] branches by Bob Writer" in out
    assert "[people] ada wrote: intro, merging" in out
    assert "[people] keyword 'merge': ['merging']" in out
    assert "[people] words: {'total': 2000, 'n': 3}" in out
    assert "[people] per author: [('ada', 2), ('bob', 1)]" in out
    assert "[people] page 2 of 2: ['merging']" in out
    assert "refused: cannot delete Author 'bob': Article 'branches' (author) refers to it" in out
    assert "[people] merging tags now: ['howto']" in out
    assert "[people] merging tags then: ['git', 'howto']" in out
    merging = git(repo, "show", "people:article/merging/data.json")
    assert '"tags": [\n      "howto"\n    ]' in merging  # one element per line
    changed = git(repo, "show", "--name-status", "--format=", "people~1").split()
    assert "tag/git/data.json" in changed and "article/merging/data.json" in changed  # one commit
    assert git(repo, "log", "--format=%s", "people", "-3").splitlines() == [
        "Add a cover to the introduction",
        "Retire the git tag, retitle Bob's article",
        "Add authors, tags and articles",
    ]
    size = len(git(repo, "show", "people:article/intro/cover/intro-cover.svg"))
    assert f"[people] cover: intro-cover.svg (image/svg+xml, {size} bytes)" in out
    assert "article/intro/cover/intro-cover.svg" in git(repo, "log", "--stat", "--format=", "-1", "people")

    # sync_repo_index() left a clean work tree on the checked-out branch
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "page" / "home" / "data.json").read_text().endswith("}\n")
    git(repo, "fsck", "--strict")


def test_cms_example_without_a_path_cleans_up_after_itself(tmp_path):
    result = run_example()
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("repository: ")
    assert not Path(first.removeprefix("repository: ")).exists()


def test_cms_example_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine\n")
    result = run_example(str(tmp_path))
    assert result.returncode == 2
    assert "is not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
