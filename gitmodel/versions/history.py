"""History of objects, diffs between states, restore, revert, tags, reset.

History walks commits and compares only the tree entries along one object's
path (memoised by subtree id, so an unchanged model folder is never opened),
the way ``git log -- <path>`` does. Nothing else of a commit's tree is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

import pygit2
from pygit2.enums import FileMode, ObjectType, SortMode

from . import changes as ch
from .. import shallow
from ..objects import naming_commits, reads_others_trees, walking
from ..refs import branch_ref, check_ref_name
from ..relations import check_targets
from ..validation import check_message
from ..exceptions import (
    BranchNotFound,
    CorruptObject,
    IntegrityError,
    MergeConflict,
    ReferenceNotFound,
    RepositoryError,
    ShallowHistoryError,
)
from ..git.diff import tree_deltas
from ..git.odb import write_blob
from ..git.signatures import signed_at, who
from ..schema import codec
from ..schema.renames import previous_folders
from ..git.tree import tree_entry
from .renames import similarity

if TYPE_CHECKING:
    from ..models import GitModel
    from ..refs import Branch
    from ..workspace import Workspace

TREE = int(FileMode.TREE)
State = Optional[tuple[tuple[str, pygit2.Oid], ...]]


@dataclass
class Version:
    """One version of an object: the commit that made it and what it changed.

    ``change`` is ``'added'``, ``'modified'`` or ``'deleted'``; ``instance``
    is the object as of ``commit`` (``None`` for a deletion); ``changes`` is
    ``{field: (old, new)}`` against the previous version.
    """

    commit: pygit2.Commit
    change: str
    model: type
    id: str
    _ws: Workspace = field(repr=False)
    _files: ch.Files = field(repr=False, default_factory=dict)
    _prev_files: ch.Files = field(repr=False, default_factory=dict)
    _prev_id: Optional[str] = field(repr=False, default=None)
    _made: Optional[frozenset[str]] = field(repr=False, default=None)  # a merge's own fields
    _decoded: dict[pygit2.Oid, dict[str, Any]] = field(repr=False, default_factory=dict)  # shared by a history

    @property
    def instance(self) -> Optional[GitModel]:
        try:
            return ch.load(self._ws, self.model, self.id, self._files, self.commit.tree)
        except CorruptObject as exc:
            raise exc.at(self.commit.id) from None

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        opts = self.model._meta  # type: ignore[attr-defined]
        prev_id = self._prev_id or self.id

        def stored(files: ch.Files, object_id: str) -> Optional[dict[str, Any]]:
            data = ch.object_paths(self.model, object_id)[1]
            if data not in files:
                return None
            oid = files[data]
            found = self._decoded.get(oid)
            if found is None:
                try:
                    found = codec.stored_fields(self._ws, self.model, opts.get_data_path(object_id), oid)
                except CorruptObject as exc:
                    raise exc.at(self.commit.id if files is self._files else None) from None
                self._decoded[oid] = found
            return found

        found = ch.field_changes(
            self.model, stored(self._prev_files, prev_id), stored(self._files, self.id),
            self._prev_files, self._files, self.id,
        )
        if self._made is not None:  # a merge: only what neither parent had
            return {k: v for k, v in found.items() if k in self._made}
        return found

    def __repr__(self) -> str:
        return f"<Version {self.change} {self.model.__name__} {self.id!r} at {str(self.commit.id)[:10]}>"


class _PathState:
    """The files of one object folder in any tree, memoised by subtree id."""

    def __init__(self, repo: pygit2.Repository, folder: str, names: tuple[str, ...]) -> None:
        self.repo = repo
        self.parts = folder.split("/") if folder else []
        self.names = names
        self.data = names[0]
        self.memo: dict[tuple[int, pygit2.Oid], State] = {}

    def __call__(self, tree_id: pygit2.Oid) -> State:
        memo, repo = self.memo, self.repo
        oid, trail = tree_id, []
        depth = 0
        result: State = None
        for depth, name in enumerate(self.parts):
            key = (depth, oid)
            if key in memo:
                result = memo[key]
                break
            trail.append(key)
            tree = repo[oid]
            entry = tree[name] if name in tree else None  # type: ignore[operator,index]
            if entry is None or entry.filemode != TREE:
                break
            oid = entry.id
        else:
            key = (len(self.parts), oid)
            if key in memo:
                result = memo[key]
            else:
                tree = repo[oid]
                if self.data in tree:  # type: ignore[operator]
                    result = tuple((n, tree[n].id) for n in self.names if n in tree)  # type: ignore[operator,index]
                trail.append(key)
        for key in trail:
            memo[key] = result
        return result


@reads_others_trees
def object_history(
    ws: Workspace, cls: type, object_id: Any, treeish: Any = None, follow: bool = True
) -> list[Version]:
    """The versions of one object reachable from ``treeish`` (default: the branch), newest first."""
    opts = cls._meta  # type: ignore[attr-defined]
    object_id = opts.id_field.clean_id(object_id)
    if treeish is None:
        if ws._start is None:
            return []
        start = ws._start
    else:
        target = ws.resolve_treeish(treeish)
        if not isinstance(target, pygit2.Commit):
            raise ReferenceNotFound(treeish, f"{treeish!r} does not name a commit")
        start = target.id
    repo = ws.repo
    folder, data, blobs = ch.object_paths(cls, object_id)
    names = (data, *blobs.values(), *ch.blob_folders(cls))  # named files' folders too
    # every folder the object may have had: its layouts (an adaptive model is
    # flat in older commits, fanned out in newer ones; a declared one may have
    # moved with an AlterModelLayout), under each name it had
    layouts = [folder] if opts._custom_data_path is not None else \
        [opts.object_folder_at(object_id, shard) for shard in opts.layouts()]
    folders = list(layouts)
    for old in previous_folders(ws, cls):  # followed across a RenameModel
        folders += [old + place[len(opts.folder):] for place in layouts]
    state: Union[_PathState, _FirstState] = _PathState(repo, folder, names) if len(folders) == 1 \
        else _FirstState([_PathState(repo, place, names) for place in folders])
    by_commit: dict[pygit2.Oid, State] = {}

    def commit_state(commit_id: pygit2.Oid) -> State:
        s = by_commit.get(commit_id, _UNSEEN)
        if s is _UNSEEN:
            s = state(repo[commit_id].tree_id)  # type: ignore[attr-defined]
            by_commit[commit_id] = s
        return s  # type: ignore[return-value]

    versions: list[Version] = []
    followed: list[Version] = []
    decoded: dict[pygit2.Oid, dict[str, Any]] = {}  # each version's blob is read once
    shallow_edge = shallow.edge(repo)
    # git's history simplification: a commit that leaves the object as one
    # parent had it is walked through that parent alone (a merge that kept
    # one side's version drops the other side's versions, as git log does)
    wanted = {start}
    for commit in walking(repo, start, SortMode.TOPOLOGICAL | SortMode.TIME):
        if commit.id not in wanted:
            by_commit.pop(commit.id, None)
            continue
        now = by_commit.pop(commit.id, _UNSEEN)
        if now is _UNSEEN:
            now = state(commit.tree_id)
        parents = shallow.parents(ws, commit)
        if now is not None and commit.id in shallow_edge:
            raise shallow.beyond_edge(commit, f"{cls.__name__} {object_id!r}")
        before = [commit_state(p) for p in parents]
        same = next((p for p, b in zip(parents, before) if b == now), None)
        wanted.update(parents if same is None else (same,))
        if same is not None or (not before and now is None):
            continue
        made = None
        if len(before) > 1 and now is not None:
            made = _merge_made(ws, cls, object_id, now, before)
            if not made:  # every field as one parent had it: the change was made there
                continue
        prev = before[0] if before else None
        kind = ch.ADDED if prev is None else ch.DELETED if now is None else ch.MODIFIED
        version = Version(commit, kind, cls, object_id, ws, dict(now or ()), dict(prev or ()),
                          _made=made, _decoded=decoded)
        if kind == ch.ADDED and follow and parents and opts._custom_data_path is None:
            old_id = _renamed_from(ws, cls, object_id, repo[parents[0]], commit, dict(now or ()))
            if old_id is not None:
                version.change = ch.MODIFIED
                version._prev_id = old_id
                version._prev_files = ch.object_files(repo[parents[0]].tree, cls, old_id)  # type: ignore[attr-defined]
                followed.extend(object_history(ws, cls, old_id, parents[0], follow))
        versions.append(version)
    if followed:
        seen = {v.commit.id for v in versions}
        versions.extend(v for v in followed if v.commit.id not in seen)
        versions.sort(key=lambda v: -v.commit.commit_time)
    return versions


def _merge_made(ws: Workspace, cls: type, object_id: str, now: State, before: list[State]) -> frozenset[str]:
    """The fields whose value at a merge commit no parent had: the merge's own changes."""
    path = cls._meta.get_data_path(object_id)  # type: ignore[attr-defined]
    data = ch.object_paths(cls, object_id)[1]

    def fields(state: State) -> tuple[dict[str, Any], ch.Files]:
        files = dict(state or ())
        stored = codec.stored_fields(ws, cls, path, files[data]) if data in files else {}
        return stored, files

    merged, merged_files = fields(now)
    parents = [fields(b) for b in before]
    made = set()
    for name in set(merged).union(*(p[0] for p in parents)):
        if all(p[0].get(name, _UNSEEN) != merged.get(name, _UNSEEN) for p in parents):
            made.add(name)
    for fld in cls._meta.blob_fields:  # type: ignore[attr-defined]
        if all(ch.blob_key(cls, fld, p[1], object_id) != ch.blob_key(cls, fld, merged_files, object_id)
               for p in parents):
            made.add(fld.name)
    return frozenset(made)


