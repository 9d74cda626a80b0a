"""The staging tree: pending edits as an overlay over a base git tree.

Staging a file records ``path -> (blob id, mode)`` in nested dicts; nothing
is written to the object database but the blob itself. :meth:`write`
builds tree objects for the folders that changed and no others, so staging
the 100,000th object costs what staging the first did.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar, Union

import pygit2
from pygit2.enums import FileMode

from ..exceptions import CorruptObject
from ..pathsafety import name_problem_in_tree
from .odb import write_tree
from .packs import PackWriter, raw_entry

Entry = tuple[pygit2.Oid, int]
_R = TypeVar("_R")
_T = TypeVar("_T")
#: a file name, or a predicate on file names
NameMatch = Union[str, Callable[[str], bool]]
TREE_MODE = int(FileMode.TREE)
BLOB_MODE = int(FileMode.BLOB)
#: How many base lookups a staging tree remembers (path -> entry).
MEMO_SIZE = 262_144
#: The id of the empty tree (the only tree with no entries).
EMPTY_TREE = pygit2.Oid(hex="4b825dc642cb6eb9a060e54bf8d69288fbee4904")


def _reads_trees(method: Callable[..., _R]) -> Callable[..., _R]:
    """A base tree that cannot be read (damaged) is :class:`CorruptObject`
    naming the path asked for, never a raw ``GitError``."""

    @functools.wraps(method)
    def wrapper(self: "StagingTree", path: Any = "", *args: Any, **kwargs: Any) -> _R:
        try:
            return method(self, path, *args, **kwargs)
        except pygit2.GitError as exc:
            where = path if isinstance(path, str) and path else "(a tree)"
            raise CorruptObject(where, f"a tree on this path cannot be read ({exc})") from None

    return wrapper


def _reads_trees_lazily(method: Callable[..., Iterator[_T]]) -> Callable[..., Iterator[_T]]:
    """:func:`_reads_trees` for a generator."""

    @functools.wraps(method)
    def wrapper(self: "StagingTree", path: Any = "", *args: Any, **kwargs: Any) -> Iterator[_T]:
        try:
            yield from method(self, path, *args, **kwargs)
        except pygit2.GitError as exc:
            where = path if isinstance(path, str) and path else "(a tree)"
            raise CorruptObject(where, f"a tree on this path cannot be read ({exc})") from None

    return wrapper


class _Folder:
    """Pending changes of one folder. ``cleared``: ignore the base's content."""

    __slots__ = ("entries", "cleared")

    def __init__(self, cleared: bool = False) -> None:
        self.entries: dict[str, Union[Entry, _Folder, None]] = {}
        self.cleared = cleared


