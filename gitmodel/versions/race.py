"""Rebasing a commit that lost the race: another writer moved the branch
between a unit's start and its compare-and-swap. The unit's own commit is
merged onto the new head with :func:`~gitmodel.versions.merge.merge_trees`
in race mode (a field both writers changed, even alike, is a conflict) and
committed on top, or, on a conflict, opened as a merge recorded in the
repository."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from . import openmerge
from .. import signing
from ..exceptions import BranchMoved, MergeConflict, RepositoryError, SchemaMismatch
from ..git.tree import StagingTree
from ..schema import layout as adaptive_layout
from ..schema.merge import align
from .merge import describe_conflicts, merge_trees
from .openmerge import REBASE, MergeState

if TYPE_CHECKING:
    from ..workspace import Workspace

#: a commit that lost the race to another writer is rebased and retried at
#: least this often, and for up to the workspace's ``lock_timeout`` seconds
REBASE_ATTEMPTS = 16
REBASE_BACKOFF = 0.002
REBASE_BACKOFF_MAX = 0.05


def commit_rebased(ws: Workspace, own: pygit2.Oid, message: str,
                   author: pygit2.Signature, committer: pygit2.Signature,
                   also: Any = (), extra_parents: Any = ()) -> Optional[pygit2.Oid]:
    """Merge the unit's commit ``own`` (built on its start) onto the branch's new head.

    Retries with jittered exponential backoff while other writers keep winning
    the race: at least ``REBASE_ATTEMPTS`` times and until ``ws.lock_timeout``
    seconds have passed, then gives up with ``RepositoryError``.
    A field changed on both sides opens a merge (recorded in the repository)
    holding every edit, and raises :class:`MergeConflict` with its conflicts:
    settle them with ``ws.resolve()`` and ``ws.commit()``, or
    ``ws.abort_merge()`` to get the pending edits back. The branch is untouched.
    """
    repo = ws.repo
    unit = ws._unit
    own_commit = repo[own]
    start = own_commit.parent_ids[0] if own_commit.parent_ids else None  # type: ignore[attr-defined]
    base = repo[start].tree if start is not None else None  # type: ignore[attr-defined]
    mine = own_commit.tree  # type: ignore[attr-defined]
    delay = REBASE_BACKOFF
    deadline = time.monotonic() + max(float(ws.lock_timeout), 0.0)
    attempt = 0
    while attempt < REBASE_ATTEMPTS or time.monotonic() < deadline:
        attempt += 1
        head_id = ws.store.read_ref(ws.head)
        head = repo[head_id] if head_id is not None else None
        head_tree = head.tree if head is not None else None  # type: ignore[attr-defined]
        if head_id is not None:  # a migration that won the race: our edits go through it
            (base, head_tree, mine), dropped = align(ws, start, head_id, own)  # type: ignore[assignment]
            if dropped:
                raise SchemaMismatch(
                    f"{ws.head} was migrated while these edits were made, and some cannot pass "
                    f"through the migration: {'; '.join(dropped)}; nothing was committed")
        # a side that fanned a folder out: the other's edits land in the sharded place
        base, head_tree, mine = adaptive_layout.aligned(ws, base, head_tree, mine)  # type: ignore[assignment]
        result = merge_trees(ws, base, head_tree, mine, race=True)  # type: ignore[arg-type]
        if not result.conflicts:  # each side valid, the two together may not be
            from ..integrity import violations_if_staged

            result.conflicts.extend(violations_if_staged(ws, head_id, head_tree, result, (base, head_tree, mine)))
        if result.conflicts:
            if also:  # finishing a merge: a second round of conflicts is not opened
                raise MergeConflict(
                    f"{ws.head} moved while the merge was finished and the same data changed "
                    f"again: {describe_conflicts(result.conflicts)}; nothing was committed",
                    result.conflicts,
                )
            _open_lost_race(ws, start, own, head_id, message, base, head_tree, mine)
        stage = StagingTree(repo, head_tree)
        stage.apply(result.staged())
        new_tree = stage.write()
        if head is not None and new_tree == head.tree_id and not extra_parents:  # type: ignore[attr-defined]
            unit.move_to(head.id, head_tree)
            return None
        parents = ([head.id] if head is not None else []) + list(extra_parents)
        commit_id = signing.create_commit(ws, author, committer, message, new_tree, parents)
        try:
            ws._move_branch(commit_id, message, expected=head_id, also=also)
        except BranchMoved as exc:
            if exc.ref != ws.head:
                raise RepositoryError("the open merge was changed by another workspace meanwhile; "
                                      "look at ws.conflicts again") from None
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, REBASE_BACKOFF_MAX)
            continue
        unit.move_to(commit_id, stage.base)
        return commit_id
    raise RepositoryError(
        f"{ws.head} kept moving: gave up after {attempt} attempts; nothing was committed"
    )


def _open_lost_race(ws: Workspace, start: Optional[pygit2.Oid], own: pygit2.Oid,
                    head_id: Optional[pygit2.Oid], message: str, base: Any, head_tree: Any,
                    mine: pygit2.Tree) -> None:
    """Open the merge of a lost race (ours: the unit's own edits) and raise ``MergeConflict``."""
    unit = ws._unit
    from ..integrity import merge_violations

    result = merge_trees(ws, base, mine, head_tree, race=True)  # ours: what this unit changed
    state = MergeState(REBASE, head_id, start, own, head_id, message, result)  # type: ignore[arg-type]
    snap = unit.snapshot()
    text = f"{ws.head} moved (another writer committed) and the two sides conflict"
    conflicts = list(result.conflicts)
    try:
        unit.move_to(head_id, mine)
        unit.write_all(result.staged())
        result.conflicts.extend(merge_violations(ws, (base, mine, head_tree), result))
        conflicts = list(result.conflicts)
        text = f"{text}: {describe_conflicts(conflicts)}; nothing was committed"
        openmerge.hold(ws, state)
        openmerge.save(ws, state)
    except RepositoryError as exc:  # another merge is open on the branch: keep the edits pending
        unit.restore(snap)
        raise MergeConflict(f"{text}; {exc}", conflicts) from None
    except BaseException:
        unit.restore(snap)
        raise
    raise MergeConflict(
        f"{text}; the merge is open: ws.resolve() each conflict then ws.commit(), "
        "or ws.abort_merge() to get the edits back", conflicts,
    )


def drop_lost_race(ws: Workspace, unit: Any) -> bool:
    """If ``unit``'s commit lost the race and opened a merge of its own edits,
    abort it, which puts the edits back as pending; True if so, or if the
    commit lost while another merge was open (its edits stayed pending). The
    caller, which can make its edits again from the new head, drops them."""
    state = unit.merge
    if state is None:
        return ws.has_changes()
    if state.kind != REBASE:
        return False
    ws.abort_merge()
    return True
