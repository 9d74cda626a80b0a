"""The store: one repository, its object cache, and its refs moved by compare-and-swap.

Knows nothing of models or merges: it reads and writes git objects, keeps
decoded values of data blobs in a bounded cache (equal blob id, equal
data), and moves refs only if they still point where the caller expects.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar, Union

import pygit2
from pygit2.enums import ObjectType

from . import objects
from .exceptions import (BranchNotFound, ConfigurationError, CorruptObject, RepositoryError,
                         RepositoryNotFound)
from .git import refs
from .git.autopack import DEFAULT_LOOSE_LIMIT, AutoPacker
from .git.locks import checked_seconds
from .git.odb import objects_dir, use_git_loose_compression
from .pathsafety import refuse_special_files
from .git.refs import DEFAULT_STALE_LOCK_AGE, RefMove
from .refs import Branch, branch_ref, creating_ref

DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_OBJECT_CACHE_SIZE = 131_072
TREE_CACHE_LIMIT = 64 * 1024 * 1024
CACHE_MAX_SIZE = 512 * 1024 * 1024


def _tune_libgit2_cache() -> None:
    # libgit2 keeps no tree over 4 KiB in its cache by default, so a large
    # model folder would be parsed again on every lookup.
    pygit2.settings.cache_object_limit(ObjectType.TREE, TREE_CACHE_LIMIT)
    pygit2.settings.cache_max_size(CACHE_MAX_SIZE)


_tune_libgit2_cache()


T = TypeVar("T")


class StoreSetting(Generic[T]):
    """An attribute of a workspace that its store keeps (read and set there)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        return getattr(obj.store, self.name)  # type: ignore[no-any-return]

    def __set__(self, obj: Any, value: T) -> None:
        setattr(obj.store, self.name, value)


def create_repository(path: Union[str, os.PathLike[str]], bare: bool,
                      initial_head: Optional[str]) -> str:
    """Create a new repository at ``path``; its git folder. A path no
    repository can be created at (a NUL byte, a lone surrogate, a name too
    long) is a :class:`RepositoryError`."""
    try:
        return pygit2.init_repository(os.fspath(path), bare=bare, initial_head=initial_head).path  # type: ignore[no-any-return]
    except (pygit2.GitError, OSError, ValueError) as exc:
        raise RepositoryError(f"cannot create a repository at {path!r}: {exc}") from None


