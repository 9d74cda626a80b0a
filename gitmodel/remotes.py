"""Sharing data: clone, fetch, push and pull through libgit2's transports.

Everything here goes through pygit2 (local paths, ``file://``, ``git://``,
smart HTTP(S) and SSH); nothing shells out to ``git``. Credentials and
certificate checks come from a ``pygit2.RemoteCallbacks`` (see
:class:`Callbacks`); each operation wraps it in a :class:`_Session` that adds
progress reporting, records which refs moved and turns libgit2's errors into
gitmodel's exceptions.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

import pygit2
from pygit2.enums import CredentialType, FetchPrune

from . import shallow
from .exceptions import (
    AuthenticationError,
    BranchNotFound,
    CertificateError,
    ConfigurationError,
    GitModelError,
    PendingChanges,
    PushRejected,
    ReferenceNotFound,
    RemoteError,
    RemoteNotFound,
    RepositoryError,
)
from .refs import branch_ref, ref_name_problem

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "Callbacks",
    "Progress",
    "PullResult",
    "RemoteInfo",
    "Remotes",
    "RefUpdates",
]

ZERO_OID = pygit2.Oid(raw=b"\0" * 20)

#: ``{ref: (old, new)}``; ``None`` stands for "did not exist".
RefUpdates = dict[str, tuple[Optional[pygit2.Oid], Optional[pygit2.Oid]]]


@dataclass(frozen=True)
class Progress:
    """How far a transfer is, for a progress bar.

    ``phase`` is ``"receiving"`` (objects arriving), ``"resolving"`` (deltas
    being resolved after a fetch) or ``"sending"`` (a push). ``done`` and
    ``total`` count objects (deltas while resolving); ``bytes`` is the data
    moved so far.
    """

    phase: str
    done: int
    total: int
    bytes: int

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 while the total is unknown)."""
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], Any]


@dataclass(frozen=True)
class RemoteInfo:
    """A configured remote: its name, URLs and refspecs."""

    name: str
    url: Optional[str]
    push_url: Optional[str]
    fetch_refspecs: tuple[str, ...]
    push_refspecs: tuple[str, ...]


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


class Callbacks(pygit2.RemoteCallbacks):
    """Credentials and certificate checks for remote operations.

    - ``username`` / ``password``: HTTP basic authentication.
    - ``token``: an access token, sent as the password of ``username``
      (``"x-access-token"`` when no username is given).
    - ``ssh_key``: a private key file (``ssh_pubkey`` defaults to
      ``ssh_key + ".pub"`` when that file exists), unlocked with ``passphrase``; or
      ``ssh_agent=True`` to ask the running SSH agent.
    - ``certificate_check(host, valid) -> bool`` decides on a TLS
      certificate or SSH host key; ``insecure=True`` accepts any. By default
      libgit2 decides (TLS: the system's CAs; SSH: ``known_hosts``, then
      accept).
    """

    def __init__(
        self,
        username: Optional[str] = None,
        password: Optional[str] = None,
        *,
        token: Optional[str] = None,
        ssh_key: Optional[Union[str, os.PathLike[str]]] = None,
        ssh_pubkey: Optional[Union[str, os.PathLike[str]]] = None,
        passphrase: str = "",
        ssh_agent: bool = False,
        certificate_check: Optional[Callable[[str, bool], bool]] = None,
        insecure: bool = False,
    ) -> None:
        super().__init__()
        self.username = username
        self.password = token if token is not None and password is None else password
        if token is not None and username is None:
            self.username = "x-access-token"
        self.ssh_key = os.fspath(ssh_key) if ssh_key is not None else None
        pub = ssh_pubkey
        if pub is None and self.ssh_key and os.path.exists(f"{self.ssh_key}.pub"):
            pub = f"{self.ssh_key}.pub"  # else libssh2 derives it from the private key
        self.ssh_pubkey = os.fspath(pub) if pub is not None else None
        self.passphrase = passphrase
        self.ssh_agent = ssh_agent
        self._check = certificate_check
        self.insecure = insecure

    def credentials(  # type: ignore[override]
        self, url: str, username_from_url: Optional[str], allowed_types: CredentialType
    ) -> Any:
        user = self.username or username_from_url
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and self.password is not None:
            return pygit2.UserPass(user or "", self.password)
        if allowed_types & CredentialType.SSH_KEY:
            if self.ssh_key:
                return pygit2.Keypair(user or "git", self.ssh_pubkey, self.ssh_key, self.passphrase)
            if self.ssh_agent:
                return pygit2.KeypairFromAgent(user or "git")
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(user or "git")
        raise pygit2.Passthrough

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:  # type: ignore[override]
        if self.insecure:
            return True
        if self._check is not None:
            name = host.decode("utf-8", "replace") if isinstance(host, bytes) else str(host)
            return bool(self._check(name, valid))
        raise pygit2.Passthrough


