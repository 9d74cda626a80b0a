"""What a fetch brings in, checked before it counts.

- :class:`RefGuard` records the refs a fetch may move (and ``FETCH_HEAD``
  and the ``shallow`` file) and puts them back when the fetch fails, for
  whatever reason.
- :func:`missing_object` is git's connectivity check: everything reachable
  from the new tips and not from what the repository had must be present.
  A server that sends a commit without its tree is caught here, before a
  ref points at it. The walk costs what the fetch brought: commits already
  had are hidden, and each new commit's tree is compared with its parent's,
  so only the folders that changed are read.
- :func:`stale_in_the_way` finds remote-tracking refs the remote no longer
  has that block one it has (``origin/zz`` against ``origin/zz/bar``).
- :func:`tracking_commit` and :func:`refuse_brought_in` check what a pull or
  sync is about to take in, fast-forward or merge alike, before anything
  moves: a remote branch must lead to a commit, every commit it brings must
  hold nothing in a model's folder that git or gitmodel refuses, and a
  checked-out branch's work tree must be able to take its files.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Union, overload

import pygit2
from pygit2.enums import FileMode, SortMode

from .exceptions import CorruptObject, ReferenceNotFound
from .shallow import named_parents

if TYPE_CHECKING:
    from .workspace import Workspace

#: a direct ref's target, or the name a symbolic ref points to
RefValue = Union[pygit2.Oid, str]

_HEX = re.compile(r"\b[0-9a-f]{40}\b")
#: one tree entry as git writes it: mode, name, NUL, 20-byte id
_ENTRY = re.compile(rb"[0-7]{5,6} [^\0]+\0.{20}", re.S)
#: tree entries kept parsed during one check
_KEEP = 400_000
#: libgit2's words when a ref cannot be written because of another one's path
_BLOCKED = ("beneath", "collides", "directory", "already exists")
_FILES = ("FETCH_HEAD", "shallow")


def refs(repo: pygit2.Repository) -> dict[str, RefValue]:
    """Every ref of ``repo`` and what it points to."""
    out: dict[str, RefValue] = {}
    for ref in repo.references.iterator():
        out[ref.name] = ref.target
    return out


class RefGuard:
    """The refs a fetch may move, as they were before it; :meth:`restore` puts them back."""

    def __init__(self, repo: pygit2.Repository, owned: Callable[[str], bool]) -> None:
        self.repo = repo
        self._owned = owned
        self.also: Callable[[str], bool] = lambda name: False  # refs libgit2 said it moved
        self.before = refs(repo)
        self.files = {name: _read(os.path.join(repo.path, name)) for name in _FILES}
        self.packs = set(_listdir(os.path.join(repo.path, "objects", "pack")))

    def changed(self) -> dict[str, tuple[Optional[RefValue], Optional[RefValue]]]:
        """The refs the fetch may own that differ from before, ``{name: (before, now)}``."""
        now = refs(self.repo)
        return {
            name: (self.before.get(name), now.get(name))
            for name in set(now) | set(self.before)
            if self.before.get(name) != now.get(name) and (self._owned(name) or self.also(name))
        }

    def restore(self) -> list[str]:
        """Put back every changed ref and file; returns what could not be put back."""
        problems = []
        changed = self.changed()
        created = sorted((n for n, (old, _) in changed.items() if old is None), reverse=True)
        for name in created:  # deepest first, so that a folder of refs empties
            try:
                self.repo.references.delete(name)
            except (KeyError, ValueError, pygit2.GitError) as exc:
                problems.append(f"{name}: {exc}")
        for name, (old, _now) in sorted(changed.items()):
            if old is None:
                continue
            try:
                self.repo.references.create(name, old, force=True)
            except (KeyError, ValueError, pygit2.GitError) as exc:
                problems.append(f"{name}: {exc}")
        for file, data in self.files.items():
            path = os.path.join(self.repo.path, file)
            if _read(path) == data:
                continue
            try:
                if data is None:
                    os.unlink(path)
                else:
                    with open(path, "wb") as fh:
                        fh.write(data)
            except OSError as exc:
                problems.append(f"{file}: {exc}")
        return problems


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def drop_refused(repo: pygit2.Repository, packs_before: set[str], tips: Iterable[pygit2.Oid]) -> None:
    """Take the commits and tags of a refused fetch out of the packs it wrote.

    libgit2 asks a server only for commits it does not have, so a refused
    commit left in place would be refused again on every later fetch, even
    from an honest server. Each pack that appeared during the fetch and holds
    one of its ``tips`` is written anew without its commits and tags, then
    removed; its trees and blobs stay, since a writer may already have named
    one of them.
    """
    try:
        _drop(repo, os.path.join(repo.path, "objects", "pack"), packs_before, {tip.raw for tip in tips})
    except (OSError, ValueError, KeyError, pygit2.GitError):
        pass  # left as git leaves them: the refs were put back, which is what counts


def _drop(repo: pygit2.Repository, folder: str, packs_before: set[str], wanted: set[bytes]) -> None:
    for name in sorted(set(_listdir(folder)) - packs_before):
        if not name.endswith(".idx") or not os.path.exists(os.path.join(folder, name[:-4] + ".pack")):
            continue
        ids = _pack_ids(os.path.join(folder, name))
        if not wanted & ids:
            continue
        kept = pygit2.PackBuilder(repo)
        for raw in ids:
            oid = pygit2.Oid(raw=raw)
            if repo.odb.read_header(oid)[0] in (pygit2.enums.ObjectType.TREE, pygit2.enums.ObjectType.BLOB):
                kept.add(oid)
        if len(kept):
            kept.write(folder)
        for ext in (".idx", ".pack", ".rev", ".bitmap", ".keep", ".mtimes"):
            try:
                os.unlink(os.path.join(folder, name[:-4] + ext))
            except FileNotFoundError:
                pass


def _pack_ids(idx: str) -> set[bytes]:
    """The object ids a pack index (version 2, as libgit2 and git write) lists."""
    with open(idx, "rb") as fh:
        data = fh.read()
    if data[:8] != b"\377tOc\0\0\0\2":
        return set()
    count = int.from_bytes(data[8 + 255 * 4 : 8 + 256 * 4], "big")
    start = 8 + 256 * 4
    return {data[i : i + 20] for i in range(start, start + 20 * count, 20)}


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


# -- the connectivity check ---------------------------------------------------------


class _Missing(Exception):
    def __init__(self, kind: str, oid: object) -> None:
        super().__init__(kind, oid)
        self.kind, self.oid = kind, str(oid)


def missing_object(
    repo: pygit2.Repository, tips: Iterable[pygit2.Oid], had: Iterable[RefValue],
    deepened: Iterable[pygit2.Oid] = (),
) -> Optional[tuple[str, str]]:
    """The first object reachable from ``tips`` and not from ``had`` that is absent, as ``(kind, id)``.

    ``deepened`` are commits a deepening fetch took off the shallow edge:
    the history behind them is new and is checked as well.
    """
    check = _Check(repo)
    try:
        check.commits(list(tips), [oid for oid in had if isinstance(oid, pygit2.Oid)])
        behind = [parent for oid in deepened for parent in named_parents(repo, oid)]
        if behind:
            check.commits(behind, [])
    except _Missing as missing:
        return missing.kind, missing.oid
    return None


class _Check:
    """One connectivity check; trees are read raw and compared entry by entry."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.odb = repo.odb
        self.trees: set[bytes] = set()  # checked, with everything below them
        self.parsed: dict[bytes, _Entries] = {}
        self.kept = 0

    def commits(self, tips: list[pygit2.Oid], had: list[pygit2.Oid]) -> None:
        starts = [oid for oid in (self._peel(tip) for tip in tips) if oid is not None]
        if not starts:
            return
        walker = self.repo.walk(None, SortMode.NONE)
        for oid in starts:
            walker.push(oid)
        for oid in had:
            try:
                walker.hide(oid)
            except (pygit2.GitError, KeyError, ValueError):
                pass  # not a commit: it hides nothing
        try:
            for commit in walker:
                base = None
                if commit.parent_ids:
                    parent = self.repo.get(commit.parent_ids[0])
                    base = parent.tree_id.raw if isinstance(parent, pygit2.Commit) else None
                self._tree(commit.tree_id.raw, base)
        except (pygit2.GitError, KeyError) as exc:
            raise _Missing("commit", _named(exc)) from None

    def _peel(self, oid: pygit2.Oid) -> Optional[pygit2.Oid]:
        """The commit ``oid`` leads to through annotated tags (a tree or blob is checked here)."""
        for _ in range(64):
            obj = self.repo.get(oid)
            if obj is None:
                raise _Missing("object", oid)
            if isinstance(obj, pygit2.Tag):
                oid = obj.target
            elif isinstance(obj, pygit2.Commit):
                return oid
            else:
                if isinstance(obj, pygit2.Tree):
                    self._tree(oid.raw, None)
                return None
        return None

    def _tree(self, top: bytes, top_base: Optional[bytes]) -> None:
        """Tree ``top`` and everything below it that ``top_base`` (a tree that is there) lacks."""
        exists = self.odb.exists
        stack = [(top, top_base)]
        while stack:
            raw, base = stack.pop()
            if raw in self.trees or raw == base:
                continue
            old = self._entries(base, missing_ok=True) if base is not None else None
            if old is None:
                self._whole(raw)
                continue
            items = self._entries(raw).items
            if len(items) == len(old.items):  # mostly the same entries in the same places
                changed = [(e, was) for e, was in zip(items, old.items) if e != was]
            else:
                known = old.known()
                changed = [(e, b"") for e in items if e not in known]
            for entry, was in changed:
                child, head = entry[-20:], entry[:-21]
                kind = _kind(head)
                if kind == _TREE:
                    stack.append((child, was[-20:] if was[:-21] == head else old.trees().get(head)))
                elif kind != _GITLINK and not exists(pygit2.Oid(raw=child)):
                    raise _Missing("blob", child.hex())
            self.trees.add(raw)

    def _whole(self, raw: bytes) -> None:
        """Everything below tree ``raw`` must be there (libgit2 lists it fastest as a diff)."""
        oid = pygit2.Oid(raw=raw)
        tree = self.repo.get(oid)
        if not isinstance(tree, pygit2.Tree):
            raise _Missing("tree", oid)
        exists = self.odb.exists
        try:
            for delta in tree.diff_to_tree(swap=True).deltas:
                new = delta.new_file
                if new.mode != FileMode.COMMIT and not exists(new.id):
                    raise _Missing("blob", new.id)
        except (pygit2.GitError, KeyError) as exc:  # a folder below is not there
            raise _Missing("tree", _named(exc)) from None
        self.trees.add(raw)

    @overload
    def _entries(self, raw: bytes) -> _Entries: ...
    @overload
    def _entries(self, raw: bytes, missing_ok: bool) -> Optional[_Entries]: ...

    def _entries(self, raw: bytes, missing_ok: bool = False) -> Optional[_Entries]:
        """Tree ``raw``'s entries (kept for the next commits, which mostly share them)."""
        cached = self.parsed.get(raw)
        if cached is not None:
            return cached
        oid = pygit2.Oid(raw=raw)
        try:
            kind, data = self.odb.read(oid)
        except (KeyError, ValueError, pygit2.GitError):
            kind, data = None, b""
        if kind != pygit2.enums.ObjectType.TREE:
            if missing_ok:
                return None
            raise _Missing("tree", oid)
        items = _ENTRY.findall(data)
        if sum(map(len, items)) != len(data):  # not as git writes trees: let libgit2 read it
            tree = self.repo[oid]
            items = [b"%o %s\0%s" % (e.filemode, os.fsencode(e.name or ""), e.id.raw) for e in tree]  # type: ignore[attr-defined]
        entries = self.parsed[raw] = _Entries(items)
        self.kept += len(items)
        while self.kept > _KEEP and len(self.parsed) > 1:
            self.kept -= len(self.parsed.pop(next(iter(self.parsed))).items)
        return entries


