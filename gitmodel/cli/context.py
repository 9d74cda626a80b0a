"""Opening a repository and its model classes, for the command line and the admin.

:func:`open_workspace` is what both tools call: a :class:`~gitmodel.Workspace`
on a path, with model classes from the application's module (``--models``)
or, for every model the repository stores without one, built from its stored
schema (:func:`gitmodel.schema.model_from_schema`). Nothing here imports
click: the web admin uses it too.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..exceptions import ConfigurationError, GitModelError, ModelNotFound
from ..models import GitModel
from ..schema import model_from_schema
from ..workspace import Workspace

__all__ = ["open_workspace", "get_model", "declared_models", "CliState"]


def open_workspace(path: Union[str, os.PathLike[str]] = ".", models: Optional[str] = None,
                   branch: Optional[str] = None, treeish: Any = None, **options: Any) -> Workspace:
    """A workspace on the repository at ``path`` (bare, its ``.git`` or its
    work tree) with its model classes in ``ws.models``.

    ``models`` is a module (``package.module``) whose models are imported;
    every other model stored at ``treeish`` (default: the branch) is built
    from its stored schema. With ``treeish`` the workspace stands on it (a
    branch is switched to, a tag or commit is read-only), so every model is
    checked against the schema stored there, not the branch's. A stored model that cannot be built (its layout
    is the application's code, an option its field refuses) is left out;
    :func:`get_model` then says so.
    """
    ws = Workspace(path, branch, **options)
    if treeish is not None:  # read at REV: its models are built and checked against REV's schema
        ws.update_index(treeish)
    if models:
        ws.import_models(_import(models))
    unreadable: dict[str, str] = {}
    for name, schema in ws.schemas(treeish).items():
        if name in ws.models:
            continue
        try:
            model_from_schema(ws, schema)
        except GitModelError as exc:  # that model is listed as unreadable; the others work
            unreadable[name] = str(exc)
    ws.__dict__["_unreadable_models"] = unreadable
    return ws


def _import(models: str) -> Any:
    try:
        return importlib.import_module(models)
    except GitModelError:
        raise
    except ImportError as exc:
        raise ConfigurationError(f"cannot import the models module {models!r}: {exc}") from None
    except Exception as exc:  # a module that does not compile or fails as it runs
        raise ConfigurationError(f"cannot import the models module {models!r}: "
                                 f"{type(exc).__name__}: {exc}") from None


def declared_models(models: str, names: tuple[str, ...] = ()) -> list[type[GitModel]]:
    """The concrete model classes the module ``models`` declares (those called
    ``names``, if given), NOT bound to a workspace: what ``makemigrations``
    compares with the stored schemas, which they may no longer fit."""
    module = _import(models)
    found: dict[str, type[GitModel]] = {}
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, GitModel) and value is not GitModel
                and hasattr(value, "_meta") and not value._meta.abstract):
            found.setdefault(value.__name__, value)
    if not found:
        raise ConfigurationError(f"the models module {models!r} declares no model")
    for name in names:
        if name not in found:
            raise ModelNotFound(f"no model named {name!r} in {models!r} "
                                f"(models: {', '.join(sorted(found))})")
    return [found[n] for n in names] if names else list(found.values())


def model_names(ws: Workspace) -> list[str]:
    """The concrete models of ``ws``, by name."""
    return sorted(name for name, model in ws.models.items()
                  if name != "GitModel" and not model._meta.abstract)


def get_model(ws: Workspace, name: str) -> type[GitModel]:
    """The model called ``name`` (``ModelNotFound`` naming the choices)."""
    model = ws.models.get(name)
    if model is not None and name != "GitModel" and not model._meta.abstract:
        return model  # type: ignore[no-any-return]
    reason = ws.__dict__.get("_unreadable_models", {}).get(name)
    if reason:
        raise ModelNotFound(reason)
    choices = ", ".join(model_names(ws)) or "none is stored; pass --models MODULE"
    raise ModelNotFound(f"no model named {name!r} (models: {choices})")


@dataclass
class CliState:
    """The global options of one run; opens the workspace on first use."""

    path: str = "."
    models: Optional[str] = None
    debug: bool = False
    _ws: Optional[Workspace] = field(default=None, repr=False)

    def workspace(self, branch: Optional[str] = None, treeish: Any = None) -> Workspace:
        if self._ws is None or branch is not None:
            self._ws = open_workspace(self.path, self.models, branch, treeish)
        return self._ws
