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

from ..exceptions import ConfigurationError, RepositoryError

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


#: git's level for loose objects when neither ``core.looseCompression`` nor
#: ``core.compression`` is set: best speed (libgit2 alone would use zlib's 6)
DEFAULT_LOOSE_COMPRESSION = 1


def loose_compression(config: pygit2.Config) -> int:
    """The zlib level git uses for loose objects: ``core.looseCompression``,
    else ``core.compression``, else 1, as libgit2 is to be told it: -1
    (zlib's default) is 6, and 0 is 1 (libgit2 writes level 0 as bare bytes,
    not a zlib stream, which git cannot read). A value git would refuse is a
    :class:`~gitmodel.exceptions.ConfigurationError`."""
    for name in ("core.looseCompression", "core.compression"):
        try:
            text = str(config[name])
        except (KeyError, pygit2.GitError, ValueError):
            continue
        try:
            level = int(text)
        except ValueError:
            level = -2
        if not -1 <= level <= 9:
            raise ConfigurationError(f"{name} = {text!r} in the repository's config: "
                                     "expected a zlib level from -1 to 9")
        return {-1: 6, 0: 1}.get(level, level)
    return DEFAULT_LOOSE_COMPRESSION


def use_git_loose_compression(repo: pygit2.Repository, objects: str) -> None:
    """Give ``repo`` an object database that writes loose objects at
    :func:`loose_compression`'s level, as git does (a 256-entry folder
    deflates in about half the time at level 1 than at libgit2's 6). It
    holds what libgit2's default one holds: the packs, then the loose
    objects. A repository with ``info/alternates`` keeps libgit2's own,
    which also reads the objects of those other stores."""
    if os.path.exists(os.path.join(objects, "info", "alternates")):
        return
    level = loose_compression(repo.config)
    try:
        fsync = repo.config.get_bool("core.fsyncObjectFiles")
    except (KeyError, pygit2.GitError, ValueError):
        fsync = False
    odb = pygit2.Odb()
    odb.add_backend(pygit2.OdbBackendPack(objects), 2)
    odb.add_backend(pygit2.OdbBackendLoose(objects, level, fsync), 1)
    repo.set_odb(odb)