class _Session(pygit2.RemoteCallbacks):
    """One remote operation: the user's callbacks plus bookkeeping.

    Credentials are asked of ``inner``; a second request for the same kind of
    credential on the same URL means the first was refused, so it stops with
    :class:`AuthenticationError` instead of letting libgit2 retry.
    """

    def __init__(
        self, inner: Optional[pygit2.RemoteCallbacks], progress: Optional[ProgressCallback], listen: bool = False
    ) -> None:
        super().__init__()
        self.inner = inner
        self.progress = progress
        self.tips: RefUpdates = {}
        self.negotiated: RefUpdates = {}
        self.statuses: dict[str, Optional[str]] = {}
        self.server_said: list[str] = []  # what the server's hooks printed (when listening)
        self.auth_asked = False
        self.cert_refused = False
        self._answered: set[tuple[str, int]] = set()
        # pygit2 calls into Python for every object received unless the
        # attribute is None; a 200,000-object clone spends a second there.
        for name, wanted in (
            ("transfer_progress", progress is not None),
            ("push_transfer_progress", progress is not None),
            ("sideband_progress", listen),
        ):
            if not wanted and not _overrides(inner, name):
                setattr(self, name, None)

    def credentials(  # type: ignore[override]
        self, url: str, username_from_url: Optional[str], allowed_types: CredentialType
    ) -> Any:
        self.auth_asked = True
        if self.inner is None:
            raise AuthenticationError(f"{url} asks for credentials and none were given")
        cred = self.inner.credentials(url, username_from_url, allowed_types)
        key = (url, int(getattr(cred, "credential_type", 0)))
        if key in self._answered:
            raise AuthenticationError(f"{url} refused the credentials (wrong user, password, token or key?)")
        self._answered.add(key)
        return cred

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:  # type: ignore[override]
        if self.inner is None:
            raise pygit2.Passthrough
        ok = self.inner.certificate_check(certificate, valid, host)
        if not ok:
            self.cert_refused = True
        return ok

    def transfer_progress(self, stats: Any) -> None:
        if self.inner is not None:
            self.inner.transfer_progress(stats)
        if self.progress is not None:
            if stats.total_deltas and stats.received_objects == stats.total_objects:
                done, total, phase = stats.indexed_deltas, stats.total_deltas, "resolving"
            else:
                done, total, phase = stats.received_objects, stats.total_objects, "receiving"
            self.progress(Progress(phase, done, total, stats.received_bytes))

    def push_transfer_progress(self, objects_pushed: int, total_objects: int, bytes_pushed: int) -> None:
        if self.inner is not None:
            self.inner.push_transfer_progress(objects_pushed, total_objects, bytes_pushed)
        if self.progress is not None:
            self.progress(Progress("sending", objects_pushed, total_objects, bytes_pushed))

    def sideband_progress(self, string: str) -> None:
        if self.inner is not None:
            self.inner.sideband_progress(string)
        self.server_said.append(string)

    def update_tips(self, refname: str, old: pygit2.Oid, new: pygit2.Oid) -> None:
        if self.inner is not None:
            self.inner.update_tips(refname, old, new)
        first = self.tips.get(refname, (_none(old), None))[0]
        self.tips[refname] = (first, _none(new))

    def push_negotiation(self, updates: list[Any]) -> None:
        if self.inner is not None:
            self.inner.push_negotiation(updates)
        for update in updates:
            self.negotiated[update.dst_refname] = (_none(update.src), _none(update.dst))

    def push_update_reference(self, refname: str, message: Optional[str]) -> None:
        if self.inner is not None:
            self.inner.push_update_reference(refname, message)  # type: ignore[arg-type]
        self.statuses[refname] = message

    def custom_headers(self) -> Optional[list[str]]:
        return self.inner.custom_headers() if self.inner is not None else None

    def error(self, exc: Exception, action: str, url: Optional[str]) -> GitModelError:
        """The gitmodel exception for libgit2's ``exc``."""
        text = str(exc)
        low = text.lower()
        where = f"{action} {url}" if url else action
        if self.cert_refused or "certificate" in low or "hostkey" in low or "host key" in low:
            return CertificateError(f"{where}: the server's certificate or host key was refused ({text})")
        if (
            "authentication" in low
            or "401" in low
            or "403" in low
            or "credentials" in low
            or "unauthorized" in low
        ):
            return AuthenticationError(f"{where}: authentication failed ({text})")
        return RemoteError(f"{where} failed: {text}")


def _overrides(callbacks: Optional[pygit2.RemoteCallbacks], name: str) -> bool:
    """True when ``callbacks`` does something of its own in callback ``name``."""
    if callbacks is None:
        return False
    own = getattr(callbacks, name, None)
    return own is not None and getattr(own, "__func__", None) is not getattr(pygit2.RemoteCallbacks, name)