class _FirstState:
    """The state found first among several folders (today's, then older ones)."""

    def __init__(self, states: list[_PathState]) -> None:
        self.states = states

    def __call__(self, tree_id: pygit2.Oid) -> State:
        for state in self.states:
            found = state(tree_id)
            if found is not None:
                return found
        return None


_UNSEEN: Any = object()


#: the share of an object's values (the id aside) a removed object must hold
#: for history to follow a move from it: git's rename threshold (``-M50%``)
MOVE_SIMILARITY = 0.5

#: one stored object: its fields, its files
_Stored = tuple[dict[str, Any], ch.Files]


def _renamed_from(
    ws: Workspace, cls: type, object_id: str, parent: Any, commit: pygit2.Commit, files: ch.Files
) -> Optional[str]:
    """The id this object had in ``parent`` if ``commit`` moved it: as
    ``git log --follow`` finds a renamed file, the object ``commit`` removed
    that is most like it, holding at least :data:`MOVE_SIMILARITY` of its
    values (see :func:`gitmodel.versions.renames.similarity`, which a merge's
    move detection uses too)."""
    opts = cls._meta  # type: ignore[attr-defined]
    data = opts.data_filename
    try:
        old_folder, new_folder = parent.tree[opts.folder], commit.tree[opts.folder]
    except KeyError:
        return None
    mine: Optional[_Stored] = None
    best: tuple[float, str] = (MOVE_SIMILARITY, "")
    for path, old_entry, new_entry in tree_deltas(ws.repo, old_folder.id, new_folder.id):
        if old_entry is None or new_entry is not None:
            continue  # not a deleted file
        parts = path.split("/")
        old_id = parts[-2] if len(parts) > 1 else ""
        if parts[-1] != data or len(parts) - 2 not in opts.layouts() or old_id == object_id:
            continue  # (the same id in another layout is no move)
        if mine is None:
            mine = _stored_object(ws, cls, object_id, files[data], commit.tree)
        score = similarity(cls, _stored_object(ws, cls, old_id, old_entry[0], parent.tree), mine,
                           all_default_alike=True)
        if score > best[0] or (score == best[0] and (not best[1] or old_id < best[1])):
            best = (score, old_id)
    return best[1] or None


