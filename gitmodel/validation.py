"""Checks on raw values: ids that are safe as one path component, and
values that survive a round trip through JSON exactly."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Callable, Optional

import pygit2
from pygit2.enums import ConfigLevel

from .exceptions import CorruptObject, ValidationError
from .pathsafety import name_problem

MAX_ID_BYTES = 255
MAX_JSON_DEPTH = 100
INT_LIMIT = 10**4000
IDENTITY_TRIMMED = "".join(chr(c) for c in range(33)) + ".,:;<>\"\\'"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_RESERVED_IDS = {".", "..", ".git"}
#: ids with these take the slow path (names git or Windows may refuse)
_ODD_FIRST = frozenset(". ")
_ODD_ASCII = frozenset('/\\<>:"|?*~')
_DEVICE_STEMS = frozenset(["CON", "PRN", "AUX", "NUL", "COM", "LPT"])


def has_surrogates(text: str) -> bool:
    """True if ``text`` holds unpaired surrogates (it cannot be written as UTF-8)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an object id, or ``None`` if it can.

    An id is one path component: everything git's fsck or its checkout
    protection refuses on any file system is refused (see :mod:`.pathsafety`).
    """
    if (  # the common case, checked in one pass of cheap string methods
        type(value) is str
        and value.isascii()
        and value.isprintable()  # for ASCII: no control characters
        and 0 < len(value) <= MAX_ID_BYTES
        and value[0] not in _ODD_FIRST
        and value[-1] not in ". "
        and not _ODD_ASCII.intersection(value)
        and value[:3].upper() not in _DEVICE_STEMS
    ):
        return None
    if not isinstance(value, str):
        return "must be a string"
    if not value or not value.strip():
        return "must not be empty"
    if "/" in value or "\\" in value:
        return "must not contain '/' or '\\'"
    if _CONTROL_CHARS.search(value):
        return "must not contain control characters"
    if value.lower() in _RESERVED_IDS:
        return f"must not be {value!r}"
    if has_surrogates(value):
        return "must not contain unpaired surrogates"
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        return f"must be at most {MAX_ID_BYTES} bytes"
    return name_problem(value)


def json_problem(value: Any) -> str | None:
    """Why ``value`` does not round-trip through JSON, or ``None``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen: set[int] = set()
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if has_surrogates(item):
                return "strings must not contain unpaired surrogates"
        elif isinstance(item, int):
            if abs(item) >= INT_LIMIT:
                return "integer too large"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite"
        elif isinstance(item, (list, tuple, dict)):
            if id(item) in seen:
                return "value contains a reference cycle"
            seen.add(id(item))
            if isinstance(item, dict):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        return f"object keys must be strings, not {type(key).__name__}"
                    if has_surrogates(key):
                        return "strings must not contain unpaired surrogates"
                    stack.append((sub, depth + 1))
            else:
                if isinstance(item, tuple):
                    return "tuples do not round-trip; use a list"
                stack.extend((sub, depth + 1) for sub in item)
        else:
            return f"{type(item).__name__} is not a JSON type"
    return None


def identity_problem(name: Any, email: Any) -> str | None:
    """Why ``(name, email)`` cannot sign a commit that passes ``git fsck
    --strict``, or ``None``: no ``<``, ``>``, newline or other control
    character (each would inject header lines), a name that is not blank."""
    for what, value in (("name", name), ("e-mail", email)):
        if not isinstance(value, str):
            return f"the {what} must be a string, not {type(value).__name__}"
        if _CONTROL_CHARS.search(value):
            return f"the {what} {value!r} must not contain newlines or other control characters"
        if "<" in value or ">" in value:
            return f"the {what} {value!r} must not contain '<' or '>'"
        if has_surrogates(value):
            return f"the {what} {value!r} must not contain unpaired surrogates"
    # git trims these from both ends of a name or e-mail; nothing may be left empty
    if not name.strip(IDENTITY_TRIMMED):
        return f"the name {name!r} must not be empty"
    if not email.strip(IDENTITY_TRIMMED):
        return f"the e-mail {email!r} must not be empty"
    return None


def check_identity(name: Any, email: Any, role: str) -> None:
    """Raise :class:`ValidationError` (field ``role``) if ``(name, email)`` cannot sign."""
    problem = identity_problem(name, email)
    if problem:
        raise ValidationError(f"invalid {role}: {problem}", field=role, code="invalid_identity")


#: what ``Workspace.commit()`` takes, passed on by ``save(commit=True, ...)`` and the like
COMMIT_ARGUMENTS = frozenset({"message", "author", "committer"})