def _none(oid: Optional[pygit2.Oid]) -> Optional[pygit2.Oid]:
    return None if oid is None or oid == ZERO_OID else oid


#: a server that stops answering fails the transfer after this long (ms);
#: applied when the process has set no timeout of its own (libgit2 has none)
SERVER_TIMEOUT_MS = 120_000
SERVER_CONNECT_TIMEOUT_MS = 30_000


def _bound_waits() -> None:
    """Give libgit2's network reads and connects a bound, unless set already."""
    settings = pygit2.settings
    if not settings.server_timeout:
        settings.server_timeout = SERVER_TIMEOUT_MS
    if not settings.server_connect_timeout:
        settings.server_connect_timeout = SERVER_CONNECT_TIMEOUT_MS


def _session(
    ws: Optional[Workspace], callbacks: Any, progress: Optional[ProgressCallback], listen: bool = False
) -> _Session:
    _bound_waits()
    if callbacks is None and ws is not None:
        callbacks = ws.remote_callbacks
    if callbacks is not None and not isinstance(callbacks, pygit2.RemoteCallbacks):
        kind = type(callbacks).__name__
        raise ConfigurationError(f"callbacks must be a pygit2.RemoteCallbacks, not {kind}")
    return _Session(callbacks, progress, listen)


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
    session = _session(None, callbacks, progress)
    one_branch = shallow.clone_remote(depth, single_branch, branch, session)
    try:
        # a work tree is never checked out by libgit2 (it would write the
        # remote's symlinks): the clone is bare inside ``.git``, then checked
        # out by gitmodel's own checkout, which refuses what could lead out
        git_dir = path if bare else os.path.join(path, ".git")
        repo = pygit2.clone_repository(
            url, git_dir, bare=True, checkout_branch=branch, callbacks=session, depth=depth, remote=one_branch
        )
    except (pygit2.GitError, KeyError, ValueError) as exc:
        _discard(path, existed)
        if branch is not None and "not found" in str(exc).lower() and "reference" in str(exc).lower():
            raise BranchNotFound(branch, f"the remote {url} has no branch {branch!r}") from None
        raise session.error(exc, "clone of", url) from None
    except BaseException:
        _discard(path, existed)
        raise
    try:
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
            raise ConfigurationError(f"cannot add remote {name!r} at {url!r}: "
                                     "the name and the url must be strings")
        if name in self:
            raise RepositoryError(f"remote {name!r} already exists")
        try:
            remote = self._repo.remotes.create(name, os.fspath(url), fetch)
        except (ValueError, TypeError, pygit2.GitError) as exc:
            raise ConfigurationError(f"cannot add remote {name!r}: {exc}") from None
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
    not. A failed fetch leaves every ref as it was. In a shallow clone,
    ``depth=N`` deepens the history to the last N commits and ``unshallow``
    fetches all of it.
    """
    target = Remotes(ws)._get(remote)
    session = _session(ws, callbacks, progress)
    try:
        target.fetch(
            callbacks=session,
            prune=FetchPrune.PRUNE if prune else FetchPrune.NO_PRUNE,
            message=f"fetch {remote}",
            depth=shallow.fetch_depth(ws, depth, unshallow),
        )
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise session.error(exc, "fetch from", target.url) from None
    return {ref: move for ref, move in session.tips.items() if move[0] != move[1]}


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
    specs = [f"{'+' if force else ''}{src}:{dst}" for src, dst in pairs]
    session = _session(ws, callbacks, progress, listen=True)
    try:
        target.push(specs, callbacks=session)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        text = str(exc).lower()
        if "fastforward" in text or "fast-forward" in text or "not present locally" in text:
            rejected = _non_fast_forwards(ws, target, pairs, session)
            raise PushRejected(rejected or {dst: "non-fast-forward" for _, dst in pairs}) from None
        raise session.error(exc, "push to", target.push_url or target.url) from None
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
    ws: Workspace, target: pygit2.Remote, pairs: list[tuple[str, str]], session: _Session
) -> dict[str, str]:
    """Ask the remote where its refs are; name those a push cannot fast-forward."""
    try:  # a new session: the push's has already used its credentials
        heads = {h.name: h.oid for h in target.list_heads(callbacks=_Session(session.inner, None))}
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
    Refused while changes are pending, so nothing staged is ever lost.
    """
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
        shallow.require_merge_base(ws, ref.peel(pygit2.Commit).id)
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
    theirs = ws.repo.references[_tracking_ref(ws, remote_branch)].target
    ours = ws._start
    if ours is None:
        return (0, len(list(ws.repo.walk(theirs))))  # type: ignore[arg-type]
    ahead, behind = ws.repo.ahead_behind(ours, theirs)
    return ahead, behind
