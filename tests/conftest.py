"""Fixtures: real repositories in temporary folders, git config isolated."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitmodel.workspace import Workspace


@pytest.fixture(autouse=True)
def isolated_git_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point HOME and XDG at an empty folder so the user's git config is not read."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    for level in (pygit2.enums.ConfigLevel.GLOBAL, pygit2.enums.ConfigLevel.XDG, pygit2.enums.ConfigLevel.SYSTEM):
        pygit2.settings.search_path[level] = str(home)
    yield home


@pytest.fixture
def bare_repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.git"
    pygit2.init_repository(str(path), bare=True)
    return path


@pytest.fixture
def workdir_repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    pygit2.init_repository(str(path), bare=False)
    return path


@pytest.fixture(params=["bare", "non-bare"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Workspace:
    """An empty workspace on a fresh repository, bare and non-bare."""
    bare = request.param == "bare"
    path = tmp_path / ("store.git" if bare else "store")
    pygit2.init_repository(str(path), bare=bare)
    return Workspace(str(path if bare else path / ".git"))


def git(repo_path: str | os.PathLike[str], *args: str) -> str:
    """Run plain git against ``repo_path`` and return its stdout."""
    result = subprocess.run(
        ["git", f"--git-dir={repo_path}", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


@pytest.fixture
def run_git():
    return git