def check_commit_info(action: str, commit_info: dict[str, Any],
                      signature: Optional[Callable[[Any, str], Any]]) -> None:
    """``TypeError`` for an argument a commit does not take; with
    ``signature`` (the commit will be made), a bad message or identity (or
    none configured) is refused too."""
    unknown = sorted(set(commit_info) - COMMIT_ARGUMENTS)
    if unknown:
        raise TypeError(f"{action}() got unexpected keyword argument(s) {', '.join(unknown)} "
                        "(a commit takes message, author and committer)")
    if signature is not None:
        check_message(commit_info.get("message", ""))
        signature(commit_info.get("author"), "author")
        if commit_info.get("committer") is not None:
            signature(commit_info["committer"], "committer")


def check_message(message: Any, what: str = "commit message") -> None:
    """Raise :class:`ValidationError` unless ``message`` can be stored in a git object."""
    if not isinstance(message, str):
        problem = f"must be a string, not {type(message).__name__}"
    elif "\x00" in message:
        problem = "must not contain NUL characters"
    elif has_surrogates(message):
        problem = "must not contain unpaired surrogates"
    else:
        return
    raise ValidationError(f"invalid {what}: {problem}", field="message", code="invalid_message")


def read_blob(repo: Any, oid: Any, path: str) -> bytes:
    """The content of blob ``oid`` stored at ``path``; :class:`CorruptObject`
    if it is missing, unreadable or not a blob."""
    return blob_at(repo, oid, path).data  # type: ignore[no-any-return]


def blob_at(repo: Any, oid: Any, path: str) -> Any:
    """Blob ``oid`` stored at ``path`` (a ``pygit2.Blob``); :class:`CorruptObject`
    if it is missing, unreadable or not a blob."""
    import pygit2

    try:
        obj = repo[oid]
    except KeyError:
        raise CorruptObject(path, f"blob {oid} is missing") from None
    except (pygit2.GitError, ValueError) as exc:
        raise CorruptObject(path, f"blob {oid} cannot be read ({exc})") from None
    if not isinstance(obj, pygit2.Blob):
        raise CorruptObject(path, f"expected a file, found a {type(obj).__name__.lower()}")
    return obj


def signature(who: Any, role: str) -> Any:
    """A ``pygit2.Signature`` for ``who`` (one, or ``(name, e-mail)``), checked
    as :func:`check_identity` does."""
    import pygit2

    if isinstance(who, pygit2.Signature):
        check_identity(who.name, who.email, role)
        return who
    try:
        name, email = who
    except (TypeError, ValueError):
        raise ValidationError(f"invalid {role}: give (name, e-mail), not {who!r}", field=role) from None
    check_identity(name, email, role)
    return pygit2.Signature(name, email)


#: repository path -> (stamp of its config files, identity they give)
_identities: dict[str, tuple[tuple[Any, ...], Optional[tuple[str, str]]]] = {}
_CONFIG_FILES = ((ConfigLevel.GLOBAL, ".gitconfig"), (ConfigLevel.XDG, "config"),
                 (ConfigLevel.SYSTEM, "gitconfig"))


def config_identity(repo: pygit2.Repository) -> Optional[tuple[str, str]]:
    """``(user.name, user.email)`` from git's configuration for ``repo``, or
    ``None``. Read again only when a config file changed (one ``stat`` each):
    reading two values through libgit2 costs more than a commit's tree."""
    stamp = _config_stamp(repo)
    found = _identities.get(repo.path)
    if found is not None and found[0] == stamp:
        return found[1]
    config = repo.config
    try:
        value: Optional[tuple[str, str]] = (str(config["user.name"]), str(config["user.email"]))
    except KeyError:
        value = None
    _identities[repo.path] = (stamp, value)
    return value


#: the global config files libgit2 reads, per search path setting
_global_files: dict[tuple[Any, ...], list[str]] = {}


def _config_stamp(repo: pygit2.Repository) -> tuple[Any, ...]:
    env = tuple(os.environ.get(k) for k in ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_NOSYSTEM"))
    files = _global_files.get(env)
    if files is None:
        files = []
        for level, name in _CONFIG_FILES:
            for folder in str(pygit2.settings.search_path[level] or "").split(os.pathsep):
                if folder:
                    files.append(os.path.join(folder, name))
                    if level == ConfigLevel.XDG:
                        files.append(os.path.join(folder, "git", name))
        _global_files[env] = files
    out: list[Any] = [env]
    for path in [os.path.join(repo.path, "config"), *files]:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)
