"""Model classes: validation, save, get, delete (their metaclass, which
declares them, is :mod:`gitmodel.modelbase`).

Subclass ``ws.GitModel`` (bound to a workspace) or ``gitmodel.models.GitModel``
(bound later with ``ws.register_model`` / ``ws.import_models``).

Static typing: the metaclass carries PEP 681 ``dataclass_transform`` and
fields are generic in their Python type. Annotate each field with its field
class (or ``Field[T]``) to have the constructor checked too::

    class Page(GitModel):
        slug: fields.SlugField = fields.SlugField()
        title: Field[str] = fields.CharField()

    Pages = ws.register_model(Page)   # type[Page], bound to ws
    Pages(slug=1)                     # flagged: expected "str"
    Pages.get("x").title + 1          # flagged: str + int

The automatic ``id`` is not a declared field, so an annotated model that
takes ids in its constructor declares it: ``id: fields.UUIDField =
fields.UUIDField(id=True)``. Unannotated fields (``slug =
fields.SlugField()``) still give typed attributes, but the constructor then
takes any keyword. A static checker
cannot use ``ws.GitModel`` (a variable) as a base class, so code that should
be checked declares models on ``gitmodel.models.GitModel``.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, Optional, Sequence

import pygit2

from . import blobs as blob_files
from . import pathsafety, relations
from .exceptions import (
    CorruptObject,
    FieldError,
    IntegrityError,
    MergeConflict,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
    StoredValueMismatch,
    ValidationError,
)
from .fields import NOT_PROVIDED, Field
from .git.locks import object_lock_name
from .git.odb import write_blob
from .git.tree import BLOB_MODE, tree_entry
from .objects import commit_of, naming_commits
from .query.manager import Manager
from .schema import codec, layout
from .modelbase import DeclarativeMetaclass, ModelBase
from .schema.options import ModelOptions

if TYPE_CHECKING:
    from typing_extensions import Self

    from .versions.changes import ObjectChange
    from .versions.history import BlameEntry, Version
    from .query import QuerySet
    from .workspace import Workspace

__all__ = ["GitModel", "ModelBase", "DeclarativeMetaclass", "class_or_instance_method"]


class class_or_instance_method:
    """A method callable on the class (``Page.delete(id)``) or an instance
    (``page.delete()``); it receives ``(cls, instance_or_None, *args)``."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, instance: Any, owner: Any) -> Any:
        func = self.func

        def bound(*args: Any, **kwargs: Any) -> Any:
            return func(owner, instance, *args, **kwargs)

        bound.__doc__ = func.__doc__
        bound.__name__ = func.__name__
        return bound




