"""Refs from others: a loose ref, a folder of refs, ``packed-refs`` or
``HEAD`` planted as a symlink is never read or written through (a gitmodel
error names it), and a name that is no branch is refused as a branch."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from attacker import commit_files, files_below, git, page_json
from gitmodel import GitModelError, InvalidReferenceName, RepositoryError, fields
from gitmodel.workspace import Workspace


def define(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    return Page


@pytest.fixture
def victim(tmp_path: Path):
    """A bare store with one commit, and a folder outside it holding a ref-like file."""
    repo = pygit2.init_repository(str(tmp_path / "store.git"), bare=True)
    commit = commit_files(repo, {"page/ok/data.json": page_json("ok", title="fine")})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "master").write_text(f"{commit}\n")  # a valid ref file, but someone else's
    (outside / "secret").write_text("not a ref\n")
    return repo, commit, outside


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p: (folder / p).read_bytes() for p in files_below(folder) if (folder / p).is_file()}


@pytest.mark.parametrize("target", ["master", "secret"])
def test_a_branch_ref_file_that_is_a_symlink_out_is_refused(victim, target):
    repo, _commit, outside = victim
    ref = Path(repo.path) / "refs" / "heads" / "master"
    ref.unlink()
    os.symlink(outside / target, ref)
    before = snapshot(outside)
    with pytest.raises(RepositoryError, match="symlink"):
        Workspace(repo.path)
    assert snapshot(outside) == before


def test_a_ref_planted_as_a_symlink_after_opening_is_refused_on_commit(victim):
    repo, commit, outside = victim
    ws = Workspace(repo.path)
    Page = define(ws)
    ref = Path(repo.path) / "refs" / "heads" / "master"
    ref.unlink()
    os.symlink(outside / "master", ref)
    before = snapshot(outside)
    Page(id="new", title="x").save()
    with pytest.raises(RepositoryError, match="symlink"):
        ws.commit("through the link")
    assert snapshot(outside) == before  # no ref written (nor a .lock) outside
    assert not (outside / "master.lock").exists() and os.path.islink(ref)
    for call in (lambda: ws.get_branch("master"), lambda: ws.resolve_treeish("master"),
                 lambda: ws.create_branch("master"), lambda: ws.update_index("master")):
        with pytest.raises(RepositoryError, match="symlink"):
            call()


@pytest.mark.parametrize("folder", ["refs/heads", "refs", "refs/tags"])
def test_a_folder_of_refs_that_is_a_symlink_out_is_refused(victim, tmp_path, folder):
    repo, commit, outside = victim
    path = Path(repo.path) / folder
    real = tmp_path / "moved"
    path.rename(real)
    os.symlink(real, path)  # someone else's folder, seen as the repository's refs
    before = snapshot(real)
    with pytest.raises(RepositoryError, match="symlink"):
        ws = Workspace(repo.path)
        define(ws)(id="x").save(commit=True)
    assert snapshot(real) == before and not list(real.rglob("*.lock"))


def test_packed_refs_that_is_a_symlink_is_refused(victim, tmp_path):
    repo, commit, outside = victim
    git(repo.path, "pack-refs", "--all")
    packed = Path(repo.path) / "packed-refs"
    moved = outside / "packed-refs"
    packed.rename(moved)
    os.symlink(moved, packed)
    with pytest.raises(RepositoryError, match="packed-refs"):
        Workspace(repo.path)


@pytest.mark.parametrize("where", ["outside", "config"])
def test_head_that_is_a_symlink_out_is_refused(victim, where):
    repo, commit, outside = victim
    head = Path(repo.path) / "HEAD"
    head.unlink()
    (outside / "HEAD").write_text("ref: refs/heads/master\n")
    os.symlink(outside / "HEAD" if where == "outside" else Path(repo.path) / "config", head)
    with pytest.raises(RepositoryError, match="HEAD"):
        Workspace(repo.path)


def test_an_old_style_head_symlink_to_a_branch_still_opens(victim):
    repo, commit, _outside = victim
    head = Path(repo.path) / "HEAD"
    head.unlink()
    os.symlink("refs/heads/master", head)  # as git wrote HEAD before 1.5
    ws = Workspace(repo.path)
    assert define(ws).get("ok").title == "fine"


def test_a_symlinked_lock_ref_is_inspectable_and_breakable(victim):
    repo, commit, outside = victim
    ws = Workspace(repo.path)
    locks = Path(repo.path) / "refs" / "locks"
    locks.mkdir(parents=True)
    os.symlink(outside / "master", locks / "job")
    before = snapshot(outside)
    assert ws.locked("job") and ws.lock_info("job") is not None
    assert ws.break_lock("job") is True
    assert not os.path.lexists(locks / "job") and snapshot(outside) == before
    with ws.lock("job", timeout=1):
        assert ws.locked("job")


# -- names that are no branch ---------------------------------------------------------------
NOT_BRANCHES = ["refs/tags/v1", "refs/remotes/origin/master", "refs/locks/job", "refs/notes/commits",
                "refs/heads/", "HEAD", "refs/heads/HEAD", "-rf", "refs/heads/-x", "refs/x", "refs/"]


@pytest.mark.parametrize("name", NOT_BRANCHES)
def test_a_name_that_is_no_branch_is_refused_by_init_before_anything_is_written(tmp_path, name):
    with pytest.raises(InvalidReferenceName) as exc:
        Workspace.init(tmp_path / "new.git", initial_branch=name)
    assert exc.value.name == name
    assert not (tmp_path / "new.git").exists()


@pytest.mark.parametrize("name", NOT_BRANCHES)
def test_a_name_that_is_no_branch_is_refused_on_open_and_as_a_new_branch(victim, name):
    repo, commit, _outside = victim
    git(repo.path, "tag", "v1", str(commit))
    refs_before = sorted(repo.references)
    with pytest.raises(InvalidReferenceName):
        Workspace(repo.path, initial_branch=name, orphan=True)
    ws = Workspace(repo.path)
    with pytest.raises(InvalidReferenceName):
        ws.create_branch(name)
    assert sorted(repo.references) == refs_before
    assert git(repo.path, "fsck", "--strict").returncode == 0


def test_update_index_still_moves_to_tags_and_ids(victim):
    repo, commit, _outside = victim
    git(repo.path, "tag", "v1", str(commit))
    ws = Workspace(repo.path)
    for treeish in ("v1", "refs/tags/v1", str(commit)):
        ws.update_index(treeish)
        assert ws.detached and define(ws).get("ok").title == "fine"
    ws.update_index("master")
    assert not ws.detached
    with pytest.raises(GitModelError):
        ws.update_index("refs/heads/../../x")


def _damage_packed_refs(path: Path, line: str) -> None:
    git(path, "pack-refs", "--all")
    with open(path / "packed-refs", "a") as handle:  # after master: out of order for a "sorted" file
        handle.write(line)


@pytest.mark.parametrize("line", ["1111111111111111111111111111111111111111 refs/heads/../../x\n",
                                  "1111111111111111111111111111111111111111 refs/heads/a\n^2222\n"])
def test_a_damaged_packed_refs_hiding_the_branch_is_refused_never_taken_as_unborn(victim, line):
    repo, commit, _outside = victim
    path = Path(repo.path)
    ws = Workspace(path)
    page = define(ws)
    assert page.get("ok").title == "fine"
    _damage_packed_refs(path, line)
    before = snapshot(path)
    with pytest.raises(RepositoryError, match="packed-refs"):  # a running workspace, following
        page.get("ok")
    with pytest.raises(RepositoryError, match="packed-refs"):
        page(id="new", title="x").save(commit=True)
    with pytest.raises(RepositoryError, match="packed-refs"):
        Workspace(path)  # opening it afresh
    assert not (path / "refs" / "heads" / "master").exists()  # no new history was started over it
    def refs_and_config(snap: dict[str, bytes]) -> dict[str, bytes]:  # objects written are garbage, not state
        return {p: data for p, data in snap.items() if not p.startswith("objects/")}

    assert refs_and_config(snapshot(path)) == refs_and_config(before)
    assert f"{commit} refs/heads/master\n" in (path / "packed-refs").read_text()  # (git refuses the file too)


def test_refs_whose_names_git_refuses_are_left_out_of_listings(victim):
    repo, commit, _outside = victim
    path = Path(repo.path)
    for name in ("refs/heads/a..b", "refs/heads/.hidden", "refs/tags/t..t", "refs/tags/x~y"):
        (path / name).write_text(f"{commit}\n")
    ws = Workspace(path)
    ws.create_tag("v1")
    assert list(ws.branches) == ["master"]
    assert list(ws.tags) == ["v1"]
