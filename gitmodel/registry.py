"""Binding model classes to a workspace: the registry of its models.

A model is bound when it is declared on ``ws.GitModel``, registered with
``ws.register_model`` or found by ``ws.import_models``. Each model keeps
its objects in a folder of its own: a second model whose folder equals the
first's, or equals it ignoring case (a case-insensitive checkout would put
both in one folder), is refused when it is declared.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from . import relations, schema
from .exceptions import ConfigurationError
from .models import GitModel, ModelBase

if TYPE_CHECKING:
    from .workspace import Workspace

M = TypeVar("M", bound=GitModel)


class ModelRegistry(dict):  # type: ignore[type-arg]
    """Model name -> class; also readable as attributes (``ws.models.Page``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no model named {name!r} is registered") from None

    def refuse_shared_folder(self, cls: type[GitModel]) -> None:
        """Refuse ``cls`` if a registered model has its folder, or has it ignoring case."""
        opts = cls._meta
        if opts._custom_data_path is not None:
            return
        folder = opts.folder.casefold()
        for other in self.values():
            other_opts = getattr(other, "_meta", None)
            if (
                other.__name__ != cls.__name__
                and other_opts is not None
                and not other_opts.abstract
                and other_opts._custom_data_path is None
                and other_opts.folder.casefold() == folder
            ):
                raise ConfigurationError(
                    f"models {other.__name__} and {cls.__name__} would share the folder "
                    f"{other_opts.folder!r}" + (
                        f" / {opts.folder!r}" if opts.folder != other_opts.folder else "")
                    + ": rename one of them"
                )


def register(ws: Workspace, cls: type[M]) -> type[M]:
    """Bind ``cls`` to ``ws`` (see :meth:`Workspace.register_model`)."""
    if not (isinstance(cls, type) and issubclass(cls, GitModel)):
        raise TypeError(f"{cls!r} is not a GitModel subclass")
    if cls._meta.workspace is ws:
        if not cls._meta.abstract:
            ws.models.refuse_shared_folder(cls)
            schema.check_model(ws, cls)  # SchemaMismatch: the class stays unbound
        _add(ws, cls)
        return cls
    existing = ws.models.get(cls.__name__)
    if existing is not None and issubclass(existing, cls):
        return existing  # type: ignore[no-any-return]
    attrs: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
    if cls._meta.abstract:
        attrs["Meta"] = abstract_meta(getattr(cls, "Meta", None))
    # ws.GitModel joins the bases so that isinstance(obj, ws.GitModel) holds too
    bound = ModelBase(cls.__name__, (cls, ws.GitModel), attrs, workspace=ws)
    _add(ws, bound)  # abstract ones too, as ws.models.<Name>
    return bound  # type: ignore[return-value]


def _add(ws: Workspace, cls: Any) -> None:
    """Put ``cls`` in ``ws.models`` with its reverse queries, or leave both as they were."""
    before = ws.models.get(cls.__name__)
    ws.models[cls.__name__] = cls
    try:
        relations.install_reverse(ws)
    except BaseException:
        if before is None:
            del ws.models[cls.__name__]
        else:
            ws.models[cls.__name__] = before
        raise


def import_models(ws: Workspace, module: Union[str, ModuleType]) -> ModelRegistry:
    """Register every model declared in ``module`` (or its dotted name) with ``ws``."""
    mod = importlib.import_module(module) if isinstance(module, str) else module
    for value in list(vars(mod).values()):
        if (
            isinstance(value, type)
            and issubclass(value, GitModel)
            and value is not GitModel
            and hasattr(value, "_meta")
            and value._meta.workspace is not ws
        ):
            register(ws, value)
    return ws.models


def base_model(ws: Workspace) -> type[GitModel]:
    """The abstract ``ws.GitModel`` that models declared for ``ws`` subclass."""
    base: type[GitModel] = ModelBase(
        "GitModel",
        (GitModel,),
        {"__module__": "gitmodel.workspace", "__qualname__": "GitModel", "Meta": abstract_meta()},
        workspace=ws,
    )  # type: ignore[assignment]
    delattr(base, "Meta")  # its models declare their own (or none)
    return base


def abstract_meta(declared: Optional[type] = None) -> type:
    return type("Meta", (declared,) if declared else (), {"abstract": True})
