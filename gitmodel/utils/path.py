"""python-gitmodel 0.1's tree helpers: ``build_path``, ``describe_tree``, ``glob``.

Part of the 0.1 compatibility layer. ``build_path`` writes through
:class:`gitmodel.git.tree.StagingTree`, the one tree writer every save uses, so
its paths are checked the same way (no empty, ``.`` or ``..`` components).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Iterable, Iterator, Optional, Union

import pygit2

from ..exceptions import GitModelError
from ..refs import Treeish
from ..git.tree import TREE_MODE, StagingTree, split_path

__all__ = ["build_path", "describe_tree", "glob"]

#: ``(name, oid, mode)``, as ``pygit2.TreeBuilder.insert`` takes it
Entry = tuple[str, Union[pygit2.Oid, str], int]


def _tree(repo: pygit2.Repository, tree: Union[Treeish, pygit2.Tree, None]) -> Optional[pygit2.Tree]:
    from . import treeish_to_tree

    if tree is None or isinstance(tree, pygit2.Tree):
        return tree
    return treeish_to_tree(repo, tree)


def build_path(
    repo: pygit2.Repository,
    path: str,
    entries: Optional[Iterable[Entry]] = None,
    root: Union[Treeish, pygit2.Tree, None] = None,
) -> pygit2.Oid:
    """Write a root tree in which folder ``path`` holds ``entries`` (inserted
    or replaced), starting from ``root`` (default: an empty tree); returns
    the new root tree's id. Only the folders on ``path`` are written again."""
    folder = path.strip("/")
    stage = StagingTree(repo, _tree(repo, root))
    items = list(entries or ())
    try:
        if folder:
            split_path(folder)  # refuse ".." and the like before writing anything
        if not items and folder and stage.lookup(folder) is None:
            stage.set(folder, repo.TreeBuilder().write(), TREE_MODE)  # the folder alone
        for name, oid, mode in items:
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"a tree entry name is one path component, not {name!r}")
            target = f"{folder}/{name}" if folder else name
            stage.set(target, pygit2.Oid(hex=oid) if isinstance(oid, str) else oid, int(mode))
        return stage.write()
    except (ValueError, pygit2.GitError) as exc:
        raise GitModelError(f"cannot build {path!r}: {exc}") from None


def describe_tree(
    repo: pygit2.Repository, tree: Union[Treeish, pygit2.Tree], indent: int = 2
) -> str:
    """The tree's paths, one per line, folders with a ``/`` and their content
    indented below them, in git's order."""
    lines: list[str] = []

    def walk(folder: pygit2.Tree, depth: int) -> None:
        for entry in folder:
            is_tree = entry.filemode == TREE_MODE
            lines.append(f"{' ' * indent * depth}{entry.name}{'/' if is_tree else ''}")
            if is_tree:
                walk(repo[entry.id], depth + 1)  # type: ignore[arg-type]

    start = _tree(repo, tree)
    if start is not None:
        walk(start, 0)
    return "\n".join(lines)


_MAGIC = re.compile(r"[*?[]")


def glob(repo: pygit2.Repository, tree: Union[Treeish, pygit2.Tree], pathname: str) -> Iterator[str]:
    """The paths in ``tree`` matching ``pathname``, as :func:`glob.iglob` does on
    disk: ``*``, ``?`` and ``[...]`` within one component; names starting
    with ``.`` only match a pattern that starts with ``.``."""
    start = _tree(repo, tree)
    parts = [p for p in pathname.strip("/").split("/") if p]
    if start is None or not parts:
        return iter(())
    return _glob(repo, start, parts, "")


def _glob(repo: pygit2.Repository, folder: pygit2.Tree, parts: list[str], prefix: str) -> Iterator[str]:
    pattern, rest = parts[0], parts[1:]
    if _MAGIC.search(pattern):
        names: Any = [e.name for e in folder]
        if not pattern.startswith("."):
            names = [n for n in names if not n.startswith(".")]
        names = fnmatch.filter(names, pattern)
    else:
        names = [pattern]
    for name in names:
        try:
            entry = folder[name]
        except KeyError:
            continue
        path = f"{prefix}{name}"
        if not rest:
            yield path
        elif entry.filemode == TREE_MODE:
            yield from _glob(repo, repo[entry.id], rest, f"{path}/")  # type: ignore[arg-type]