class Store:
    """A git repository opened for gitmodel, shared by every unit of work."""

    @property
    def lock_timeout(self) -> float:
        """Seconds a busy ref lock is waited for."""
        return self._lock_timeout

    @lock_timeout.setter
    def lock_timeout(self, value: float) -> None:
        self._lock_timeout = checked_seconds(value, "lock_timeout")

    @property
    def stale_lock_age(self) -> float:
        """Seconds after which a ref lock file is taken as left by a dead process."""
        return self._stale_lock_age

    @stale_lock_age.setter
    def stale_lock_age(self, value: float) -> None:  # NaN would break a live writer's lock file
        self._stale_lock_age = checked_seconds(value, "stale_lock_age")

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        stale_lock_age: float = DEFAULT_STALE_LOCK_AGE,
        object_cache_size: int = DEFAULT_OBJECT_CACHE_SIZE,
    ) -> None:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise RepositoryNotFound(f"no git repository at {path!r}: the path does not exist")
        refuse_special_files(path)  # a pipe as config or HEAD would block libgit2 forever
        try:
            # NO_SEARCH: a folder inside some other repository is not that repository
            self.repo = pygit2.Repository(path, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except (pygit2.GitError, KeyError) as exc:
            raise RepositoryNotFound(f"no git repository at {path!r}: {exc}") from None
        refs.refuse_linked_refs(self.repo)  # refs are never read through a symlink
        objects.refuse_cut_objects(self.repo, objects_dir(self.repo))  # before libgit2 reads any
        self.path: str = self.repo.path
        use_git_loose_compression(self.repo, objects_dir(self.repo))
        self.odb = self.repo.odb
        self.objects_dir = os.path.join(objects_dir(self.repo), "")
        # the packs alone, read first while reads keep finding objects there
        self.packs = pygit2.Odb()
        self.packs.add_backend(pygit2.OdbBackendPack(self.objects_dir), 1)
        self.packed_first = False
        self.lock_timeout = lock_timeout
        self.stale_lock_age = stale_lock_age
        self.object_cache_size = object_cache_size
        # an LRU map: OrderedDict evicts its oldest entry in O(1) (a plain dict
        # slows down as deleted slots pile up at its front)
        self.objects: OrderedDict[pygit2.Oid, Any] = OrderedDict()
        #: serializes the short steps that change shared state (cache, objects, refs)
        self.write_lock = threading.RLock()
        #: ``(tree now, tree followed to)``, handed from above: called as a clean
        #: unit follows its branch to a commit another writer made (one that
        #: migrated a schema the declarations may no longer fit)
        self.follow_check: Optional[Callable[[Optional[pygit2.Tree], Optional[pygit2.Tree]], None]] = None
        #: packs loose objects after a commit (``git config gitmodel.autoPack N``:
        #: from about N loose objects; ``0``, or ``gc.auto=0``, turns it off;
        #: ``gitmodel.autoPackMerge=0`` keeps every pack as written;
        #: ``gitmodel.autoPackDetach=1`` packs in a background thread)
        self.auto_pack = AutoPacker(
            self.path,
            objects_dir(self.repo),
            self._config_int("gitmodel.autopack", 0 if self._config_int("gc.auto", 1) == 0
                             else DEFAULT_LOOSE_LIMIT),
            self._config_int("gitmodel.autopackmerge", 1) > 0,
            self._config_int("gitmodel.autopackdetach", 0) > 0,
        )

    def _config_int(self, name: str, default: int) -> int:
        try:
            text = str(self.repo.config[name])
        except (KeyError, pygit2.GitError, ValueError):
            return default
        try:
            value = int(text)
        except ValueError:
            raise ConfigurationError(f"{name} = {text!r} in the repository's config: "
                                     "expected a whole number") from None
        if value < 0:
            raise ConfigurationError(f"{name} = {text!r} in the repository's config: "
                                     "expected 0 or more")
        return value

    # -- objects ----------------------------------------------------------------
    def read_object(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        """``(type, raw data)`` of object ``oid`` in one read; ``KeyError`` if missing,
        ``pygit2.GitError`` if it cannot be read (a loose object is checked first,
        see :mod:`gitmodel.objects`)."""
        if self.packed_first:  # the last read found a packed object
            try:
                return self.packs.read(oid)  # type: ignore[no-any-return]
            except KeyError:  # a miss rescans the pack folder: try the loose file first next time
                self.packed_first = False
        found = objects.read_loose(self.objects_dir, oid)
        if found is None:
            self.packed_first = True
            return self.odb.read(oid)  # type: ignore[no-any-return]  # packs, alternates
        return found

    def cached(self, oid: pygit2.Oid) -> Any:
        """The decoded value remembered for blob ``oid``, or ``None``."""
        value = self.objects.get(oid)
        if value is not None:
            try:
                self.objects.move_to_end(oid)  # least recently used goes first
            except KeyError:  # evicted meanwhile by another thread
                pass
        return value

    def remember(self, oid: pygit2.Oid, value: Any, evict: bool = True) -> bool:
        """Keep ``value`` as the decoded form of blob ``oid``; False if not kept.

        The least recently used entry goes first, or, with ``evict=False``,
        nothing is added to a full cache.
        """
        if self.object_cache_size <= 0:
            return False
        objects = self.objects
        with self.write_lock:  # threads reading at once: evict and add as one step
            if oid in objects:
                objects.move_to_end(oid)
            elif len(objects) >= self.object_cache_size:
                if not evict:
                    return False
                while len(objects) >= self.object_cache_size:
                    objects.popitem(last=False)
            objects[oid] = value
        return True

    def after_commit(self) -> None:
        """A commit was written: pack loose objects if due (see :class:`AutoPacker`)."""
        self.auto_pack.after_commit()

    # -- refs ---------------------------------------------------------------------
    def read_ref(self, name: str) -> Optional[pygit2.Oid]:
        """The target of ref ``name`` (``None`` if it does not exist)."""
        return refs.read_ref(self.repo, name)

    def commit_at(self, ref: str) -> Optional[pygit2.Commit]:
        """The commit ``ref`` points at; a corrupt ref raises ``RepositoryError``."""
        target = refs.read_ref(self.repo, ref)
        if target is None:
            return None
        try:
            commit = self.repo.get(target)
        except pygit2.GitError as exc:
            raise CorruptObject("(the commit)", f"{ref} points at a commit git cannot read ({exc})", target) from None
        try:
            if isinstance(commit, pygit2.Commit):
                commit.tree  # noqa: B018 - read now: a damaged root tree is reported here
        except pygit2.GitError as exc:
            raise CorruptObject("(the root tree)", f"git cannot read it ({exc})", target) from None
        if not isinstance(commit, pygit2.Commit):
            what = "a missing object" if commit is None else f"a {type(commit).__name__}"
            raise RepositoryError(f"{ref} is corrupt: it points at {what} ({target})")
        return commit

    def get_branch(self, name: str) -> Branch:
        """The branch called ``name`` (or ``refs/heads/...``)."""
        ref_name = branch_ref(name)
        refs.refuse_linked_ref(self.repo, ref_name)
        reference = self.repo.references.get(ref_name)
        if reference is None:
            raise BranchNotFound(name, f"Reference not found: {ref_name} (no branch {name!r})")
        return Branch(reference, self.repo[reference.target])  # type: ignore[arg-type]

    def create_branch(self, name: str, commit: pygit2.Commit) -> Branch:
        """Create branch ``name`` at ``commit``; refused if it exists, or if a
        branch is a folder of it or it of a branch (``a`` beside ``a/b``)."""
        ref_name = branch_ref(name)
        refs.refuse_linked_ref(self.repo, ref_name)
        if refs.read_ref(self.repo, ref_name) is not None:  # also one a damaged packed-refs hides
            raise RepositoryError(f"branch {name!r} already exists")
        with creating_ref(self.repo, ref_name, "branch", name):  # a/b beside a: refused, named
            return Branch(self.repo.references.create(ref_name, commit.id), commit)

    def refuse_unborn_branch(self, ref_name: str) -> None:
        """A branch named at open that does not exist, in a repository that has
        branches, is most likely a typo: its first commit would start a history
        of its own. Refused; ``create_branch`` starts it from a commit instead."""
        existing = sorted(r for r in self.repo.references if r.startswith("refs/heads/"))
        if existing:
            name = ref_name[len("refs/heads/"):]
            raise BranchNotFound(
                ref_name,
                f"branch {name!r} does not exist (branches: "
                f"{', '.join(r[len('refs/heads/'):] for r in existing[:10])}); to start it from "
                f"HEAD as git switch -c does: Workspace(path).create_branch({name!r}), then open "
                "it; to start it with no history: orphan=True",
            )

    def pack(self) -> int:
        """Move the loose objects into one pack; how many moved."""
        from .git.autopack import packing
        from .git.repack import pack_loose

        with self.write_lock, packing(self.repo, self.lock_timeout):
            return pack_loose(self.repo)

    def move_refs(self, moves: Sequence[RefMove], reflog: str) -> None:
        """Compare-and-swap ``moves`` together (see :func:`gitmodel.git.refs.move_refs`)."""
        refs.move_refs(self.repo, moves, reflog, self.lock_timeout, self.stale_lock_age)
