"""Shallow and single-branch clones: a new machine starts with the latest data only.

A clone made with ``depth=N`` holds the last N commits of one branch; git
records the commits where its history stops (the *shallow edge*) in the
repository's ``shallow`` file, and libgit2 shows them without parents.
Reading the latest data needs nothing more. History that reaches past the
edge raises :class:`~gitmodel.exceptions.ShallowHistoryError` instead of
giving a wrong answer; ``ws.fetch(depth=M)`` deepens the clone and
``ws.fetch(unshallow=True)`` fetches everything. Shallow fetches need a
network transport (``git://``, HTTP(S), SSH): libgit2's local transport
has none.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Optional

import pygit2

from .exceptions import ConfigurationError, ShallowHistoryError

if TYPE_CHECKING:
    from .workspace import Workspace

#: libgit2's ``GIT_FETCH_DEPTH_UNSHALLOW``
UNSHALLOW = 2147483647


def _check_depth(depth: object, what: str) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0 or depth >= UNSHALLOW:
        raise ConfigurationError(f"{what} must be a whole number of commits, 1 or more (0: all), not {depth!r}")
    return depth


def clone_depth(depth: int) -> int:
    """The depth to hand libgit2 for a clone (0: the whole history)."""
    return _check_depth(depth, "depth")


def fetch_depth(ws: Workspace, depth: Optional[int], unshallow: bool) -> int:
    """The depth to hand libgit2 for a fetch of ``ws``."""
    if unshallow:
        if depth is not None:
            raise ConfigurationError("give depth or unshallow, not both")
        return UNSHALLOW if ws.repo.is_shallow else 0
    if depth is None:
        return 0
    if _check_depth(depth, "depth") == 0:
        raise ConfigurationError("depth must be 1 or more; use unshallow=True for the whole history")
    return depth


def clone_remote(
    depth: int, single_branch: Optional[bool], branch: Optional[str], callbacks: pygit2.RemoteCallbacks
) -> Optional[Callable[[pygit2.Repository, Any, Any], pygit2.Remote]]:
    """For a single-branch clone, the ``remote`` hook that fetches only that branch.

    ``single_branch`` defaults to true for a shallow clone, as with ``git clone --depth``.
    """
    if not (bool(depth) if single_branch is None else single_branch):
        return None

    def create(repo: pygit2.Repository, name: str | bytes, url: str | bytes) -> pygit2.Remote:
        name, url = os.fsdecode(name), os.fsdecode(url)  # pygit2 hands them over as bytes
        wanted = branch.removeprefix("refs/heads/") if branch else _remote_head(repo, url, callbacks)
        spec = f"+refs/heads/{wanted}:refs/remotes/{name}/{wanted}"
        return repo.remotes.create(name, url, spec)

    return create


def _remote_head(repo: pygit2.Repository, url: str, callbacks: pygit2.RemoteCallbacks) -> str:
    """The branch the remote's HEAD names (``master`` if it names none)."""
    from .transport import Session

    inner = getattr(callbacks, "inner", callbacks)
    heads = repo.remotes.create_anonymous(url).list_heads(callbacks=Session(inner, None, url=url))
    for head in heads:
        if head.name == "HEAD" and head.symref_target:
            return str(head.symref_target).removeprefix("refs/heads/")
    return "master"


def edge(repo: pygit2.Repository) -> frozenset[pygit2.Oid]:
    """The commits where a shallow clone's history stops (empty for a full clone)."""
    try:
        with open(os.path.join(repo.path, "shallow"), encoding="ascii") as fh:
            lines = fh.read().split()
    except FileNotFoundError:
        return frozenset()
    except (OSError, UnicodeDecodeError) as exc:
        raise ShallowHistoryError(f"cannot read the shallow edge of {repo.path!r}: {exc}") from None
    try:
        return frozenset(pygit2.Oid(hex=line) for line in lines)
    except ValueError:
        raise ShallowHistoryError(f"the shallow file of {repo.path!r} is corrupt") from None


def parents(ws: Workspace, commit: pygit2.Commit) -> list[pygit2.Oid]:
    """``commit``'s parents as its object names them: libgit2 keeps the
    commits it parsed while the clone was shallow, parentless at the edge,
    even after ``fetch(unshallow=True)``."""
    if commit.parent_ids:
        return list(commit.parent_ids)
    return [oid for oid in named_parents(ws.repo, commit.id) if oid in ws.repo]  # still shallow: not here


def named_parents(repo: pygit2.Repository, oid: pygit2.Oid) -> list[pygit2.Oid]:
    """The parents commit ``oid`` names in its object (libgit2 hides them at a
    shallow edge); none if it cannot be read."""
    try:
        _kind, raw = repo.odb.read(oid)
    except (KeyError, ValueError, pygit2.GitError):
        return []
    head = raw.split(b"\n\n", 1)[0]
    return [pygit2.Oid(hex=line[7:47].decode("ascii")) for line in head.split(b"\n")
            if line.startswith(b"parent ") and len(line) == 47]


def beyond_edge(commit: pygit2.Commit, what: str) -> ShallowHistoryError:
    """The error for a question about ``what`` that commits past ``commit`` would answer."""
    return ShallowHistoryError(
        f"the history of {what} goes on past commit {str(commit.id)[:10]}, the edge of this "
        "shallow clone; deepen it with ws.fetch(depth=...) or ws.fetch(unshallow=True)",
        commit.id,
    )


def require_merge_base(ws: Workspace, theirs: pygit2.Oid) -> None:
    """In a shallow clone, refuse a merge whose common ancestor was not fetched.

    Without it, the merge would take the two sides for unrelated histories.
    """
    if ws._start is None or not ws.repo.is_shallow:
        return
    if ws.repo.merge_base(ws._start, theirs) is None:
        raise ShallowHistoryError(
            f"cannot merge {str(theirs)[:10]} into {ws.head}: their common ancestor lies beyond "
            "the shallow edge of this clone; deepen it with ws.fetch(depth=...) first"
        )