def _stored_object(ws: Workspace, cls: type, object_id: str, oid: pygit2.Oid,
                   tree: pygit2.Tree) -> _Stored:
    opts = cls._meta  # type: ignore[attr-defined]
    stored = codec.stored_fields(ws, cls, opts.get_data_path(object_id), oid)
    return stored, (ch.object_files(tree, cls, object_id) if opts.blob_fields else {})


# -- blame -------------------------------------------------------------------------
@dataclass(frozen=True)
class BlameEntry:
    """One field of an object: its value and the commit that last set it."""

    field: str
    value: Any
    commit: pygit2.Commit

    @property
    def author(self) -> str:
        """``Name <email>`` of the commit's author (readable whatever the
        commit's ``encoding`` header names)."""
        return who(self.commit.author)

    @property
    def date(self) -> Optional[datetime]:
        """When the commit was authored, with its author's offset; ``None``
        for a date no ``datetime`` holds (a hostile commit)."""
        return signed_at(self.commit.author)


def object_blame(ws: Workspace, cls: type, object_id: Any, treeish: Any = None) -> dict[str, BlameEntry]:
    """Field name -> :class:`BlameEntry` for the object as of ``treeish``
    (default: the branch), in field order. A field is blamed on the newest
    version that set it to its current value; a merge only for the values
    it made itself (see :func:`object_history`)."""
    versions = object_history(ws, cls, object_id, treeish)
    tip = treeish if treeish is not None else ws._start
    if not versions or tip is None:
        raise cls.DoesNotExist(  # type: ignore[attr-defined]
            f"{cls.__name__} with id {object_id!r} has no committed version")
    latest = cls.get(object_id, treeish=tip)  # type: ignore[attr-defined]
    names = [f.name for f in cls._meta.fields if f.serialize]  # type: ignore[attr-defined]
    current = {name: getattr(latest, name) for name in names}
    found: dict[str, pygit2.Commit] = {}
    for version in versions:
        if version.change == ch.ADDED:
            for name in names:
                found.setdefault(name, version.commit)
            break
        for name, (_old, new) in version.changes.items():
            if name in current and name not in found and new == current[name]:
                found[name] = version.commit
        if len(found) == len(names):
            break
    oldest = versions[-1].commit
    return {name: BlameEntry(name, current[name], found.get(name, oldest)) for name in names}


