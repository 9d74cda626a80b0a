"""Packing loose objects automatically, as git's ``gc.auto`` does.

Every commit writes a handful of loose files (a blob, the trees along its
path, the commit). Every few commits a sample of the object folders is
counted; once it says there are more than ``loose_limit`` of them, they are
moved into one pack by the committing thread, after its commit landed (or,
with ``detach``, by a thread of its own, so that the commit that crossed the
limit returns at once; a plain ``git fsck`` run meanwhile may then see loose
files vanish under it). Before that,
the packs of earlier rounds are merged, as ``git repack --geometric=2`` does,
so that only a few packs remain (their entries are copied, not compressed
again); a new pack is never merged away in the round that wrote it. Both steps
write the new pack before anything is removed, so a reader in any thread or
process finds each object somewhere; unreachable objects are kept (nothing
is pruned). One process packs at a time: the others skip while the lock file
``gitmodel-pack.lock`` in the (common) git folder exists.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import pygit2

from ..exceptions import LockWaitTimeoutExceeded
from .odb import objects_dir
from .packs import _index_bytes, install_pack
from .repack import pack_loose

#: loose objects that start a pack (git's ``gc.auto`` is 6,700; a loose file
#: takes a disk block of its own, so gitmodel packs sooner)
DEFAULT_LOOSE_LIMIT = 1000
#: packs are merged until each is at least this many times all smaller ones
GEOMETRIC_FACTOR = 2
LOCK_NAME = "gitmodel-pack.lock"
#: the loose objects are counted after every ``loose_limit // COMMITS_PER_COUNT``
#: commits (every commit below a limit of 200): a commit writes a handful, so
#: a pack starts at most a few percent past the limit
COMMITS_PER_COUNT = 100
#: packs of loose objects in a row at most, before the lock is let go
_ROUNDS = 8
#: a lock file older than this (seconds) was left by a process that died
STALE_LOCK_AGE = 3600.0


def estimate_loose(objects_path: str, limit: int = DEFAULT_LOOSE_LIMIT) -> int:
    """About how many loose objects there are, from a sample of the 256 object
    folders (larger for a small ``limit``, where a few folders say little)."""
    step = max(1, min(64, limit // 16))  # about 16 objects expected at the limit
    found = 0
    for first in range(0, 256, step):
        try:
            names = os.listdir(os.path.join(objects_path, f"{first:02x}"))
        except OSError:
            continue
        found += sum(1 for name in names if len(name) == 38)
    return found * step


def pack_count(objects_path: str) -> int:
    """The packs a merge may take (not those with a ``.keep`` or ``.promisor``)."""
    return len(_mergeable_packs(os.path.join(objects_path, "pack")))


def _mergeable_packs(pack_dir: str) -> list[str]:
    try:
        names = set(os.listdir(pack_dir))
    except OSError:
        return []
    return sorted(
        os.path.join(pack_dir, name[: -len(".idx")])
        for name in names
        if name.startswith("pack-") and name.endswith(".idx")
        and name[: -len(".idx")] + ".pack" in names
        and name[: -len(".idx")] + ".keep" not in names
        and name[: -len(".idx")] + ".promisor" not in names
    )


def _read_index(idx_path: str) -> tuple[list[bytes], list[int], list[int]]:
    """``(ids, crcs, offsets)`` of a version 2 pack index (``ValueError`` if it is not one)."""
    with open(idx_path, "rb") as f:
        data = f.read()
    if data[:8] != b"\377tOc\x00\x00\x00\x02" or len(data) < 8 + 1024 + 40:
        raise ValueError(f"{idx_path}: not a version 2 pack index")
    count = struct.unpack_from(">I", data, 8 + 255 * 4)[0]
    at = 8 + 1024
    if len(data) < at + 28 * count + 40:
        raise ValueError(f"{idx_path}: the index is cut short")
    ids = [data[i : i + 20] for i in range(at, at + 20 * count, 20)]
    at += 20 * count
    crcs = list(struct.unpack_from(f">{count}I", data, at))
    at += 4 * count
    small = struct.unpack_from(f">{count}I", data, at)
    at += 4 * count
    offsets = []
    for value in small:
        if value & 0x80000000:
            value = struct.unpack_from(">Q", data, at + 8 * (value & 0x7FFFFFFF))[0]
        offsets.append(value)
    return ids, crcs, offsets


def _to_merge(sizes: list[int], factor: int = GEOMETRIC_FACTOR) -> int:
    """How many of the smallest packs (``sizes`` ascending) to merge so that
    each pack left is at least ``factor`` times all smaller ones together."""
    count = 0
    total = 0
    for i, size in enumerate(sizes):
        if size < factor * total:
            count = i + 1
        total += size
    return count if count >= 2 else 0


def merge_packs(repo: pygit2.Repository) -> int:
    """Merge the small packs into one, as ``git repack --geometric=2`` does;
    returns how many were merged.

    Their entries are copied as they are, deltas included (a delta refers to
    its base by a distance within the pack, which copying keeps), so a merge
    costs a file copy, not a new delta search.
    """
    pack_dir = os.path.join(objects_dir(repo), "pack")
    packs = sorted(_mergeable_packs(pack_dir), key=lambda base: os.path.getsize(base + ".pack"))
    packs = packs[: _to_merge([os.path.getsize(base + ".pack") for base in packs])]
    if not packs:
        return 0
    indexes = [_read_index(base + ".idx") for base in packs]
    all_ids = [raw for ids, _crcs, _offsets in indexes for raw in ids]
    if len(set(all_ids)) != len(all_ids):  # an object in two packs: libgit2 writes one pack
        oids = [pygit2.Oid(raw=raw) for raw in set(all_ids)]

        def add_all(builder: pygit2.PackBuilder) -> None:
            for oid in oids:
                builder.add(oid)

        repo.pack(pack_delegate=add_all)
    else:
        _concatenate(pack_dir, packs, indexes)
    for base in packs:  # the old ones go once the new one is in place (the index first)
        for ext in (".idx", ".pack", ".rev", ".bitmap", ".mtimes"):
            try:
                os.unlink(base + ext)
            except FileNotFoundError:
                pass
    return len(packs)


def _concatenate(pack_dir: str, packs: list[str],
                 indexes: list[tuple[list[bytes], list[int], list[int]]]) -> None:
    """Write one pack holding the entries of ``packs``, byte for byte, and its index."""
    entries: list[tuple[bytes, int, int]] = []
    digest = hashlib.sha1()
    fd, tmp_pack = tempfile.mkstemp(prefix="tmp_pack_", dir=pack_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            head = b"PACK" + struct.pack(">II", 2, sum(len(ids) for ids, _c, _o in indexes))
            out.write(head)
            digest.update(head)
            written = len(head)
            for base, (ids, crcs, offsets) in zip(packs, indexes):
                with open(base + ".pack", "rb") as src:
                    data = src.read()
                if data[:4] != b"PACK" or struct.unpack_from(">I", data, 8)[0] != len(ids):
                    raise ValueError(f"{base}.pack does not match its index")
                body = memoryview(data)[12:-20]
                shift = written - 12
                entries.extend(zip(ids, crcs, (offset + shift for offset in offsets)))
                out.write(body)
                digest.update(body)
                written += len(body)
            checksum = digest.digest()
            out.write(checksum)
    except BaseException:
        os.unlink(tmp_pack)
        raise
    entries.sort()
    install_pack(pack_dir, tmp_pack, _index_bytes([e[0] for e in entries], [e[1] for e in entries],
                                                  [e[2] for e in entries], checksum), checksum)


def pack_now(git_dir: str, loose_limit: int, merge: bool = True) -> bool:
    """Pack loose objects (and merge packs) if there are enough; False if
    another process holds the lock. Opens a repository of its own."""
    repo = pygit2.Repository(git_dir)
    objects_path = objects_dir(repo)
    lock = os.path.join(os.path.dirname(objects_path), LOCK_NAME)  # shared by linked work trees
    if not _take_lock(lock):
        return False
    try:
        for _ in range(_ROUNDS):  # what commits wrote during a long merge is packed too
            if estimate_loose(objects_path, loose_limit) < loose_limit:
                break
            if merge:
                # the packs of earlier rounds, before the new one: a pack merged
                # away the moment it appeared could vanish between a reader's
                # rescan of the pack folder and its read (libgit2 rescans once)
                merge_packs(repo)
            pack_loose(repo)
        return True
    finally:
        _release(lock)


@contextmanager
def packing(repo: pygit2.Repository, timeout: float) -> Iterator[None]:
    """Hold the pack lock of ``repo`` inside, waiting up to ``timeout``
    seconds for another process's pack to finish (then
    :class:`~gitmodel.exceptions.LockWaitTimeoutExceeded`): two packs at once would each
    remove loose files the other is reading."""
    lock = os.path.join(os.path.dirname(objects_dir(repo)), LOCK_NAME)
    deadline = time.monotonic() + max(timeout, 0.0)
    while not _take_lock(lock):
        if time.monotonic() >= deadline:
            raise LockWaitTimeoutExceeded(f"another process is packing {repo.path} (lock file {lock}); "
                              f"waited {timeout:g} s")
        time.sleep(0.01)
    try:
        yield
    finally:
        _release(lock)


def _release(lock: str) -> None:
    try:
        os.unlink(lock)
    except FileNotFoundError:
        pass


def _take_lock(lock: str) -> bool:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime < STALE_LOCK_AGE:
                    return False
                os.unlink(lock)  # left by a process that died: taken over
            except FileNotFoundError:
                pass
            continue
        except OSError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return True
    return False


class AutoPacker:
    """Starts a pack after a commit once there are enough loose objects."""

    def __init__(self, git_dir: str, objects_path: str, loose_limit: int, merge: bool = True,
                 detach: bool = False) -> None:
        self.git_dir = git_dir
        self.objects_path = objects_path
        #: loose objects that start a pack (0: never)
        self.loose_limit = loose_limit
        #: whether small packs are merged (as ``git repack --geometric=2``)
        self.merge = merge
        #: whether packing runs in a background thread (else in the committing one)
        self.detach = detach
        #: the last error of an automatic pack (it never fails a commit)
        self.last_error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        self._guard = threading.Lock()
        self._commits = 0  # commits since the loose objects were last counted

    def after_commit(self) -> bool:
        """Pack if due (in the background with ``detach``); True if a pack was
        started. A failed pack never fails the commit that already landed."""
        limit = self.loose_limit
        if limit <= 0:
            return False
        self._commits += 1  # (a lost increment between threads only delays a count)
        if self._commits < max(1, limit // COMMITS_PER_COUNT):
            return False
        self._commits = 0
        if estimate_loose(self.objects_path, limit) < limit:
            return False
        if not self.detach:
            self._run()
            return True
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._thread = threading.Thread(target=self._run, name="gitmodel-autopack")
            self._thread.start()
        return True

    def _run(self) -> None:
        try:
            pack_now(self.git_dir, self.loose_limit, self.merge)
        except Exception as exc:  # a folder removed meanwhile, a full disk: retried next time
            self.last_error = exc

    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait for a background pack to finish (``detach`` only)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
