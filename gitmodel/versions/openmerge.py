"""Open merges, kept in the repository as git keeps ``MERGE_HEAD``.

A merge with conflicts (from :meth:`Workspace.merge`, a pull, or a commit
that lost the race to another writer) is recorded under
``refs/gitmodel/merge/<branch>``: a commit, never on any branch, whose tree
holds ``merge.json`` (what is merged, which conflicts are settled) and
``staged/`` (the staged result so far). Its parents keep every commit the
merge needs reachable. Each change of the record is one compare-and-swap of
that ref, objects written first, so a process killed while resolving leaves
the previous record whole: another workspace (another process) sees
``merging``, lists the same conflicts and resolves, commits or aborts.
One open merge per branch.
"""

from __future__ import annotations

import json
import re
import weakref
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from . import changes as ch
from ..exceptions import BranchMoved, CorruptObject, ModelNotFound, RepositoryError
from ..git.odb import write_blob, write_tree, writing
from ..git.refs import RefMove
from ..schema import codec
from ..git.tree import BLOB_MODE, TREE_MODE

if TYPE_CHECKING:
    from .merge import Conflict, ObjectMerge, TreeMerge
    from ..workspace import Workspace

MERGE_REF_PREFIX = "refs/gitmodel/merge/"
RECORD_FILE = "merge.json"
STAGED_FOLDER = "staged"
SIDES_FOLDER = "objects"
#: ``Workspace.merge`` of another commit: the result has two parents
MERGE = "merge"
#: a commit that lost the race: its own changes merged onto the new head
REBASE = "rebase"
FORMAT = 1


def merge_ref(head: str) -> str:
    """The ref that records the open merge of branch ``head``."""
    return MERGE_REF_PREFIX + head.removeprefix("refs/heads/")


class MergeState:
    """An open merge: what is merged, its conflicts, and its record in the repository.

    ``head`` is the commit the merge result goes on top of; ``ours`` and
    ``theirs`` the commits merged against ``base``. For a merge the result's
    parents are ``head`` and ``theirs``; for a lost race (``kind == REBASE``)
    ``ours`` is the unit of work's own commit and the result has ``head``
    alone as parent.
    """

    def __init__(
        self,
        kind: str,
        head: Optional[pygit2.Oid],
        base: Optional[pygit2.Oid],
        ours: Optional[pygit2.Oid],
        theirs: pygit2.Oid,
        message: str,
        result: TreeMerge,
        strategy: Optional[str] = None,
        record: Optional[pygit2.Oid] = None,
    ) -> None:
        self.kind, self.head, self.base, self.ours, self.theirs = kind, head, base, ours, theirs
        self.message = message
        self.result = result
        self.strategy = strategy
        #: the record commit the merge ref points at (``None``: not recorded yet)
        self.record = record
        #: objects merged by saves during the merge (not derived from the trees)
        self.added: list[ObjectMerge] = []

    @property
    def conflicts(self) -> list[Conflict]:
        return [c for c in self.result.conflicts if not c.resolved]

    @property
    def parents(self) -> list[pygit2.Oid]:
        """The parents of the commit that finishes the merge."""
        heads = [self.head] if self.head is not None else []
        return heads if self.kind == REBASE else heads + [self.theirs]

    def add(self, om: ObjectMerge) -> None:
        """Take the conflicts of a save that clashed during the merge."""
        self.added.append(om)
        self.result.objects.append(om)
        self.result.conflicts.extend(om.conflicts)


def conflict_key(conflict: Conflict) -> list[Any]:
    model = conflict.model.__name__ if conflict.model is not None else None
    return [model, conflict.id, conflict.field, list(conflict.key), conflict.kind]


# -- writing the record -------------------------------------------------------------
def hold(ws: Workspace, state: MergeState) -> None:
    """Make ``state`` the calling unit's open merge, known to the other units
    of this process as held (see :func:`holder`)."""
    unit = ws._unit
    unit.merge = state
    holders = ws.store.__dict__.setdefault("merge_holders", weakref.WeakValueDictionary())
    holders[unit.head] = unit


def holder(ws: Workspace) -> Optional[Any]:
    """Another unit of work of this process (a thread, a request) that holds
    the open merge of the calling unit's branch, or ``None``: then the merge
    is nobody's here, and a unit with nothing pending may take it up."""
    unit = ws._unit
    found = ws.store.__dict__.get("merge_holders", {}).get(unit.head)
    if found is None or found is unit or found.merge is None or found.head != unit.head:
        return None
    return found if found.merge.record == recorded(ws) else None


def load_seen(ws: Workspace, record: pygit2.Oid) -> tuple[MergeState, pygit2.Tree]:
    """:func:`load`, or the state the calling unit last looked at if it is
    ``record`` (so that the conflicts it was shown are those it resolves)."""
    seen = ws._unit.seen_merge
    ws._unit.seen_merge = None
    return seen[1:] if seen is not None and seen[0] == record else load(ws, record)  # type: ignore[return-value]


