"""A non-bare repository stays truthful: commits to the checked-out branch
keep git's index and work tree in step, checked with plain git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import BranchNotFound, RepositoryError
from gitmodel.workspace import Workspace
from gitmodel.worktree import WorkTreeConflict, WorkTreePolicy, WorkTreeRefused


def git(workdir: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(workdir), *args], check=True, capture_output=True, text=True, input=input
    ).stdout


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    pygit2.init_repository(str(path), bare=False)
    git(path, "config", "user.name", "Someone")
    git(path, "config", "user.email", "someone@example.com")
    return path


def declare(ws: Workspace):
    class Page(ws.GitModel):
        id = fields.SlugField(id=True)
        title = fields.CharField()

    return Page


def test_commits_leave_git_status_clean(workdir: Path) -> None:
    (workdir / "README").write_text("hello\n")
    git(workdir, "add", "README")
    git(workdir, "commit", "-qm", "a file of the project")
    ws = Workspace(workdir)
    Page = declare(ws)
    Page(id="one", title="first").save(commit=True)
    Page(id="two", title="second").save(commit=True)
    assert git(workdir, "status", "--porcelain") == ""
    assert (workdir / "page" / "one" / "data.json").read_bytes() == ws.repo[Page.get("one").oid].data
    page = Page.get("one")
    page.title = "changed"
    page.save(commit=True)
    Page.delete("two", commit=True)
    assert git(workdir, "status", "--porcelain") == ""
    assert not (workdir / "page" / "two").exists()  # emptied folders go
    assert '"changed"' in (workdir / "page" / "one" / "data.json").read_text()
    assert git(workdir, "diff", "HEAD", "--stat") == ""
    # a plain git commit now keeps the data instead of undoing it
    (workdir / "README").write_text("edited\n")
    git(workdir, "commit", "-qam", "edit the readme")
    assert git(workdir, "show", "HEAD:page/one/data.json") == (workdir / "page/one/data.json").read_text()
    assert git(workdir, "ls-tree", "-r", "--name-only", "HEAD").split() == [".gitmodel/schema/Page.json", "README", "page/one/data.json"]
    git(workdir, "fsck", "--strict")


def test_unrelated_local_changes_are_left_alone(workdir: Path) -> None:
    ws = Workspace(workdir)
    Page = declare(ws)
    Page(id="one", title="first").save(commit=True)
    (workdir / "notes.txt").write_text("untracked\n")
    (workdir / "staged.txt").write_text("staged\n")
    git(workdir, "add", "staged.txt")
    Page(id="two", title="second").save(commit=True)
    assert sorted(git(workdir, "status", "--porcelain").splitlines()) == ["?? notes.txt", "A  staged.txt"]


def test_a_local_edit_where_the_commit_writes_is_a_conflict(workdir: Path) -> None:
    ws = Workspace(workdir)
    Page = declare(ws)
    Page(id="one", title="first").save(commit=True)
    head = ws.branch.commit.id
    data = workdir / "page" / "one" / "data.json"
    data.write_text("my local edit\n")
    page = Page.get("one")
    page.title = "from gitmodel"
    with pytest.raises(WorkTreeConflict, match="page/one/data.json") as info:
        page.save(commit=True)
    assert info.value.paths == ["page/one/data.json"]
    assert ws.repo.references["refs/heads/master"].target == head  # nothing committed
    assert data.read_text() == "my local edit\n"
    git(workdir, "checkout", "--", "page/one/data.json")
    assert ws.commit("again") is not None
    assert git(workdir, "status", "--porcelain") == ""


def test_an_untracked_file_in_the_way_is_a_conflict(workdir: Path) -> None:
    ws = Workspace(workdir)
    Page = declare(ws)
    (workdir / "page" / "new").mkdir(parents=True)
    (workdir / "page" / "new" / "data.json").write_text("mine\n")
    with pytest.raises(WorkTreeConflict):
        Page(id="new", title="x").save(commit=True)
    assert ws.branch is None and (workdir / "page" / "new" / "data.json").read_text() == "mine\n"


def test_symlinks_are_never_written_through(workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = Workspace(workdir)
    Page = declare(ws)
    Page(id="one", title="first").save(commit=True)
    # a folder on the way replaced by a link to somewhere else
    os.rename(workdir / "page", tmp_path / "moved")
    os.symlink(outside, workdir / "page")
    with pytest.raises(WorkTreeConflict):
        Page(id="two", title="second").save(commit=True)
    assert list(outside.iterdir()) == []
    os.unlink(workdir / "page")
    os.rename(tmp_path / "moved", workdir / "page")
    ws.reset()  # drop the refused change
    # the data file itself replaced by a link to a file outside: not overwritten
    target = outside / "secret.txt"
    target.write_text("secret\n")
    data = workdir / "page" / "one" / "data.json"
    content = data.read_bytes()
    data.unlink()
    os.symlink(target, data)
    page = Page.get("one")
    page.title = "changed"
    with pytest.raises(WorkTreeConflict):
        page.save(commit=True)
    assert target.read_text() == "secret\n"
    data.unlink()
    data.write_bytes(content)
    ws.commit("now")
    assert target.read_text() == "secret\n" and not data.is_symlink()
    assert git(workdir, "status", "--porcelain") == ""


def test_other_branches_do_not_touch_the_work_tree(workdir: Path) -> None:
    ws = Workspace(workdir)
    Page = declare(ws)
    Page(id="one", title="first").save(commit=True)
    ws.create_branch("feature")
    ws.set_branch("feature")
    Page(id="two", title="on feature").save(commit=True)
    assert not (workdir / "page" / "two").exists()
    assert git(workdir, "status", "--porcelain") == ""


def test_refuse_policy(workdir: Path) -> None:
    ws = Workspace(workdir, worktree="refuse")
    assert ws.worktree is WorkTreePolicy.REFUSE
    Page = declare(ws)
    with pytest.raises(WorkTreeRefused, match="checked out in the work tree"):
        Page(id="one", title="first").save(commit=True)
    assert ws.branch is None and ws.has_changes()  # the change is still pending
    with pytest.raises(ValueError):
        Workspace(workdir, worktree="sometimes")


def test_the_rebase_of_a_lost_race_updates_the_work_tree(workdir: Path) -> None:
    one, two = Workspace(workdir), Workspace(workdir)
    A, B = declare(one), declare(two)
    A(id="seed", title="seed").save(commit=True)
    two.refresh()
    A(id="a", title="from one").save()
    B(id="b", title="from two").save()
    one.commit("one")
    two.commit("two")  # lost the race: merged onto one's commit
    assert git(workdir, "status", "--porcelain") == ""
    assert sorted(p.name for p in (workdir / "page").iterdir()) == ["a", "b", "seed"]


def test_a_missing_branch_beside_others_is_refused(workdir: Path) -> None:
    ws = Workspace(workdir)
    declare(ws)(id="one", title="first").save(commit=True)
    with pytest.raises(BranchNotFound, match="'typo' does not exist .branches: master.") as info:
        Workspace(workdir, initial_branch="typo")
    assert "create_branch('typo')" in str(info.value) and "orphan=True" in str(info.value)
    assert isinstance(info.value, RepositoryError) and isinstance(info.value, KeyError)
    assert "refs/heads/typo" not in ws.repo.references
    orphan = Workspace(workdir, initial_branch="typo", orphan=True)
    assert orphan.branch is None
    ws.create_branch("typo")
    assert Workspace(workdir, initial_branch="typo").branch.commit.id == ws.branch.commit.id


def test_a_new_branch_in_an_empty_repository_is_fine(workdir: Path) -> None:
    ws = Workspace(workdir, initial_branch="develop")
    declare(ws)(id="one", title="first").save(commit=True)
    assert ws.repo.references["refs/heads/develop"].target == ws.branch.commit.id


def test_file_modes_are_checked_out_as_git_would(workdir: Path) -> None:
    ws = Workspace(workdir)
    ws.add_blob("tool.sh", "#!/bin/sh\n", mode=int(pygit2.enums.FileMode.BLOB_EXECUTABLE))
    ws.add_blob("link", "tool.sh", mode=int(pygit2.enums.FileMode.LINK))
    ws.commit("modes")
    assert os.access(workdir / "tool.sh", os.X_OK)
    assert os.readlink(workdir / "link") == "tool.sh"
    ws.add_blob("tool.sh", "#!/bin/sh\necho\n")  # no longer executable
    ws.commit("plain")
    assert not os.access(workdir / "tool.sh", os.X_OK)
    assert git(workdir, "status", "--porcelain") == ""


def test_a_hostile_tree_is_never_checked_out_into_the_git_folder(workdir: Path) -> None:
    ws = Workspace(workdir)
    declare(ws)(id="one", title="first").save(commit=True)
    head = ws.branch.commit.id
    # plain git accepts a tree holding ".git/hooks/post-checkout"; libgit2 refuses to write one
    blob = git(workdir, "hash-object", "-w", "--stdin", input="#!/bin/sh\necho owned\n").strip()
    hooks = git(workdir, "mktree", input=f"100755 blob {blob}\tpost-checkout\n").strip()
    dot_git = git(workdir, "mktree", input=f"040000 tree {hooks}\thooks\n").strip()
    base = git(workdir, "rev-parse", "HEAD^{tree}").strip()
    listing = git(workdir, "ls-tree", base) + f"040000 tree {dot_git}\t.git\n"
    tree = git(workdir, "mktree", input=listing).strip()
    evil = git(workdir, "commit-tree", tree, "-p", str(head), "-m", "evil").strip()
    git(workdir, "update-ref", "refs/heads/evil", evil)
    with pytest.raises(WorkTreeConflict, match="paths that git refuses to check out") as info:
        ws.merge("evil")
    assert info.value.paths == [".git/hooks/post-checkout"]
    assert ws.repo.references["refs/heads/master"].target == head
    assert not (workdir / ".git" / "hooks" / "post-checkout").exists()
    assert git(workdir, "status", "--porcelain") == ""