# -- diffs -------------------------------------------------------------------------
@reads_others_trees
def changes(ws: Workspace, a: Any, b: Any = None) -> list[ch.Change]:
    """What changed from ``a`` to ``b`` (default: the staged state)."""
    with naming_commits(ws, a, b):
        return ch.changes_between(ws, ch.tree_of(ws, a), ch.tree_of(ws, b))


@reads_others_trees
def object_diff(ws: Workspace, cls: type, object_id: Any, a: Any, b: Any = None) -> Optional[ch.ObjectChange]:
    """How one object changed from ``a`` to ``b`` (default: staged); ``None`` if equal."""
    object_id = cls._meta.id_field.clean_id(object_id)  # type: ignore[attr-defined]
    with naming_commits(ws, a, b):
        return ch.object_change(ws, cls, object_id, ch.tree_of(ws, a), ch.tree_of(ws, b))


# -- restore, revert, reset ------------------------------------------------------------
@reads_others_trees
def restore(ws: Workspace, cls: type, object_id: Any, treeish: Any) -> GitModel:
    """Stage the object as it was at ``treeish`` (also a since-deleted one),
    in today's shape: read as ``get(id, treeish=...)`` reads it (previous
    field and model names), checked and written as a save checks and writes
    it (a ``ValidationError`` stages nothing)."""
    opts = cls._meta  # type: ignore[attr-defined]
    object_id = opts.id_field.clean_id(object_id)
    tree = ch.tree_of(ws, treeish)  # from before a RenameModel too
    files = ch.object_files(tree, cls, object_id)
    folder, data, blobs = ch.object_paths(cls, object_id)
    if data not in files:
        raise cls.DoesNotExist(  # type: ignore[attr-defined]
            f"{cls.__name__} with id {object_id!r} did not exist at {treeish!r}"
        )
    ws._require_writable()
    path = opts.get_data_path(object_id)
    with naming_commits(ws, treeish):  # a damaged blob names the commit it came from
        model_name, stored = codec.read_stored(ws, path, files[data])
        then: GitModel = codec.decode(cls, path, model_name, stored)  # a field's previous names, as a read
    # today's field names, model name and stored types: what a save writes
    files[data] = write_blob(ws.repo, codec.encode(cls.__name__, then.to_json_fields()))
    staged = ws.stage.lookup(path)  # the object as it is now: a read-only field may not change
    try:
        now = codec.stored_fields(ws, cls, path, staged[0]) if staged is not None else None
    except CorruptObject:  # a damaged object is what a restore repairs
        now = None
    with ws._unit_kept():
        for name in (data, *blobs.values(), *ch.blob_folders(cls)):
            place = f"{folder}/{name}" if folder else name
            ws._unit.write(place, (files[name], ch.entry_mode(cls, name)) if name in files else None)
        checked = cls.get(object_id)  # type: ignore[attr-defined]
        checked._stored = now  # as save() would: every field, then unique values and
        checked.full_clean()  # references; a failure un-stages it all
        restored = cls.get(object_id)  # type: ignore[attr-defined]
        restored._check_unique(ws)
        check_targets(restored, ws)
        return restored  # type: ignore[no-any-return]