def look_only(ws: Workspace, record: pygit2.Oid, state: MergeState, staged: pygit2.Tree) -> bool:
    """True if another unit of this process holds the open merge: the calling
    unit then only looks at it (``resolve()``, ``abort_merge()`` or ``commit()``
    take it over)."""
    if holder(ws) is None:
        return False
    ws._unit.seen_merge = (record, state, staged)
    return True


def looked_at(ws: Workspace) -> bool:
    """Whether the calling unit, with nothing pending, looked at another's
    open merge of its branch as it is (``ws.conflicts``): ``commit()`` then
    finishes it."""
    unit = ws._unit
    seen = unit.seen_merge is not None and unit.seen_merge[0] == recorded(ws)
    return unit.merge is None and seen and not unit.has_changes()


def save(ws: Workspace, state: MergeState) -> None:
    """Record ``state`` and the staged result (one compare-and-swap of the merge ref).

    A record that moved meanwhile (another process resolved) raises
    :class:`RepositoryError`; a new record where one exists refuses: one
    open merge per branch.
    """
    repo = ws.repo
    staged = ws.stage.write()
    sides = repo.TreeBuilder()
    added = []
    for n, om in enumerate(state.added):
        files = []
        for side, side_files in enumerate(om.files):
            files.append({name: str(oid) for name, oid in side_files.items()})
            for name, oid in side_files.items():
                sides.insert(f"{n}-{side}-{name}", oid, ch.entry_mode(om.cls, name))  # a named file's folder
        added.append({"model": om.cls.__name__, "id": om.id, "files": files})
    meta = {
        "format": FORMAT,
        "kind": state.kind,
        "head": _hex(state.head),
        "base": _hex(state.base),
        "ours": _hex(state.ours),
        "theirs": _hex(state.theirs),
        "message": state.message,
        "strategy": state.strategy,
        "resolved": [conflict_key(c) for c in state.result.conflicts if c.resolved],
        "added": added,
    }
    builder = repo.TreeBuilder()
    builder.insert(RECORD_FILE, write_blob(repo, json.dumps(meta, indent=1, sort_keys=True).encode() + b"\n"),
                   BLOB_MODE)
    builder.insert(STAGED_FOLDER, staged, TREE_MODE)
    builder.insert(SIDES_FOLDER, write_tree(repo, sides), TREE_MODE)
    parents: list[pygit2.Oid] = []
    for parent in (state.head, state.ours, state.theirs, state.base):
        if parent is not None and parent not in parents:
            parents.append(parent)
    sig = ws._signature(None)
    with writing(repo):
        record = repo.create_commit(None, sig, sig, f"open {state.kind} on {ws.head}",
                                    write_tree(repo, builder), parents)
    ref = merge_ref(ws.head)
    try:
        ws.store.move_refs([(ref, state.record, record)], f"gitmodel: {state.kind} recorded")
    except BranchMoved:
        if state.record is None:
            raise RepositoryError(
                f"another merge is open on {ws.head} ({ref}); "
                "settle and commit it, or abort it, first"
            ) from None
        raise RepositoryError(
            f"the open merge of {ws.head} was changed by another workspace meanwhile; "
            "look at ws.conflicts again"
        ) from None
    state.record = record


def drop_move(ws: Workspace, state: MergeState) -> RefMove:
    """The ref move that deletes ``state``'s record (joined to the branch move)."""
    return (merge_ref(ws.head), state.record, None)


def clear(ws: Workspace, state: MergeState) -> None:
    """Delete ``state``'s record (if it still is the one recorded)."""
    if state.record is not None:
        ws.store.move_refs([drop_move(ws, state)], f"gitmodel: {state.kind} closed")
        state.record = None


def _hex(oid: Optional[pygit2.Oid]) -> Optional[str]:
    return str(oid) if oid is not None else None


# -- reading the record -------------------------------------------------------------------
def recorded(ws: Workspace) -> Optional[pygit2.Oid]:
    """The record commit of the open merge of the calling unit's branch, if any."""
    return ws.store.read_ref(merge_ref(ws.head))


