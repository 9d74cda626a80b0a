"""Writing the staged state into the repository's index and work tree safely.

What a remote or another tool committed is checked before anything is
written: no symlink or submodule entry, no name git would read as ``.git``,
no model folder that is not a folder. On disk, nothing already in the work
tree is followed: a symlink (or something not a folder) where the tree has
a folder, or a symlink where it has a file, refuses the checkout, so no file
is ever written or deleted outside the work tree.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Iterable, Optional

import pygit2

from .exceptions import CorruptObject, RepositoryError
from .pathsafety import git_special_problem, is_hfs_alias, is_ntfs_alias
from .git.tree import TREE_MODE

if TYPE_CHECKING:
    from .workspace import Workspace

LINK_MODE = 0o120000
GITLINK_MODE = 0o160000


def sync_repo_index(ws: Workspace, checkout: bool = True) -> None:
    """Write ``ws``'s staged state into the repository index (and work tree)."""
    tree = ws.index
    commit = ws._start
    check_tree(ws.repo, tree, commit)
    check_model_folders(ws, tree, commit)
    repo = ws.repo
    workdir = None if repo.is_bare else repo.workdir
    _check_index_file(repo)
    if checkout and workdir:
        _check_workdir(repo, workdir)
        root = os.fsencode(workdir)
        _check_disk(root, tree, b"")
        _check_old_index(root, repo)
    try:
        repo.index.read_tree(tree)
        repo.index.write()
        if checkout and workdir:
            repo.checkout_index(strategy=pygit2.enums.CheckoutStrategy.FORCE)
    except (pygit2.GitError, OSError) as exc:
        raise RepositoryError(f"cannot write the index or work tree: {exc}") from None


def _check_index_file(repo: pygit2.Repository) -> None:
    """The repository's index file is never read or written through a
    symlink (one is removed: the index is rewritten from the tree anyway),
    and a folder in its place is refused."""
    path = os.path.join(repo.path, "index")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        os.unlink(path)  # the link itself, never what it points at
    elif not stat.S_ISREG(mode):
        raise RepositoryError(f"{path!r} is not a file; nothing was written")


def _check_workdir(repo: pygit2.Repository, workdir: str) -> None:
    """Refuse a work tree that the repository's config moved elsewhere
    (``core.worktree``): the work tree is the folder holding the git folder,
    or, for a linked work tree, the one its ``gitdir`` file names."""
    gitdir = os.path.realpath(repo.path)
    expected = os.path.dirname(gitdir)
    link = os.path.join(gitdir, "gitdir")
    if os.path.isfile(link) and not os.path.islink(link):
        with open(link, encoding="utf-8", errors="replace") as handle:
            expected = os.path.dirname(os.path.realpath(handle.read().strip()))
    if os.path.realpath(workdir) != expected:
        raise RepositoryError(
            f"the work tree {workdir!r} is not the repository's own folder (core.worktree?); "
            "nothing is checked out there"
        )


def check_tree(repo: pygit2.Repository, tree: pygit2.Tree, commit: object = None) -> None:
    """Raise :class:`CorruptObject` for an entry a safe checkout cannot write."""
    stack: list[tuple[bytes, pygit2.Tree]] = [(b"", tree)]
    while stack:
        prefix, current = stack.pop()
        for entry in current:
            raw = entry.raw_name or b""
            path = (prefix + raw).decode("utf-8", "replace")
            problem = entry_problem(raw, entry.filemode)
            if problem:
                raise CorruptObject(path, problem, commit)
            if entry.filemode == TREE_MODE:
                try:
                    sub = repo.get(entry.id)
                except pygit2.GitError as exc:
                    raise CorruptObject(path, f"tree {entry.id} cannot be read ({exc})", commit) from None
                if not isinstance(sub, pygit2.Tree):
                    raise CorruptObject(path, f"tree {entry.id} is missing", commit)
                stack.append((prefix + raw + b"/", sub))


def entry_problem(raw: bytes, mode: int) -> Optional[str]:
    """Why a safe checkout refuses the tree entry ``raw`` of ``mode``, or ``None``."""
    if mode == LINK_MODE:
        return "is a symlink; symlinks are never checked out"
    if mode == GITLINK_MODE:
        return "is a submodule; submodules are never checked out"
    if not raw or b"/" in raw or b"\x00" in raw:
        return f"the tree holds an entry named {raw!r}"
    name = raw.decode("utf-8", "surrogateescape")
    if is_ntfs_alias(name, "git") or is_hfs_alias(name, "git"):
        return git_special_problem(name)
    # a folder named like .gitmodules or .gitattributes (git fsck refuses it);
    # such files are fine
    return git_special_problem(name) if mode == TREE_MODE else None


def check_model_folders(ws: Workspace, tree: pygit2.Tree, commit: object = None) -> None:
    """Raise :class:`CorruptObject` if a registered model's folder is not a folder."""
    for model in ws.models.values():
        opts = model._meta
        if opts.abstract or opts._custom_data_path is not None:
            continue
        try:
            entry = tree[opts.folder]
        except KeyError:
            continue
        if entry.filemode != TREE_MODE:
            raise CorruptObject(opts.folder, "a model folder must be a folder", commit)


def _check_disk(root: bytes, tree: pygit2.Tree, prefix: bytes) -> None:
    """Refuse when the work tree holds a symlink (or a non-folder) on a path
    the checkout writes: it would lead the write elsewhere."""
    for entry in tree:
        rel = prefix + (entry.raw_name or b"")
        try:
            mode = os.lstat(os.path.join(root, rel)).st_mode
        except FileNotFoundError:
            continue  # created by the checkout itself
        if stat.S_ISLNK(mode):
            raise RepositoryError(
                f"{os.fsdecode(rel)!r} in the work tree is a symlink; nothing is written "
                "through one: remove it, then sync again"
            )
        if entry.filemode == TREE_MODE and stat.S_ISDIR(mode):
            _check_disk(root, entry, rel + b"/")  # type: ignore[arg-type]


def _check_old_index(root: bytes, repo: pygit2.Repository) -> None:
    """The files the checkout may delete (those of the current index) are
    reached only through real folders."""
    try:
        paths: Iterable[bytes] = [os.fsencode(e.path) for e in repo.index]
    except (pygit2.GitError, OSError, ValueError) as exc:
        raise RepositoryError(f"the repository's index cannot be read: {exc}") from None
    checked: set[bytes] = set()
    for path in paths:
        parts = path.split(b"/")
        for end in range(1, len(parts)):
            folder = b"/".join(parts[:end])
            if folder in checked:
                continue
            checked.add(folder)
            try:
                mode = os.lstat(os.path.join(root, folder)).st_mode
            except FileNotFoundError:
                break
            except OSError:
                mode = 0
            if not stat.S_ISDIR(mode):
                raise RepositoryError(
                    f"{os.fsdecode(folder)!r} in the work tree is not a folder (a symlink?); "
                    "nothing is deleted through it: remove it, then sync again"
                )