@reads_others_trees
def revert(ws: Workspace, commit: Any) -> list[ch.Change]:
    """Stage the inverse of one commit's changes, field by field; returns them.

    A field that was changed by ``commit`` and changed again since is a real
    conflict: :class:`MergeConflict` names it and nothing is staged. A commit
    from before migrations is reverted in today's shape: what it changed
    passes through the migrations applied since, as a merge's other side
    does; a change that cannot (:class:`SchemaMismatch`) stages nothing.
    """
    from . import merge

    ws._require_writable()
    target = ws.resolve_treeish(commit)
    if not isinstance(target, pygit2.Commit):
        raise ReferenceNotFound(commit, f"{commit!r} does not name a commit")
    if target.id in shallow.edge(ws.repo):  # its parent was not fetched: not "everything added"
        raise ShallowHistoryError(
            f"cannot revert {str(target.id)[:10]}: it is the edge of this shallow clone, so what it "
            "changed (its parent) was not fetched; deepen it with ws.fetch(depth=...) or "
            "ws.fetch(unshallow=True); nothing was staged", target.id)
    parent_ids = shallow.parents(ws, target)
    parent_tree = ws.repo[parent_ids[0]].tree if parent_ids else None  # type: ignore[attr-defined]
    with ws.write_lock:
        ours = ws.index
        from ..exceptions import SchemaMismatch
        from ..schema.layout import aligned  # a commit from before a fan-out: in today's layout
        from ..schema.merge import align_revert  # one from before migrations: in today's shape

        sides: tuple[Optional[pygit2.Tree], Optional[pygit2.Tree], list[str]] = align_revert(
            ws, target.tree, parent_tree, ours)
        base, theirs, dropped = sides
        if dropped:
            raise SchemaMismatch(
                f"cannot revert {str(target.id)[:10]}: some of its changes cannot pass through the migrations "
                f"applied since: {'; '.join(dropped)}; nothing was staged")
        base, _ours, theirs = aligned(ws, base, ours, theirs)
        result = merge.merge_trees(ws, base, ours, theirs)
        if result.conflicts:
            raise MergeConflict(
                f"cannot revert {str(target.id)[:10]}: changed since in "
                + merge.describe_conflicts(result.conflicts),
                result.conflicts,
            )
        with ws._unit_kept():  # a revert that breaks a unique value or a reference stages nothing
            ws._unit.write_all(result.staged())
            from ..integrity import merge_violations

            broken = merge_violations(ws, (base, ours, theirs), result)
            if broken:
                raise MergeConflict(
                    f"cannot revert {str(target.id)[:10]}: it would break "
                    + merge.describe_conflicts(broken) + "; nothing was staged", broken)
        return ch.changes_between(ws, ours, ws.index)


