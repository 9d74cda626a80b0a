"""Units of work: what one thread (or one web request) is doing.

A unit of work owns a staging overlay, the commit it is based on, the branch
it writes to and, while one is open, its merge. Each thread that uses a
:class:`~gitmodel.workspace.Workspace` gets its own unit, so saves staged in
one thread are never committed by another. A single-threaded program has one
unit and sees the workspace exactly as before. :func:`fresh_unit` gives the
calling thread a fresh unit for a ``with`` block (one web request).

Every change of staged state goes through :meth:`UnitOfWork.write`; a unit
moves to another commit only through :meth:`UnitOfWork.move_to`, and its
work becomes a commit only through :meth:`UnitOfWork.commit`, which is
handed in what to do when another writer won the race (it knows nothing of
merges).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

import pygit2

from .exceptions import BranchMoved, PendingChanges, RepositoryError
from .git.diff import tree_deltas
from .git.odb import write_blob
from .git.refs import read_ref, ref_stamp
from .git.tree import BLOB_MODE, Entry, StagingTree
from .objects import refuse_cut_objects

if TYPE_CHECKING:
    from .versions.openmerge import MergeState
    from .models import GitModel
    from .store import Store



@dataclass
class CommitHooks:
    """What the layers above hand the commit path, which knows nothing of them."""

    #: ``(author, committer, message, tree, parents) -> commit id`` (signed or not)
    write_commit: Callable[[pygit2.Signature, pygit2.Signature, str, pygit2.Oid, list[pygit2.Oid]], pygit2.Oid]
    #: ``(commit, message)``: compare-and-swap the branch, else ``BranchMoved``
    move_branch: Callable[[pygit2.Oid, str], None]
    #: ``(own commit, message, author, committer)``: put a commit that lost the
    #: race on top of the branch's new head; the commit made, or ``None``
    rebase: Callable[[pygit2.Oid, str, pygit2.Signature, pygit2.Signature], Optional[pygit2.Oid]]
    #: stage what every commit must also hold; True if it staged anything
    prepare: Callable[[], bool] = lambda: False

#: A ref file written less than this long ago (ns) is read, not trusted by
#: its stamp: file times are as coarse as the kernel's tick.
_SETTLE_NS = 50_000_000


class UnitOfWork:
    """The staging overlay, base commit, branch and open merge of one thread."""

    __slots__ = (
        "store", "head", "start", "stage", "detached", "merge",
        "follow_stamp", "follow_paused", "savepoints", "_start_tree", "seen_merge", "__weakref__",
    )

    def __init__(self, store: Store, head: str, start: Optional[pygit2.Commit]) -> None:
        self.store = store
        repo = store.repo
        #: the branch ref this unit commits to
        self.head = head
        #: the commit the staged changes are built on (``None``: an unborn branch)
        self.start: Optional[pygit2.Oid] = start.id if start is not None else None
        self.stage = StagingTree(repo, start.tree if start is not None else None)
        #: the commit a read-only unit stands on (``update_index`` to a tag)
        self.detached: Optional[pygit2.Commit] = None
        #: the open merge this unit works on, if any
        self.merge: Optional[MergeState] = None
        #: another unit's open merge this unit looked at (``ws.conflicts``): (record, state, tree)
        self.seen_merge: Optional[tuple[Any, ...]] = None
        self.follow_stamp: Optional[tuple[object, ...]] = None
        self.follow_paused = 0
        #: open ``commit_on_success`` blocks, outermost first
        self.savepoints: list[Savepoint] = []
        self._start_tree: tuple[Optional[pygit2.Oid], Optional[pygit2.Oid]] = (None, None)

    # -- state --------------------------------------------------------------------
    def start_tree_id(self) -> Optional[pygit2.Oid]:
        """The tree id of the start commit (memoized per commit)."""
        start = self.start
        if start is None:
            return None
        memo_start, tree_id = self._start_tree
        if memo_start != start:
            tree_id = self.store.repo[start].tree_id  # type: ignore[attr-defined]
            self._start_tree = (start, tree_id)
        return tree_id

    def has_changes(self) -> bool:
        """True when the staged state differs from the start commit."""
        stage = self.stage
        start = self.start_tree_id()
        tree_id = stage.base.id if not stage.is_dirty and stage.base is not None else stage.write()
        if start is None:
            return len(self.store.repo[tree_id]) > 0  # type: ignore[arg-type]
        return tree_id != start

    def changed_paths(self) -> set[str]:
        """Paths (files) whose staged state differs from the start commit."""
        tree_id = self.stage.write()
        return {path for path, _old, _new in tree_deltas(self.store.repo, self.start_tree_id(), tree_id)}

    def require_only_pending(self, paths: Iterable[Optional[str]]) -> None:
        """Raise :class:`PendingChanges` if changes outside ``paths`` (files or
        folders) are pending: what ``save(commit=True)`` may commit."""
        exact = {p for p in paths if p}
        prefixes = tuple(f"{p}/" for p in exact)
        stage = self.stage
        if stage.base is not None and stage.base.id == self.start_tree_id():
            # the overlay alone says what is pending: no need to diff whole trees
            if all(p in exact or p.startswith(prefixes) for p in stage.touched_paths()):
                return
        others = [p for p in self.changed_paths() if p not in exact and not p.startswith(prefixes)]
        if others:
            raise PendingChanges("commit", f"{len(others)} path(s), e.g. {sorted(others)[0]!r}")

    # -- the one write path into the staging tree ---------------------------------------
    def write(self, path: str, entry: Optional[Entry], written: bool = False) -> bool:
        """Stage ``entry`` (blob or tree id, mode) at ``path``, or remove what is
        there if ``entry`` is ``None``; False when there was nothing to remove.
        ``written``: the object was just written here (known to exist)."""
        if entry is None:
            return self.stage.remove(path)
        self.stage.set(path, entry[0], entry[1], written=written)
        return True

    def write_all(self, edits: Iterable[tuple[str, Optional[Entry]]]) -> None:
        """:meth:`write` each ``(path, entry)``."""
        self.stage.apply(edits)

    def add_blob(self, path: str, data: bytes, mode: int = BLOB_MODE) -> pygit2.Oid:
        """Write ``data`` as a blob and stage it at ``path``."""
        oid = write_blob(self.store.repo, data)
        self.write(path, (oid, mode), written=True)
        return oid

    # -- following the branch ---------------------------------------------------------------
    def follow(self) -> None:
        """With nothing pending, move to the branch's latest commit.

        Costs one ``stat`` of the ref file (a ref read when the file changed)
        when the unit is clean, nothing when changes are pending (they stay
        built on the commit they started from).
        """
        if self.detached is not None or self.follow_paused or self.merge is not None:
            return
        stage = self.stage
        if stage.is_dirty:
            return
        store, head = self.store, self.head
        stamp = ref_stamp(store.path, head)
        if stamp is not None and stamp == self.follow_stamp:
            return  # the ref files have not changed since the last read
        try:
            ref = store.repo.references.get(head)  # the ref file changed: read it
        except (pygit2.GitError, ValueError) as exc:
            raise RepositoryError(f"{head} is corrupt: {exc}") from None
        # a ref that reads as missing: gone, unless a damaged packed-refs hides it
        target = ref.target if ref is not None else read_ref(store.repo, head)
        if target == self.start:
            if stamp is not None and time.time_ns() - stamp[1] >= _SETTLE_NS:  # type: ignore[operator]
                self.follow_stamp = stamp  # settled: a later write gets a later time
            return  # nobody moved the branch
        with store.write_lock:
            if stage.is_dirty:
                return
            base_id = stage.base.id if stage.base is not None else None
            if base_id != self.start_tree_id():
                return  # trees written (ws.index) but not committed: still pending
            if target is not None and not isinstance(target, pygit2.Oid):
                raise RepositoryError(f"{head} is a symbolic ref to {target!r}, not a branch")
            if target is not None:
                self.refuse_others_cut_objects()
            commit = store.repo.get(target) if target is not None else None
            if target is not None and not isinstance(commit, pygit2.Commit):
                raise RepositoryError(f"{head} points at {target}, which is not a commit")
            tree, before = commit.tree if commit is not None else None, stage.base
            self.move_to(target, tree)
            if store.follow_check is not None:
                store.follow_check(before, tree)  # may raise: the operation that followed fails

    def refuse_others_cut_objects(self) -> None:
        """Another process moved the branch: before its objects are read,
        check the loose objects again (only fan-out folders whose stamp
        changed are read), so one cut short ends in ``CorruptObject``, not in
        a libgit2 loop."""
        refuse_cut_objects(self.store.repo, self.store.objects_dir, self.head)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the store's write lock and do not follow the branch meanwhile.

        A save builds on what its unit of work holds, even if the save itself
        reads (unique checks).
        """
        with self.store.write_lock, self._not_following():
            yield

    @contextmanager
    def holding_still(self) -> Iterator[None]:
        """Follow the branch once, then not meanwhile: a batch of reads sees
        one commit (plus the pending edits) and pays for one ref check. Other
        threads are not held up: their units follow on their own."""
        self.follow()
        with self._not_following():
            yield

    @contextmanager
    def _not_following(self) -> Iterator[None]:
        self.follow_paused += 1
        try:
            yield
        finally:
            self.follow_paused -= 1

    # -- committing ---------------------------------------------------------------------------
    def commit(
        self,
        message: str,
        author: pygit2.Signature,
        committer: pygit2.Signature,
        hooks: CommitHooks,
    ) -> Optional[pygit2.Oid]:
        """The one way a unit's work becomes a commit; ``None`` if nothing changed.

        Writes the trees and the commit, then compares and swaps the branch;
        if another writer moved it, ``hooks.rebase`` puts the commit on top
        of theirs (and moves the unit itself). Then, once enough loose
        objects piled up, they are packed (see :mod:`gitmodel.git.autopack`).
        """
        commit_id = self._commit(message, author, committer, hooks)
        if commit_id is not None:
            self.store.after_commit()
        return commit_id

    def _commit(
        self,
        message: str,
        author: pygit2.Signature,
        committer: pygit2.Signature,
        hooks: CommitHooks,
    ) -> Optional[pygit2.Oid]:
        with self.store.write_lock:
            stage = self.stage
            tree_id = stage.write()
            start_tree = self.start_tree_id()
            if tree_id == start_tree or (start_tree is None and len(self.store.repo[tree_id]) == 0):  # type: ignore[arg-type]
                return None
            if hooks.prepare():
                tree_id = stage.write()
            parents = [self.start] if self.start is not None else []
            commit_id = hooks.write_commit(author, committer, message, tree_id, parents)
            if self.store.read_ref(self.head) != self.start:  # lost already: skip a doomed swap
                self.refuse_others_cut_objects()
                return hooks.rebase(commit_id, message, author, committer)
            try:
                hooks.move_branch(commit_id, message)
            except BranchMoved:
                self.refuse_others_cut_objects()
                return hooks.rebase(commit_id, message, author, committer)
            self.move_to(commit_id, stage.base)
            self._start_tree = (commit_id, tree_id)  # known: not read back
            return commit_id

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

    @contextmanager
    def atomic(
        self, commit: Callable[[], Any], drop_merge: Callable[[MergeState], None]
    ) -> Iterator[None]:
        """One atomic unit of work (``commit_on_success``): ``commit()`` at the
        end of the outermost block; on any failure, back to the state at the
        start of the block (a merge opened meanwhile dropped with
        ``drop_merge``). A nested block is a savepoint."""
        with self.store.write_lock:
            if not self.savepoints and (self.merge is not None or self.has_changes()):
                raise PendingChanges("start commit_on_success()")
            point = Savepoint(self.snapshot())
        self.savepoints.append(point)
        try:
            yield
            if len(self.savepoints) == 1:
                commit()
        except BaseException:
            with self.store.write_lock:
                if self.merge is not None and self.merge is not point.snap.merge:
                    drop_merge(self.merge)
                point.roll_back(self)
            raise
        finally:
            self.savepoints.pop()
        if self.savepoints:
            point.merge_into(self.savepoints[-1])

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Run an operation that either succeeds or leaves this unit (staging,
        base commit, branch, open merge) exactly as it was."""
        with self.store.write_lock:
            snap = self.snapshot()
            try:
                yield
            except BaseException:
                self.restore(snap)
                raise

    def switch(self, head: str, commit: pygit2.Commit, detached: bool = False) -> None:
        """Stand on ``commit`` of branch ``head`` with nothing pending (read-only if ``detached``)."""
        self.head = head
        self.detached = commit if detached else None
        self.follow_stamp = None
        self.move_to(commit.id, commit.tree)

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

    def is_fresh_on(self, head: str) -> bool:
        """True when nothing is pending or open and the unit writes to ``head``."""
        stage = self.stage
        return (self.merge is None and self.detached is None and not self.savepoints
                and not self.follow_paused and self.head == head and not stage.is_dirty
                and (stage.base.id if stage.base is not None else None) == self.start_tree_id())

    def remember_saved(self, obj: GitModel) -> None:
        """Inside ``commit_on_success``: note ``obj``'s version before it is saved,
        so that a rollback gives it back (a later save then merges correctly)."""
        if self.savepoints:
            saved = self.savepoints[-1].versions
            if id(obj) not in saved:
                saved[id(obj)] = (obj, obj._oid, obj._stored, obj._stored_id, obj._blob_oids)


@contextmanager
def fresh_unit(local: Any, store: Store, head: str) -> Iterator[UnitOfWork]:
    """The calling thread's unit of work (``local.unit``) for a ``with`` block:
    on the latest commit of branch ``head``, nothing staged, no merge open.

    What the thread had pending before the block is set aside and comes back
    after it; what the block leaves pending is dropped (a merge opened by a
    commit that lost the race stays recorded in the repository). A unit with
    nothing pending is used as it is, moved to the latest commit: what it
    learnt of the trees keeps reads fast, request after request.
    """
    before = getattr(local, "unit", None)
    if before is not None and before.is_fresh_on(head):
        unit = before
        unit.follow()  # one stat of the ref file when nobody moved the branch
    else:
        unit = UnitOfWork(store, head, store.commit_at(head))
    local.unit = unit
    try:
        yield unit
    finally:
        if before is not None and unit is not before:
            local.unit = before
        elif not unit.is_fresh_on(head):
            del local.unit  # the next use makes a fresh one


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
