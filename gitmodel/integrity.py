"""Integrity of a merged state: unique fields and references, checked after
a merge (and so after a pull) before it is committed.

Each side may be valid on its own and the merge still break a rule: both
sides gave a unique value to different objects, or one side deleted an
author the other side's new page refers to. Such a merge is not committed:
each violation is an open conflict naming the objects, settled like any
other (``ws.resolve(conflict, "ours" | "theirs" | "base")`` takes that
side's version of the named object; ``"staged"`` accepts the object as it
now is, once fixed with ``save()``/``delete()``), or ``abort_merge()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import pygit2

from .versions import changes as ch
from .exceptions import IntegrityError, MergeConflict, RepositoryError
from .git.tree import tree_entry
from .versions.merge import CHOICES, Conflict, tree_ids
from .relations import check_targets, referrers, relation_fields

if TYPE_CHECKING:
    from .versions.merge import TreeMerge
    from .workspace import Workspace

__all__ = ["IntegrityConflict", "UNIQUE", "DANGLING", "merge_violations", "violations_if_staged",
           "refuse_broken_merge"]

#: two objects hold the same value of a unique field
UNIQUE = "unique"
#: a reference names an object that does not exist in the merged state
DANGLING = "dangling reference"


@dataclass(eq=False, repr=False)
class IntegrityConflict(Conflict):
    """A rule the merged state breaks; ``detail`` names the other objects."""

    detail: str = ""

    def describe(self) -> str:
        return f"{super().describe()}: {self.detail}"


class _ObjectChoice:
    """Settles an integrity conflict by taking one side's version of its object."""

    def __init__(self, ws: Workspace, trees: tuple[Optional[pygit2.Tree], ...]) -> None:
        self.ws = ws
        self.trees = trees
        self._edits: dict[str, Any] = {}

    def resolve(self, conflict: Conflict, choice: Any, literal: bool = False) -> None:
        if literal or choice not in (*CHOICES, "staged"):
            raise RepositoryError(
                f"{conflict.describe()}: resolve it with 'ours', 'theirs', 'base' or 'staged' "
                "(after fixing the objects with save() or delete())"
            )
        self._edits = {}
        if choice != "staged":
            tree = self.trees[{"base": 0, "ours": 1, "theirs": 2}[choice]]
            assert conflict.model is not None
            folder = conflict.model._meta.get_object_folder(conflict.id)  # type: ignore[attr-defined]
            self._edits[folder] = tree_entry(tree, folder)
        conflict.resolved = True

    def edits(self) -> dict[str, Any]:
        return self._edits


def merge_violations(ws: Workspace, trees: tuple[Optional[pygit2.Tree], ...],
                     result: Optional[TreeMerge] = None) -> list[Conflict]:
    """The unique and reference violations of the staged merge result, for
    the objects either side changed."""
    base, ours, theirs = trees
    if not any(_has_rules(model) for model in list(ws.models.values())):
        return []  # no unique field and no reference: nothing a merge can break
    if result is not None and result.changed is not None and result.changed[0] == tree_ids(trees):
        changed = result.changed[1]  # the merge diffed the same trees already
    else:
        layout = ch.Layout(ws)
        cache: dict[pygit2.Oid, set[bytes]] = {}
        changed = set(ch.changed_keys(ws, base, ours, layout, cache, folders=True))
        changed |= set(ch.changed_keys(ws, base, theirs, layout, cache, folders=True))
    owner = _ObjectChoice(ws, trees)
    found: dict[tuple[str, Any, str], IntegrityConflict] = {}

    def report(model: Any, object_id: Any, field: str, kind: str, detail: str) -> None:
        key = (model.__name__, object_id, field)
        if key not in found:
            base_value, ours_value, theirs_value = (
                _side_value(model, object_id, field, tree) for tree in trees)
            found[key] = IntegrityConflict(model, object_id, field, kind, base_value, ours_value,
                                           theirs_value, _owner=owner, detail=detail)

    keys: list[tuple[Any, Any]] = [k for k in changed if k[0] is not None]
    for model, object_id in sorted(keys, key=lambda k: (k[0].__name__, k[1])):
        opts = model._meta
        if ws.lookup(opts.get_data_path(object_id)) is None:  # gone in the merged state
            for source, field in referrers(ws, model):
                lookup = f"{field.name}__contains" if field.many else field.name
                for ref_id in source.filter(**{lookup: object_id}).ids():
                    report(source, ref_id, field.name, DANGLING,
                           f"refers to {model.__name__} {object_id!r}, deleted on one side")
            continue
        if not opts.unique_fields and not relation_fields(model):
            continue
        obj = model.get(object_id)
        for field in relation_fields(model):
            try:
                check_targets(_only(obj, field), ws)
            except IntegrityError as exc:
                report(model, object_id, field.name, DANGLING, str(exc).split(": ", 1)[-1])
        for field in opts.unique_fields:
            value = obj._data.get(field.name)
            if value is None or not field.stored_in_json:
                continue
            others = [i for i in model.filter(**{field.name: value}).ids() if i != object_id]
            if others:
                report(model, object_id, field.name, UNIQUE,
                       f"{field.to_json(value)!r} is also held by "
                       + ", ".join(f"{model.__name__} {i!r}" for i in others))
    return list(found.values())


def violations_if_staged(ws: Workspace, start: Optional[pygit2.Oid], tree: Optional[pygit2.Tree],
                         result: TreeMerge, trees: tuple[Optional[pygit2.Tree], ...]) -> list[Conflict]:
    """The violations :func:`merge_violations` finds with ``result`` staged on
    commit ``start`` (its ``tree``); the calling unit's staging is left as it was."""
    if not any(_has_rules(model) for model in list(ws.models.values())):
        return []
    unit = ws._unit
    snap = unit.snapshot()
    try:
        unit.move_to(start, tree)
        unit.write_all(result.staged())
        return merge_violations(ws, trees, result)
    finally:
        unit.restore(snap)


def refuse_broken_merge(ws: Workspace, state: Any) -> None:
    """``MergeConflict`` naming the violations of the open merge ``state`` as
    now staged (its conflicts settled): a value chosen in ``resolve()``, or a
    side taken, may itself break a unique field or a reference."""
    from .versions.merge import describe_conflicts

    repo = ws.repo
    trees = tuple(repo[c].tree if c is not None else None  # type: ignore[attr-defined]
                  for c in (state.base, state.ours, state.theirs))
    broken = merge_violations(ws, trees, state.result)
    if broken:
        raise MergeConflict(
            f"the merge as resolved would break {describe_conflicts(broken)}; nothing was committed: "
            "fix the data with save() or delete() and commit() again, or abort_merge()", broken)


def _has_rules(model: Any) -> bool:
    """True if objects of ``model`` have unique values or references to check."""
    opts = getattr(model, "_meta", None)
    return opts is not None and not opts.abstract and bool(opts.unique_fields or relation_fields(model))


def _only(obj: Any, field: Any) -> Any:
    """A copy of ``obj`` whose references are those of ``field`` alone."""
    model: Any = type(obj)
    probe = model.__new__(model)
    probe._data = {f.name: (obj._data.get(f.name) if f is field else None) for f in relation_fields(type(obj))}
    probe._data[obj._meta.id_attr] = obj.get_id()
    return probe


def _side_value(model: Any, object_id: Any, field: str, tree: Optional[pygit2.Tree]) -> Any:
    if tree is None:
        return None
    try:
        obj = model.get(object_id, treeish=tree)
    except model.DoesNotExist:
        return None
    value = obj._data.get(field)
    return value.get_id() if hasattr(value, "get_id") else value
