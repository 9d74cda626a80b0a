"""Refs and treeishes: branches, and what a name, id or object points at."""

from __future__ import annotations

from typing import Any, Optional, Union

import pygit2

from .exceptions import InvalidReferenceName, ReferenceNotFound, RepositoryError
from .git.refs import refuse_linked_ref

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


#: the longest part of a ref name between slashes, in bytes (file names are
#: at most 255 bytes, and a ref's lock file adds ``.lock``)
MAX_REF_PART = 250


def check_ref_name(ref: Any, what: str, name: Any) -> str:
    """``ref`` if git accepts it as a full ref name, else :class:`InvalidReferenceName`.

    ``what`` (``"branch"``, ``"tag"``...) and ``name`` (as the caller gave
    it) make the message.
    """
    problem = ref_name_problem(ref)
    if problem:
        raise InvalidReferenceName(f"invalid {what} name {name!r}: {problem}", name)
    return ref  # type: ignore[no-any-return]


def ref_name_problem(ref: Any) -> Optional[str]:
    """Why ``ref`` is not a full ref name git accepts (``git check-ref-format``), or ``None``."""
    if not isinstance(ref, str):
        return "must be a string"
    if any(ord(c) < 32 or ord(c) == 127 for c in ref):  # NUL would cut the C string short
        return "must not contain control characters"
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates"
    if not ref.startswith("refs/") or not pygit2.reference_is_valid_name(ref):
        return "not a valid git ref name (see git check-ref-format)"
    if any(len(part.encode("utf-8")) > MAX_REF_PART for part in ref.split("/")):
        return f"a part of it is longer than {MAX_REF_PART} bytes (a ref is a file: its lock file must fit)"
    return None


def branch_ref(name: str) -> str:
    """``refs/heads/<name>`` (or ``name`` if it is a full branch ref), checked
    by git's rules; a full ref outside ``refs/heads/`` (a tag, a remote
    branch, a lock) is refused with :class:`InvalidReferenceName`."""
    ref = name if isinstance(name, str) and name.startswith("refs/") else f"refs/heads/{name}"
    ref = check_ref_name(ref if isinstance(name, str) else None, "branch", name)
    if not ref.startswith("refs/heads/"):
        raise InvalidReferenceName(f"invalid branch name {name!r}: a branch is a ref under refs/heads/", name)
    short = ref[len("refs/heads/"):]
    if short == "HEAD" or short.startswith("-"):  # as git check-ref-format --branch
        raise InvalidReferenceName(f"invalid branch name {name!r}: git refuses it as a branch name", name)
    return ref


def existing_branch_ref(repo: pygit2.Repository, name: Any) -> Optional[str]:
    """The ref of the existing branch ``name`` names, or ``None`` (never raises
    for a name that is no branch, such as a tag, an id or ``HEAD~1``)."""
    if not isinstance(name, str):
        return None
    ref = name if name.startswith("refs/") else f"refs/heads/{name}"
    if not ref.startswith("refs/heads/") or ref_name_problem(ref):
        return None
    refuse_linked_ref(repo, ref)
    return ref if repo.references.get(ref) is not None else None


def head_branch(repo: pygit2.Repository) -> Optional[str]:
    """The branch ref ``HEAD`` names; ``None`` for a detached ``HEAD``.

    A ``HEAD`` git cannot parse, naming something outside ``refs/heads/``,
    an invalid ref name or a missing commit raises :class:`RepositoryError`:
    it is never opened as an empty branch, nor followed outside the repository.
    """
    refuse_linked_ref(repo, "HEAD")
    try:
        head = repo.references.get("HEAD")
    except (pygit2.GitError, ValueError) as exc:
        raise RepositoryError(f"HEAD of {repo.path!r} is corrupt: {exc}") from None
    if head is None:
        raise RepositoryError(f"HEAD of {repo.path!r} is missing")
    target = head.target
    if head.type == pygit2.enums.ReferenceType.SYMBOLIC:
        problem = ref_name_problem(target)
        if problem is None and not str(target).startswith("refs/heads/"):
            problem = "it must name a branch (refs/heads/...)"
        if problem:
            raise RepositoryError(f"HEAD of {repo.path!r} is corrupt: {target!r}: {problem}")
        refuse_linked_ref(repo, str(target))
        return str(target)
    if not isinstance(repo.get(target), pygit2.Commit):
        raise RepositoryError(f"HEAD of {repo.path!r} is corrupt: {target} is not a commit")
    return None


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
            if ref_name_problem(candidate) is None:
                refuse_linked_ref(repo, candidate)
            ref = repo.references.get(candidate)
            if ref is not None:
                try:
                    target = ref.peel()
                except (KeyError, pygit2.GitError):  # HEAD of a branch without commits
                    raise ReferenceNotFound(treeish, f"{treeish!r} names no commit yet") from None
                return peel(target, treeish)
    try:
        return peel(repo.revparse_single(treeish), treeish)
    except (KeyError, ValueError, pygit2.InvalidSpecError):
        raise ReferenceNotFound(treeish, f"unknown branch, tag or commit: {treeish!r}") from None
    except pygit2.GitError as exc:  # a commit on the way git cannot read
        raise ReferenceNotFound(treeish, f"{treeish!r} cannot be resolved: a commit on the way is damaged ({exc})") from None


def peel(obj: Any, name: Any) -> Union[pygit2.Commit, pygit2.Tree]:
    """``obj`` with annotated tags peeled; refuses blobs and the like."""
    if isinstance(obj, pygit2.Tag):
        obj = obj.peel(None)
    if isinstance(obj, (pygit2.Commit, pygit2.Tree)):
        return obj
    raise ReferenceNotFound(name, f"{name!r} does not name a commit or tree")