def split_path(path: str) -> list[str]:
    """``'a/b/c'`` -> ``['a', 'b', 'c']``; refuses empty and dot components."""
    parts = path.strip("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"invalid path: {path!r}")
    return parts


class StagingTree:
    """A base tree plus pending edits; reads see the edits first."""

    def __init__(self, repo: pygit2.Repository, base: Optional[pygit2.Tree]) -> None:
        self.repo = repo
        self.base = base
        self._root = _Folder()
        self._memo: tuple[Optional[pygit2.Tree], dict[str, Entry]] = (None, {})
        # the tree builders of the last write(), by folder path, valid while
        # their root is the base: lookups there need no tree read back
        self._fresh: tuple[Optional[pygit2.Tree], dict[str, pygit2.TreeBuilder]] = (None, {})
        self._building: Optional[dict[str, pygit2.TreeBuilder]] = {}
        #: ids of the objects staged since the last write that were written here
        #: (known to exist: a packed write need not look them up)
        self._written: set[pygit2.Oid] = set()

    # -- state ------------------------------------------------------------
    @property
    def is_dirty(self) -> bool:
        """True when edits are pending on top of :attr:`base`."""
        return bool(self._root.entries) or self._root.cleared

    def touches(self, top: str) -> bool:
        """True if edits are pending in top-level entry ``top`` (or the whole
        base is dropped): else ``top`` reads as in :attr:`base`."""
        root = self._root
        return root.cleared or top in root.entries

    def reset(self, base: Optional[pygit2.Tree]) -> None:
        """Drop every pending edit and start over from ``base``."""
        self.base = base
        self._root = _Folder()
        self._written = set()

    # -- edits --------------------------------------------------------------
    @_reads_trees
    def set(self, path: str, oid: pygit2.Oid, mode: int = BLOB_MODE, written: bool = False) -> None:
        """Stage ``path`` to point at ``oid`` (a blob, or a tree with TREE mode);
        ``written``: the caller has just written that object."""
        parts = split_path(path)
        self._parent_of(parts).entries[parts[-1]] = (oid, mode)
        if written:
            self._written.add(oid)

    def apply(self, edits: Iterable[tuple[str, Optional[Entry]]]) -> None:
        """Stage each ``(path, entry)``; an entry of ``None`` removes the path."""
        for path, entry in edits:
            if entry is None:
                self.remove(path)
            else:
                self.set(path, entry[0], entry[1])

    @_reads_trees
    def remove(self, path: str) -> bool:
        """Stage the removal of a file or folder; False if it did not exist."""
        if self.lookup(path) is None:
            return False
        parts = split_path(path)
        self._parent_of(parts).entries[parts[-1]] = None
        return True

    def _parent_of(self, parts: list[str]) -> _Folder:
        """The pending folder node that holds ``parts[-1]``, created on the way."""
        folder = self._root
        for name in parts[:-1]:
            child = folder.entries.get(name, _MISSING)
            if not isinstance(child, _Folder):
                child = self._folder_for(child)
                folder.entries[name] = child
            folder = child
        return folder

    def _folder_for(self, child: Union[Entry, None, object]) -> _Folder:
        """A folder node to descend into where ``child`` is staged now."""
        if child is _MISSING:
            return _Folder()  # edits on top of whatever the base has there
        if child is not None and child[1] == TREE_MODE:  # type: ignore[index]
            folder = _Folder(cleared=True)  # a staged subtree: copy its entries
            for obj in self.repo[child[0]]:  # type: ignore[index,attr-defined]
                folder.entries[obj.name] = (obj.id, obj.filemode)  # type: ignore[attr-defined]
            return folder
        return _Folder(cleared=True)  # replaces a deleted path or a file

    # -- reads --------------------------------------------------------------
    @_reads_trees
    def lookup(self, path: str) -> Optional[Entry]:
        """The ``(oid, mode)`` at ``path`` in the staged view, or ``None``."""
        folder = self._root
        if not folder.entries and not folder.cleared:  # nothing staged: read the base
            return self._base_lookup(path) if self.base is not None else None
        parts = path.split("/")
        base_ok = not folder.cleared
        for depth, name in enumerate(parts):
            child = folder.entries.get(name, _MISSING)
            if child is _MISSING:
                if not base_ok or self.base is None:
                    return None
                return self._base_lookup("/".join(parts))
            if child is None:
                return None
            if isinstance(child, _Folder):
                if depth == len(parts) - 1:
                    return (self._write_folder(child, parts), TREE_MODE)  # rarely needed
                folder = child
                if child.cleared:
                    base_ok = False
                continue
            if depth == len(parts) - 1:
                return child  # type: ignore[return-value]
            if child[1] == TREE_MODE:  # type: ignore[index]
                rest = "/".join(parts[depth + 1 :])
                try:
                    obj = self.repo[child[0]][rest]  # type: ignore[index]
                except KeyError:
                    return None
                return (obj.id, obj.filemode)
            return None
        return None

    def _base_lookup(self, path: str) -> Optional[Entry]:
        # Found entries are remembered per base tree. The memo travels with its
        # tree, so an entry found on an old base (by a reader racing a commit)
        # lands in that base's memo, never in the current one.
        base = self.base
        memo_tree, memo = self._memo
        if memo_tree is not base:
            memo = {}
            self._memo = (base, memo)
        else:
            entry = memo.get(path)
            if entry is not None:
                return entry
        fresh_tree, fresh = self._fresh
        try:
            if fresh_tree is base and "" in fresh:
                obj = self._fresh_lookup(fresh, path)
                if obj is None:
                    return None
            else:
                obj = base[path]  # type: ignore[index]
        except KeyError:
            return None
        # a plain int mode: an entry of untracked parts is itself left out of
        # the garbage collector's passes (an enum would keep each one tracked)
        entry = (obj.id, int(obj.filemode))
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[path] = entry
        return entry

    def _fresh_lookup(
        self, fresh: dict[str, pygit2.TreeBuilder], path: str
    ) -> Optional[pygit2.Object]:
        """Look ``path`` up through the builders the last write left in memory.

        A commit writes new trees along the paths it changed; reading them
        back would inflate each one from its loose file. Below a folder that
        write did not touch, the (cached) git tree is read as usual.
        """
        parts = path.split("/")
        builder = fresh[""]
        prefix = ""
        last = len(parts) - 1
        for depth, name in enumerate(parts):
            obj = builder.get(name)
            if obj is None or depth == last:
                return obj
            if not isinstance(obj, pygit2.Tree):
                return None  # a file where the path wants a folder
            prefix = f"{prefix}/{name}" if prefix else name
            sub = fresh.get(prefix)
            if sub is None:
                return obj["/".join(parts[depth + 1 :])]
            builder = sub
        return None

    @_reads_trees
    def files_below(
        self, folder: str, match: NameMatch, refused: Optional[list[tuple[str, str]]] = None,
    ) -> list[tuple[str, pygit2.Oid]]:
        """``(path, blob id)`` of every file below ``folder`` whose name is
        ``match`` (or satisfies it): a snapshot, as a list. A file where the
        folder should be, or a tree git cannot parse, raises ``CorruptObject``;
        folder entries naming no tree go to ``refused``."""
        if folder and _is_file(self.base, folder) and _is_file(self, folder):
            raise CorruptObject(folder, "expected a folder, found a file")
        below: list[tuple[str, str]] = []
        try:
            found = list(self.iter_files(folder, match, below))
        except pygit2.GitError as exc:  # a tree written by another tool
            raise CorruptObject(folder, f"a tree in this folder cannot be read ({exc})") from None
        out = []
        for rel, name, (oid, _mode) in found:
            prefix = f"{folder}/{rel}/" if rel else (f"{folder}/" if folder else "")
            out.append((prefix + name, oid))
        if refused is not None:
            refused.extend((f"{folder}/{rel}".strip("/"), what) for rel, what in below)
        return out

    @_reads_trees_lazily
    def find_files(self, path: str, filename: str) -> Iterator[tuple[str, Entry]]:
        """Yield ``(folder, entry)`` for each file called ``filename`` below ``path``.

        ``folder`` is the file's folder relative to ``path``. Subtrees with no
        pending edits are read straight from git.
        """
        for folder, _name, entry in self.iter_files(path, filename):
            yield folder, entry

    @_reads_trees_lazily
    def iter_files(
        self, path: str, match: NameMatch, refused: Optional[list[tuple[str, str]]] = None,
    ) -> Iterator[tuple[str, str, Entry]]:
        """Yield ``(folder, name, entry)`` for each file below ``path`` whose
        name is ``match`` (or satisfies it, when it is a predicate). A folder
        entry naming no tree is not opened: it goes to ``refused`` (as in
        :func:`walk_files`)."""
        match = _matcher(match)
        parts = [p for p in path.split("/") if p]
        node: object = self._root
        base: Optional[pygit2.Object] = None if self._root.cleared else self.base
        for name in parts:
            if base is not None:
                base = base[name] if isinstance(base, pygit2.Tree) and name in base else None
            if isinstance(node, _Folder):
                child = node.entries.get(name, _MISSING)
                if child is None:
                    return
                if isinstance(child, _Folder):
                    if child.cleared:
                        base = None
                    node = child
                elif child is not _MISSING:
                    node, base = None, self.repo[child[0]]  # type: ignore[index]
                else:
                    node = None
        if isinstance(base, pygit2.Tree) and not is_real_tree(base):
            if refused is not None:
                refused.append(("", _named(base)))  # the folder itself
            base = None
        yield from self._find(node if isinstance(node, _Folder) else None, base, "", match, refused)

    def _find(
        self,
        folder: Optional[_Folder],
        base: Optional[pygit2.Object],
        prefix: str,
        filename: Callable[[str], bool],
        refused: Optional[list[tuple[str, str]]] = None,
    ) -> Iterator[tuple[str, str, Entry]]:
        if folder is None:
            if isinstance(base, pygit2.Tree):
                yield from _find_in_tree(base, prefix, filename, refused)
            return
        pending = folder.entries
        if isinstance(base, pygit2.Tree):
            for obj in base:
                name = obj.name
                if name in pending:
                    continue
                if obj.filemode == TREE_MODE and not _reported(filename, name or ""):  # type: ignore[attr-defined]
                    if is_real_tree(obj):
                        yield from _find_in_tree(obj, f"{prefix}{name}/", filename, refused)  # type: ignore[arg-type]
                    elif refused is not None:
                        refused.append((f"{prefix}{name}", _named(obj)))
                elif filename(name):  # type: ignore[arg-type]
                    yield prefix.rstrip("/"), name, (obj.id, obj.filemode)  # type: ignore[attr-defined,misc]
        for name, child in pending.items():
            if child is None:
                continue
            if isinstance(child, _Folder):
                sub = None
                if not child.cleared and isinstance(base, pygit2.Tree) and name in base:
                    sub = base[name]
                if isinstance(sub, pygit2.Tree) and not is_real_tree(sub):
                    if refused is not None:
                        refused.append((f"{prefix}{name}", _named(sub)))
                    sub = None
                yield from self._find(child, sub, f"{prefix}{name}/", filename, refused)
            elif child[1] == TREE_MODE and not _reported(filename, name):
                yield from _find_in_tree(self.repo[child[0]], f"{prefix}{name}/", filename, refused)  # type: ignore[arg-type]
            elif filename(name):
                yield prefix.rstrip("/"), name, child

    def touched_paths(self) -> Iterator[str]:
        """Paths with pending edits (files, deletions), plus every folder whose
        base content is dropped."""
        if self._root.cleared:
            yield ""
        stack: list[tuple[str, _Folder]] = [("", self._root)]
        while stack:
            prefix, folder = stack.pop()
            for name, child in folder.entries.items():
                path = f"{prefix}{name}"
                if isinstance(child, _Folder):
                    if child.cleared:
                        yield path
                    stack.append((path + "/", child))
                else:
                    yield path

    # -- writing --------------------------------------------------------------
    @_reads_trees
    def write(self, _path: str = "") -> pygit2.Oid:
        """Write tree objects for changed folders; the result becomes the base."""
        if not self.is_dirty and self.base is not None:
            return self.base.id
        base = None if self._root.cleared else self.base
        if _folders_below(self._root, PACKED_WRITE_AT) >= PACKED_WRITE_AT:
            writer = PackWriter(self.repo)  # many trees: one pack, not a loose file each
            oid = _write_packed(self, writer, self._root, base, is_root=True)
            writer.write()
            self._building = None
        else:
            self._building = {}
            oid = self._write(self._root, base, is_root=True)
        assert oid is not None
        self.base = self.repo[oid]  # type: ignore[assignment]
        self._fresh = (self.base, self._building or {})
        self._building = None  # later partial writes must not touch the fresh set
        self._root = _Folder()
        self._written = set()
        return oid

    def _write_folder(self, folder: _Folder, parts: list[str]) -> pygit2.Oid:
        base = None
        if not folder.cleared and self.base is not None:
            try:
                base = self.base["/".join(parts)]
            except KeyError:
                base = None
        oid = self._write(folder, base if isinstance(base, pygit2.Tree) else None)
        return oid if oid is not None else write_tree(self.repo, self.repo.TreeBuilder())

    def _write(
        self, folder: _Folder, base: Optional[pygit2.Tree], is_root: bool = False, path: str = ""
    ) -> Optional[pygit2.Oid]:
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        for name, child in folder.entries.items():
            if child is None:
                if builder.get(name) is not None:
                    builder.remove(name)
                continue
            if isinstance(child, _Folder):
                oid = self._write(child, _sub_base(base, name, child), path=f"{path}/{name}" if path else name)
                if oid is None:
                    if builder.get(name) is not None:
                        builder.remove(name)
                else:
                    builder.insert(name, oid, TREE_MODE)
                continue
            oid, mode = child
            if mode == TREE_MODE and oid == EMPTY_TREE:  # no need to read the tree
                if builder.get(name) is not None:
                    builder.remove(name)
                continue
            builder.insert(name, oid, mode)
        if len(builder) == 0 and not is_root:
            return None
        building = self._building
        if building is not None:  # kept for small writes only (a bulk import writes many)
            if len(building) < FRESH_BUILDERS:
                building[path] = builder
            else:
                self._building = None
        return write_tree(self.repo, builder)


def _is_file(tree: Union[pygit2.Tree, StagingTree, None], path: str) -> bool:
    """True if ``path`` in ``tree`` is something other than a folder."""
    if isinstance(tree, StagingTree):
        entry = tree.lookup(path)
        return entry is not None and entry[1] != TREE_MODE
    try:
        return tree is not None and tree[path].filemode != TREE_MODE  # type: ignore[attr-defined]
    except KeyError:
        return False


_MISSING = object()
#: at most this many tree builders of the last write are kept for lookups
FRESH_BUILDERS = 64
#: a write of at least this many folders goes into one pack (a bulk import:
#: thousands of trees); smaller ones are loose objects, as git writes them
PACKED_WRITE_AT = 256
#: the modes libgit2's tree builder accepts (a gitlink, ``160000``, names a commit of another repository)
_VALID_MODES = frozenset((TREE_MODE, BLOB_MODE, int(FileMode.BLOB_EXECUTABLE), int(FileMode.LINK), int(FileMode.COMMIT)))
_BLOB_KIND, _TREE_KIND = int(pygit2.enums.ObjectType.BLOB), int(pygit2.enums.ObjectType.TREE)
#: the kind of object each mode must name (a gitlink's commit is not looked up)
_KINDS = {BLOB_MODE: _BLOB_KIND, int(FileMode.BLOB_EXECUTABLE): _BLOB_KIND, int(FileMode.LINK): _BLOB_KIND,
          TREE_MODE: _TREE_KIND}


def _sub_base(base: Optional[pygit2.Tree], name: str, child: _Folder) -> Optional[pygit2.Tree]:
    """The base's tree at ``name`` that the pending folder ``child`` edits, if any."""
    if child.cleared or base is None:
        return None
    try:
        candidate = base[name]
    except KeyError:
        return None
    return candidate if isinstance(candidate, pygit2.Tree) else None


def _folders_below(folder: _Folder, limit: int) -> int:
    """How many folders ``folder`` holds, itself included (counting stops at ``limit``)."""
    count, stack = 0, [folder]
    while stack and count < limit:
        count += 1
        stack.extend(c for c in stack.pop().entries.values() if isinstance(c, _Folder))
    return count


def _write_packed(stage: StagingTree, writer: PackWriter, folder: _Folder,
                  base: Optional[pygit2.Tree], is_root: bool = False) -> Optional[pygit2.Oid]:
    """:meth:`StagingTree._write` into ``writer``: the same trees, checked as
    libgit2's tree builder checks them (every staged object exists, of the
    kind its mode says), written as one pack. The base's entries are kept
    as raw bytes."""
    entries = {} if base is None else writer.tree_entries(base)
    for name, child in folder.entries.items():
        key = name.encode("utf-8")
        if child is None:
            entries.pop(key, None)
            continue
        if name_problem_in_tree(name):
            raise pygit2.GitError(f"failed to insert entry: invalid name for a tree entry - {name}")
        if isinstance(child, _Folder):
            oid = _write_packed(stage, writer, child, _sub_base(base, name, child))
            if oid is None:
                entries.pop(key, None)
            else:
                entries[key] = raw_entry(TREE_MODE, key, oid)
            continue
        oid, mode = child
        if mode == TREE_MODE and oid == EMPTY_TREE:
            entries.pop(key, None)
            continue
        if mode not in _VALID_MODES:
            raise pygit2.GitError(f"failed to insert entry: invalid filemode for file - {name}")
        if oid not in stage._written and mode in _KINDS:
            try:
                kind = stage.repo.odb.read_header(oid)[0]
            except (KeyError, ValueError, pygit2.GitError):
                kind = None
            if kind != _KINDS[mode]:
                raise pygit2.GitError(f"failed to insert entry: invalid object specified - {name}")
        entries[key] = raw_entry(mode, key, oid)
    if not entries and not is_root:
        return None
    return writer.add_raw_tree(entries)


def walk_files(
    tree: pygit2.Tree, match: NameMatch, prefix: str = "",
    refused: Optional[list[tuple[str, str]]] = None, trusted: bool = False,
) -> Iterator[tuple[str, pygit2.Oid]]:
    """``(prefix + path, blob id)`` of every file below ``tree`` whose name is
    ``match`` (or satisfies it, when it is a predicate). The one tree walker:
    a folder named ``match`` is reported, not searched, so that its reader
    reports it (a folder where a data file should be). A folder entry naming
    a commit, a blob or nothing is not opened: ``(path, what it names)`` goes
    to ``refused``; ``trusted``: ``tree`` was walked before with nothing
    refused (an id names its content, the types of what it holds included),
    so that check is left out."""
    if not isinstance(match, str):
        for folder, found, (oid, _mode) in _find_in_tree(tree, prefix, match, refused):
            yield f"{folder}/{found}" if folder else found, oid
        return
    for obj in tree:  # the common case, inline: one file name
        name = obj.name
        if name == match:
            yield prefix + match, obj.id
        elif isinstance(obj, pygit2.Tree):
            if trusted or is_real_tree(obj):
                yield from walk_files(obj, match, f"{prefix}{name}/", refused, trusted)
            elif refused is not None:
                refused.append((f"{prefix}{name}", _named(obj)))


def is_real_tree(obj: pygit2.Object) -> bool:
    """True if a folder entry names a tree. Its mode alone says folder: one
    naming a commit or a blob, read as a tree, crashes libgit2's reader."""
    try:
        obj.peel(pygit2.Tree)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return False
    return obj.type == _TREE


_TREE = int(pygit2.enums.ObjectType.TREE)


def _matcher(match: NameMatch) -> Callable[[str], bool]:
    return _Exact(match) if isinstance(match, str) else match


def _find_in_tree(
    tree: pygit2.Tree, prefix: str, filename: Callable[[str], bool],
    refused: Optional[list[tuple[str, str]]] = None,
) -> Iterator[tuple[str, str, Entry]]:
    # isinstance is far cheaper than ``filemode`` (an enum built per call)
    folder = prefix.rstrip("/")
    for obj in tree:
        if isinstance(obj, pygit2.Tree) and not _reported(filename, obj.name or ""):
            if is_real_tree(obj):
                yield from _find_in_tree(obj, f"{prefix}{obj.name}/", filename, refused)
            elif refused is not None:
                refused.append((f"{prefix}{obj.name}", _named(obj)))
        elif filename(obj.name):  # type: ignore[arg-type]
            yield folder, obj.name, (obj.id, obj.filemode)  # type: ignore[attr-defined,misc]


def _named(obj: pygit2.Object) -> str:
    """What a folder entry that is not a tree names (once ``is_real_tree``
    has tried to read it), for an error message."""
    kind = obj.type_str if obj.type != _TREE else "missing object"
    return f"a {kind} ({obj.id})"


class _Exact:
    """Matches one file name. A folder of that name is yielded, not searched,
    so that the reader reports it (a folder where a data file should be)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, name: str) -> bool:
        return name == self.name


def _reported(match: Callable[[str], bool], name: str) -> bool:
    return isinstance(match, _Exact) and name == match.name


def tree_entry(tree: Optional[pygit2.Tree], path: str) -> Optional[tuple[pygit2.Oid, int]]:
    """``(id, mode)`` at ``path`` in ``tree``, or ``None`` (also for no tree);
    a tree on the way that cannot be read is :class:`CorruptObject`."""
    if tree is None:
        return None
    try:
        obj = tree[path]
    except KeyError:
        return None
    except pygit2.GitError as exc:
        raise CorruptObject(path, f"a tree on this path cannot be read ({exc})") from None
    return (obj.id, obj.filemode)  # type: ignore[attr-defined]
