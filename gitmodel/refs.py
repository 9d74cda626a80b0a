"""Refs and treeishes: branches, and what a name, id or object points at."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Union

import pygit2

from .exceptions import CorruptObject, InvalidReferenceName, ReferenceNotFound, RepositoryError
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

    def __getitem__(self, path: str) -> pygit2.Object:
        """The tree entry at ``path`` of the branch's tree (0.1's ``branch[path]``)."""
        return self.tree[path]

    def __repr__(self) -> str:
        return f"<Branch {self.name} at {str(self.commit.id)[:10]}>"


#: the longest part of a ref name between slashes, in bytes (file names are
#: at most 255 bytes, and a ref's lock file adds ``.lock``)
MAX_REF_PART = 250
#: the longest ref name taken (with the repository's path, it stays under PATH_MAX)
MAX_REF = 1024


def check_ref_name(ref: Any, what: str, name: Any) -> str:
    """``ref`` if git accepts it as a full ref name, else :class:`InvalidReferenceName`.

    ``what`` (``"branch"``, ``"tag"``...) and ``name`` (as the caller gave
    it) make the message.
    """
    problem = ref_name_problem(ref)
    if problem:
        shown = repr(name) if not isinstance(name, str) or len(name) <= 120 else f"{name[:100]!r}..."
        raise InvalidReferenceName(f"invalid {what} name {shown}: {problem}", name)
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
    if len(ref.encode("utf-8")) > MAX_REF:
        return f"longer than {MAX_REF} bytes (a ref is a file: its path must fit)"
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


def ref_clash(repo: pygit2.Repository, ref: str) -> Optional[str]:
    """The existing ref that ``ref`` cannot be created beside, or ``None``.

    A ref is a file, so ``refs/heads/a`` and ``refs/heads/a/b`` cannot both
    exist: one would be a file and a folder at once (git refuses it too).
    """
    parts = ref.split("/")
    try:
        for end in range(2, len(parts)):
            folder = "/".join(parts[:end])
            if repo.references.get(folder) is not None:
                return folder
        inside = ref + "/"
        return next((other for other in repo.references if other.startswith(inside)), None)
    except (pygit2.GitError, ValueError, OSError):
        return None  # a ref git cannot read: creating the new one reports it


@contextmanager
def creating_ref(repo: pygit2.Repository, ref: str, what: str, name: Any) -> Iterator[None]:
    """Around the creation of ``ref`` (a ``what`` called ``name``): refuse
    it first if it clashes with an existing ref (:func:`ref_clash`), with
    :class:`InvalidReferenceName`; turn git's errors while creating it into
    :class:`RepositoryError`."""
    clash = ref_clash(repo, ref)
    if clash is not None:
        kind = "/".join(ref.split("/")[:2]) + "/"
        other = clash.removeprefix(kind) if clash.startswith(kind) else clash
        raise InvalidReferenceName(
            f"cannot create {what} {name!r}: {what} {other!r} exists, and a name cannot be both "
            f"a {what} and a folder of {'branches' if what == 'branch' else what + 's'}", name)
    try:
        yield
    except pygit2.AlreadyExistsError:
        raise RepositoryError(f"{what} {name!r} already exists") from None
    except (pygit2.GitError, OSError) as exc:
        raise RepositoryError(f"cannot create {what} {name!r}: {exc}") from None


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
            if candidate != "HEAD":
                if ref_name_problem(candidate) is not None:
                    continue  # no ref can have this name (too long, a lone surrogate, ...)
                refuse_linked_ref(repo, candidate)
            ref = repo.references.get(candidate)
            if ref is not None:
                try:
                    target = ref.peel()
                except (KeyError, ValueError, pygit2.GitError):
                    damaged = damage_on_the_way(repo, treeish)
                    if damaged is not None:
                        raise damaged from None
                    # HEAD of a branch without commits
                    raise ReferenceNotFound(treeish, f"{treeish!r} names no commit yet") from None
                return peel(target, treeish)
    try:
        return peel(repo.revparse_single(treeish), treeish)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        damaged = damage_on_the_way(repo, treeish)
        if damaged is not None:  # it exists, but git cannot read a commit on the way
            raise damaged from None
        if isinstance(exc, (KeyError, ValueError, pygit2.InvalidSpecError)):
            raise ReferenceNotFound(treeish, f"unknown branch, tag or commit: {treeish!r}") from None
        raise ReferenceNotFound(treeish, f"{treeish!r} cannot be resolved ({exc})") from None


_REVISION = re.compile(r"([^~^]+)((?:[~^][0-9]*)*)")
_STEP = re.compile(r"([~^])([0-9]*)")
_HEX = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def revision_base(repo: pygit2.Repository, revision: str) -> Optional[pygit2.Oid]:
    """The id the start of ``revision`` names (``master`` of ``master~2``, a
    full id), found without reading any object; ``None`` if it names none
    that way (an abbreviated id, an unborn branch, a ref git cannot read)."""
    found = _REVISION.fullmatch(revision)
    base = found.group(1) if found is not None else revision
    if _HEX.fullmatch(base):
        return pygit2.Oid(hex=base.lower())
    for candidate in (base, f"refs/heads/{base}", f"refs/tags/{base}", f"refs/remotes/{base}"):
        if candidate != "HEAD" and (not candidate.startswith("refs/") or ref_name_problem(candidate)):
            continue
        try:
            ref = repo.references.get(candidate)
            target = ref.resolve().target if ref is not None else None
        except (KeyError, ValueError, pygit2.GitError):
            return None
        if isinstance(target, pygit2.Oid):
            return target
    return None


def damage_on_the_way(repo: pygit2.Repository, revision: str) -> Optional[CorruptObject]:
    """For a revision git could not resolve (``master``, ``master~2``,
    ``HEAD^2``, ``v1~1``, a full id): a :class:`CorruptObject` naming the
    commit (or tag) on the way that exists, or is named, but cannot be read;
    ``None`` if nothing on the way is damaged (the revision does not exist)."""
    found = _REVISION.fullmatch(revision)
    if found is None:
        return None
    base, steps = found.groups()
    named_by = f"{base!r}"
    oid = revision_base(repo, base)
    if oid is None or (_HEX.fullmatch(base) and not repo.odb.exists(oid)):
        return None  # an id of nothing, unborn, or a ref git cannot read (reported elsewhere)
    for kind, number in [("", "")] + _STEP.findall(steps):
        commit = _read_commit(repo, oid, named_by)
        if isinstance(commit, CorruptObject):
            return commit
        if commit is None:
            return None  # not a commit: git refuses the step for that reason
        count = int(number) if number else 1
        if kind == "~":
            for _ in range(count):
                if not commit.parent_ids:
                    return None
                named_by = f"commit {commit.id} as its first parent"
                oid = commit.parent_ids[0]
                if _ < count - 1:
                    nxt = _read_commit(repo, oid, named_by)
                    if not isinstance(nxt, pygit2.Commit):
                        return nxt
                    commit = nxt
        elif kind == "^" and count:
            if count > len(commit.parent_ids):
                return None
            named_by = f"commit {commit.id} as parent {count}"
            oid = commit.parent_ids[count - 1]
    last = _read_commit(repo, oid, named_by)
    return last if isinstance(last, CorruptObject) else None


def _read_commit(
    repo: pygit2.Repository, oid: pygit2.Oid, named_by: str
) -> Union[pygit2.Commit, CorruptObject, None]:
    """The commit ``oid`` (annotated tags peeled), a ``CorruptObject`` if it is
    missing or git cannot read it, ``None`` if it is no commit."""
    for _ in range(16):  # tags of tags, within a bound
        try:
            obj = repo.get(oid)
            if obj is None:
                return CorruptObject("(the commit)", f"it is missing, yet {named_by} names it", oid)
            if isinstance(obj, pygit2.Commit):
                obj.tree_id  # noqa: B018 - parsed now
                return obj
            if not isinstance(obj, pygit2.Tag):
                return None
            named_by, oid = f"tag {obj.id}", obj.target
        except (pygit2.GitError, ValueError) as exc:
            return CorruptObject("(the commit)", f"git cannot read it ({exc})", oid)
    return None


def peel(obj: Any, name: Any) -> Union[pygit2.Commit, pygit2.Tree]:
    """``obj`` with annotated tags peeled; refuses blobs and the like."""
    if isinstance(obj, pygit2.Tag):
        obj = obj.peel(None)
    if isinstance(obj, (pygit2.Commit, pygit2.Tree)):
        return obj
    raise ReferenceNotFound(name, f"{name!r} does not name a commit or tree")