def reset(ws: Workspace, targets: Optional[Iterable[Any]] = None) -> None:
    """Drop pending changes: all of them (and the open merge), or those of
    some objects or paths. Instances saved into what is dropped get back the
    version they had before, so their next save writes their values again."""
    unit = ws._unit
    with ws.write_lock:
        if targets is None:
            if unit.merge is not None:
                from . import openmerge

                openmerge.clear(ws, unit.merge)
                unit.merge = None
            start = unit.start_tree_id()
            unit.move_to(unit.start, ws.repo[start] if start is not None else None)  # type: ignore[arg-type]
            unit.give_back()
            return
        start = unit.start_tree_id()
        base = ws.repo[start] if start is not None else None
        if isinstance(targets, (str, bytes)) or hasattr(targets, "_meta"):
            targets = [targets]
        paths = _target_paths(targets)
        from ..integrity import merge_violations

        with ws._unit_kept():  # a refused reset leaves every pending change in place
            before: Any = ws.repo[unit.stage.write()]
            unit.write_all((path, tree_entry(base, path)) for path in paths)  # type: ignore[arg-type]
            after: Any = ws.repo[unit.stage.write()]
            broken = merge_violations(ws, (before, after, after))  # the objects the reset changes
            if broken:
                from .merge import describe_conflicts

                raise IntegrityError(f"cannot reset {', '.join(paths[:3])}{' ...' if len(paths) > 3 else ''}: "
                                     f"the changes left pending would break {describe_conflicts(broken)}; "
                                     "reset those objects too, or everything; nothing was reset")

        def dropped(obj: Any) -> bool:  # an instance saved as an object whose files were reset
            ident = obj._stored_id if obj._stored_id is not None else obj.get_id()  # (deleted: its id)
            try:
                mine = obj._meta.object_paths(ident)
            except (TypeError, ValueError):  # an id changed since, not one that can be stored
                return False
            return any(a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/") for a in mine for b in paths)

        unit.give_back(dropped)


def _target_paths(targets: Iterable[Any]) -> list[str]:
    paths: list[str] = []
    for target in targets:
        if isinstance(target, str):
            paths.append(target.strip("/"))
        elif hasattr(target, "_meta") and not isinstance(target, type):
            opts = target._meta
            for ident in {target._stored_id, target.get_id()}:
                if ident is not None:
                    paths.extend(opts.object_paths(ident))
        else:
            raise TypeError(f"cannot reset {target!r}: give paths or model objects")
    return paths


# -- refs: tags and branches ------------------------------------------------------------
def create_tag(
    ws: Workspace, name: str, target: Any = None, message: Optional[str] = None,
    tagger: Optional[Union[tuple[str, str], pygit2.Signature]] = None,
) -> pygit2.Oid:
    """Tag ``target`` (default: the branch's last commit); annotated with ``message``.

    Returns the id of the tagged commit. A tag that is a folder of another
    (``v1`` beside ``v1/rc``), or the other way round, is refused.
    """
    from ..refs import creating_ref

    ref = check_ref_name(f"refs/tags/{name}" if isinstance(name, str) else None, "tag", name)
    if message is not None:
        check_message(message, "tag message")
    if ws.repo.references.get(ref) is not None:
        raise RepositoryError(f"tag {name!r} already exists")
    commit = ws._commit_of(target, "tag")
    with creating_ref(ws.repo, ref, "tag", name):
        if message is not None:
            ws.repo.create_tag(name, commit.id, ObjectType.COMMIT, ws._signature(tagger, "tagger"), message)
        else:
            ws.repo.references.create(ref, commit.id)
    return commit.id


def tags(ws: Workspace) -> dict[str, pygit2.Commit]:
    """Tag name -> tagged commit."""
    out: dict[str, pygit2.Commit] = {}
    for ref_name in sorted(ws.repo.references):
        if ref_name.startswith("refs/tags/"):
            ref = _listed_ref(ws, ref_name)
            if ref is None:
                continue
            try:
                obj = ref.peel(None)  # type: ignore[arg-type]
            except (pygit2.GitError, ValueError) as exc:  # a tag object git cannot read
                raise CorruptObject(ref_name, f"the tag {ref.target} cannot be read ({exc})") from None
            if isinstance(obj, pygit2.Commit):
                out[ref_name.removeprefix("refs/tags/")] = obj
    return out


def delete_tag(ws: Workspace, name: str) -> None:
    ref = ws.repo.references.get(
        check_ref_name(f"refs/tags/{name}" if isinstance(name, str) else None, "tag", name)
    )
    if ref is None:
        raise ReferenceNotFound(name, f"tag not found: {name!r}")
    ref.delete()


def branches(ws: Workspace) -> dict[str, Branch]:
    """Branch name -> :class:`Branch`."""
    from ..refs import Branch

    out: dict[str, Branch] = {}
    for name in sorted(ws.repo.branches.local):
        ref = _listed_ref(ws, f"refs/heads/{name}")
        commit = ws.repo.get(ref.target) if ref is not None else None
        if isinstance(commit, pygit2.Commit):
            out[name] = Branch(ref, commit)
    return out


def _listed_ref(ws: Workspace, name: str) -> Optional[pygit2.Reference]:
    """The ref a listing found, or ``None`` for one whose name git refuses
    (``refs/heads/a..b``, written by another tool), which git's own listings
    leave out with a warning, or one that vanished meanwhile."""
    try:
        return ws.repo.references[name]
    except (KeyError, ValueError, pygit2.GitError):  # InvalidSpecError is a ValueError
        return None


def delete_branch(ws: Workspace, name: str) -> None:
    """Delete branch ``name``; refused for the current branch."""
    ref_name = branch_ref(name)
    if ref_name == ws.head and not ws.detached:
        raise RepositoryError(f"cannot delete {name!r}: it is the current branch")
    ref = ws.repo.references.get(ref_name)
    if ref is None:
        raise BranchNotFound(name, f"branch not found: {name!r}")
    ref.delete()