def load(ws: Workspace, record: pygit2.Oid) -> tuple[MergeState, pygit2.Tree]:
    """The merge recorded by commit ``record`` and its staged tree.

    The conflicts are computed again from the merged commits (the merge is
    deterministic), then marked settled as recorded; objects with conflicts
    take their staged state, so later resolutions build on earlier ones.
    """
    from . import merge

    repo = ws.repo
    ref = merge_ref(ws.head)
    commit = repo.get(record)
    try:
        tree = commit.tree  # type: ignore[union-attr]
        meta = json.loads(tree[RECORD_FILE].data)  # type: ignore[union-attr]
        staged = tree[STAGED_FOLDER]
        tree[SIDES_FOLDER]  # keeps the blobs of ``added`` reachable; their ids are in merge.json
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(staged, pygit2.Tree):
            raise ValueError(f"unknown record format {meta.get('format') if isinstance(meta, dict) else meta!r}")
        head, base, ours, theirs = (_commit_id(repo, meta[k]) for k in ("head", "base", "ours", "theirs"))
        kind, message, strategy = meta["kind"], meta["message"], meta["strategy"]
        if kind not in (MERGE, REBASE) or not isinstance(message, str) or strategy not in (None, "ours", "theirs"):
            raise ValueError("its kind, message or strategy is not one gitmodel writes")
        resolved = {json.dumps(k) for k in meta["resolved"]}
        added = [_added_entry(entry) for entry in meta["added"]]
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError, pygit2.GitError) as exc:
        raise CorruptObject(ref, f"not a readable merge record ({exc})") from None
    if theirs is not None:
        from ..schema.merge import align  # the trees as merge() (or a lost race's rebase) aligned them

        (base_tree, ours_tree, theirs_tree), _dropped = align(ws, base, ours, theirs)
    else:
        base_tree, ours_tree, theirs_tree = (
            repo[c].tree if c is not None else None for c in (base, ours, theirs))  # type: ignore[attr-defined]
    from ..schema.layout import aligned  # and across a fan-out, as the merge aligned them

    base_tree, ours_tree, theirs_tree = aligned(ws, base_tree, ours_tree, theirs_tree)
    result = merge.merge_trees(ws, base_tree, ours_tree, theirs_tree, strategy, race=kind == REBASE)
    state = MergeState(kind, head, base, ours, theirs, message, result, strategy, record)  # type: ignore[arg-type]
    for entry in added:
        cls = ws.models.get(entry["model"])
        if cls is None:
            raise ModelNotFound(f"the open merge of {ws.head} names model {entry['model']!r}, "
                                "which is not registered")
        sides = tuple({n: pygit2.Oid(hex=h) for n, h in side.items()} for side in entry["files"])
        om = merge.ObjectMerge(ws, cls, entry["id"], (None, None, None), sides, race=True)  # type: ignore[arg-type]
        om.run(None)
        state.add(om)
    for om in result.objects:
        if om.conflicts:
            files = ch.object_files(staged, om.cls, om.id)
            path = om.cls._meta.get_data_path(om.id)  # type: ignore[attr-defined]
            stored = codec.stored_fields(ws, om.cls, path, files[om.data]) if om.data in files else None
            om.result = dict(stored) if stored is not None else None
            om.result_files = {k: v for k, v in files.items() if k != om.data}
    if kind == MERGE:  # unique values and references, checked on the staged state again
        from ..integrity import merge_violations

        unit = ws._unit
        snap = unit.snapshot()
        try:
            unit.move_to(head, staged)
            result.conflicts.extend(merge_violations(ws, (base_tree, ours_tree, theirs_tree), result))
        finally:
            unit.restore(snap)
    for conflict in result.conflicts:
        if json.dumps(conflict_key(conflict)) in resolved:
            conflict.resolved = True
    return state, staged


def _commit_id(repo: pygit2.Repository, value: Any) -> Optional[pygit2.Oid]:
    """A commit id of the record (``None`` stays ``None``): ``ValueError``
    unless it is the full id of a commit in ``repo``."""
    if value is None:
        return None
    if not isinstance(value, str) or not _FULL_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a commit id")
    if not isinstance(repo.get(value), pygit2.Commit):
        raise ValueError(f"{value} is not a commit of this repository")
    return pygit2.Oid(hex=value)


def _added_entry(entry: Any) -> dict[str, Any]:
    """One object a stale save merged into the open merge, as recorded:
    ``ValueError`` unless it has the shape :func:`save` writes."""
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str) \
            or not isinstance(entry.get("id"), str) or not isinstance(entry.get("files"), list) \
            or len(entry["files"]) != 3:
        raise ValueError(f"an added object {entry!r:.80} is not one gitmodel writes")
    for side in entry["files"]:
        if not isinstance(side, dict) or not all(
                isinstance(name, str) and isinstance(oid, str) and _FULL_ID.fullmatch(oid)
                for name, oid in side.items()):
            raise ValueError(f"the files of added object {entry['id']!r:.80} are not name -> id")
    return entry


_FULL_ID = re.compile(r"[0-9a-f]{40}")


def finished_by(ws: Workspace, state: MergeState, staged: pygit2.Tree,
                branch: Optional[pygit2.Oid]) -> bool:
    """True if the branch already holds the result of ``state`` (a process
    died between moving the branch and dropping the record)."""
    if branch is None or branch == state.head:
        return False
    commit = ws.repo.get(branch)
    return (isinstance(commit, pygit2.Commit) and commit.parent_ids == state.parents
            and commit.tree_id == staged.id)
