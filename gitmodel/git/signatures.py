"""Reading who and when of commits written by others.

A commit's date may be one no calendar holds (``99999999999999 +0000``, an
offset past a day) and its ``encoding`` header may name no codec, and git
shows such commits all the same. So does gitmodel: these read them without
raising. Knows nothing of models.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Optional

import pygit2

__all__ = ["signed_at", "readable", "who"]


def signed_at(signature: pygit2.Signature) -> Optional[dt.datetime]:
    """When ``signature`` was made, in its own offset; ``None`` if the
    commit gives a time or an offset no ``datetime`` holds."""
    try:
        return dt.datetime.fromtimestamp(signature.time, dt.timezone(dt.timedelta(minutes=signature.offset)))
    except (ValueError, OverflowError, OSError):
        return None


def readable(read: Callable[[], str], raw: bytes) -> str:
    """A commit's text as pygit2 decodes it, or, if its ``encoding`` header
    names no codec (or one that fails), its bytes as UTF-8 with replacement
    characters; either way text that encodes (no unpaired surrogate)."""
    try:
        text = read()
    except (LookupError, ValueError, TypeError):  # UnicodeError is a ValueError
        text = raw.decode("utf-8", "replace")
    return text.encode("utf-8", "replace").decode("utf-8")


def who(signature: pygit2.Signature) -> str:
    """``Name <e-mail>`` of ``signature``, readable whatever its encoding."""
    name = readable(lambda: signature.name, signature.raw_name)
    email = readable(lambda: signature.email, signature.raw_email)
    return f"{name} <{email}>"
