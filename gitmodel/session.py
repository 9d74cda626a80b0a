"""Units of work: what one thread (or one web request) is doing.

A unit of work owns a staging overlay, the commit it is based on, the branch
it writes to and, while one is open, its merge. Each thread that uses a
:class:`~gitmodel.workspace.Workspace` gets its own unit, so saves staged in
one thread are never committed by another. A single-threaded program has one
unit and sees the workspace exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from .tree import StagingTree

if TYPE_CHECKING:
    from .merge import MergeState
    from .models import GitModel


class UnitOfWork:
    """The staging overlay, base commit, branch and open merge of one thread."""

    __slots__ = (
        "head", "start", "stage", "detached", "merge",
        "follow_stamp", "follow_paused", "savepoints",
    )

    def __init__(self, repo: pygit2.Repository, head: str, start: Optional[pygit2.Commit]) -> None:
        #: the branch ref this unit commits to
        self.head = head
        #: the commit the staged changes are built on (``None``: an unborn branch)
        self.start: Optional[pygit2.Oid] = start.id if start is not None else None
        self.stage = StagingTree(repo, start.tree if start is not None else None)
        #: the commit a read-only unit stands on (``update_index`` to a tag)
        self.detached: Optional[pygit2.Commit] = None
        #: the open merge this unit works on, if any
        self.merge: Optional[MergeState] = None
        self.follow_stamp: Optional[tuple[object, ...]] = None
        self.follow_paused = 0
        #: open ``commit_on_success`` blocks, outermost first
        self.savepoints: list[Savepoint] = []

    def move_to(self, start: Optional[pygit2.Oid], tree: Optional[pygit2.Tree]) -> None:
        """Stand on commit ``start`` with ``tree`` staged (its own tree: nothing pending).

        The one way a unit moves: after a commit, a branch switch, a
        fast-forward, a reset or an abort. A staging tree that already
        holds ``tree`` keeps what it learnt about it.
        """
        self.start = start
        stage = self.stage
        base = stage.base
        if tree is not None and base is not None and not stage.is_dirty and base.id == tree.id:
            return
        stage.reset(tree)

    def snapshot(self) -> Snapshot:
        """The unit's state, to come back to if an operation fails."""
        stage = self.stage
        tree = stage.repo[stage.write()] if stage.is_dirty else stage.base
        return Snapshot(self.head, self.start, self.detached, self.merge, tree)  # type: ignore[arg-type]

    def restore(self, snap: Snapshot) -> None:
        """Return to ``snap`` exactly (staging, base commit, branch, open merge)."""
        self.head, self.start, self.detached, self.merge = (
            snap.head, snap.start, snap.detached, snap.merge)
        self.stage.reset(snap.tree)

    def remember_saved(self, obj: GitModel) -> None:
        """Inside ``commit_on_success``: note ``obj``'s version before it is saved,
        so that a rollback gives it back (a later save then merges correctly)."""
        if self.savepoints:
            saved = self.savepoints[-1].versions
            if id(obj) not in saved:
                saved[id(obj)] = (obj, obj._oid, obj._stored, obj._stored_id, obj._blob_oids)


@dataclass
class Snapshot:
    head: str
    start: Optional[pygit2.Oid]
    detached: Optional[pygit2.Commit]
    merge: Any
    tree: Optional[pygit2.Tree]


class Savepoint:
    """One ``commit_on_success`` block: the unit as it was when the block began."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.versions: dict[int, tuple[Any, ...]] = {}

    def roll_back(self, unit: UnitOfWork) -> None:
        unit.restore(self.snap)
        for obj, oid, stored, stored_id, blobs in self.versions.values():
            obj._oid, obj._stored, obj._stored_id, obj._blob_oids = oid, stored, stored_id, blobs

    def merge_into(self, outer: Savepoint) -> None:
        """A nested block succeeded: its saved objects belong to the outer block."""
        for key, version in self.versions.items():
            outer.versions.setdefault(key, version)