class _Entries:
    """One tree's entries as git writes them (``mode name\\0id``), looked up lazily."""

    def __init__(self, items: list[bytes]) -> None:
        self.items = items
        self._known: Optional[set[bytes]] = None
        self._trees: Optional[dict[bytes, bytes]] = None

    def known(self) -> set[bytes]:
        if self._known is None:
            self._known = set(self.items)
        return self._known

    def trees(self) -> dict[bytes, bytes]:
        """``{b"40000 name": id}`` for the subtrees (keyed as the entries spell mode and name)."""
        if self._trees is None:
            self._trees = {e[:-21]: e[-20:] for e in self.items if _kind(e[:-21]) == _TREE}
        return self._trees


_TREE, _GITLINK = 0o040000, 0o160000


def _kind(head: bytes) -> int:
    """The object kind bits of an entry's ``mode name`` (``040000`` is a tree too)."""
    return int(head[: head.index(b" ")], 8) & 0o170000


def _named(exc: BaseException) -> str:
    found = _HEX.search(str(exc))
    return found.group(0) if found else "?"


# -- stale remote-tracking refs ---------------------------------------------------


def may_be_blocked(exc: BaseException) -> bool:
    """True when libgit2's ``exc`` may come from a ref whose path another ref takes."""
    low = str(exc).lower()
    return any(word in low for word in _BLOCKED)


