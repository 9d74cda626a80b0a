"""The workspace: a repository, a branch pointer and an in-memory index.

Like a git working directory, but kept in memory: it never touches the
repository's own ``HEAD`` or ``index`` (see :meth:`Workspace.sync_repo_index`).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, ContextManager, Iterator, Optional, TypeVar, Union

import pygit2
from pygit2.enums import SortMode

from .git import locks
from . import objects, pathsafety, refs, registry, schema, signing, validation, worktree
from .conf import WorkspaceConfig
from . import remotes as _remotes
from .exceptions import BranchMoved, CorruptObject, PendingChanges, RepositoryError, SchemaMismatch
from .git import refs as git_refs
from .models import GitModel
from .registry import ModelRegistry
from .refs import Branch, Treeish, branch_ref, existing_branch_ref
from .session import CommitHooks, UnitOfWork, fresh_unit
from .store import (  # noqa: F401 - TREE_CACHE_LIMIT and CACHE_MAX_SIZE are documented here
    CACHE_MAX_SIZE, DEFAULT_LOCK_TIMEOUT, DEFAULT_OBJECT_CACHE_SIZE, TREE_CACHE_LIMIT, Store, StoreSetting,
    create_repository,
)
from .versions.merge import NOT_GIVEN
from .git.odb import write_blob
from .git.tree import BLOB_MODE, Entry, NameMatch, StagingTree
from .worktree import WorkTreePolicy

if TYPE_CHECKING:
    from .versions.changes import Change
    from .git.locks import LockInfo
    from .versions.merge import Conflict, MergeResult, MergeState
    from .signing import CommitSignature, Signer, TrustedKeys
    from .sync import SyncResult

Identity = tuple[str, str]
_NO_CHOICE: Any = object()
M = TypeVar("M", bound=GitModel)

DEFAULT_IDENTITY: Identity = ("gitmodel", "gitmodel@localhost")


class Workspace:
    """Work on the models stored in one git repository.

    ``repo_path`` is a repository (bare, its ``.git`` folder or its work
    tree). ``initial_branch`` is a branch name or ``refs/heads/...``; by
    default, the branch the repository's HEAD names. A branch that does not
    exist is refused when the repository has other branches (a typo would
    start a history of its own); create it with :meth:`create_branch`, or
    pass ``orphan=True`` to start it with no history, as ``git switch
    --orphan`` does.

    ``worktree``: what a commit to the branch checked out in a non-bare
    repository's work tree does to git's index and files, ``"update"``
    (keep them in step) or ``"refuse"``; see :mod:`gitmodel.worktree`.
    """

    #: Default credentials for fetch/push/pull (set by :meth:`clone`).
    remote_callbacks: Optional[pygit2.RemoteCallbacks] = None
    #: Signs every commit when set (see :mod:`gitmodel.signing`).
    signer: Optional[Signer] = None

    def __init__(
        self,
        repo_path: Union[str, os.PathLike[str]],
        initial_branch: Optional[str] = None,
        *,
        author: Optional[Identity] = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        object_cache_size: int = DEFAULT_OBJECT_CACHE_SIZE,
        follow: bool = True,
        stale_lock_age: float = git_refs.DEFAULT_STALE_LOCK_AGE,
        worktree: Union[WorkTreePolicy, str] = WorkTreePolicy.UPDATE,
        orphan: bool = False,
    ) -> None:
        policy = WorkTreePolicy(worktree)  # a ValueError names an unknown policy
        #: the repository, its object cache and its refs (see :mod:`gitmodel.store`)
        self.store = Store(repo_path, lock_timeout, stale_lock_age, object_cache_size)
        self.repo = self.store.repo
        self.path = self.store.path
        #: serializes the short steps that change shared state
        self.write_lock = self.store.write_lock
        self._author = author
        #: with nothing pending, operations first move to the branch's latest commit
        self.follow = follow
        #: a commit to the branch checked out in the work tree: see gitmodel.worktree
        self.worktree = policy
        self.models = ModelRegistry()
        #: declared models another writer's migration left unfit (see schema.check_followed)
        self._unfit: dict[type, SchemaMismatch] = {}
        self.store.follow_check = lambda before, after: schema.check_followed(self, before, after)
        #: the branch a new unit of work starts on (see :mod:`gitmodel.session`)
        self._default_head = self._initial_head(initial_branch)
        self._local = threading.local()
        unit = self._new_unit()  # a corrupt branch ref raises RepositoryError here
        if unit.start is None and initial_branch and not orphan:
            self.store.refuse_unborn_branch(self._default_head)
        self.GitModel: type[GitModel] = registry.base_model(self)
        self.models["GitModel"] = self.GitModel

    @classmethod
    def init(
        cls,
        path: Union[str, os.PathLike[str]],
        bare: bool = True,
        initial_branch: Optional[str] = None,
        **kwargs: Any,
    ) -> Workspace:
        """Create a new repository at ``path`` (bare by default) and open it."""
        head = branch_ref(initial_branch) if initial_branch else None  # checked before writing
        return cls(create_repository(path, bare, head), **kwargs)

    def _initial_head(self, initial_branch: Optional[str]) -> str:
        if initial_branch:
            return branch_ref(initial_branch)
        return refs.head_branch(self.repo) or "refs/heads/master"

    #: Seconds a busy ref lock (or a lock taken with :meth:`lock`) is waited for.
    lock_timeout = StoreSetting[float]("lock_timeout")
    #: Seconds after which a ref lock file is taken as left by a dead process.
    stale_lock_age = StoreSetting[float]("stale_lock_age")
    #: How many decoded objects are kept (least recently used go first).
    object_cache_size = StoreSetting[int]("object_cache_size")
    _objects = StoreSetting[Any]("objects")

    # -- identity ---------------------------------------------------------------
    @property
    def default_author(self) -> Identity:
        """``(name, email)`` used when a commit names no author."""
        if self._author:
            return self._author
        return validation.config_identity(self.repo) or DEFAULT_IDENTITY

    @default_author.setter
    def default_author(self, value: Identity) -> None:
        self._author = value

    # -- the unit of work of the calling thread ------------------------------------
    @property
    def _unit(self) -> UnitOfWork:
        """The calling thread's unit of work (made on first use)."""
        try:
            return self._local.unit  # type: ignore[no-any-return]
        except AttributeError:
            return self._new_unit()

    def _new_unit(self) -> UnitOfWork:
        head = self._default_head
        unit = UnitOfWork(self.store, head, self.store.commit_at(head))
        self._local.unit = unit
        return unit

    def _unit_kept(self) -> Any:
        """Run an operation that either succeeds or leaves the calling unit of
        work (staging, base commit, branch, open merge) exactly as it was."""
        return self._unit.kept()

    @property
    def head(self) -> str:
        """The branch ref (``refs/heads/...``) the calling thread works on."""
        return self._unit.head

    @property
    def stage(self) -> StagingTree:
        """The calling thread's staging tree."""
        return self._unit.stage

    @property
    def _start(self) -> Optional[pygit2.Oid]:
        return self._unit.start

    @property
    def _detached(self) -> Optional[pygit2.Commit]:
        return self._unit.detached

    @property
    def _merge(self) -> Optional[MergeState]:
        return self._unit.merge

    @property
    def config(self) -> WorkspaceConfig:
        """python-gitmodel 0.1's settings, bound to this workspace (see :mod:`gitmodel.conf`)."""
        config = self.__dict__.get("_config")
        if config is None:
            config = self.__dict__["_config"] = WorkspaceConfig(self)
        return config

    # -- position ---------------------------------------------------------------
    @property
    def branch(self) -> Optional[Branch]:
        """The current branch, or ``None`` before its first commit."""
        head = self.head
        commit = self.store.commit_at(head)
        if commit is None:
            return None
        return Branch(self.repo.references[head], commit)

    def refresh(self) -> None:
        """Move to the branch's latest commit if nothing is pending.

        Operations call this themselves while :attr:`follow` is true (one ref
        read); pending changes stay built on the commit they started from.
        """
        if self.follow:
            self._unit.follow()

    @property
    def index(self) -> pygit2.Tree:
        """The staged state as a ``pygit2.Tree`` (tree objects written now)."""
        unit = self._unit
        if self.follow:
            unit.follow()
        with self.write_lock:
            return self.repo[unit.stage.write()]  # type: ignore[return-value]

    @property
    def detached(self) -> bool:
        """True after ``update_index`` moved to a commit or tag: read-only."""
        return self._detached is not None

    def _start_tree_id(self) -> Optional[pygit2.Oid]:
        return self._unit.start_tree_id()

    # -- models -----------------------------------------------------------------
    def register_model(self, cls: type[M]) -> type[M]:
        """Bind ``cls`` to this workspace; returns the bound class.

        A class bound elsewhere (or to nothing) is bound through a subclass of
        the same name, so ``isinstance`` holds for both. A model whose folder
        another registered model has (or has ignoring case) is refused.
        """
        return registry.register(self, cls)

    def import_models(self, module: Union[str, ModuleType]) -> ModelRegistry:
        """Register every model declared in ``module`` (or its dotted name),
        abstract ones included; returns :attr:`models`."""
        return registry.import_models(self, module)

    def schemas(self, treeish: Optional[Treeish] = None) -> dict[str, schema.ModelSchema]:
        """Model name -> its schema stored in the repository, in the staged
        state or at ``treeish``; readable without the models' classes."""
        return schema.stored_schemas(self, treeish)

    def migrate(self, migrations: Any, branch: Optional[str] = None, **commit_info: Any) -> Optional[pygit2.Oid]:
        """Apply ``migrations`` (see :mod:`gitmodel.migrations`) as one commit on
        ``branch`` (default: the current one); ``None`` if all were applied."""
        from . import migrations as _migrations

        return _migrations.migrate(self, migrations, branch, **commit_info)

    # -- object cache -------------------------------------------------------------
    def cached_object(self, oid: pygit2.Oid) -> Optional[GitModel]:
        """A copy of the decoded object for data blob ``oid`` if cached."""
        return schema.codec.cached_instance(self, oid)

    def cache_object(
        self, oid: pygit2.Oid, obj: GitModel, copy: bool = True, evict: bool = True
    ) -> bool:
        """Remember the decoded form of blob ``oid`` (equal id, equal data).

        The cache holds a copy unless ``copy=False`` (the caller hands ``obj``
        over and keeps no reference). It is bounded: the least recently used
        entry goes first, or, with ``evict=False``, nothing is added to a full
        cache. Returns whether ``obj`` was cached.
        """
        return schema.codec.cache_instance(self, oid, obj._as_read(oid) if copy else obj, evict)

    def read_object(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        """``(type, raw data)`` of object ``oid`` in one read; ``KeyError`` if missing."""
        return self.store.read_object(oid)

    # -- reading ---------------------------------------------------------------
    def lookup(self, path: str) -> Optional[Entry]:
        """``(oid, mode)`` at ``path`` in the staged state, or ``None``."""
        unit = self._unit
        if self.follow:
            unit.follow()
        with self.write_lock:
            try:
                return unit.stage.lookup(path)
            except pygit2.GitError as exc:  # a tree written by another tool
                raise CorruptObject(path, f"a tree on this path cannot be read ({exc})") from None

    def resolve(self, conflict: Conflict, choice: Any = NOT_GIVEN, *, value: Any = NOT_GIVEN) -> None:
        """Settle a merge conflict: ``'ours'``, ``'theirs'``, ``'base'``,
        ``'staged'`` (as fixed by hand with ``save()``) or a value.

        ``value=`` stores a literal (for a value that is itself ``"ours"``).
        """
        from .versions import merge

        merge.resolve(self, conflict, choice, value)

    def resolve_treeish(self, treeish: Treeish) -> Union[pygit2.Commit, pygit2.Tree]:
        """The commit (or tree) a branch, tag, id (full or abbreviated) or object names.

        Unknown names raise :class:`ReferenceNotFound`, a ``KeyError`` too.
        """
        objects.refuse_cut_before(self.repo, self.store.objects_dir, treeish, self._start)
        return refs.resolve_treeish(self.repo, treeish)

    def resolve_tree(self, treeish: Treeish) -> pygit2.Tree:
        """The tree of what ``treeish`` names."""
        obj = self.resolve_treeish(treeish)
        return obj.tree if isinstance(obj, pygit2.Commit) else obj  # type: ignore[return-value]

    def iter_files(
        self, folder: str, match: NameMatch, treeish: Optional[Treeish] = None,
        refused: Optional[list[tuple[str, str]]] = None,
    ) -> Iterator[tuple[str, pygit2.Oid, Optional[pygit2.Tree]]]:
        """``(path, blob id, tree)`` of every file below ``folder`` whose name
        is ``match`` (or satisfies it, when it is a predicate).

        ``tree`` is ``None`` for the staged state, else the tree searched;
        folder entries naming no tree are not opened: ``(path, what)`` goes to ``refused``.
        """
        if treeish is None:
            self.refresh()
            stage, tree = self.stage, None
        else:
            tree = self.resolve_tree(treeish)
            stage = StagingTree(self.repo, tree)
        with self.write_lock:  # a snapshot: other threads may stage meanwhile
            found = stage.files_below(folder, match, refused)
        for path, oid in found:
            yield path, oid, tree

    # -- staging ---------------------------------------------------------------
    def _require_writable(self) -> None:
        if self._detached is not None:
            raise RepositoryError(
                f"the workspace is at {str(self._detached.id)[:10]} (not a branch) and is "
                "read-only; call set_branch() first"
            )

    def add_blob(self, path: str, content: Union[str, bytes], mode: int = BLOB_MODE) -> pygit2.Oid:
        """Write ``content`` as a blob and stage it at ``path``; returns its id."""
        self._require_writable()
        pathsafety.check_staged_path(path, mode)
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        with self.write_lock:
            return self._unit.add_blob(path, data, mode)

    def create_blob(self, content: Union[str, bytes]) -> pygit2.Oid:
        """Write ``content`` as a blob, staging nothing; returns its id (0.1's)."""
        self._require_writable()
        return write_blob(self.repo, content.encode("utf-8") if isinstance(content, str) else bytes(content))

    def add(self, path: str, entries: Any) -> None:
        """Stage entries ``(name, oid, mode)`` (or a name -> oid dict) under folder ``path``."""
        self._require_writable()
        items = entries.items() if isinstance(entries, dict) else entries
        folder = path.strip("/")
        edits = []
        for item in items:  # every path is checked before anything is staged
            name, oid, *rest = item if not isinstance(entries, dict) else (*item,)
            mode = rest[0] if rest else BLOB_MODE
            target = f"{folder}/{name}" if folder else name
            pathsafety.check_staged_path(target, int(mode))
            edits.append((target, (pygit2.Oid(hex=oid) if isinstance(oid, str) else oid, int(mode))))
        with self.write_lock:
            self._unit.write_all(edits)

    def remove(self, path: str) -> bool:
        """Stage the removal of a file or folder; False if it was not there."""
        self._require_writable()
        with self.write_lock:
            return self._unit.write(path, None)

    def has_changes(self) -> bool:
        """True when the staged state differs from the branch's last commit."""
        with self.write_lock:
            return self._unit.has_changes()

    def changed_paths(self) -> set[str]:
        """Paths (files) whose staged state differs from the last commit."""
        with self.write_lock:
            return self._unit.changed_paths()

    def require_only_pending(self, *paths: Optional[str]) -> None:
        """Raise :class:`PendingChanges` if changes outside ``paths`` (files or folders) are pending."""
        with self.write_lock:
            self._unit.require_only_pending(paths)

    def diff(self) -> pygit2.Diff:
        """A ``pygit2.Diff`` from the branch's last commit to the staged state."""
        index = self.index
        start = self._start_tree_id()
        base = self.repo[start] if start is not None else self.repo[self.repo.TreeBuilder().write()]
        return base.diff_to_tree(index)  # type: ignore[attr-defined,no-any-return]

    def reset(self, targets: Any = None) -> None:
        """Drop every pending change (and the open merge), or those of some paths
        or objects; instances saved into what is dropped get their version back."""
        from .versions import history

        history.reset(self, targets)

    # -- committing ----------------------------------------------------------------
    def _signature(
        self, who: Optional[Union[Identity, pygit2.Signature]], role: str = "author"
    ) -> pygit2.Signature:
        return validation.signature(who or self.default_author, role)

    def commit(
        self,
        message: str = "",
        author: Optional[Union[Identity, pygit2.Signature]] = None,
        committer: Optional[Union[Identity, pygit2.Signature]] = None,
    ) -> Optional[pygit2.Oid]:
        """Commit the calling thread's staged changes to the branch; ``None`` if none.

        If another writer moved the branch meanwhile, the pending changes are
        merged onto its head field by field and committed on top. A field
        changed on both sides opens a merge holding every edit and raises
        ``MergeConflict``: settle it with :meth:`resolve` and ``commit()``
        again, or :meth:`abort_merge`. During a merge, writes the merge
        commit once every conflict is settled. Refused (``RepositoryError``,
        nothing committed) inside a :meth:`commit_on_success` block.
        """
        unit = self._unit
        unit.refuse_commit()
        self._require_writable()
        validation.check_message(message)
        # identities are checked before anything is written
        author_sig = self._signature(author)
        committer_sig = self._signature(committer, "committer") if committer else author_sig
        if unit.merge is not None or unit.seen_merge is not None:  # a merge: not the usual commit
            from .versions import merge, openmerge

            if openmerge.looked_at(self):  # another unit's open merge, looked at: finish it here
                merge.join(self)
            if unit.merge is not None:
                commit_id = merge.commit_merge(self, message, author, committer)
                unit.committed()
                return commit_id
        return unit.commit(message, author_sig, committer_sig, self._commit_hooks)

    def check_commit_info(self, action: str, commit: bool, commit_info: dict[str, Any]) -> None:
        """Refuse, before ``action`` stages anything, what ``commit(**commit_info)`` would."""
        validation.check_commit_info(action, commit_info, self._signature if commit else None)

    @property
    def _commit_hooks(self) -> CommitHooks:
        """What the commit path is handed from above: schema records, signing,
        the branch move and the rebase of a lost race (the merge layer)."""
        hooks = self.__dict__.get("_hooks")
        if hooks is None:
            from .versions import race

            def rebase(own: pygit2.Oid, text: str, who: pygit2.Signature, by: pygit2.Signature) -> Any:
                schema.check_moved_head(self)  # unless it migrated what we declare
                return race.commit_rebased(self, own, text, who, by)

            def write_commit(who: pygit2.Signature, by: pygit2.Signature, text: str,
                             tree: pygit2.Oid, parents: list[pygit2.Oid]) -> pygit2.Oid:
                return signing.create_commit(self, who, by, text, tree, parents)

            hooks = self.__dict__["_hooks"] = CommitHooks(
                write_commit, self._move_branch, rebase, lambda: schema.stage_declared(self)
            )
        return hooks  # type: ignore[no-any-return]

    def _move_branch(self, commit_id: pygit2.Oid, message: str, expected: Any = _NO_CHOICE,
                     reflog: Optional[str] = None, also: Any = ()) -> None:
        """Point the branch at ``commit_id`` if it still is at ``expected``
        (default: where this unit of work started); else raise ``BranchMoved``.

        ``also``: more ref moves made in the same step. A ref locked by
        another writer is waited for (bounded); a lock file left by a killed
        process is broken. See :mod:`gitmodel.git.refs`.
        """
        if expected is _NO_CHOICE:
            expected = self._start
        summary = message.splitlines()[0] if message else ""
        moves = [(self.head, expected, commit_id), *also]
        worktree.move_branch(self, moves, reflog or f"commit: {summary}")

    @contextmanager
    def commit_on_success(
        self,
        message: str = "",
        author: Optional[Identity] = None,
        committer: Optional[Identity] = None,
    ) -> Iterator[None]:
        """One atomic unit of work: commit the block's changes if it succeeds.

        If the block raises, or its commit fails (for example a conflict with
        another writer), nothing is committed and the calling thread's staging
        area is as it was before the block. Inside it, ``commit=True`` of a
        save, delete, update or bulk joins the block; ``commit()`` is refused.
        Other threads are not held up: each has its own unit of work. A nested
        block is a savepoint: if it raises, its own changes are undone and the
        outer block goes on.
        """
        from .versions import openmerge

        with self._unit.atomic(lambda: self.commit(message, author, committer),
                               lambda state: openmerge.clear(self, state)):
            yield

    def unit_of_work(self) -> ContextManager[UnitOfWork]:
        """A ``with`` block (one web request) in a fresh unit of work of the calling
        thread, on the branch's latest commit: see :func:`gitmodel.session.fresh_unit`."""
        return fresh_unit(self._local, self.store, self._default_head)

    # -- branches --------------------------------------------------------------------
    def create_branch(self, name: str, start_point: Optional[Treeish] = None) -> Branch:
        """Create branch ``name`` at ``start_point`` (default: the current branch)."""
        return self.store.create_branch(name, self._commit_of(start_point, "branch from"))

    def _commit_of(self, treeish: Optional[Treeish], action: str) -> pygit2.Commit:
        """The commit ``treeish`` names (default: the one this unit of work is on)."""
        if treeish is None:
            self._unit.follow()  # a clean unit is on the branch's latest commit
            if self._start is None:
                raise RepositoryError(f"{self.head} has no commits to {action}")
            return self.repo[self._start]  # type: ignore[return-value]
        target = self.resolve_treeish(treeish)
        if not isinstance(target, pygit2.Commit):
            raise RepositoryError(f"{treeish!r} does not point to a commit")
        return target

    def get_branch(self, ref: str) -> Branch:
        """The branch called ``ref`` (name or ``refs/heads/...``)."""
        return self.store.get_branch(ref)

    def set_branch(self, name: str) -> None:
        """Switch to branch ``name``; refused while changes are pending."""
        self._refuse_pending("switch branches")
        branch = self.get_branch(name)
        with self.write_lock:
            self._default_head = branch.ref.name  # new threads start there too
            self._unit.switch(branch.ref.name, branch.commit)

    def update_index(self, treeish: Optional[Treeish] = None) -> None:
        """Move to ``treeish``: a branch switches; a tag or commit is read-only."""
        if treeish is None:
            treeish = self.head
        if isinstance(treeish, Branch):
            treeish = treeish.ref.name
        if isinstance(treeish, str) and existing_branch_ref(self.repo, treeish) is not None:
            self.set_branch(treeish)
            return
        self._refuse_pending("move the index")
        target = self.resolve_treeish(treeish)
        if not isinstance(target, pygit2.Commit):
            raise RepositoryError(f"{treeish!r} does not point to a commit")
        with self.write_lock:
            self._unit.switch(self.head, target, detached=True)

    def _refuse_pending(self, action: str) -> None:
        if self._unit.merge is not None:
            raise RepositoryError(f"cannot {action}: a merge is in progress; commit or abort it")
        if self.has_changes():
            raise PendingChanges(action)

    def walk(
        self, sort: SortMode = SortMode.TOPOLOGICAL | SortMode.TIME
    ) -> Iterator[pygit2.Commit]:
        """The commits of the current position, newest first.

        Topological order breaks ties between commits made in the same
        second, so a child always comes before its parent.
        """
        self.refresh()
        if self._start is None:
            return iter(())
        return objects.walking(self.repo, self._start, sort)

    # -- history, tags, merges (see history.py and merge.py) ------------------------
    def changes(self, a: Treeish, b: Optional[Treeish] = None) -> list[Change]:
        """Object-level changes from ``a`` to ``b`` (default: the staged state)."""
        from .versions import history

        return history.changes(self, a, b)

    def revert(self, commit: Treeish) -> list[Change]:
        """Stage the field-level inverse of ``commit``'s changes (not committed)."""
        from .versions import history

        with self._unit_kept():
            return history.revert(self, commit)

    def create_tag(
        self, name: str, target: Optional[Treeish] = None, message: Optional[str] = None
    ) -> pygit2.Oid:
        """Tag ``target`` (default: the branch's last commit); annotated if ``message``."""
        from .versions import history

        return history.create_tag(self, name, target, message)

    def delete_tag(self, name: str) -> None:
        """Delete tag ``name``."""
        from .versions import history

        history.delete_tag(self, name)

    @property
    def tags(self) -> dict[str, pygit2.Commit]:
        """Tag name -> tagged commit."""
        from .versions import history

        return history.tags(self)

    @property
    def branches(self) -> dict[str, Branch]:
        """Branch name -> :class:`Branch`."""
        from .versions import history

        return history.branches(self)

    def delete_branch(self, name: str) -> None:
        """Delete branch ``name`` (not the current one)."""
        from .versions import history

        history.delete_branch(self, name)

    def merge(
        self,
        other: Treeish,
        message: Optional[str] = None,
        strategy: Optional[str] = None,
        fast_forward: bool = True,
        author: Optional[Identity] = None,
        committer: Optional[Identity] = None,
    ) -> MergeResult:
        """Merge branch, tag or commit ``other`` into the current branch, field by field."""
        from .versions import merge

        if message is not None:
            validation.check_message(message)
        with objects.dropping_failed_merge(self, other):
            return merge.merge(self, other, message, strategy, fast_forward, author, committer)

    @property
    def conflicts(self) -> list[Conflict]:
        """The open conflicts of the merge in progress (empty if none)."""
        from .versions import merge

        state = merge.join(self, pending_ok=True)
        return state.conflicts if state is not None else []

    @property
    def merging(self) -> bool:
        """True while a merge of this branch (from any workspace) waits to be finished."""
        from .versions import merge

        return merge.merging(self)

    def abort_merge(self) -> None:
        """Drop the open merge and return to where it started.

        After ``merge()`` or ``pull()``: the branch's last commit. After a
        commit that lost the race: its pending edits on the commit they were
        built on, so nothing is lost.
        """
        from .versions import merge

        merge.abort_merge(self)
        if not self.has_changes():  # after merge() or pull(): the saves made during it are dropped
            self._unit.give_back()

    # -- locks -------------------------------------------------------------------------
    def lock(self, id: str, timeout: Optional[float] = None) -> Any:
        """Hold the advisory lock ``id`` for a ``with`` block (across processes).

        Waits up to ``timeout`` seconds (default :attr:`lock_timeout`), then
        raises ``LockWaitTimeoutExceeded``; a lock whose holder died is broken.
        """
        wait = self.lock_timeout if timeout is None else timeout
        return locks.hold(self.repo, id, wait, stale_lock_age=self.stale_lock_age)

    def locked(self, id: str) -> bool:
        """True while someone holds lock ``id``."""
        return locks.read_lock(self.repo, id) is not None

    def lock_info(self, id: str) -> Optional[LockInfo]:
        """Who holds lock ``id`` (pid, host, time), or ``None``."""
        return locks.read_lock(self.repo, id)

    def break_lock(self, id: str) -> bool:
        """Remove lock ``id`` whoever holds it; True if it was held."""
        return locks.break_lock(self.repo, id)

    # -- storage ---------------------------------------------------------------------
    def pack(self) -> int:
        """Move loose objects into one pack; returns how many were moved.

        Reads from a pack are faster than from thousands of loose files, and
        the pack stores similar objects as deltas (like ``git repack -d``).
        """
        return self.store.pack()

    # -- remotes (see gitmodel.remotes) ---------------------------------------------------
    @classmethod
    def clone(
        cls,
        url: Union[str, os.PathLike[str]],
        path: Union[str, os.PathLike[str]],
        branch: Optional[str] = None,
        bare: bool = True,
        callbacks: Optional[pygit2.RemoteCallbacks] = None,
        progress: Optional[_remotes.ProgressCallback] = None,
        *,
        depth: int = 0,
        single_branch: Optional[bool] = None,
        **kwargs: Any,
    ) -> Workspace:
        """Clone ``url`` into ``path`` and open a workspace on it (``depth=N``: shallow)."""
        return _remotes.clone(
            cls, url, path, branch, bare, callbacks, progress, depth=depth, single_branch=single_branch, **kwargs
        )

    @property
    def remotes(self) -> _remotes.Remotes:
        """The configured remotes (iterate, ``[name]``, add, remove, rename)."""
        return _remotes.Remotes(self)

    def add_remote(self, name: str, url: Union[str, os.PathLike[str]]) -> _remotes.RemoteInfo:
        """Add remote ``name`` at ``url``."""
        return _remotes.Remotes(self).add(name, url)

    def fetch(self, remote: str = "origin", **kwargs: Any) -> _remotes.RefUpdates:
        """Fetch ``remote``; returns ``{ref: (old, new)}`` for the refs that moved."""
        return _remotes.fetch(self, remote, **kwargs)

    def push(
        self,
        remote: str = "origin",
        branch: Union[None, str, list[str]] = None,
        force: bool = False,
        **kwargs: Any,
    ) -> _remotes.RefUpdates:
        """Push ``branch`` (default: current); raises ``PushRejected`` per refused ref."""
        return _remotes.push(self, remote, branch, force, **kwargs)

    def pull(
        self, remote: Optional[str] = None, branch: Optional[str] = None, **kwargs: Any
    ) -> _remotes.PullResult:
        """Fetch, then fast-forward or merge the current branch."""
        return _remotes.pull(self, remote, branch, **kwargs)

    def sync(self, remote: str = "origin", **kwargs: Any) -> SyncResult:
        """Fetch, merge field by field, push; retried while other clones push first."""
        from . import sync

        return sync.sync(self, remote, **kwargs)

    def signatures(
        self, trusted: TrustedKeys, treeish: Optional[Treeish] = None, since: Optional[Treeish] = None
    ) -> list[CommitSignature]:
        """Each commit of ``treeish`` (not in ``since``) with its signature checked, newest first."""
        return signing.signatures(self, trusted, treeish, since)

    def require_signed(
        self, trusted: TrustedKeys, treeish: Optional[Treeish] = None, since: Optional[Treeish] = None
    ) -> list[CommitSignature]:
        """Like :meth:`signatures`; raises ``SignatureError`` unless every commit verifies."""
        return signing.require_signed(self, trusted, treeish, since)

    def ahead_behind(self, remote_branch: Optional[str] = None) -> tuple[int, int]:
        """``(ahead, behind)`` of the current branch against ``remote_branch`` (default: upstream)."""
        return _remotes.ahead_behind(self, remote_branch)

    @property
    def upstream(self) -> Optional[str]:
        """The remote-tracking ref the current branch follows, or ``None``."""
        return _remotes.upstream(self)

    def set_upstream(self, remote_branch: Optional[str], branch: Optional[str] = None) -> None:
        """Make ``branch`` (default: current) follow ``remote_branch`` (``"origin/main"``)."""
        _remotes.set_upstream(self, remote_branch, branch)

    # -- plain git --------------------------------------------------------------------
    def sync_repo_index(self, checkout: bool = True) -> None:
        """Write the staged state into the repository's index (and work tree).

        Nothing is written through a symlink; a symlink or submodule entry,
        a ``.git`` alias or a model folder that is not a folder raises
        ``CorruptObject`` (see :mod:`gitmodel.checkout`).
        """
        from . import checkout as _checkout

        _checkout.sync_repo_index(self, checkout)

    def __repr__(self) -> str:
        return f"<Workspace {self.path!r} on {self.head}>"
