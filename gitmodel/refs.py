"""Refs and treeishes: branches, and what a name, id or object points at."""

from __future__ import annotations

from typing import Any, Union

import pygit2

from .exceptions import ConfigurationError, ReferenceNotFound

Treeish = Union[str, pygit2.Oid, pygit2.Object, "Branch"]


class Branch:
    """A branch as seen when asked: its ref, commit and tree."""

    def __init__(self, ref: pygit2.Reference, commit: pygit2.Commit) -> None:
        self.ref = ref
        self.commit = commit
        self.tree: pygit2.Tree = commit.tree

    @property
    def name(self) -> str:
        return self.ref.name.removeprefix("refs/heads/")

    @property
    def oid(self) -> pygit2.Oid:
        return self.commit.id

    def __repr__(self) -> str:
        return f"<Branch {self.name} at {str(self.commit.id)[:10]}>"


def branch_ref(name: str) -> str:
    """``refs/heads/<name>`` (or ``name`` if it is a full ref), checked by git's rules."""
    if not isinstance(name, str) or "\x00" in name:
        raise ConfigurationError(f"invalid branch name: {name!r}")
    ref = name if name.startswith("refs/") else f"refs/heads/{name}"
    if not pygit2.reference_is_valid_name(ref):
        raise ConfigurationError(f"invalid branch name: {name!r}")
    return ref


def resolve_treeish(repo: pygit2.Repository, treeish: Treeish) -> Union[pygit2.Commit, pygit2.Tree]:
    """The commit or tree named by a branch, tag, (abbreviated) id or object."""
    if isinstance(treeish, Branch):
        return treeish.commit
    if isinstance(treeish, pygit2.Oid):
        obj = repo.get(treeish)
        if obj is None:
            raise ReferenceNotFound(str(treeish))
        return peel(obj, treeish)
    if isinstance(treeish, pygit2.Object):
        return peel(treeish, treeish)
    if not isinstance(treeish, str) or not treeish:
        raise ReferenceNotFound(treeish, f"not a treeish: {treeish!r}")
    for candidate in (treeish, f"refs/heads/{treeish}", f"refs/tags/{treeish}"):
        if candidate.startswith("refs/") or candidate == treeish == "HEAD":
            ref = repo.references.get(candidate)
            if ref is not None:
                try:
                    target = ref.peel()
                except (KeyError, pygit2.GitError):  # HEAD of a branch without commits
                    raise ReferenceNotFound(treeish, f"{treeish!r} names no commit yet") from None
                return peel(target, treeish)
    try:
        return peel(repo.revparse_single(treeish), treeish)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise ReferenceNotFound(treeish, f"unknown branch, tag or commit: {treeish!r}") from None


def peel(obj: Any, name: Any) -> Union[pygit2.Commit, pygit2.Tree]:
    """``obj`` with annotated tags peeled; refuses blobs and the like."""
    if isinstance(obj, pygit2.Tag):
        obj = obj.peel(None)
    if isinstance(obj, (pygit2.Commit, pygit2.Tree)):
        return obj
    raise ReferenceNotFound(name, f"{name!r} does not name a commit or tree")