def stale_in_the_way(repo: pygit2.Repository, specs: list[Any], heads: Iterable[str]) -> dict[str, str]:
    """Refs the fetch ``specs`` write for no head the remote has (``heads``) that block one
    for a head it has: ``{stale: blocked}``."""
    wanted = {str(spec.transform(head)) for head in heads for spec in specs if spec.src_matches(head)}
    out = {}
    for ref in repo.references.iterator():
        name = ref.name
        if name in wanted or ref.type != pygit2.enums.ReferenceType.DIRECT:
            continue
        if not any(spec.dst_matches(name) for spec in specs):
            continue
        for new in wanted:
            if new.startswith(name + "/") or name.startswith(new + "/"):
                out[name] = new
                break
    return out


def unconnected(
    repo: pygit2.Repository, moved: Mapping[str, Optional[RefValue]], had: Iterable[RefValue],
    deepened: Iterable[pygit2.Oid] = (),
) -> Optional[str]:
    """What the refs ``moved`` (to these values) need and is not there, in words; ``None`` when all is."""
    tips = {name: value for name, value in moved.items() if isinstance(value, pygit2.Oid)}
    had = list(had)
    found = missing_object(repo, tips.values(), had, deepened)
    if found is None:
        return None
    kind, oid = found
    needers = [name for name in sorted(tips)[:8] if missing_object(repo, [tips[name]], had) is not None]
    return f"{kind} {oid}" + (f", needed by {', '.join(needers)}," if needers else "") + " is missing"


