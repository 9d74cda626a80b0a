"""What a pull, a sync or a merge of a fetched branch takes in is checked
before anything moves, on the fast-forward and the three-way path alike.

A hub (here: a bare repository written with raw pygit2 objects, as a
hostile server or another tool would) holds commits gitmodel must refuse:
a submodule entry, a symlink, a file mode git fsck reports, a branch that
points at a blob. Each refusal is a gitmodel error naming what is wrong,
and leaves the clone's refs, git's index, the work tree, the staging and
any open merge exactly as they were; what was committed passes
``git fsck --strict``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Optional

import pygit2
import pytest

from attacker import ATTACKER, GITLINK, LINK, TREE, raw_tree
from gitmodel import Workspace, fields
from gitmodel.exceptions import CorruptObject, GitModelError, ReferenceNotFound, RemoteError, RepositoryError

ODD_MODE = 0o100664  # git fsck --strict: badFilemode


def declare(ws: Workspace) -> Any:
    class Page(ws.GitModel):  # type: ignore[name-defined,misc]
        title = fields.CharField()

    return Page


class Site:
    """A hub, Alice who filled it, and a victim cloned from it (bare or with a work tree)."""

    def __init__(self, root: Path, bare: bool) -> None:
        self.root = root
        self.hub = root / "hub.git"
        Workspace.init(self.hub)
        alice = Workspace.init(root / "alice.git")
        page = declare(alice)
        page(id="home", title="Home").save()
        page(id="about", title="About").save()
        alice.commit("two pages")
        alice.add_remote("origin", str(self.hub))
        alice.push(set_upstream=True)
        self.victim = Workspace.clone(self.hub, root / ("victim.git" if bare else "victim"), bare=bare)
        self.Page = declare(self.victim)
        self.workdir = None if bare else root / "victim"

    def own_commit(self) -> None:
        """A commit of the victim's own, so that the next pull merges three-way."""
        about = self.Page.get("about")
        about.title = "About (victim)"
        about.save(commit=True, message="victim's edit")

    def plant(self, path: str, mode: int, content: Any = b"x\n", parents: int = 1) -> pygit2.Oid:
        """A commit on the hub's master holding ``path`` with ``mode`` (no check of any kind)."""
        repo = pygit2.Repository(str(self.hub))
        head = repo.references["refs/heads/master"].target
        oid = content if isinstance(content, pygit2.Oid) else repo.create_blob(content)
        tree = _put(repo, repo[head].tree_id, path.encode().split(b"/"), mode, oid)  # type: ignore[attr-defined]
        commit = repo.create_commit(None, ATTACKER, ATTACKER, f"plant {path}\n", tree, [head])
        repo.references.create("refs/heads/master", commit, force=True)
        return commit

    def edit_on_hub(self, **titles: str) -> None:
        """Alice's honest edits, pushed."""
        alice = Workspace(self.root / "alice.git")
        page = declare(alice)
        alice.pull()
        for ident, title in titles.items():
            obj = page.get(ident)
            obj.title = title
            obj.save()
        alice.commit("alice's edits")
        alice.push()

    def state(self) -> dict[str, Any]:
        """Everything a refused operation must leave as it was."""
        ws = self.victim
        repo = pygit2.Repository(ws.repo.path)
        out: dict[str, Any] = {
            "refs": {r.name: str(r.target) for r in repo.references.iterator()
                     if not r.name.startswith("refs/remotes/")},
            "HEAD": (Path(repo.path) / "HEAD").read_text(),
            "pending": ws.has_changes(),
            "merging": ws.merging,
            "titles": sorted((p.id, p.title) for p in self.Page.all()),
        }
        if self.workdir is not None:
            index = Path(repo.path) / "index"
            out["index"] = index.read_bytes() if index.exists() else None
            out["staged"] = _git(self.workdir, "ls-files", "--stage")
            out["status"] = _git(self.workdir, "--no-optional-locks", "status", "--porcelain")
            out["files"] = _files(self.workdir)
        return out

    def fsck_branch(self) -> None:
        """``git fsck --strict`` of what the victim's master holds, copied alone."""
        copy = self.root / "committed.git"
        subprocess.run(["git", "clone", "--quiet", "--no-local", "--bare", "--single-branch", "--branch",
                        "master", self.victim.repo.path, str(copy)], check=True, capture_output=True)
        done = subprocess.run(["git", f"--git-dir={copy}", "fsck", "--strict", "--no-dangling"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "warning" not in done.stdout + done.stderr, done.stdout + done.stderr


def _put(repo: pygit2.Repository, tree: Optional[pygit2.Oid], parts: list[bytes], mode: int,
         oid: pygit2.Oid) -> pygit2.Oid:
    entries = {e.raw_name: (e.filemode, e.id) for e in repo[tree]} if tree is not None else {}  # type: ignore[attr-defined]
    name = parts[0]
    if len(parts) == 1:
        entries[name] = (mode, oid)
    else:
        below = entries.get(name)
        entries[name] = (TREE, _put(repo, below[1] if below and below[0] == TREE else None, parts[1:], mode, oid))
    return raw_tree(repo, [(n, m, o) for n, (m, o) in entries.items()])


def _git(workdir: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(workdir), *args], check=True, capture_output=True,
                          text=True).stdout


def _files(workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for folder, dirs, names in os.walk(workdir):
        dirs[:] = [d for d in dirs if d != ".git" or folder != str(workdir)]
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, workdir)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", fh.read(), os.access(full, os.X_OK))
    return out


def _a_commit(site: Site) -> pygit2.Oid:
    return site.victim.repo.references["refs/heads/master"].target  # type: ignore[return-value]


# -- into a work tree: refused before the branch moves ------------------------------------

#: label -> (three-way?, path, mode, content)
WORK_TREE_CASES = {
    "fast-forward, a submodule at the top": (False, "sub", GITLINK, pygit2.Oid(hex="de" * 20)),
    "fast-forward, a symlink at the top": (False, "link", LINK, b"/etc"),
    "fast-forward, a mode fsck reports at the top": (False, "notes.txt", ODD_MODE, b"notes\n"),
    "three-way, a submodule at the top": (True, "sub", GITLINK, pygit2.Oid(hex="de" * 20)),
    "three-way, a symlink at the top": (True, "link", LINK, b"/etc"),
    "three-way, a submodule in an object's folder": (True, "page/x", GITLINK, pygit2.Oid(hex="de" * 20)),
    "three-way, a symlink as an object's file": (True, "page/x/data.json", LINK, b"/etc/passwd"),
    "three-way, a mode fsck reports on an object's file": (True, "page/x/data.json", ODD_MODE,
                                                           b'{"model": "Page", "fields": {"id": "x"}}\n'),
}


@pytest.mark.parametrize("label", sorted(WORK_TREE_CASES))
def test_a_pull_into_a_work_tree_refuses_what_a_clone_refuses_before_anything_moves(
    tmp_path: Path, label: str
) -> None:
    threeway, path, mode, content = WORK_TREE_CASES[label]
    site = Site(tmp_path, bare=False)
    if threeway:
        site.own_commit()
    site.plant(path, mode, content)
    before = site.state()
    with pytest.raises(CorruptObject) as refused:
        site.victim.pull()
    assert site.state() == before
    assert path in str(refused.value)
    assert not os.path.lexists(tmp_path / "victim" / path)
    site.fsck_branch()


def test_a_sync_into_a_work_tree_refuses_a_remote_symlink(tmp_path: Path) -> None:
    site = Site(tmp_path, bare=False)
    site.plant("link", LINK, b"/etc")
    before = site.state()
    with pytest.raises(CorruptObject, match="link.*symlink"):
        site.victim.sync()
    assert site.state() == before
    assert not os.path.lexists(tmp_path / "victim" / "link")


@pytest.mark.parametrize("threeway", [False, True], ids=["fast-forward", "three-way"])
def test_a_merge_of_a_fetched_branch_into_a_work_tree_refuses_a_remote_symlink(
    tmp_path: Path, threeway: bool
) -> None:
    site = Site(tmp_path, bare=False)
    if threeway:
        site.own_commit()
    site.plant("link", LINK, b"/etc")
    site.victim.fetch()
    before = site.state()
    with pytest.raises(CorruptObject, match="link.*symlink"):
        site.victim.merge("origin/master")
    assert site.state() == before
    assert not os.path.lexists(tmp_path / "victim" / "link")


def test_a_work_tree_update_that_fails_midway_puts_the_branch_and_the_files_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitmodel import worktree

    site = Site(tmp_path, bare=False)
    site.edit_on_hub(about="About, edited", home="Home, edited")  # page/about/..., then page/home/...
    before = site.state()
    write = worktree._Folders.write_file
    failed: list[str] = []

    def disk_full(self: Any, path: str, data: bytes, mode: int) -> None:
        if path.startswith("page/home/") and not failed:  # once, halfway through
            failed.append(path)
            raise RepositoryError(f"cannot write {path!r} in the work tree: [Errno 28] No space left on device")
        write(self, path, data, mode)

    monkeypatch.setattr(worktree._Folders, "write_file", disk_full)
    with pytest.raises(RepositoryError, match="No space left"):
        site.victim.pull()
    monkeypatch.undo()
    assert site.state() == before
    assert site.victim.pull().fast_forward  # and the next pull goes through
    assert _git(tmp_path / "victim", "--no-optional-locks", "status", "--porcelain") == ""


# -- bare or not: one check of model folders, fast-forward or three-way ----------------

#: label -> (path, mode, content)
MODEL_FOLDER_CASES = {
    "a mode fsck reports": ("page/x/data.json", ODD_MODE, b'{"model": "Page", "fields": {"id": "x"}}\n'),
    "a symlink": ("page/x/data.json", LINK, b"/etc/passwd"),
    "a submodule": ("page/x", GITLINK, pygit2.Oid(hex="de" * 20)),
}


@pytest.mark.parametrize("label", sorted(MODEL_FOLDER_CASES))
@pytest.mark.parametrize("how", ["pull", "sync", "fetch and merge"])
def test_a_three_way_pull_refuses_the_model_folder_entries_a_fast_forward_refuses(
    tmp_path: Path, label: str, how: str
) -> None:
    path, mode, content = MODEL_FOLDER_CASES[label]
    site = Site(tmp_path, bare=True)
    site.own_commit()
    site.plant(path, mode, content)
    before = site.state()
    if how == "fetch and merge":
        site.victim.fetch()
        before = site.state()
    with pytest.raises(CorruptObject) as refused:
        if how == "fetch and merge":
            site.victim.merge("origin/master")
        else:
            getattr(site.victim, how)()
    assert site.state() == before
    assert path in str(refused.value)
    site.fsck_branch()


def test_a_pull_refuses_a_bad_entry_in_a_commit_before_the_tip(tmp_path: Path) -> None:
    site = Site(tmp_path, bare=True)
    site.plant("page/x/data.json", ODD_MODE, b'{"model": "Page", "fields": {"id": "x"}}\n')
    repo = pygit2.Repository(str(site.hub))
    bad = repo.references["refs/heads/master"].target
    clean = repo.create_commit("refs/heads/master", ATTACKER, ATTACKER, "tidied up\n",
                               repo[bad].parents[0].tree_id, [bad])  # type: ignore[attr-defined]
    before = site.state()
    with pytest.raises(CorruptObject, match=f"page/x/data.json.*{str(bad)[:10]}"):
        site.victim.pull()
    assert site.state() == before
    assert _a_commit(site) != clean
    site.fsck_branch()


# -- a remote branch that is not a commit --------------------------------------------------


def _point_hub_master_at(site: Site, kind: str) -> str:
    repo = pygit2.Repository(str(site.hub))
    if kind == "blob":
        target = repo.create_blob(b"hello\n")
    else:
        tree = repo[repo.references["refs/heads/master"].target].tree_id  # type: ignore[attr-defined]
        target = repo.create_tag("t", tree, pygit2.enums.ObjectType.TREE, ATTACKER, "a tag of a tree\n")
        repo.references.delete("refs/tags/t")
    with open(site.hub / "refs" / "heads" / "master", "w") as fh:  # as a hostile server has it
        fh.write(f"{target}\n")
    return str(target)


@pytest.mark.parametrize("operation", ["pull", "sync", "ahead_behind"])
@pytest.mark.parametrize("kind", ["blob", "tag of a tree"])
@pytest.mark.parametrize("bare", [True, False], ids=["bare", "work tree"])
def test_a_remote_branch_at_something_not_a_commit_is_a_reference_error(
    tmp_path: Path, kind: str, operation: str, bare: bool
) -> None:
    site = Site(tmp_path, bare=bare)
    _point_hub_master_at(site, kind)
    if operation == "ahead_behind":
        site.victim.fetch()
    before = site.state()
    with pytest.raises(ReferenceNotFound, match="origin/master.*not a commit") as refused:
        getattr(site.victim, operation)()
    assert isinstance(refused.value, GitModelError)
    assert site.state() == before


def test_a_password_after_a_user_name_holding_an_at_sign_is_never_shown(tmp_path) -> None:
    """``http://alice@example.com:secret@host``: e-mail user names are common on forges."""
    url = "http://alice@example.com:s3cret-pw@127.0.0.1:9/nothing.git"
    with pytest.raises(RemoteError) as caught:
        Workspace.clone(url, str(tmp_path / "c"))
    assert "s3cret-pw" not in str(caught.value) and "***" in str(caught.value)
    assert not (tmp_path / "c").exists() or not os.listdir(tmp_path / "c")
