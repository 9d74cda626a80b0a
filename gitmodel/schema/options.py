"""``Model._meta``: what a model declares, resolved once at class creation."""

from __future__ import annotations

import hashlib
import re
import types
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ..exceptions import ConfigurationError, DuplicateIdField, FieldError, GitModelError
from ..fields import Field, UUIDField

if TYPE_CHECKING:
    from ..models import GitModel
    from ..workspace import Workspace

#: Meta attributes a model may declare; anything else is a typo.
META_OPTIONS = {
    "abstract",
    "data_filename",
    "get_data_path",
    "id_attr",
    "id_field",
    "shard",
    "indexes",
    "previous_names",
}


class ModelOptions:
    """The options of one model class (``Model._meta``)."""

    model: type[GitModel]

    def __init__(self, meta: Optional[type], parent: Optional[ModelOptions] = None) -> None:
        self.meta = meta
        self.fields: list[Field[Any]] = []
        self.workspace: Optional[Workspace] = None
        self.abstract = False
        self.data_filename: str = parent.data_filename if parent else "data.json"
        self.id_attr: Optional[str] = parent.id_attr if parent else None
        #: ``Meta.shard`` if declared (here or by a parent); ``None``: adaptive
        self.declared_shard: Optional[int] = parent.declared_shard if parent else None
        self.indexes: list[str] = list(parent.indexes) if parent else []
        custom_path = parent._custom_data_path if parent else None
        values = {k: v for k, v in vars(meta).items() if not k.startswith("__")} if meta else {}
        unknown = set(values) - META_OPTIONS
        if unknown:
            raise ConfigurationError(f"unknown Meta option(s): {', '.join(sorted(unknown))}")
        self.abstract = bool(values.get("abstract", False))
        self.data_filename = values.get("data_filename", self.data_filename)
        id_attr = values.get("id_attr", values.get("id_field"))
        if id_attr is not None:
            self.id_attr = id_attr
        if "shard" in values:
            self.declared_shard = int(values["shard"] or 0)
            if not 0 <= self.declared_shard <= 8:
                raise ConfigurationError("Meta.shard must be between 0 and 8")
        self.indexes = list(values.get("indexes", self.indexes))
        #: the names the model had before (``RenameModel``): old commits keep
        #: its objects in their folders, under those names
        self.previous_names: tuple[str, ...] = tuple(values.get("previous_names", ()))
        custom_path = values.get("get_data_path", custom_path)
        self._custom_data_path: Optional[Callable[..., str]] = custom_path
        if custom_path is not None:
            self.get_data_path = types.MethodType(custom_path, self)  # type: ignore[method-assign]

    def contribute_to_class(self, cls: type[GitModel], name: str) -> None:
        self.model = cls
        self.model_name = cls.__name__.lower()
        setattr(cls, name, self)

    # -- fields -----------------------------------------------------------
    def add_field(self, field: Field[Any]) -> None:
        if any(f.name == field.name for f in self.fields):
            raise FieldError(f'field "{field.name}" is already declared on {self.model.__name__}')
        self.fields.append(field)
        for memo in ("_indexed_fields", "_index_signatures", "_relation_fields"):  # derived from the fields
            self.__dict__.pop(memo, None)

    def finalize(self) -> None:
        """Resolve the id field, adding ``id = UUIDField(id=True)`` if needed."""
        if self.id_attr is not None:
            self.get_field(self.id_attr)  # FieldError if there is no such field
            for field in self.fields:  # Meta.id_attr names the one id field
                field.id = field.name == self.id_attr
        else:
            declared = [f for f in self.fields if f.id]
            if len(declared) > 1:
                raise DuplicateIdField(f"{self.model.__name__} declares more than one id field")
            if declared:
                self.id_attr = declared[0].name
            elif not self.abstract:  # concrete children add their own, first
                auto = UUIDField(id=True)
                auto.contribute_to_class(self.model, "id")
                self.fields.insert(0, self.fields.pop())
                self.id_attr = "id"
        self._by_name = {f.name: f for f in self.fields}
        self.json_fields = [f for f in self.fields if f.serialize and f.stored_in_json]
        self.blob_fields = [f for f in self.fields if not f.stored_in_json]
        #: fields kept only in memory (``serialize=False``): their default on load
        self.transient_fields = [f for f in self.fields if f.stored_in_json and not f.serialize]
        self.unique_fields = [f for f in self.fields if f.unique and not f.id]
        self.mutable_fields = [f for f in self.fields if f.mutable]
        for name in self.indexes:
            self.get_field(name)

    def get_field(self, name: str) -> Field[Any]:
        """The field called ``name``; ``FieldError`` if there is none."""
        for field in self.fields:
            if field.name == name:
                return field
        raise FieldError(f'{self.model.__name__} has no field "{name}"')

    @property
    def id_field(self) -> Field[Any]:
        assert self.id_attr is not None
        field = self._by_name.get(self.id_attr) if hasattr(self, "_by_name") else None
        return field if field is not None else self.get_field(self.id_attr)

    # -- storage layout ------------------------------------------------------
    @property
    def adaptive(self) -> bool:
        """True if the layout follows the store (no ``Meta.shard``, no custom
        path): flat while the folder is small, fanned out once it grows."""
        return self.declared_shard is None and self._custom_data_path is None

    @property
    def shard(self) -> int:
        """Levels of hash folders above each object folder: ``Meta.shard``,
        or for an adaptive model the layout recorded in the tree being read
        (the staged state unless :func:`~gitmodel.schema.layout.reading` says
        another). An old tree read by a model declaring ``Meta.shard`` reads
        in the layout it records (from before an ``AlterModelLayout``)."""
        declared = self.declared_shard
        if declared is not None:
            return _declared_shard(self, declared)
        if self._custom_data_path is not None:
            return 0
        return _current_shard(self)

    @shard.setter
    def shard(self, value: int) -> None:
        self.declared_shard = value

    @property
    def folder(self) -> str:
        """The top folder that holds every object of this model."""
        return self.model_name

    def get_object_folder(self, object_id: str) -> str:
        """The folder of one object: ``page/<id>`` or, sharded, ``page/ab/cd/<id>``.

        Folders of string ids are remembered per layout (bounded): a read or
        save of an id seen before skips the hash and the string building."""
        shard = self.shard
        if type(object_id) is not str:
            return self.object_folder_at(object_id, shard)
        memo = self.__dict__.get("_folders")
        if memo is None or memo[0] != shard:
            memo = self.__dict__["_folders"] = (shard, {})
        folders: dict[str, str] = memo[1]
        folder = folders.get(object_id)
        if folder is None:
            folder = self.object_folder_at(object_id, shard)
            if len(folders) >= _FOLDER_MEMO:
                folders.clear()
            folders[object_id] = folder
        return folder

    def object_folder_at(self, object_id: str, shard: int) -> str:
        """The folder of one object in the layout of ``shard`` hash levels."""
        if shard:
            # shard on a hash of the id, so sequential or short ids fan out too
            digest = _shard_digest(object_id)
            if shard == 2:  # the fanned-out default: no generator on the hot path
                return f"{self.folder}/{digest[:2]}/{digest[2:4]}/{object_id}"
            shards = "/".join([digest[i * 2 : i * 2 + 2] for i in range(shard)])
            return f"{self.folder}/{shards}/{object_id}"
        return f"{self.folder}/{object_id}"

    def layouts(self) -> tuple[int, ...]:
        """The layouts (shard levels) this model's objects may have in some
        tree, likeliest first: for an adaptive model flat, fanned out, and the
        one the staged state records; for a declared one, the declared layout,
        then any other (an ``AlterModelLayout`` may have moved them)."""
        from .layout import FANNED_SHARD

        current = self.shard
        if self._custom_data_path is not None:
            return (current,)
        others = (0, FANNED_SHARD) if self.adaptive else (0, FANNED_SHARD, *range(1, 9))
        return (current,) + tuple(dict.fromkeys(s for s in others if s != current))

    def get_data_path(self, object_id: str) -> str:
        """Where the object's JSON lives (override with ``Meta.get_data_path``)."""
        return f"{self.get_object_folder(object_id)}/{self.data_filename}"

    @property
    def custom_data_path(self) -> Optional[tuple[str, Callable[[str], bool]]]:
        """For a ``Meta.get_data_path`` override: the folder to search and a
        test telling which paths below it are data files; else ``None``.

        Found by asking the override for a probe id: the folders before the
        id are fixed, the rest becomes a pattern in which the id is one
        path component (or part of one).
        """
        if self._custom_data_path is None:
            return None
        probe = "\x00"
        path = self.get_data_path(probe)
        if path.count(probe) != 1:
            raise ConfigurationError(
                f"{self.model.__name__}: Meta.get_data_path must use the object id once"
            )
        before, after = path.split(probe)
        folder = before.rsplit("/", 1)[0] if "/" in before else ""
        pattern = re.compile(re.escape(before) + r"[^/]+" + re.escape(after) + r"\Z")
        return folder, lambda candidate: pattern.match(candidate) is not None

    def get_blob_path(self, object_id: str, field: Field[Any]) -> str:
        """Where a ``BlobField`` value of the object is stored: beside its data file."""
        if self._custom_data_path is None:
            name = field.blob_name(self.data_filename)  # type: ignore[attr-defined]
            return f"{self.get_object_folder(object_id)}/{name}"
        return f"{self.get_data_path(object_id)}.{field.name}"  # folders may be shared

    def object_paths(self, object_id: str) -> list[str]:
        """The paths (files or folders) one object owns: removed when it moves or goes."""
        if self._custom_data_path is None:
            return [self.get_object_folder(object_id)]
        return [self.get_data_path(object_id)] + [
            self.get_blob_path(object_id, f) for f in self.blob_fields
        ]

    def require_workspace(self, action: str = "save") -> Workspace:
        """The bound workspace, or a ``GitModelError`` naming the model,
        the refused call (``action``) and what to do instead."""
        name = self.model.__name__
        if self.workspace is None:
            raise GitModelError(
                f"Cannot call {name}.{action}() because {name} has not been registered "
                f"with a workspace: use ws.register_model({name}) or ws.import_models() "
                f"and the class they return (ws.models.{name}), or declare it on ws.GitModel"
            )
        if self.abstract:
            raise GitModelError(
                f"Cannot call {name}.{action}() on abstract model {name}: "
                "declare a concrete subclass and use that"
            )
        unfit = self.workspace._unfit
        if unfit and self.model in unfit:  # another process migrated what this class declares
            raise unfit[self.model]
        return self.workspace

    def __repr__(self) -> str:
        return f"<Options for {self.model.__name__}>"


