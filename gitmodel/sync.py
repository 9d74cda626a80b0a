"""Many clones, one hub: fetch, merge field by field, push, and retry a lost race.

Each machine keeps its own clone and calls :func:`sync` now and then. A push
that the hub refuses because another clone pushed first is not an error: the
clone fetches again, merges the newcomer's commits field by field and pushes
once more, after a short random pause (bounded, jittered exponential
backoff), so clones that sync at the same moment do not collide again and
again. A field changed on both sides stops the loop with the merge left open
(``ws.conflicts``); nothing is lost, nothing is pushed until it is resolved.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from . import incoming
from . import remotes as _remotes
from .exceptions import (
    BranchNotFound,
    ConfigurationError,
    PushRaceLost,
    PushRejected,
    RepositoryError,
)

if TYPE_CHECKING:
    from .signing import TrustedKeys
    from .workspace import Workspace

__all__ = ["SyncResult", "sync"]

#: how many pushes one sync tries before giving up
SYNC_ATTEMPTS = 10
#: first pause after a refused push, in seconds; doubles up to SYNC_BACKOFF_MAX
SYNC_BACKOFF = 0.05
SYNC_BACKOFF_MAX = 2.0
# the server's words for "someone else moved the ref first"
_LOST_RACE = ("fast-forward", "fetch first", "stale info", "failed to lock", "cannot lock", "failed to update")


@dataclass
class SyncResult:
    """What a sync did.

    ``commit`` is the branch's commit afterwards; ``pushed`` what moved on
    the hub; ``merges`` how often the hub's commits were brought in (merged
    or fast-forwarded to); ``attempts`` the pushes tried and ``rejected``
    how many the hub refused because another clone was first;
    ``conflicts`` the open merge's conflicts when the sync stopped on one
    (then nothing was pushed).
    """

    commit: Optional[pygit2.Oid]
    pushed: _remotes.RefUpdates = field(default_factory=dict)
    fetched: _remotes.RefUpdates = field(default_factory=dict)
    merges: int = 0
    attempts: int = 0
    rejected: int = 0
    conflicts: list[Any] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        """True when the clone and the hub already agreed."""
        return not self.pushed and not self.merges and not self.conflicts


def sync(
    ws: Workspace,
    remote: str = "origin",
    *,
    attempts: int = SYNC_ATTEMPTS,
    backoff: float = SYNC_BACKOFF,
    require_signed: Optional[TrustedKeys] = None,
    callbacks: Optional[pygit2.RemoteCallbacks] = None,
    progress: Optional[_remotes.ProgressCallback] = None,
) -> SyncResult:
    """Bring the current branch and ``remote``'s copy of it to the same commit.

    Fetch, merge what the hub has (fast-forward or field by field), push;
    on a push refused because another clone pushed first, pause (jittered,
    growing) and start over, up to ``attempts`` pushes, then raise
    :class:`PushRaceLost` (the commits stay for the next sync). Conflicts leave the
    merge open and push nothing. With ``require_signed``, commits from the
    hub must carry a signature by one of those keys, else
    :class:`SignatureError` is raised before anything is merged.
    Refused while changes are pending or a merge is open, and inside a
    ``commit_on_success`` block, which commits only at its end.
    """
    ws._unit.refuse_commit()
    ws._require_writable()
    if ws.merging:
        raise RepositoryError("cannot sync: a merge is in progress; resolve and commit it, or abort_merge()")
    if ws.has_changes():
        raise RepositoryError("cannot sync: there are pending changes; commit or reset them first")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigurationError(f"attempts must be a whole number, 1 or more, not {attempts!r}")
    local = ws.head
    up_remote, up_ref = _remotes._upstream_config(ws, local)
    remote_ref = up_ref if up_remote == remote and up_ref else local
    tracking = _remotes._tracking_name(ws, remote, remote_ref)
    if tracking is None:
        raise BranchNotFound(remote_ref, f"remote {remote!r} fetches no ref for {remote_ref}")
    result = SyncResult(ws._start)
    delay = backoff
    attempt = 0
    while True:
        attempt += 1
        result.fetched.update(_remotes.fetch(ws, remote, callbacks=callbacks, progress=progress))
        if not _merge_incoming(ws, tracking, result, require_signed):
            return result
        if not _ahead(ws, tracking):
            result.commit = ws._start
            return result
        result.attempts = attempt
        try:
            result.pushed = _remotes.push(
                ws, remote, local.removeprefix("refs/heads/"), callbacks=callbacks,
                progress=progress, set_upstream=up_remote is None,
            )
        except PushRejected as exc:
            if not _lost_race(exc, remote_ref):
                raise
            result.rejected += 1
            if attempt == attempts:
                raise PushRaceLost(exc.rejected, attempts) from None
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, SYNC_BACKOFF_MAX)
            continue
        result.commit = ws._start
        return result


def _merge_incoming(
    ws: Workspace, tracking: str, result: SyncResult, trusted: Optional[TrustedKeys]
) -> bool:
    """Merge the hub's branch into the current one; False when conflicts stopped it."""
    ref = ws.repo.references.get(tracking)
    if ref is None:
        return True  # the hub does not have the branch yet: the push creates it
    with ws.write_lock:
        _remotes._catch_up(ws)
        theirs = incoming.tracking_commit(ws.repo, tracking).id
        if ws._start == theirs or (ws._start is not None and ws.repo.descendant_of(ws._start, theirs)):
            return True
        if trusted is not None:
            from .signing import require_signed

            require_signed(ws, trusted, theirs, since=ws._start)
        _remotes.take_in(ws, tracking)  # the checks of a pull, fast-forward or merge alike
        short = tracking.removeprefix("refs/remotes/")
        merged = ws.merge(tracking, message=f"Merge {short} into {ws.head.removeprefix('refs/heads/')}")
    if merged.conflicts:
        result.conflicts = list(merged.conflicts)
        result.commit = ws._start
        return False
    result.merges += 1
    return True


def _ahead(ws: Workspace, tracking: str) -> bool:
    """True when the branch has commits the hub's copy lacks."""
    if ws._start is None:
        return False
    ref = ws.repo.references.get(tracking)
    return ref is None or ref.target != ws._start


def _lost_race(exc: PushRejected, remote_ref: str) -> bool:
    """True when the hub refused ``remote_ref`` only because another push came first."""
    reason = exc.rejected.get(remote_ref)
    if reason is None or set(exc.rejected) != {remote_ref}:
        return False
    return any(word in reason.lower() for word in _LOST_RACE)