def edge_of(data: Optional[bytes]) -> set[pygit2.Oid]:
    """The commits a ``shallow`` file's text names."""
    out = set()
    for line in (data or b"").split():
        try:
            out.add(pygit2.Oid(hex=line.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            pass
    return out


# -- what a pull or sync takes in -------------------------------------------------


def tracking_commit(repo: pygit2.Repository, name: str) -> pygit2.Commit:
    """The commit the remote-tracking ref ``name`` leads to (through annotated
    tags); :class:`ReferenceNotFound` naming it if it leads to anything else."""
    short = name.removeprefix("refs/remotes/")
    try:
        oid = repo.references[name].resolve().target
    except (KeyError, ValueError, pygit2.GitError):
        raise ReferenceNotFound(short, f"{short!r} ({name}) cannot be read") from None
    what = "nothing"
    for _ in range(64):  # a chain of tags; a loop is refused
        obj = repo.get(oid) if isinstance(oid, pygit2.Oid) else None
        if isinstance(obj, pygit2.Commit):
            return obj
        if not isinstance(obj, pygit2.Tag):
            what = f"the {obj.type_str} {oid}" if obj is not None else f"{oid}, which is not here"
            break
        oid = obj.target
    else:
        what = "a chain of tags that does not end"
    raise ReferenceNotFound(short, f"{short!r} ({name}) leads to {what}, not a commit")


#: (repository, ours, theirs) pairs :func:`refuse_brought_in` passed (a pull checks, then merges)
_passed: set[tuple[str, Optional[pygit2.Oid], pygit2.Oid]] = set()


def refuse_fetched(ws: Workspace, ours: Optional[pygit2.Oid], theirs: pygit2.Commit) -> None:
    """Before a merge of ``theirs`` into ``ours``: if a fetch brought any of
    the commits it takes in (``ws.merge("origin/x")``), check them as a
    pull does (:func:`refuse_brought_in`); local commits were checked when made."""
    from .worktree import takes_in_fetched

    if (ws.repo.path, ours, theirs.id) in _passed:
        return
    if takes_in_fetched(ws.repo, ours, theirs.id):
        refuse_brought_in(ws, ours, theirs)


def refuse_brought_in(ws: Workspace, ours: Optional[pygit2.Oid], theirs: pygit2.Commit) -> None:
    """Before ``ws.head`` takes in ``theirs`` (fast-forward or merge): :class:`CorruptObject`
    for the first thing the branch, its history or its work tree would get that a fast-forward,
    a merge or a clone refuses. Each commit ``theirs`` brings (not reachable from ``ours``) is read
    against its first parent, so only the folders it changes are opened."""
    from .versions.changes import refuse_foreign_names
    from .worktree import refuse_unwritable_move

    repo = ws.repo
    try:
        walker = repo.walk(theirs.id, SortMode.NONE)
        if ours is not None:
            walker.hide(ours)
        for commit in walker:
            parent = repo.get(commit.parent_ids[0]) if commit.parent_ids else None
            before = parent.tree if isinstance(parent, pygit2.Commit) else None
            refuse_foreign_names(ws, before, commit.tree, f"commit {str(commit.id)[:10]}")
        base = repo.merge_base(ours, theirs.id) if ours is not None else None
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise CorruptObject("", f"the history of {str(theirs.id)[:10]} cannot be read ({exc}); "
                            "nothing was changed", theirs.id) from None
    refuse_unwritable_move(ws, base, theirs.id)
    if len(_passed) > 256:
        _passed.clear()
    _passed.add((repo.path, ours, theirs.id))
