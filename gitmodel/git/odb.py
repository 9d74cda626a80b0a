"""The object store: where it is, what an object's id is, and writing to it.

Every object gitmodel writes goes through :func:`write_blob`, a tree
builder or :class:`~gitmodel.git.packs.PackWriter`; a store that cannot be
written (a full disk, a file where a folder should be) is then a
:class:`~gitmodel.exceptions.RepositoryError` naming the store, never a raw
``OSError`` or ``pygit2.GitError``.
"""

from __future__ import annotations

import hashlib
import io
import os
from contextlib import contextmanager
from typing import Iterator

import pygit2
from pygit2.enums import ObjectType

from ..exceptions import RepositoryError

_TYPE_NAMES = {
    int(ObjectType.COMMIT): b"commit",
    int(ObjectType.TREE): b"tree",
    int(ObjectType.BLOB): b"blob",
    int(ObjectType.TAG): b"tag",
}


def objects_dir(repo: pygit2.Repository) -> str:
    """The repository's ``objects`` folder (shared by linked work trees)."""
    gitdir = repo.path
    commondir = os.path.join(gitdir, "commondir")
    if os.path.exists(commondir):
        with open(commondir, encoding="utf-8") as f:
            gitdir = os.path.normpath(os.path.join(gitdir, f.read().strip()))
    return os.path.join(gitdir, "objects")


def object_id(kind: int, data: bytes) -> bytes:
    """The raw (20-byte) git id of an object of type ``kind`` holding ``data``."""
    digest = hashlib.sha1(b"%s %d\0" % (_TYPE_NAMES[kind], len(data)))
    digest.update(data)
    return digest.digest()


def write_failed(repo: pygit2.Repository, exc: BaseException) -> RepositoryError:
    """The error for an object that could not be written to ``repo``."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return RepositoryError(f"cannot write to the object store {objects_dir(repo)}: {reason}")


@contextmanager
def writing(repo: pygit2.Repository) -> Iterator[None]:
    """Objects written inside (a commit, a few trees): a failure to write is
    :func:`write_failed`."""
    try:
        yield
    except (OSError, pygit2.GitError) as exc:
        raise write_failed(repo, exc) from None


def write_blob(repo: pygit2.Repository, data: bytes) -> pygit2.Oid:
    """Write ``data`` as a loose blob; returns its id."""
    try:
        return repo.create_blob(data)
    except (OSError, pygit2.GitError) as exc:
        raise write_failed(repo, exc) from None


def write_tree(repo: pygit2.Repository, builder: pygit2.TreeBuilder) -> pygit2.Oid:
    """``builder.write()``. Its entries were checked on insert, so a failure
    here is the store's."""
    try:
        return builder.write()
    except (OSError, pygit2.GitError) as exc:
        raise write_failed(repo, exc) from None


def write_blob_from(repo: pygit2.Repository, stream: io.IOBase) -> pygit2.Oid:
    """Stream a readable file into a blob; returns its id. An error of the
    file itself (raised by its ``read``) goes through as it is."""
    try:
        return repo.create_blob_fromiobase(stream)
    except pygit2.GitError as exc:
        raise write_failed(repo, exc) from None
