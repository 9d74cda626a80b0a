"""Settling the conflicts of an open merge: ``ws.resolve(conflict, choice)``.

A choice is ``'ours'``, ``'theirs'`` or ``'base'`` (that side's value, as it
stores it: an absent key stays absent, a null stays null), ``'staged'``
(keep what is staged now: a fix made with ``save()`` or ``delete()`` while
the merge is open), or a value (``value=`` forces a literal, should the value
itself be one of those words). A choice name is never stored as a value.
Resolving starts from the object as staged now, so other edits saved
during the merge are kept; a failed resolve leaves the staging and the
open merge as they were.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from . import changes as ch
from . import openmerge
from .. import blobs as blob_files
from ..exceptions import RepositoryError
from ..git.odb import write_blob
from .merge import _MISSING, CHOICES, CHOICES_STORED, STAGED, Conflict, ObjectMerge

if TYPE_CHECKING:
    from ..workspace import Workspace

#: every choice that names a side or the staged state rather than a value
NAMED = (*CHOICES, STAGED)


def named(choice: Any, literal: bool) -> Optional[str]:
    """The choice name ``choice`` is (``None``: a value)."""
    return choice if not literal and isinstance(choice, str) and choice in NAMED else None


def resolve(ws: Workspace, conflict: Conflict, choice: Any = _MISSING, value: Any = _MISSING) -> None:
    """Settle ``conflict`` of the open merge (see the module's docstring)."""
    literal = value is not _MISSING
    if literal:
        choice = value
    elif choice is _MISSING:
        raise TypeError("resolve(conflict, ...) needs 'ours', 'theirs', 'base', 'staged' or a value")
    from .merge import join

    state = join(ws)
    if state is None or all(c is not conflict for c in state.result.conflicts):
        raise RepositoryError(f"{conflict!r} is not a conflict of the open merge")
    unit = ws._unit
    with ws.write_lock:
        snap = unit.snapshot()
        was = (conflict.resolved, conflict._owner and _owner_state(conflict._owner))
        try:
            _resolve(ws, conflict, choice, literal)
            openmerge.save(ws, state)
        except BaseException:
            unit.restore(snap)
            conflict.resolved = was[0]
            if was[1] is not None:
                conflict._owner.result, conflict._owner.result_files = was[1]
            raise


def _owner_state(owner: Any) -> Optional[tuple[Any, Any]]:
    """What resolving may change in an object merge (other owners keep their own)."""
    if not isinstance(owner, ObjectMerge):
        return None
    return (owner.result, dict(owner.result_files))


def _resolve(ws: Workspace, conflict: Conflict, choice: Any, literal: bool) -> None:
    if conflict._owner is not None:
        owner = conflict._owner
        if isinstance(owner, ObjectMerge):
            owner.take_staged()  # saves made during the merge stay
        owner.resolve(conflict, choice, literal)
        ws._unit.write_all(owner.edits().items())
        return
    name = named(choice, literal)  # a raw file, at blob level
    if name == STAGED:
        conflict.resolved = True
        return
    if name is not None:
        oid = getattr(conflict, name)
    elif isinstance(choice, (bytes, str)):
        oid = write_blob(ws.repo, choice.encode() if isinstance(choice, str) else choice)
    elif choice is None or isinstance(choice, pygit2.Oid):
        oid = choice
    else:
        raise RepositoryError(f"{conflict.describe()}: resolve it with 'ours', 'theirs', 'base', "
                              f"'staged', bytes, a blob id or None, not {type(choice).__name__}")
    ws._unit.write(conflict.id, (oid, int(pygit2.enums.FileMode.BLOB)) if oid else None)
    conflict.resolved = True


def resolve_object(om: ObjectMerge, conflict: Conflict, choice: Any, literal: bool = False) -> None:
    """Settle ``conflict`` of object merge ``om`` in its :attr:`~ObjectMerge.result`."""
    name = named(choice, literal)
    if name == STAGED:
        conflict.resolved = True
        return
    side = CHOICES_STORED[name] if name is not None else None
    cls: Any = om.cls
    if conflict.field is None:  # the whole object
        if side is not None:
            om._take_side(side)
        elif choice is None or isinstance(choice, cls):
            om._take_instance(choice)
        else:
            raise RepositoryError(f"{conflict.describe()}: resolve it with 'ours', 'theirs', 'base', "
                                  f"'staged', a {cls.__name__} or None, not {choice!r:.60}")
    elif om.result is None:
        raise RepositoryError(f"{conflict.describe()}: {cls.__name__} {om.id!r} is deleted in the staged "
                              "state; save() it again, or resolve with 'staged' to keep it deleted")
    elif any(f.name == conflict.field for f in cls._meta.blob_fields):
        _resolve_blob(om, conflict, getattr(conflict, name) if name is not None else choice)
    else:
        path = (conflict.field, *conflict.key)
        stored = _lookup(om.stored[side] or {}, path) if side is not None else _MISSING
        target = om.result
        for k in path[:-1]:  # the dicts on the way are the result's own (copies)
            inner = target.get(k)
            target[k] = inner = dict(inner) if isinstance(inner, dict) else {}
            target = inner
        leaf = path[-1]
        if side is not None:  # that side's value as it stores it (a missing key stays missing)
            if stored is _MISSING:
                target.pop(leaf, None)
            else:
                target[leaf] = copy.deepcopy(stored)
        elif conflict.key:
            target[leaf] = choice  # a JSON value for the key (None: null)
        else:
            fld = cls._meta._by_name.get(conflict.field)
            target[leaf] = fld.to_json(fld.clean(choice)) if fld is not None else choice
    conflict.resolved = True


def _lookup(stored: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in ``stored`` (``_MISSING`` where a key is absent)."""
    value: Any = stored
    for k in path:
        if not isinstance(value, dict) or k not in value:
            return _MISSING
        value = value[k]
    return value


def _resolve_blob(om: ObjectMerge, conflict: Conflict, value: Any) -> None:
    """A blob field takes ``value`` (bytes, text, a ``BlobFile``, a blob id or ``None``)."""
    opts: Any = om.cls._meta  # type: ignore[attr-defined]
    fld = opts.get_field(conflict.field)
    for name in (om.blob_names[fld.name], *(n for n in ch.blob_folders(om.cls) if n == fld.name)):
        om.result_files.pop(name, None)
    if isinstance(value, str):
        value = value.encode()
    om.result_files.update(blob_files.value_files(om.ws.repo, opts, fld, value, om.blob_names[fld.name]))
