"""References across a migration: relation fields that follow a renamed
model, and stored references that follow objects whose id changed.

A ``RelatedField`` or ``ManyToManyField`` records the model it refers to
(``"to"``) in its model's stored schema, and stores the target's id in each
object. :func:`retarget` rewrites the ``"to"`` of every such field when a
model is renamed (``RenameModel``); :func:`rewrite_references` rewrites the
stored ids when a migration moved objects to new ids, so that nothing
refers to an id that no longer exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Container, Mapping, Optional

import pygit2
from pygit2.enums import ObjectType

from ..exceptions import MigrationError
from ..git.packs import PackWriter
from ..git.tree import StagingTree
from ..serializers import json as json_format
from . import FieldSchema, ModelSchema, codec

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["retarget", "retarget_all", "relation_fields", "moved_value", "rewrite_references"]

_BLOB = int(ObjectType.BLOB)
#: model name -> {old id: new id}
Moves = Mapping[str, Mapping[str, str]]


def _retarget_field(record: FieldSchema, old: str, new: str) -> FieldSchema:
    if record.options.get("to") != old:
        return record
    return FieldSchema(record.name, record.type, {**record.options, "to": new})


def retarget(schema: ModelSchema, old: str, new: str) -> ModelSchema:
    """``schema`` with each relation field that refers to model ``old``
    referring to ``new`` (``schema`` itself if none does)."""
    fields = {name: _retarget_field(record, old, new) for name, record in schema.fields.items()}
    if all(fields[name] is record for name, record in schema.fields.items()):
        return schema
    return schema.with_fields(fields)


def retarget_all(schemas: dict[str, ModelSchema], old: str, new: str) -> None:
    """Retarget the relation fields of every schema (model name -> schema), in place."""
    for name, schema in list(schemas.items()):
        schemas[name] = retarget(schema, old, new)


def relation_fields(schema: ModelSchema, targets: Container[str]) -> list[tuple[str, str, bool]]:
    """``(field, target model, is a set)`` for each field of ``schema`` that
    refers to one of the models ``targets``."""
    out = []
    for name, record in schema.fields.items():
        target = record.options.get("to")
        if isinstance(target, str) and target in targets:
            is_set = record.type == "ManyToManyField" or record.options.get("kind") == "set"
            out.append((name, target, is_set))
    return out


def moved_value(value: Any, new_id: Callable[[str], str], is_set: bool) -> Any:
    """A stored reference (an id, or a list of them) with each id replaced
    by ``new_id(id)``."""
    if isinstance(value, str):
        return new_id(value)
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    seen: set[str] = set()
    for element in value:
        if isinstance(element, str):
            element = new_id(element)
            if is_set and element in seen:
                continue  # a set keeps the first of equal elements
            seen.add(element)
        out.append(element)
    return out


def rewrite_references(ws: Workspace, stage: StagingTree, schemas: Mapping[str, ModelSchema],
                       moves: Moves, label: str) -> None:
    """Stage, in ``stage``, every stored object whose relation fields refer to
    an id in ``moves`` with the new id. ``label`` (the migrations) names the
    change in errors: a referring model stored with ``Meta.get_data_path``
    cannot be walked, and a reference that is its object's own id cannot
    change; both are :class:`MigrationError` and nothing is staged."""
    writer = PackWriter(ws.repo)
    edits: list[tuple[str, pygit2.Oid]] = []
    for schema in schemas.values():
        relations = relation_fields(schema, [name for name, ids in moves.items() if ids])
        if not relations:
            continue
        if schema.custom_path:
            targets = ", ".join(sorted({target for _f, target, _s in relations}))
            through = ", ".join(f'"{name}"' for name, _t, _s in relations)
            raise MigrationError(
                f"{label}: {schema.model} refers to moved {targets} objects through {through}, "
                "but is stored with Meta.get_data_path, so its references cannot be rewritten; "
                "nothing was committed")
        depth = schema.folder.count("/") + schema.shard + 2
        for path, oid in stage.files_below(schema.folder, schema.data_filename):
            if path.count("/") != depth:
                continue  # not an object's data file
            new = _rewritten(ws, schema, path, oid, relations, moves, label)
            if new is not None:
                edits.append((path, writer.add(_BLOB, new)))
    writer.write()
    for path, oid in edits:
        stage.set(path, oid)


def _rewritten(ws: Workspace, schema: ModelSchema, path: str, oid: pygit2.Oid,
               relations: list[tuple[str, str, bool]], moves: Moves, label: str) -> Optional[bytes]:
    """The data blob at ``path`` with its references moved, or ``None`` if none moved."""
    model_name, stored = codec.read_stored(ws, path, oid)
    changed = False
    for name, target, is_set in relations:
        if name not in stored:
            continue
        ids = moves[target]
        value = moved_value(stored[name], lambda old: ids.get(old, old), is_set)
        if value != stored[name]:
            if name == schema.id_field:
                raise MigrationError(
                    f"{label}: {schema.model} {path.rsplit('/', 2)[-2]!r} is identified by its "
                    f'reference "{name}", whose target moved; nothing was committed')
            stored[name] = value
            changed = True
    return json_format.dumps(model_name, stored) if changed else None
