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

A unit also remembers, weakly, the version each instance it saved had
before (:meth:`UnitOfWork.remember_saved`): whatever drops staged saves
without committing them (a failed operation, a rolled back block, a reset,
the end of a unit of work) gives those instances their version back, so
their next save writes their values again, or conflicts, never silently
does nothing.
"""

from __future__ import annotations

import time
import weakref
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
        "store", "head", "start", "stage", "detached", "merge", "follow_stamp", "follow_paused",
        "savepoints", "blocks", "saved", "undo_log", "_start_tree", "seen_merge", "__weakref__",
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
        #: open ``commit_on_success`` blocks and :meth:`kept` / :meth:`undoable`
        #: operations, outermost first
        self.savepoints: list[Savepoint] = []
        #: how many ``commit_on_success`` blocks are open (an operation's
        #: ``commit=True`` joins them, ``ws.commit()`` is refused)
        self.blocks = 0
        #: instances saved since the last commit, with the version each had before
        self.saved = Versions()
        #: ``(path, entry it replaced)`` of each write, while :meth:`undoable` runs
        self.undo_log: Optional[list[tuple[str, Optional[Entry]]]] = None
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
        if self.undo_log is not None:
            self.undo_log.append((path, self.stage.lookup(path)))
        if entry is None:
            return self.stage.remove(path)
        self.stage.set(path, entry[0], entry[1], written=written)
        return True

    def write_all(self, edits: Iterable[tuple[str, Optional[Entry]]]) -> None:
        """:meth:`write` each ``(path, entry)``."""
        log = self.undo_log
        if log is not None:  # each path's entry before the batch: undone in reverse, the same result
            edits = list(edits)
            lookup = self.stage.lookup
            log.extend([(path, lookup(path)) for path, _entry in edits])
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
        Refused inside a ``commit_on_success`` block (:meth:`refuse_commit`).
        """
        self.refuse_commit()
        commit_id = self._commit(message, author, committer, hooks)
        self.committed()
        if commit_id is not None:
            self.store.after_commit()
        return commit_id

    def refuse_commit(self) -> None:
        """Raise :class:`RepositoryError` inside a ``commit_on_success`` block:
        the block commits when it ends (an operation's ``commit=True`` joins it)."""
        if self.blocks:
            raise RepositoryError(
                "cannot commit inside a commit_on_success() block: the block commits its "
                "changes when it ends (save(commit=True) and the like join it); nothing was committed")

    def commits_now(self, commit: bool) -> bool:
        """Whether an operation's ``commit=True`` commits at once: not inside a
        ``commit_on_success`` block, whose own commit takes its changes."""
        return commit and not self.blocks

    def committed(self) -> None:
        """A commit went through (or found nothing to commit): the saved
        instances' versions are the branch's now, nothing to give back."""
        self.saved.clear()

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
                self._landed(commit_id, tree_id)
            except BranchMoved:
                self.refuse_others_cut_objects()
                return hooks.rebase(commit_id, message, author, committer)
            except BaseException:  # interrupted (Ctrl-C...) after the ref moved: stand on the commit
                if self.start != commit_id and self._on_branch(commit_id):
                    self._landed(commit_id, tree_id)
                raise
            return commit_id

    def _on_branch(self, commit_id: pygit2.Oid) -> bool:
        try:
            return self.store.read_ref(self.head) == commit_id
        except Exception:  # noqa: BLE001 - unreadable: the failure at hand is reported
            return False

    def _landed(self, commit_id: pygit2.Oid, tree_id: pygit2.Oid) -> None:
        """The branch moved to ``commit_id`` (of ``tree_id``, staged): stand on it."""
        self.move_to(commit_id, self.stage.base)
        self._start_tree = (commit_id, tree_id)  # known: not read back
        self.committed()

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
            if not self.blocks and (self.merge is not None or self.has_changes()):
                raise PendingChanges("start commit_on_success()")
            point = Savepoint(self.snapshot())
        self.savepoints.append(point)
        self.blocks += 1
        try:
            try:
                yield
            finally:
                self.blocks -= 1  # the block's own commit is not made inside it
            if not self.blocks:
                commit()
        except BaseException:
            with self.store.write_lock:
                if self.merge is not None and self.merge is not point.snap.merge:  # type: ignore[union-attr]
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
            point = Savepoint(self.snapshot())
            self.savepoints.append(point)
            try:
                yield
            except BaseException:
                point.roll_back(self)
                raise
            finally:
                self.savepoints.pop()
            if self.savepoints:
                point.merge_into(self.savepoints[-1])

    @contextmanager
    def undoable(self) -> Iterator[None]:
        """Like :meth:`kept` for a write that does not move the unit, without
        writing trees: each write records the entry it replaces, put back in
        reverse order if the write fails (instances saved get their version back)."""
        with self.store.write_lock:
            outer = self.undo_log is not None
            log: list[tuple[str, Optional[Entry]]] = self.undo_log if outer else []  # type: ignore[assignment]
            self.undo_log, mark = log, len(log)
            point = Savepoint(None)
            self.savepoints.append(point)
            try:
                yield
            except BaseException:
                self.undo_log = None  # the undoing is not recorded
                for path, entry in reversed(log[mark:]):
                    self.write(path, entry)
                del log[mark:]
                point.versions.give_back()
                raise
            finally:
                self.savepoints.pop()
                self.undo_log = log if outer else None
            if self.savepoints:
                point.merge_into(self.savepoints[-1])

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
        """Note ``obj``'s version before it is saved (or deleted), so that
        dropping the save uncommitted gives it back: a rolled back block or
        failed operation, :meth:`give_back` (a reset, the end of a unit of
        work). A later save then writes its values again, or conflicts."""
        version = (obj._oid, obj._stored, obj._stored_id, obj._blob_oids)
        self.saved.note(obj, version)
        if self.savepoints:
            self.savepoints[-1].versions.note(obj, version)

    def give_back(self, which: Optional[Callable[[Any], bool]] = None) -> None:
        """Staged saves were dropped uncommitted: the instances saved (those
        ``which`` picks) get back the version they had before."""
        self.saved.give_back(which)


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
        if not unit.is_fresh_on(head):
            unit.give_back()  # its saves are dropped: their instances as they were
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
    """One ``commit_on_success`` block (or kept operation): the unit as it was
    when it began, and the versions of the instances saved since."""

    def __init__(self, snap: Optional[Snapshot]) -> None:
        self.snap = snap
        self.versions = Versions()

    def roll_back(self, unit: UnitOfWork) -> None:
        unit.restore(self.snap)  # type: ignore[arg-type]
        self.versions.give_back()

    def merge_into(self, outer: Savepoint) -> None:
        """A nested block succeeded: its saved objects belong to the outer block."""
        self.versions.merge_into(outer.versions)


