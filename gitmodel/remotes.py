"""Sharing data: clone, fetch, push and pull through libgit2's transports.

Everything here goes through pygit2 (local paths, ``file://``, ``git://``,
smart HTTP(S) and SSH); nothing shells out to ``git``. Credentials and
certificate checks come from a ``pygit2.RemoteCallbacks`` (see
:class:`Callbacks`); each operation wraps it in a session
(:mod:`gitmodel.transport`) that adds progress reporting, records which
refs moved and turns libgit2's errors into gitmodel's exceptions. What a
fetch brings is checked before it counts (:mod:`gitmodel.incoming`): a
fetch or clone missing objects its refs need fails, and a failed fetch puts
back every ref it moved.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import FetchPrune

from . import incoming, shallow, transport
from .exceptions import (
    BranchNotFound,
    ConfigurationError,
    CorruptObject,
    GitModelError,
    PendingChanges,
    PushRejected,
    ReferenceNotFound,
    RemoteError,
    RemoteNotFound,
    RepositoryError,
)
from .refs import branch_ref, ref_name_problem
from .transport import (  # the session's bounds and types are part of this module's API
    SERVER_CONNECT_TIMEOUT_MS,
    SERVER_TIMEOUT_MS,
    Callbacks,
    Progress,
    ProgressCallback,
    RefUpdates,
    Session,
    redact,
)

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "Callbacks",
    "Progress",
    "ProgressCallback",
    "PullResult",
    "RemoteInfo",
    "Remotes",
    "RefUpdates",
    "SERVER_TIMEOUT_MS",
    "SERVER_CONNECT_TIMEOUT_MS",
]


@dataclass(frozen=True)
class RemoteInfo:
    """A configured remote: its name, URLs and refspecs.

    The URLs are as configured; the repr shows their passwords as ``***``.
    """

    name: str
    url: Optional[str]
    push_url: Optional[str]
    fetch_refspecs: tuple[str, ...]
    push_refspecs: tuple[str, ...]

    @property
    def shown_url(self) -> Optional[str]:
        """The URL with its password (if any) as ``***``, for display."""
        return redact(self.url) if self.url is not None else None

    def __repr__(self) -> str:
        shown = [redact(repr(u)) for u in (self.url, self.push_url)]
        return (f"RemoteInfo(name={self.name!r}, url={shown[0]}, push_url={shown[1]}, "
                f"fetch_refspecs={self.fetch_refspecs!r}, push_refspecs={self.push_refspecs!r})")


@dataclass
class PullResult:
    """What a pull did.

    ``fetched`` is what the fetch moved; ``commit`` the branch's commit
    afterwards; ``fast_forward`` is true when the branch simply moved ahead,
    ``up_to_date`` when nothing had to change; ``conflicts`` lists the merge
    conflicts left to resolve (see ``ws.conflicts`` / ``ws.resolve``);
    ``merge`` is the merge result when a merge ran.
    """

    fetched: RefUpdates
    commit: Optional[pygit2.Oid]
    fast_forward: bool = False
    up_to_date: bool = False
    conflicts: list[Any] = field(default_factory=list)
    merge: Any = None


def _session(
    ws: Optional[Workspace], callbacks: Any, progress: Optional[ProgressCallback], url: Optional[str],
    listen: bool = False,
) -> Session:
    if callbacks is None and ws is not None:
        callbacks = ws.remote_callbacks
    return transport.session(callbacks, progress, url, listen)


# -- clone ----------------------------------------------------------------------


def clone(
    cls: type[Workspace],
    url: Union[str, os.PathLike[str]],
    path: Union[str, os.PathLike[str]],
    branch: Optional[str] = None,
    bare: bool = True,
    callbacks: Optional[pygit2.RemoteCallbacks] = None,
    progress: Optional[ProgressCallback] = None,
    *,
    depth: int = 0,
    single_branch: Optional[bool] = None,
    **kwargs: Any,
) -> Workspace:
    """Clone ``url`` into ``path`` and open a workspace on ``branch`` (default: the remote's HEAD).

    ``depth=N`` fetches only the last N commits (see :mod:`gitmodel.shallow`);
    ``single_branch`` (default: true when ``depth`` is given) fetches that one branch.
    """
    url = os.fspath(url)
    path = os.fspath(path)
    existed = os.path.exists(path)
    if existed and (not os.path.isdir(path) or os.listdir(path)):
        raise RepositoryError(f"cannot clone into {path!r}: it exists and is not an empty folder")
    depth = shallow.clone_depth(depth)
    session = _session(None, callbacks, progress, url)
    one_branch = shallow.clone_remote(depth, single_branch, branch, session)

    def create_remote(repo: pygit2.Repository, name: str | bytes, given: str | bytes) -> pygit2.Remote:
        if one_branch is not None:
            made = one_branch(repo, name, given)
        else:
            made = repo.remotes.create(os.fsdecode(name), os.fsdecode(given))
        session.start_at(made.url)  # as libgit2 rewrote it (url.<base>.insteadOf)
        return made

    try:
        # a work tree is never checked out by libgit2 (it would write the
        # remote's symlinks): the clone is bare inside ``.git``, then checked
        # out by gitmodel's own checkout, which refuses what could lead out
        git_dir = path if bare else os.path.join(path, ".git")
        repo = pygit2.clone_repository(
            url, git_dir, bare=True, checkout_branch=branch, callbacks=session, depth=depth, remote=create_remote
        )
    except (pygit2.GitError, KeyError, ValueError) as exc:
        _discard(path, existed)
        if branch is not None and "not found" in str(exc).lower() and "reference" in str(exc).lower():
            raise BranchNotFound(branch, redact(f"the remote {url} has no branch {branch!r}")) from None
        raise session.error(exc, "clone of", url) from None
    except BaseException:
        _discard(path, existed)
        raise
    try:
        lacking = incoming.unconnected(repo, incoming.refs(repo), ())
        if lacking:
            raise RemoteError(redact(f"clone of {url} failed: the server did not send all the objects "
                                     f"its refs need ({lacking})"))
        if not bare:
            repo.config["core.bare"] = False
        ws = cls(repo.path, **kwargs)
        if not bare and ws.branch is not None:
            ws.sync_repo_index()  # checked: no symlink, submodule or .git alias is written
    except BaseException:
        _discard(path, existed)
        raise
    ws.remote_callbacks = callbacks
    return ws


def _discard(path: str, existed: bool) -> None:
    """Remove what a failed clone left behind (never a folder that existed before)."""
    if not os.path.exists(path):
        return
    if existed:
        for name in os.listdir(path):
            full = os.path.join(path, name)
            shutil.rmtree(full) if os.path.isdir(full) and not os.path.islink(full) else os.unlink(full)
    else:
        shutil.rmtree(path, ignore_errors=True)


# -- the remotes collection --------------------------------------------------------


class Remotes:
    """The repository's remotes, by name: iterate, ``in``, ``[name]``, add, remove, rename."""

    def __init__(self, ws: Workspace) -> None:
        self._repo = ws.repo

    def _get(self, name: str) -> pygit2.Remote:
        if not isinstance(name, str):  # (libgit2's list takes an int as a position)
            raise RemoteNotFound(f"no remote named {name!r}")
        try:
            return self._repo.remotes[name]
        except (KeyError, ValueError, pygit2.GitError):
            raise RemoteNotFound(f"no remote named {name!r}") from None

    def __getitem__(self, name: str) -> RemoteInfo:
        return _info(self._get(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[RemoteInfo]:
        return iter([self[name] for name in self.names()])

    def __len__(self) -> int:
        return len(self.names())

    def names(self) -> list[str]:
        """The remotes' names, as configured."""
        return [n for n in self._repo.remotes.names() if n is not None]

    def add(self, name: str, url: Union[str, os.PathLike[str]], fetch: Optional[str] = None) -> RemoteInfo:
        """Add remote ``name`` at ``url`` (default fetch refspec unless ``fetch`` is given)."""
        if not isinstance(name, str) or not isinstance(url, (str, os.PathLike)):
            raise ConfigurationError(redact(f"cannot add remote {name!r} at {url!r}: "
                                            "the name and the url must be strings"))
        if name in self:
            raise RepositoryError(f"remote {name!r} already exists")
        try:
            remote = self._repo.remotes.create(name, os.fspath(url), fetch)
        except (ValueError, TypeError, pygit2.GitError) as exc:
            raise ConfigurationError(redact(f"cannot add remote {name!r}: {exc}")) from None
        return _info(remote)

    def remove(self, name: str) -> None:
        """Remove remote ``name`` with its remote-tracking refs."""
        self._get(name)
        self._repo.remotes.delete(name)

    def rename(self, old: str, new: str) -> RemoteInfo:
        """Rename remote ``old`` to ``new`` (remote-tracking refs follow)."""
        self._get(old)
        if new in self:
            raise RepositoryError(f"remote {new!r} already exists")
        try:
            problems = self._repo.remotes.rename(old, new)
        except (ValueError, pygit2.GitError) as exc:
            raise ConfigurationError(f"cannot rename remote {old!r} to {new!r}: {exc}") from None
        if problems:
            raise RepositoryError(
                f"remote renamed to {new!r}, but these refspecs were not updated: {', '.join(problems)}"
            )
        return self[new]

    def set_url(self, name: str, url: Union[str, os.PathLike[str]], push: bool = False) -> RemoteInfo:
        """Change the fetch URL of ``name`` (or its push URL with ``push=True``)."""
        self._get(name)
        setter = self._repo.remotes.set_push_url if push else self._repo.remotes.set_url
        setter(name, os.fspath(url))
        return self[name]

    def add_refspec(self, name: str, refspec: str, push: bool = False) -> RemoteInfo:
        """Add a fetch (or push) refspec to remote ``name``."""
        self._get(name)
        try:
            (self._repo.remotes.add_push if push else self._repo.remotes.add_fetch)(name, refspec)
        except (ValueError, pygit2.GitError) as exc:
            raise ConfigurationError(f"invalid refspec {refspec!r}: {exc}") from None
        return self[name]

    def __repr__(self) -> str:
        return f"<Remotes {self.names()}>"


def _info(remote: pygit2.Remote) -> RemoteInfo:
    return RemoteInfo(
        name=remote.name or "",
        url=remote.url,
        push_url=remote.push_url,
        fetch_refspecs=tuple(remote.fetch_refspecs),
        push_refspecs=tuple(remote.push_refspecs),
    )


# -- fetch -----------------------------------------------------------------------


def fetch(
    ws: Workspace,
    remote: str = "origin",
    callbacks: Optional[pygit2.RemoteCallbacks] = None,
    progress: Optional[ProgressCallback] = None,
    prune: bool = False,
    depth: Optional[int] = None,
    unshallow: bool = False,
) -> RefUpdates:
    """Fetch ``remote``; returns the refs that moved, ``{ref: (old, new)}``.

    Only remote-tracking refs and tags move; the workspace and its branch do
    not. Every object the moved refs need must have arrived, else
    :class:`RemoteError`. A failed fetch leaves every ref as it was.
    ``prune=True`` removes remote-tracking refs of branches the remote no
    longer has, first those in the way of a new one (``origin/zz`` against
    ``origin/zz/bar``). In a shallow clone, ``depth=N`` deepens the history
    to the last N commits and ``unshallow`` fetches all of it.
    """
    Remotes(ws)._get(remote)
    deepen = shallow.fetch_depth(ws, depth, unshallow)
    repo = ws.repo
    if not deepen and not repo.is_shallow:
        # a repository of its own: the workspace's still sees the commits of a
        # refused fetch after they are dropped, and libgit2 asks for none it sees
        repo = pygit2.Repository(repo.path, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    target = repo.remotes[remote]
    specs = _fetch_specs(target)
    guard = incoming.RefGuard(
        repo, lambda name: name.startswith("refs/tags/") or any(spec.dst_matches(name) for spec in specs)
    )
    try:
        moved = _fetch(ws, repo, target, guard, callbacks, progress, prune, deepen)
        deepened = incoming.edge_of(guard.files["shallow"]) - shallow.edge(repo)
        now = {name: new for name, (_old, new) in guard.changed().items()}
        lacking = incoming.unconnected(repo, now, guard.before.values(), deepened)
        if lacking:
            guard.restore()
            incoming.drop_refused(repo, guard.packs, [oid for oid in now.values() if isinstance(oid, pygit2.Oid)])
            raise RemoteError(redact(f"fetch from {target.url} failed: the server did not send all the objects "
                                     f"the new refs need ({lacking}); no ref was moved"))
    except BaseException as exc:
        problems = guard.restore()
        if problems:
            raise RemoteError(f"{exc} (and these refs could not be put back: {'; '.join(problems)})") from exc
        raise
    return moved


def _fetch(
    ws: Workspace, repo: pygit2.Repository, target: pygit2.Remote, guard: incoming.RefGuard, callbacks: Any,
    progress: Optional[ProgressCallback], prune: bool, depth: int,
) -> RefUpdates:
    """libgit2's fetch; with ``prune``, once more after removing stale refs in the way."""
    cleared: RefUpdates = {}
    while True:
        session = _session(ws, callbacks, progress, target.url)
        guard.also = lambda name: name in session.tips
        try:
            target.fetch(
                callbacks=session,
                prune=FetchPrune.PRUNE if prune else FetchPrune.NO_PRUNE,
                message=f"fetch {target.name}",
                depth=depth,
            )
        except (pygit2.GitError, KeyError, ValueError) as exc:
            error = session.error(exc, "fetch from", target.url)
            blocked = not cleared and incoming.may_be_blocked(exc)
            blocking = _stale_in_the_way(repo, target, guard, session) if blocked else {}
            if not blocking:
                raise error from None
            if not prune:
                stale, new = next(iter(blocking.items()))
                raise RemoteError(redact(
                    f"fetch from {target.url} failed: {stale} is in the way of {new}, and the remote no longer "
                    "has that branch; fetch with prune=True (ws.fetch(prune=True)) to remove it"
                )) from None
            for stale in blocking:
                old = repo.references[stale].target
                cleared[stale] = (old if isinstance(old, pygit2.Oid) else None, None)
                repo.references.delete(stale)
            continue
        moved = {ref: move for ref, move in session.tips.items() if move[0] != move[1]}
        return {**cleared, **moved}


def _stale_in_the_way(
    repo: pygit2.Repository, target: pygit2.Remote, guard: incoming.RefGuard, session: Session
) -> dict[str, str]:
    """After a failed fetch: the stale remote-tracking refs that block new ones (refs put back first)."""
    guard.restore()
    try:
        heads = [h.name or "" for h in target.list_heads(callbacks=Session(session.inner, None, url=target.url))]
    except (pygit2.GitError, KeyError, ValueError, GitModelError):
        return {}
    return incoming.stale_in_the_way(repo, _fetch_specs(target), heads)


def _fetch_specs(target: pygit2.Remote) -> list[Any]:
    fetch = set(target.fetch_refspecs)
    return [spec for spec in (target.get_refspec(i) for i in range(target.refspec_count)) if spec.string in fetch]


# -- push -------------------------------------------------------------------------


def push(
    ws: Workspace,
    remote: str = "origin",
    branch: Union[None, str, Sequence[str]] = None,
    force: bool = False,
    callbacks: Optional[pygit2.RemoteCallbacks] = None,
    progress: Optional[ProgressCallback] = None,
    set_upstream: bool = False,
) -> RefUpdates:
    """Push ``branch`` (default: the current one; or a list) to ``remote``.

    Returns what moved on the remote, ``{remote ref: (old, new)}``. A ref the
    remote refuses raises :class:`PushRejected`, which names every refused
    ref and its reason and lists the refs that did move.
    """
    target = Remotes(ws)._get(remote)
    names = [ws.head] if branch is None else [branch] if isinstance(branch, str) else list(branch)
    pairs: list[tuple[str, str]] = []
    for name in names:
        local = _local_ref(name)
        if ws.repo.references.get(local) is None:
            raise BranchNotFound(name, f"branch {name!r} has no commits to push")
        pairs.append((local, _push_destination(ws, local, remote)))
    url = target.push_url or target.url
    denied = _local_hub_rules(url, [dst for _, dst in pairs], force)
    specs = [f"{'+' if force and not denied else ''}{src}:{dst}" for src, dst in pairs]
    session = _session(ws, callbacks, progress, url, listen=True)
    try:
        target.push(specs, callbacks=session)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        text = str(exc).lower()
        if "fastforward" in text or "fast-forward" in text or "not present locally" in text:
            rejected = _non_fast_forwards(ws, target, pairs, session)
            why = "non-fast-forward" + (" (the hub sets receive.denyNonFastForwards)" if denied else "")
            raise PushRejected({ref: why for ref in rejected} or {dst: why for _, dst in pairs}) from None
        raise session.error(exc, "push to", url) from None
    rejected = _server_reasons({ref: msg for ref, msg in session.statuses.items() if msg}, session.server_said)
    pushed = {
        ref: session.negotiated.get(ref, (None, None))
        for ref, msg in session.statuses.items()
        if not msg
    }
    if rejected:
        raise PushRejected(rejected, pushed)
    if set_upstream:
        for local, dst in pairs:
            set_upstream_config(ws, local, remote, dst)
    return pushed


#: hooks git's receive-pack runs on the hub; libgit2's local transport runs none
_RECEIVE_HOOKS = ("pre-receive", "update", "proc-receive", "post-receive", "post-update", "push-to-checkout")


def _local_hub_rules(url: Optional[str], dsts: list[str], force: bool) -> bool:
    """For a push of ``dsts`` over a local path or ``file://``: refuse what would skip the hub's rules.

    libgit2 writes a local hub's refs itself, so its receive hooks do not run
    and its ``receive.deny*`` settings are not read: a hub with such hooks,
    or one whose ``receive.denyCurrentBranch`` refuses a push to the
    checked-out branch, raises :class:`RemoteError`. Returns whether a
    forced push must go as a plain one, which only fast-forwards
    (``receive.denyNonFastForwards``); a push never deletes, so
    ``receive.denyDeletes`` holds by itself.
    """
    hub = _local_hub(url)
    if hub is None:
        return False
    config = hub.config
    folder = hub.path if hub.is_bare else (hub.workdir or hub.path)
    hooks_dir = os.path.join(hub.path, "hooks")
    if "core.hooksPath" in config:
        hooks_dir = os.path.join(folder, os.path.expanduser(str(config["core.hooksPath"])))
    hooks = [name for name in _RECEIVE_HOOKS
             if os.path.isfile(os.path.join(hooks_dir, name)) and os.access(os.path.join(hooks_dir, name), os.X_OK)]
    current = str(config["receive.denyCurrentBranch"]).lower() if "receive.denyCurrentBranch" in config else "ignore"
    checked_out = None if hub.is_bare or hub.head_is_unborn else hub.head.name
    if checked_out in dsts and current not in ("ignore", "warn", "false", "no", "off", "0"):
        hooks.append(f"receive.denyCurrentBranch={current} for its checked-out {checked_out}")
    if hooks:
        raise RemoteError(redact(
            f"push to {url} refused: the hub has {', '.join(hooks)}, which a push over a local path would "
            "bypass (libgit2 writes the hub's refs itself and runs no hooks); push over git:// or HTTP(S), "
            "where git's receive-pack applies them"
        ))
    return force and _config_true(config, "receive.denyNonFastForwards")


def _local_hub(url: Optional[str]) -> Optional[pygit2.Repository]:
    """The repository a push to ``url`` writes directly (a local path or ``file://``), else ``None``."""
    if not url:
        return None
    if url.startswith("file://"):
        path = unquote(urlsplit(url).path)
    elif "://" not in url and os.path.isdir(url):
        path = url
    else:
        return None
    try:
        return pygit2.Repository(path)
    except (pygit2.GitError, KeyError, ValueError):
        return None


def _config_true(config: pygit2.Config, key: str) -> bool:
    try:
        return bool(config.get_bool(key))
    except (KeyError, ValueError, pygit2.GitError):
        return False


def _server_reasons(rejected: dict[str, str], said: list[str]) -> dict[str, str]:
    """Add to each refused ref's status the server's own words about it.

    A hook's refusal reaches libgit2 as "hook declined"; why (a protected
    branch, a rule) is what the hook printed. The lines that name the ref
    are its reason; with one refused ref, every line the server printed.
    """
    lines = [line.strip() for line in "".join(said).replace("\r", "\n").splitlines() if line.strip()]
    out = {}
    for ref, status in rejected.items():
        short = ref.removeprefix("refs/heads/")
        mine = [line for line in lines if ref in line or f" {short} " in f" {line} "]
        words = mine or (lines if len(rejected) == 1 else [])
        out[ref] = f"{status}: {'; '.join(words)}" if words else status
    return out


def _push_destination(ws: Workspace, local: str, remote: str) -> str:
    """The remote ref ``local`` pushes to: its upstream's, else the same name."""
    name = local.removeprefix("refs/heads/")
    config = ws.repo.config
    try:
        if config[f"branch.{name}.remote"] == remote:
            return str(config[f"branch.{name}.merge"])
    except KeyError:
        pass
    return local


def _non_fast_forwards(
    ws: Workspace, target: pygit2.Remote, pairs: list[tuple[str, str]], session: Session
) -> dict[str, str]:
    """Ask the remote where its refs are; name those a push cannot fast-forward."""
    try:  # a new session: the push's has already used its credentials
        heads = {h.name: h.oid for h in target.list_heads(callbacks=Session(session.inner, None, url=session.url))}
    except (pygit2.GitError, KeyError, ValueError, GitModelError):
        return {}
    rejected = {}
    for src, dst in pairs:
        theirs = heads.get(dst)
        ours = ws.repo.references[src].target
        if theirs is None or theirs == ours:
            continue
        if ws.repo.get(theirs) is None:
            rejected[dst] = "non-fast-forward"  # the remote has commits not fetched yet
        elif not ws.repo.descendant_of(ours, theirs):
            rejected[dst] = "non-fast-forward"
    return rejected


# -- pull --------------------------------------------------------------------------


def pull(
    ws: Workspace,
    remote: Optional[str] = None,
    branch: Optional[str] = None,
    callbacks: Optional[pygit2.RemoteCallbacks] = None,
    progress: Optional[ProgressCallback] = None,
    author: Any = None,
    committer: Any = None,
) -> PullResult:
    """Fetch, then fast-forward the current branch or merge, field by field
    (a merge commit by ``author`` and ``committer``, default the workspace's).

    The merge is :meth:`Workspace.merge` itself: conflicts are left open in
    ``ws.conflicts`` for ``ws.resolve()``, then ``ws.commit()`` (or
    ``ws.abort_merge()``). Pulls the upstream of the current branch, else the
    remote branch of the same name; ``branch`` names another remote branch.
    Refused while changes are pending, so nothing staged is ever lost, and
    inside a ``commit_on_success`` block, which commits only at its end.
    """
    ws._unit.refuse_commit()
    ws._require_writable()
    if ws.merging:
        raise RepositoryError("cannot pull: a merge is in progress; commit or abort_merge() it first")
    if ws.has_changes():
        raise PendingChanges("pull")
    local = ws.head
    up_remote, up_ref = _upstream_config(ws, local)
    remote = remote or up_remote or "origin"
    remote_ref = _local_ref(branch) if branch else (up_ref if up_remote == remote and up_ref else local)
    fetched = fetch(ws, remote, callbacks=callbacks, progress=progress)
    tracking = _tracking_name(ws, remote, remote_ref)
    ref = ws.repo.references.get(tracking) if tracking else None
    if tracking is None or ref is None:
        short = remote_ref.removeprefix("refs/heads/")
        raise BranchNotFound(remote_ref, f"remote {remote!r} has no branch {short!r}")
    with ws.write_lock, ws._unit_kept():
        _catch_up(ws)
        take_in(ws, tracking)
        short = tracking.removeprefix("refs/remotes/")
        result = ws.merge(tracking, message=f"Merge {short} into {local.removeprefix('refs/heads/')}",
                          author=author, committer=committer)
    return PullResult(
        fetched,
        ws._start if result.commit is None and not result.conflicts else result.commit,
        fast_forward=result.fast_forward,
        up_to_date=result.up_to_date,
        conflicts=list(result.conflicts),
        merge=result,
    )


def take_in(ws: Workspace, tracking: str) -> Optional[pygit2.Commit]:
    """Before a pull or sync merges (or fast-forwards to) ``tracking``: what
    it brings, checked alike on both paths; ``None`` when it brings nothing.
    Raises before anything moves (see :func:`gitmodel.incoming.refuse_brought_in`)."""
    theirs = incoming.tracking_commit(ws.repo, tracking)
    ours = ws._start
    if ours is not None and (ours == theirs.id or ws.repo.descendant_of(ours, theirs.id)):
        return None
    shallow.require_merge_base(ws, theirs.id)
    incoming.refuse_brought_in(ws, ours, theirs)
    return theirs


def _catch_up(ws: Workspace) -> None:
    """With nothing pending, follow the branch if another writer moved it."""
    ref = ws.repo.references.get(ws.head)
    current = ref.target if ref is not None else None
    if current != ws._start:
        ws._unit.move_to(current, ws.repo[current].tree if current is not None else None)  # type: ignore[arg-type,union-attr]


# -- tracking ----------------------------------------------------------------------


def _local_ref(name: str) -> str:
    return branch_ref(name)


def _upstream_config(ws: Workspace, local: str) -> tuple[Optional[str], Optional[str]]:
    name = local.removeprefix("refs/heads/")
    config = ws.repo.config
    try:
        return str(config[f"branch.{name}.remote"]), str(config[f"branch.{name}.merge"])
    except KeyError:
        return None, None


def _tracking_name(ws: Workspace, remote: str, remote_ref: str) -> Optional[str]:
    """Where ``remote``'s ``remote_ref`` lands locally, per its fetch refspecs."""
    if remote == ".":
        return remote_ref
    target = Remotes(ws)._get(remote)
    fetch_specs = set(target.fetch_refspecs)
    for i in range(target.refspec_count):
        spec = target.get_refspec(i)
        if spec.string in fetch_specs and spec.src_matches(remote_ref):
            return str(spec.transform(remote_ref))
    return None


def upstream(ws: Workspace, branch: Optional[str] = None) -> Optional[str]:
    """The remote-tracking ref ``branch`` (default: current) follows, or ``None``."""
    local = _local_ref(branch) if branch else ws.head
    remote, merge = _upstream_config(ws, local)
    if remote is None or merge is None:
        return None
    try:
        return _tracking_name(ws, remote, merge)
    except RemoteNotFound:
        return None


def set_upstream_config(ws: Workspace, local: str, remote: str, remote_ref: str) -> None:
    name = local.removeprefix("refs/heads/")
    ws.repo.config[f"branch.{name}.remote"] = remote
    ws.repo.config[f"branch.{name}.merge"] = remote_ref


def set_upstream(ws: Workspace, remote_branch: Optional[str], branch: Optional[str] = None) -> None:
    """Make ``branch`` (default: current) follow ``remote_branch`` (``"origin/main"``); ``None`` unsets."""
    local = _local_ref(branch) if branch else ws.head
    name = local.removeprefix("refs/heads/")
    if remote_branch is None:
        for key in (f"branch.{name}.remote", f"branch.{name}.merge"):
            try:
                del ws.repo.config[key]
            except KeyError:
                pass
        return
    ref = _tracking_ref(ws, remote_branch)
    for info in Remotes(ws):
        for spec_text in info.fetch_refspecs:
            spec = _refspec(ws, info.name, spec_text)
            if spec is not None and spec.dst_matches(ref):
                set_upstream_config(ws, local, info.name, str(spec.rtransform(ref)))
                return
    raise _not_tracking(remote_branch)


def _refspec(ws: Workspace, remote: str, text: str) -> Any:
    target = Remotes(ws)._get(remote)
    for i in range(target.refspec_count):
        spec = target.get_refspec(i)
        if spec.string == text:
            return spec
    return None


def _not_tracking(name: str) -> ReferenceNotFound:
    return ReferenceNotFound(name, f"{name!r} is not a remote-tracking branch of any remote")


def _tracking_ref(ws: Workspace, remote_branch: str) -> str:
    """``origin/main`` or ``refs/remotes/origin/main`` -> the full ref, which must exist."""
    if not isinstance(remote_branch, str):
        raise _not_tracking(remote_branch)
    candidates = [remote_branch] if remote_branch.startswith("refs/") else [f"refs/remotes/{remote_branch}"]
    for candidate in candidates:
        if ref_name_problem(candidate) is None and ws.repo.references.get(candidate) is not None:
            return candidate
    raise _not_tracking(remote_branch)


def ahead_behind(ws: Workspace, remote_branch: Optional[str] = None) -> tuple[int, int]:
    """``(ahead, behind)``: commits only on the current branch, and only on ``remote_branch``.

    ``remote_branch`` defaults to the branch's upstream.
    """
    if remote_branch is None:
        remote_branch = upstream(ws)
        if remote_branch is None:
            raise RepositoryError(f"{ws.head} has no upstream; name the remote branch")
    theirs = incoming.tracking_commit(ws.repo, _tracking_ref(ws, remote_branch)).id
    ours = ws._start
    try:
        if ours is None:
            return (0, len(list(ws.repo.walk(theirs))))
        ahead, behind = ws.repo.ahead_behind(ours, theirs)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise CorruptObject(remote_branch, f"its history cannot be read ({exc})", theirs) from None
    return ahead, behind