class GitModel(metaclass=ModelBase):
    """Base class of every model. Instances are plain objects until saved."""

    _meta: ClassVar[ModelOptions]
    DoesNotExist: ClassVar[type[ObjectDoesNotExist]] = ObjectDoesNotExist
    MultipleObjectsReturned: ClassVar[type[MultipleObjectsReturned]] = MultipleObjectsReturned
    objects: ClassVar[Manager] = Manager()

    # Instance state is declared in __init__, not as class annotations: a
    # dataclass_transform class would read those as model fields.

    def __init__(self, **kwargs: Any) -> None:
        opts = self._meta
        opts.require_workspace("__init__")
        self._data: dict[str, Any] = {}
        #: the JSON fields as last read or written
        self._stored: Optional[dict[str, Any]] = None
        self._stored_id: Optional[str] = None
        self._oid: Optional[pygit2.Oid] = None
        #: blob field name -> blob id as last read or saved (models with blob fields)
        self._blob_oids: Optional[dict[str, Optional[pygit2.Oid]]] = None
        self._extra: dict[str, Any] = {}
        if "pk" in kwargs:  # Django's alias of the id field, as obj.pk is
            id_name = opts.id_field.name
            if id_name in kwargs:
                raise TypeError(f"{type(self).__name__}() got both pk and {id_name}")
            kwargs[id_name] = kwargs.pop("pk")
        for field in opts.fields:
            value = kwargs.pop(field.name, NOT_PROVIDED)
            if value is NOT_PROVIDED:
                value = field.get_default()
            setattr(self, field.name, value)
        if kwargs:
            names = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}() got unexpected field(s): {names}")

    # -- identity -----------------------------------------------------------
    def get_id(self) -> Any:
        """The object's id (the value of its id field)."""
        return self._data.get(self._meta.id_attr)  # type: ignore[arg-type]

    @property
    def id(self) -> Any:
        """The object's id, whichever field holds it."""
        return self.get_id()

    @property
    def pk(self) -> Any:
        """The object's id, by Django's name (``obj.pk``); setting it sets the id field."""
        return self.get_id()

    @pk.setter
    def pk(self, value: Any) -> None:
        setattr(self, self._meta.id_field.name, value)

    @property
    def oid(self) -> Optional[pygit2.Oid]:
        """The id of the data blob as last saved or read; ``None`` if never saved."""
        return self._oid

    def get_data_path(self) -> str:
        """Where this object's JSON is stored."""
        return self._meta.get_data_path(self.get_id())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GitModel):
            return NotImplemented
        return (
            self._meta.model_name == other._meta.model_name
            and self.get_id() is not None
            and self.get_id() == other.get_id()
        )

    def __hash__(self) -> int:
        return hash((self._meta.model_name, self.get_id()))

    def __repr__(self) -> str:
        """``<Model: str(self)>`` when the model says how it reads (``__str__``
        or 0.1's ``__unicode__``), as 0.1 and Django show it; else ``<Model: id>``."""
        cls = type(self)
        if cls.__str__ is not GitModel.__str__ or hasattr(self, "__unicode__"):
            return f"<{cls.__name__}: {self}>"
        return f"<{cls.__name__}: {self.get_id()}>"

    def __str__(self) -> str:
        """0.1's: the model's ``__unicode__()`` if it has one, else ``"Model object"``."""
        text = getattr(self, "__unicode__", None)
        return str(text()) if callable(text) else f"{type(self).__name__} object"

    def __getstate__(self) -> dict[str, Any]:  # pickle and copy.deepcopy, as Django's instances
        return codec.instance_state(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        codec.restore_state(self, state)

    # -- validation ----------------------------------------------------------
    def clean_fields(self, exclude: Optional[Iterable[str]] = None) -> None:
        """Coerce and validate every field (but those named in ``exclude``);
        one ``ValidationError`` lists all."""
        errors: list[ValidationError] = []
        skipped = frozenset(exclude or ())
        for field in self._meta.fields:
            if field.name in skipped:
                continue
            try:
                value = field.clean(self._data.get(field.name), self)
            except ValidationError as exc:
                errors.extend(exc.error_list)
                continue
            if field.readonly and self._stored is not None and field.stored_in_json:
                if self._stored.get(field.name) != field.to_json(value):
                    errors.append(field.error("readonly"))
                    continue
            self._data[field.name] = value
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        """Hook for whole-object validation; raise ``ValidationError``."""

    def full_clean(self, exclude: Optional[Iterable[str]] = None) -> None:
        """``clean_fields(exclude)`` then ``clean()`` (``save()`` checks every field)."""
        self.clean_fields(exclude)
        self.clean()

    # -- persistence ---------------------------------------------------------
    def to_json_fields(self) -> dict[str, Any]:
        """The field values as stored in ``data.json`` (after ``full_clean``)."""
        data = dict(self._extra)
        for field in self._meta.json_fields:
            data[field.name] = field.to_json(self._data.get(field.name))
        return data

    def save(self, commit: bool = False, update_fields: Optional[Iterable[str]] = None,
             **commit_info: Any) -> Optional[pygit2.Oid]:
        """Validate and stage this object; with ``commit=True`` also commit.

        Returns the commit id when it commits (inside ``commit_on_success``,
        ``commit=True`` joins the block: ``None``, the block commits). A new
        object whose id is taken raises ``IntegrityError``; an object whose
        id changed moves; a save that fails stages nothing. Holds the
        workspace's ``write_lock`` throughout, so a save (and its commit) is
        one step for the other threads sharing the workspace.
        ``update_fields``, as Django's: only those fields are written, onto
        the object as stored now (:meth:`bulk_update`); an empty list saves
        nothing, and an object not stored is ``DoesNotExist``.
        """
        ws = self._meta.require_workspace("save")
        ws.check_commit_info("save", commit, commit_info)
        commit = ws._unit.commits_now(commit)  # inside commit_on_success: the block commits it
        if update_fields is not None:
            return self._save_fields(ws, update_fields, commit, commit_info)
        # no refresh here: the change builds on the commit the object was read
        # from, so a concurrent edit of the same field is a conflict, not lost
        with ws._unit.paused():
            return self._save(commit, **commit_info)

    def _save_fields(self, ws: Workspace, names: Iterable[str], commit: bool,
                     commit_info: dict[str, Any]) -> Optional[pygit2.Oid]:
        names = [names] if isinstance(names, str) else list(names)
        if not names:
            return None
        cls = type(self)
        object_id = self._stored_id or self.get_id()
        if commit and object_id is not None:  # the commit holds this object's change alone
            ws.require_only_pending(*self._meta.object_paths(object_id))
        if object_id is None or cls.bulk_update([self], names) == 0:
            raise cls.DoesNotExist(f"{cls.__name__} {object_id!r} is not stored: save(update_fields=...) "
                                   "writes fields of a stored object; nothing was staged")
        return ws.commit(**commit_info) if commit else None

    def _save(self, commit: bool = False, **commit_info: Any) -> Optional[pygit2.Oid]:
        opts = self._meta
        ws = opts.require_workspace()
        self.full_clean()
        object_id = self.get_id()
        owned = opts.object_paths(object_id)
        old_paths: list[str] = []
        if self._stored_id is not None and self._stored_id != object_id:
            old_paths = opts.object_paths(self._stored_id)
        if commit:
            ws.require_only_pending(*owned, *old_paths)
        stage = ws.stage
        if self._stored_id != object_id and stage.lookup(self.get_data_path()) is not None:
            raise IntegrityError(
                f'A {type(self).__name__} instance already exists with id "{object_id}"'
            )
        changed = self._changed_meanwhile(ws)
        if changed and old_paths:
            raise MergeConflict(
                f"{type(self).__name__} {self._stored_id!r} changed since it was read, so it "
                f"cannot move to {object_id!r}; get() it again", [],
            )
        self._check_unique(ws)
        relations.check_targets(self, ws)
        relations.check_move(ws, self)
        stored = self.to_json_fields()
        blob = codec.encode(type(self).__name__, stored)
        ws._require_writable()
        ws._unit.remember_saved(self)
        if changed:
            self._save_merged(ws, blob)
        else:
            edits = self._blob_files(ws, object_id)  # every object first: a failed write stages nothing
            oid = write_blob(ws.repo, blob)
            unit = ws._unit
            with ws.write_lock:
                for path in old_paths:
                    unit.write(path, None)
                unit.write(self.get_data_path(), (oid, BLOB_MODE), written=True)
                for path, entry, written in edits:
                    unit.write(path, entry, written)
                saved_blobs = {field.name: blob_files.entry_id(ws.stage.lookup, opts, object_id, field)
                               for field in opts.blob_fields}
            self._mark_saved(ws, oid, stored, object_id)
            if saved_blobs:
                self._blob_oids = saved_blobs
        if commit:
            return ws.commit(**commit_info)
        return None

    def _blob_files(self, ws: Workspace, object_id: Any) -> list[tuple[str, Optional[tuple[pygit2.Oid, int]], bool]]:
        """Write the files of this object's blob fields (named files in a folder
        of their own, see :mod:`gitmodel.blobs`); what to stage: ``(path,
        entry or None to remove, written here)``."""
        opts, repo = self._meta, ws.repo
        pathsafety.check_staged_path(self.get_data_path())
        files: dict[str, Any] = {}
        for field in opts.blob_fields:
            files.update(blob_files.writes(opts, object_id, field, self._data.get(field.name)))
        edits: list[tuple[str, Optional[tuple[pygit2.Oid, int]], bool]] = []
        for file_path, value in files.items():
            if value is None:
                edits.append((file_path, None, False))
            elif isinstance(value, (bytes, bytearray)):
                pathsafety.check_staged_path(file_path)
                edits.append((file_path, (write_blob(repo, bytes(value)), BLOB_MODE), True))
            else:
                edits.append((file_path, (blob_files.content_oid(repo, value), BLOB_MODE), False))
        return edits

    def _changed_meanwhile(self, ws: Workspace) -> bool:
        """True if the workspace no longer holds the version this object was
        read from (or last saved as): another writer changed or deleted it."""
        if self._oid is None or self._stored_id is None:
            return False
        opts = self._meta
        stage = ws.stage
        entry = stage.lookup(opts.get_data_path(self._stored_id))
        if entry is None or entry[0] != self._oid:
            return True
        if self._blob_oids is not None:
            for field in opts.blob_fields:
                if blob_files.entry_id(stage.lookup, opts, self._stored_id, field) != self._blob_oids.get(field.name):
                    return True
        return False

    def _merge_with_current(self, ws: Workspace, mine: dict[str, pygit2.Oid]) -> Any:
        """Merge ``mine`` (this object's files, empty to delete) with what the
        workspace holds now, against the version this object was read from.

        Same-field clashes raise :class:`MergeConflict` (nothing staged),
        or are conflicts for the open merge. Returns the object merge, to
        stage with :meth:`_stage_merge`.
        """
        from .versions import changes as ch
        from .versions import merge
        from .versions import openmerge

        cls = type(self)
        object_id: str = self._stored_id  # type: ignore[assignment]
        folder, data, blob_names = ch.object_paths(cls, object_id)
        base = {data: self._oid}
        for name, oid in (self._blob_oids or {}).items():
            if oid is not None:  # a named file is kept as its folder (gitmodel.blobs)
                named = isinstance(ws.repo.get(oid), pygit2.Tree)
                base[name if named else blob_names[name]] = oid
        names = (data, *blob_names.values(), *ch.blob_folders(cls))
        entries = {}
        for name in names:
            entry = ws.stage.lookup(f"{folder}/{name}" if folder else name)
            if entry is not None:
                entries[name] = entry
        current = ch.owned_entries(cls, entries, names)
        om = merge.ObjectMerge(ws, cls, object_id, (None, None, None), (base, mine, current),  # type: ignore[arg-type]
                               race=True)
        om.run(None)
        if om.conflicts and ws._unit.merge is None:
            raise MergeConflict(
                f"{cls.__name__} {object_id!r} changed since it was read, and the same "
                f"data changed here: {merge.describe_conflicts(om.conflicts)}; "
                "nothing was staged", om.conflicts,
            )
        return om

    @staticmethod
    def _stage_merge(ws: Workspace, om: Any) -> None:
        """Stage the object merge ``om``; its conflicts join the open merge,
        recorded in the repository (if that fails, nothing stays staged)."""
        from .versions import openmerge

        unit = ws._unit
        with ws.write_lock:
            if not om.conflicts:
                unit.write_all(om.edits().items())
                return
            with staging_kept(ws):
                unit.write_all(om.edits().items())
                unit.merge.add(om)  # type: ignore[union-attr]
                openmerge.save(ws, unit.merge)  # type: ignore[arg-type]

    def _save_merged(self, ws: Workspace, blob: bytes) -> None:
        """Save the fields changed since this object was read onto what the
        workspace holds now (another writer's changes to other fields stay)."""
        from .versions import changes as ch

        opts = self._meta
        repo = ws.repo
        _folder, data, blob_names = ch.object_paths(type(self), self._stored_id)  # type: ignore[arg-type]
        mine = {data: write_blob(repo, blob)}
        for field in opts.blob_fields:  # a named file keeps its name
            mine.update(blob_files.value_files(repo, opts, field, self._data.get(field.name),
                                               blob_names[field.name]))
        om = self._merge_with_current(ws, mine)
        merged = om.result
        path = self.get_data_path()
        fresh = codec.decode(type(self), path, type(self).__name__, merged)  # read before staging
        object_id: str = self._stored_id  # type: ignore[assignment]
        blobs = {f.name: ch.blob_key(type(self), f, om.result_files, object_id) for f in opts.blob_fields}
        values = {f.name: ch.blob_value(repo, type(self), f, om.result_files, object_id) for f in opts.blob_fields}
        self._stage_merge(ws, om)
        for field in opts.json_fields:
            self._data[field.name] = fresh._data[field.name]
        self._extra = fresh._extra
        self._data.update(values)
        entry = ws.stage.lookup(path)
        assert entry is not None
        self._mark_saved(ws, entry[0], merged, self._stored_id)
        if blobs:
            self._blob_oids = {name: key[1] or key[0] for name, key in blobs.items()}

    def _as_read(self, oid: pygit2.Oid) -> GitModel:
        """A copy of this object as a fresh read of blob ``oid`` would give it
        (fields that are not serialized get their default), sharing nothing mutable."""
        snapshot = type(self).__new__(type(self))
        snapshot._blob_oids = None
        snapshot._data = codec.copy_data(self._data, self._meta.mutable_fields)
        for field in self._meta.fields:
            if not field.serialize:
                snapshot._data[field.name] = field.get_default()
        snapshot._stored = self._stored
        snapshot._extra = dict(self._extra)
        snapshot._stored_id = self._stored_id
        snapshot._oid = oid
        return snapshot

    def _mark_saved(
        self, ws: Workspace, oid: pygit2.Oid, stored: dict[str, Any], object_id: Any
    ) -> None:
        """Record that this object is now stored as blob ``oid`` under ``object_id``."""
        self._oid = oid
        self._stored = stored
        self._stored_id = object_id
        ws.cache_object(oid, self)

    @classmethod
    def bulk_save(
        cls, objs: Iterable[GitModel], commit: bool = False, **commit_info: Any
    ) -> Optional[pygit2.Oid]:
        """Save many objects at once: the same result as ``save()`` on each.

        All are validated first (nothing is staged if one is refused), then
        written in one pack instead of one loose file per object. Returns the
        commit id when ``commit=True`` (inside ``commit_on_success`` the block
        commits). See :mod:`gitmodel.bulk`.
        """
        from .bulk import bulk_save

        return bulk_save(cls, objs, commit, **commit_info)

    @classmethod
    def bulk_create(cls, objs: Iterable[GitModel], commit: bool = False, **commit_info: Any) -> list[Self]:
        """Django's name for :meth:`bulk_save` of new objects; returns them.
        An object read or saved before is refused (``IntegrityError``, nothing
        staged): ``bulk_create()`` makes objects, ``bulk_save()`` saves changes."""
        objs = list(objs)
        for obj in objs:
            if isinstance(obj, GitModel) and obj._stored_id is not None:
                raise IntegrityError(f"{type(obj).__name__} {obj._stored_id!r} is stored already: "
                                     "bulk_create() makes new objects; nothing was staged")
        cls.bulk_save(objs, commit, **commit_info)
        return objs  # type: ignore[return-value]

    @classmethod
    def bulk_update(cls, objs: Iterable[GitModel], fields: Sequence[str], commit: bool = False,
                    **commit_info: Any) -> int:
        """Write only ``fields`` of ``objs`` (as Django's): each stored object
        is read again, gets those fields' values from the one given, and all
        are saved together (:meth:`bulk_save`). Objects not stored (any more)
        are left out; returns how many were updated."""
        from .query import _get_field

        if isinstance(fields, str) or not fields:
            raise FieldError("bulk_update() takes a list of field names")
        names = [_get_field(cls, name).name for name in fields]
        if any(_get_field(cls, name).id for name in names):
            raise FieldError(f"bulk_update() cannot change the id field of {cls.__name__}")
        objs = list(objs)
        for obj in objs:
            if not isinstance(obj, cls):
                raise ValidationError(f"bulk_update() of {cls.__name__} objects got {type(obj).__name__}")
        stored = cls.all().in_bulk([obj._stored_id for obj in objs if obj._stored_id is not None])
        fresh = []
        for obj in objs:
            current = stored.get(obj._stored_id)
            if current is not None:
                for name in names:
                    setattr(current, name, copy.deepcopy(obj._data.get(name)))
                fresh.append(current)
        if fresh:
            cls.bulk_save(fresh, commit, **commit_info)
        return len(fresh)

    def _check_unique(self, ws: Workspace) -> None:
        if not self._meta.unique_fields:
            return
        from .query.planner import check_unique

        check_unique(self, ws)

    def refresh_from_db(self) -> None:
        """Read this object again (as Django's): its values, and the version a
        later save merges onto, become those of the workspace now (its
        pending edits included). ``DoesNotExist`` if it is not there (never
        saved, or deleted since); nothing changes then."""
        stored = self._stored_id if self._stored_id is not None else self.get_id()
        fresh = type(self).get(stored)
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)

    @class_or_instance_method
    def delete(
        cls: Any, instance: Optional[GitModel], *args: Any, commit: bool = False, **commit_info: Any
    ) -> Optional[pygit2.Oid]:
        """``Page.delete(id)`` or ``page.delete()``: stage the object's removal.

        Returns the commit id when ``commit=True`` (inside ``commit_on_success``
        the block commits, as for :meth:`save`). Holds the workspace's
        ``write_lock`` throughout, like :meth:`save`.
        """
        ws = cls._meta.require_workspace("delete")
        ws.check_commit_info("delete", commit, commit_info)
        commit = ws._unit.commits_now(commit)  # inside commit_on_success: the block commits it
        if instance is None:
            ws.refresh()  # by id: the latest commit; an instance: where it was read
        with ws._unit.paused():
            return cls._delete(instance, *args, commit=commit, **commit_info)

    @classmethod
    def _delete(
        cls, instance: Optional[GitModel], *args: Any, commit: bool = False, **commit_info: Any
    ) -> Optional[pygit2.Oid]:
        if instance is not None:
            if args:
                raise TypeError("obj.delete() takes no id")
            object_id = instance._stored_id or instance.get_id()
        elif not args:
            raise TypeError("Model.delete() needs an id")
        else:
            object_id = args[0]
            if isinstance(object_id, GitModel):
                object_id = object_id._stored_id or object_id.get_id()
        opts = cls._meta
        ws = opts.require_workspace()
        object_id = opts.id_field.clean_id(object_id)
        with ws.write_lock:
            if ws.stage.lookup(opts.get_data_path(object_id)) is None:
                raise cls.DoesNotExist(f"{cls.__name__} with id {object_id!r} does not exist")
            if instance is not None:
                ws._unit.remember_saved(instance)
            if instance is not None and instance._changed_meanwhile(ws):
                cls._stage_merge(ws, instance._merge_with_current(ws, {}))  # changed meanwhile: a conflict
            else:
                plan = relations.plan_delete(ws, cls, [object_id])  # on_delete rules, same commit
                if commit:
                    ws.require_only_pending(*plan.paths())
                with staging_kept(ws) if plan.updates else nullcontext():  # SET_NULL saves: all or none
                    plan.apply(ws)
        if instance is not None:
            instance._stored_id = None
            instance._stored = None
            instance._oid = None
            instance._blob_oids = None
        if commit:
            return ws.commit(**commit_info)
        return None

    # -- reading -------------------------------------------------------------
    @classmethod
    def get(cls, id: Any = NOT_PROVIDED, treeish: Any = None) -> Self:
        """The object with ``id`` in the workspace (or at ``treeish``)."""
        opts = cls._meta
        ws = opts.require_workspace("get")  # first, as 0.1 did: even without an id
        if id is NOT_PROVIDED:
            raise TypeError(f"{cls.__name__}.get() needs an id")
        object_id = opts.id_field.clean_id(id)
        if treeish is None:  # the staged state: the hot path, without a context manager
            try:
                path = opts.get_data_path(object_id)
                entry = ws.lookup(path)
                if entry is None and opts.adaptive and opts.get_data_path(object_id) != path:
                    path = opts.get_data_path(object_id)  # the branch fanned out as we followed it
                    entry = ws.lookup(path)
                if entry is None:
                    raise cls.DoesNotExist(f"{cls.__name__} with id {object_id!r} does not exist")
                return codec.load(ws, cls, path, entry[0], None, object_id)
            except CorruptObject as exc:  # name the commit the data came from
                if exc.commit is not None:
                    raise
                raise exc.at(commit_of(ws, None)) from None
        with naming_commits(ws, treeish):  # a tree on the way that cannot be read names it too
            tree = ws.resolve_tree(treeish)
            with layout.reading(tree):  # the layout that commit records
                path = opts.get_data_path(object_id)
            entry = tree_entry(tree, path)
            if entry is None and opts._custom_data_path is None:  # from before a RenameModel?
                from .schema.renames import current_view

                tree = current_view(ws, tree)
                entry = tree_entry(tree, path)
            if entry is None:
                raise cls.DoesNotExist(f"{cls.__name__} with id {object_id!r} does not exist")
            try:
                with layout.reading(tree):
                    return codec.load(ws, cls, path, entry[0], tree, object_id)
            except StoredValueMismatch as exc:
                target = ws.resolve_treeish(treeish) if exc.commit is None and treeish is not None else None
                if not isinstance(target, pygit2.Commit):
                    raise
                raise StoredValueMismatch(path, exc.field, exc.reason, target.id) from None  # name the commit
            except CorruptObject as exc:  # name the commit the data came from
                raise exc.at(commit_of(ws, treeish)) from None

    @classmethod
    def all(cls, treeish: Any = None, errors: str = "raise") -> QuerySet[Self]:
        """Every object of this model (lazy), in the workspace or at ``treeish``.

        An object that cannot be read raises :class:`CorruptObject` naming
        its path; with ``errors="skip"`` it is left out and reported in the
        queryset's ``skipped`` list instead.
        """
        from .query import QuerySet

        cls._meta.require_workspace("all")
        return QuerySet(cls, treeish=treeish, errors=errors)

    @classmethod
    def filter(cls, *args: Any, **lookups: Any) -> QuerySet[Self]:
        """``Model.all().filter(...)``: the objects matching the lookups."""
        return cls.all().filter(*args, **lookups)

    @classmethod
    def exclude(cls, *args: Any, **lookups: Any) -> QuerySet[Self]:
        """``Model.all().exclude(...)``: the objects not matching the lookups."""
        return cls.all().exclude(*args, **lookups)

    @classmethod
    def get_or_create(cls, defaults: Optional[dict[str, Any]] = None, **lookups: Any) -> tuple[Self, bool]:
        """``Model.all().get_or_create(...)``: ``(object, created)``."""
        return cls.all().get_or_create(defaults, **lookups)

    @classmethod
    def update_or_create(cls, defaults: Optional[dict[str, Any]] = None, **lookups: Any) -> tuple[Self, bool]:
        """``Model.all().update_or_create(...)``: ``(object, created)``."""
        return cls.all().update_or_create(defaults, **lookups)

    @classmethod
    def in_bulk(cls, ids: Optional[Iterable[Any]] = None, *, field_name: str = "pk") -> dict[Any, Self]:
        """``Model.all().in_bulk(ids)``: ``{id: object}``, read at one commit."""
        return cls.all().in_bulk(ids, field_name=field_name)

    # -- history and merging (see history.py and merge.py) ---------------------------
    @class_or_instance_method
    def history(
        cls, instance: Optional[GitModel], *args: Any, treeish: Any = None, follow: bool = True
    ) -> list[Version]:
        """``Page.history(id)`` or ``page.history()``: versions, newest first.

        ``treeish`` starts elsewhere than the branch; ``follow`` continues
        through a change of id (a moved object).
        """
        from .versions import history

        object_id = _object_id(instance, args, "history")
        return history.object_history(cls._meta.require_workspace(), cls, object_id, treeish, follow)  # type: ignore[arg-type]

    @class_or_instance_method
    def blame(cls, instance: Optional[GitModel], *args: Any, treeish: Any = None) -> dict[str, BlameEntry]:
        """``Page.blame(id)`` or ``page.blame()``: field name -> its value and
        the commit, author and date that last set it (as of ``treeish``,
        default: the branch)."""
        from .versions import history

        object_id = _object_id(instance, args, "blame")
        return history.object_blame(cls._meta.require_workspace(), cls, object_id, treeish)  # type: ignore[arg-type]

    @class_or_instance_method
    def diff(cls, instance: Optional[GitModel], *args: Any) -> Optional[ObjectChange]:
        """``Page.diff(id, a, b=None)`` or ``page.diff(a)``: the object's change
        from ``a`` to ``b`` (default: the staged state), ``None`` if equal."""
        from .versions import history

        if instance is not None:
            object_id, rest = instance._stored_id or instance.get_id(), args
        elif not args:
            raise TypeError("Model.diff() needs an id and a treeish")
        else:
            object_id, rest = args[0], args[1:]
        if not rest or len(rest) > 2:
            raise TypeError("diff() takes a treeish and optionally a second one")
        ws = cls._meta.require_workspace()
        return history.object_diff(ws, cls, object_id, *rest)  # type: ignore[arg-type]

    @class_or_instance_method
    def restore(cls, instance: Optional[GitModel], *args: Any) -> Self:
        """``Page.restore(id, treeish)`` or ``page.restore(treeish)``: stage the
        object as it was at ``treeish`` (not committed); returns it."""
        from .versions import history

        if instance is not None:
            object_id, rest = instance._stored_id or instance.get_id(), args
        elif len(args) != 2:
            raise TypeError("Model.restore() needs an id and a treeish")
        else:
            object_id, rest = args[0], args[1:]
        if len(rest) != 1:
            raise TypeError("restore() takes one treeish")
        return history.restore(cls._meta.require_workspace(), cls, object_id, rest[0])  # type: ignore[arg-type,return-value]

    @classmethod
    def merge_fields(
        cls, base: Optional[GitModel], ours: GitModel, theirs: GitModel
    ) -> Optional[GitModel]:
        """Whole-object merge rule, called when both sides changed an object.

        Override to return the merged object (``base`` is ``None`` when both
        sides added it); return ``None`` to merge field by field.
        """
        return None

    # -- conveniences -----------------------------------------------------------
    def lock(self, timeout: Optional[float] = None) -> Any:
        """A workspace lock named after this object (a context manager)."""
        ws = self._meta.require_workspace()
        return ws.lock(object_lock_name(self._meta.model_name, self.get_id()), timeout=timeout)

    def refresh(self) -> None:
        """Reload this object's fields from the workspace."""
        fresh = type(self).get(self._stored_id or self.get_id())
        self.__dict__.update(fresh.__dict__)


@contextmanager
def staging_kept(ws: Workspace) -> Iterator[None]:
    """Run a write of the calling unit that either succeeds or leaves its
    staging, the instances it saved and its open merge (as held and as
    recorded) exactly as they were (see ``UnitOfWork.undoable``)."""
    unit = ws._unit
    state = unit.merge
    if state is None:
        with unit.undoable():
            yield
        return
    result = state.result
    marks = (len(state.added), len(result.objects), len(result.conflicts), state.record)
    with unit.undoable():
        try:
            yield
        except BaseException:
            del state.added[marks[0]:], result.objects[marks[1]:], result.conflicts[marks[2]:]
            if state.record != marks[3]:  # the record moved: back to the one before
                from .versions.openmerge import merge_ref

                ws.store.move_refs([(merge_ref(ws.head), state.record, marks[3])], "gitmodel: failed write undone")
                state.record = marks[3]
            raise


def _object_id(instance: Optional[GitModel], args: tuple[Any, ...], name: str) -> Any:
    if instance is not None:
        if args:
            raise TypeError(f"obj.{name}() takes no id")
        return instance._stored_id or instance.get_id()
    if len(args) != 1:
        raise TypeError(f"Model.{name}() needs an id")
    return args[0]