#: what an instance remembers of the version it was read as or last saved as
Version = tuple[Optional[pygit2.Oid], Any, Any, Any]


class _Ref(weakref.ref):  # type: ignore[type-arg]
    __slots__ = ("key",)
    key: int


class Versions:
    """Instances, weakly (a collected one drops out), with a version each."""

    __slots__ = ("_by_id", "_dropped", "__weakref__")

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[_Ref, Version]] = {}
        self._dropped = self._drop  # one bound method for every reference

    def __len__(self) -> int:
        return len(self._by_id)

    def note(self, obj: Any, version: Version) -> None:
        """Keep ``version`` for ``obj`` unless one is kept already."""
        key = id(obj)
        if key not in self._by_id:
            ref = _Ref(obj, self._dropped)
            ref.key = key
            self._by_id[key] = (ref, version)

    def _drop(self, ref: _Ref) -> None:
        found = self._by_id.get(ref.key)
        if found is not None and found[0] is ref:
            self._by_id.pop(ref.key, None)

    def give_back(self, which: Optional[Callable[[Any], bool]] = None) -> None:
        """Set each instance (those ``which`` picks) to its version; forget them."""
        for key, (ref, version) in list(self._by_id.items()):
            obj = ref()
            if obj is not None and (which is None or which(obj)):
                obj._oid, obj._stored, obj._stored_id, obj._blob_oids = version
                self._by_id.pop(key, None)

    def merge_into(self, outer: Versions) -> None:
        """Hand the versions kept here to ``outer`` (which keeps its own)."""
        for ref, version in list(self._by_id.values()):
            obj = ref()
            if obj is not None:
                outer.note(obj, version)

    def clear(self) -> None:
        self._by_id.clear()