#: names a field may not take although no attribute of the class has them
_RESERVED_FIELD_NAMES = {
    "pk": "the id alias that queries use (filter(pk=...), order_by('pk'))",
    "Meta": "it would shadow the class Meta that declares the model's options",
}


class _NoField:
    pass


#: names a field may take from the model's API: the automatic id (which it
#: replaces) and Django's ``objects`` (python-gitmodel 0.1 had no such name)
_FIELDS_MAY_REPLACE = ("id", "objects")


_NO_FIELD = _NoField()


def check_field_name(cls: type, name: str) -> None:
    """Refuse a field name that would shadow the model's API or internals
    (Django's checks E001-E003, pydantic's "shadows an attribute")."""
    clash: Optional[str] = None
    if name.startswith("_"):
        clash = "names starting with '_' are kept for the model's internal state"
    elif "__" in name:
        clash = "'__' separates a field from its lookup in queries (title__startswith)"
    elif name in _RESERVED_FIELD_NAMES:
        clash = _RESERVED_FIELD_NAMES[name]
    elif name not in _FIELDS_MAY_REPLACE and not isinstance(getattr(cls, name, _NO_FIELD), (Field, _NoField)):
        # (the automatic id replaces GitModel.id; a parent's field is re-declared)
        owner = next((k for k in cls.__mro__ if name in vars(k)), type(cls))
        clash = f"it would shadow {owner.__name__}.{name}, part of the model's API"
    if clash is not None:
        raise FieldError(f'{cls.__name__}: a field cannot be named "{name}": {clash}')


#: how many object folders of string ids a model remembers (see ``get_object_folder``)
_FOLDER_MEMO = 131_072


def _shard_digest(object_id: Union[str, bytes]) -> str:
    """The hash an id's folder is sharded on (of its UTF-8 bytes)."""
    return hashlib.sha1(object_id if isinstance(object_id, bytes) else object_id.encode("utf-8")).hexdigest()


def _declared_shard(opts: ModelOptions, declared: int) -> int:
    """:func:`gitmodel.schema.layout.declared_shard`, imported on first use."""
    global _declared_shard
    from .layout import declared_shard

    _declared_shard = declared_shard
    return declared_shard(opts, declared)


def _current_shard(opts: ModelOptions) -> int:
    """:func:`gitmodel.schema.layout.current_shard`, imported on first use
    (the layout module imports this one)."""
    global _current_shard
    from .layout import current_shard

    _current_shard = current_shard
    return current_shard(opts)
