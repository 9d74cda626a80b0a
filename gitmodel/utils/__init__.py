"""python-gitmodel 0.1's helpers: ``make_signature``, ``treeish_to_tree``
and :mod:`gitmodel.utils.path`.

Part of the 0.1 compatibility layer (see "Coming from python-gitmodel 0.1"
in the docs), built on today's core: trees are resolved by the same code as
``ws.resolve_tree`` and written by the same staging tree as every save.
"""

from __future__ import annotations

import datetime as dt
import json  # noqa: F401 - gitmodel.utils.json, as python-gitmodel 0.1 exported it
import time
from typing import Optional

import pygit2

from .. import refs
from ..refs import Treeish
from . import path

__all__ = ["json", "make_signature", "treeish_to_tree", "path"]


def make_signature(
    name: str,
    email: str,
    timestamp: Optional[float] = None,
    offset: Optional[int] = None,
    default_offset: Optional[int] = None,
) -> pygit2.Signature:
    """A ``pygit2.Signature`` whose time defaults to now and whose offset
    (minutes east of UTC) defaults to ``default_offset``, else to the local
    zone's offset at that time."""
    if timestamp is None:
        timestamp = time.time()
    if offset is None:
        offset = default_offset
    if offset is None:
        local = dt.datetime.fromtimestamp(timestamp).astimezone().utcoffset()
        offset = int(local.total_seconds() // 60) if local is not None else 0
    return pygit2.Signature(name, email, int(timestamp), int(offset))


def treeish_to_tree(repo: pygit2.Repository, treeish: Treeish) -> pygit2.Tree:
    """The tree a branch, tag, commit (or its id, full or abbreviated) or tree names.

    Unknown names raise :class:`~gitmodel.exceptions.ReferenceNotFound`.
    """
    if isinstance(treeish, pygit2.Reference):  # 0.1 took a Reference too: its commit's tree
        treeish = treeish.name
    obj = refs.resolve_treeish(repo, treeish)
    return obj.tree if isinstance(obj, pygit2.Commit) else obj
