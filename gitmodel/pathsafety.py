"""Names that are safe as one path component wherever git runs.

git refuses some names in trees (``git fsck``) and, with
``core.protectNTFS`` / ``core.protectHFS`` (on by default on Windows and
macOS), refuses to check them out: ``.git`` and every alias a file system
folds onto it (``.git.``, ``.git ``, ``git~1``, ``.g\u200cit``), the special
``.gitmodules``, ``.gitattributes``, ``.gitignore`` and ``.mailmap`` with
their NTFS 8.3 short names (``gitmod~1``, ``gi7eba~1``), Windows device
names (``CON``, ``NUL``, ``COM1``...), characters Windows forbids, names
ending in a dot or a space. This module reimplements those rules (after
git's ``verify_path``, ``is_ntfs_dotgit`` and ``is_hfs_dotgit``) so that an
id never becomes a name some git client cannot store or check out.
"""

from __future__ import annotations

import functools
import os
import stat
import unicodedata
from typing import Optional

from .exceptions import ValidationError

MAX_NAME_BYTES = 255

#: code points HFS+ ignores when it compares names (git's ``next_hfs_char``)
HFS_IGNORED = frozenset(
    [0x200C, 0x200D, 0x200E, 0x200F]
    + list(range(0x202A, 0x202F))
    + list(range(0x206A, 0x2070))
    + [0xFEFF]
)
#: special dot files and their NTFS 8.3 short-name prefixes (as in git)
_DOTFILES = {
    "gitmodules": "gi7eba",
    "gitignore": "gi250a",
    "gitattributes": "gi7d29",
    "mailmap": "maba30",
}
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)
#: characters a Windows file name cannot hold (control characters aside)
NTFS_FORBIDDEN = frozenset('<>:"|?*\\/')


def _trails_off(rest: str) -> bool:
    """True when NTFS would drop ``rest`` (dots and spaces, or a ``:stream``)."""
    for char in rest:
        if char in "\\/:":
            return True
        if char not in ". ":
            return False
    return True


def is_ntfs_alias(name: str, long_name: str, short_prefix: str = "") -> bool:
    """True if NTFS opens ``name`` as ``.<long_name>`` (``.git``: ``short_prefix`` empty)."""
    lower = name.lower()
    if lower.startswith("." + long_name) and _trails_off(name[len(long_name) + 1 :]):
        return True
    stem = long_name[:6]
    if (
        lower.startswith(stem + "~")
        and len(name) > len(stem) + 1
        and name[len(stem) + 1] in ("1234" if short_prefix else "1")
        and _trails_off(name[len(stem) + 2 :])
    ):
        return True
    if not short_prefix:
        return False
    # the hashed 8.3 fallback, e.g. "gi7eba~1": up to six prefix characters,
    # a tilde, then digits (the first one not zero), eight characters in all
    if len(name) < 8:
        return False
    saw_tilde = False
    index = 0
    while index < 8:
        char = name[index]
        if saw_tilde:
            if not "0" <= char <= "9":
                return False
        elif char == "~":
            index += 1
            if index >= len(name) or not "1" <= name[index] <= "9":
                return False
            saw_tilde = True
        elif index >= 6 or not char.isascii() or char.lower() != short_prefix[index]:
            return False
        index += 1
    return _trails_off(name[8:])


def is_hfs_alias(name: str, long_name: str) -> bool:
    """True if HFS+ opens ``name`` as ``.<long_name>`` (ignorable code points
    dropped, ASCII compared without case)."""
    folded = "".join(c for c in name if ord(c) not in HFS_IGNORED)
    return folded.lower() == "." + long_name if folded.isascii() else False


def git_special_problem(name: str) -> Optional[str]:
    """Why git itself refuses ``name`` in a tree or a checkout, or ``None``."""
    if name in ("", ".", ".."):
        return f"must not be {name!r}"
    if is_ntfs_alias(name, "git") or is_hfs_alias(name, "git"):
        return f"{name!r} is a name of the .git folder on some file systems"
    for long_name, short_prefix in _DOTFILES.items():
        if is_ntfs_alias(name, long_name, short_prefix) or is_hfs_alias(name, long_name):
            return f"{name!r} is read by git as .{long_name}"
    return None


def name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be one path component everywhere git runs, or ``None``."""
    special = git_special_problem(name)
    if special:
        return special
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "must not contain control characters"
    if any(c in NTFS_FORBIDDEN for c in name):
        return "must not contain any of / \\ < > : \" | ? *"
    if name[-1] in ". ":
        return "must not end with a dot or a space"
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return f"{name!r} is a reserved device name on Windows"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates"
    if size > MAX_NAME_BYTES:
        return f"must be at most {MAX_NAME_BYTES} bytes"
    if not name.isascii() and unicodedata.normalize("NFC", name) != name:
        return "must be in Unicode normal form C"
    return None


def path_problem(path: str) -> Optional[str]:
    """Why the ``/``-separated ``path`` cannot be stored in a tree, or ``None``."""
    if not isinstance(path, str):
        return "must be a string"
    for part in path.split("/"):
        problem = name_problem(part)
        if problem:
            return f"{problem} (in {path!r})"
    return None


def unsafe_component(root: str, parts: list[str], last_is_file: bool = True) -> Optional[str]:
    """The first of ``root/parts[0]/parts[1]/...`` that would lead a write
    elsewhere: a symlink (or, before the last part, not a folder). Checked
    with ``lstat``, so nothing is followed; missing parts are fine."""
    path = root
    for index, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except OSError:  # e.g. a file where a folder should be (ENOTDIR)
            return path
        last = index == len(parts) - 1
        if stat.S_ISLNK(mode) or (not stat.S_ISDIR(mode) and not (last and last_is_file)):
            return path
    return None


def staged_path_problem(path: str, mode: int = 0o100644) -> Optional[str]:
    """Why ``path`` cannot be staged as a file of ``mode`` in a tree that
    libgit2 writes and ``git fsck --strict`` accepts, or ``None``: no empty,
    ``.`` or ``..`` component, no NUL, no name git reads as ``.git``
    (libgit2 refuses to write those, which would make every later commit
    fail), no folder or symlink named like ``.gitmodules``."""
    if not isinstance(path, str) or not path.strip("/"):
        return "must be a non-empty string"
    parts = path.strip("/").split("/")
    last = len(parts) - 1
    for index, part in enumerate(parts):
        problem = name_problem_in_tree(part, index < last or mode in (0o040000, 0o120000))
        if problem:
            return problem
    return None


def name_problem_in_tree(part: str, folder: bool = False) -> Optional[str]:
    """Why ``part`` cannot be one entry's name in a tree gitmodel writes
    (``folder``: the entry is a folder or a symlink), or ``None``."""
    if part and part[0] != "." and part.isascii() and "~" not in part and "\x00" not in part:
        return None  # every alias below starts with "." or holds "~" (or is not ASCII)
    return _component_problem(part, folder)


@functools.lru_cache(maxsize=65536)
def _component_problem(part: str, folder: bool) -> Optional[str]:
    """:func:`staged_path_problem` for one component (remembered: model and
    shard folder names come back on every save)."""
    if part in ("", ".", "..") or "\x00" in part:
        return f"has an invalid component {part!r}"
    if is_ntfs_alias(part, "git") or is_hfs_alias(part, "git"):
        return f"{part!r} is a name of the .git folder on some file systems"
    if folder and git_special_problem(part):
        return f"{part!r} must be a file: git reads it as one of its own"
    return None


def check_staged_path(path: str, mode: int = 0o100644) -> None:
    """Raise :class:`ValidationError` (field ``path``) if ``path`` cannot be staged."""
    problem = staged_path_problem(path, mode)
    if problem:
        raise ValidationError(f"cannot stage {path!r}: the path {problem}", field="path")


#: files of a git folder libgit2 opens and reads whole: a pipe or a device
#: there (or a symlink to one) would block it forever
GIT_FOLDER_FILES = ("config", "HEAD", "commondir", "gitdir", "packed-refs", "index", "shallow",
                    "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD", os.path.join("objects", "info", "alternates"))


def special_file_problem(path: str) -> Optional[str]:
    """Why ``path`` (if it exists) is not a file anyone may read without
    blocking: a pipe, a socket or a device, or a symlink to one; else ``None``."""
    try:
        mode = os.stat(path).st_mode  # follows a symlink: what a reader would open
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"{path!r} is not a file (a pipe or a device?): reading it would block"


def refuse_special_files(path: str) -> None:
    """Raise :class:`~gitmodel.exceptions.RepositoryError` if the repository
    at ``path`` (a git folder or a work tree holding ``.git``) has a pipe or
    device where git keeps a file; checked before libgit2 opens anything."""
    from .exceptions import RepositoryError

    for git_dir in (path, os.path.join(path, ".git")):
        if not os.path.isdir(git_dir):
            continue
        for name in GIT_FOLDER_FILES:
            problem = special_file_problem(os.path.join(git_dir, name))
            if problem:
                raise RepositoryError(f"the repository at {path!r} is unsafe to open: {problem}")
