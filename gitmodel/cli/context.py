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

__all__ = ["open_workspace", "get_model", "CliState"]


def open_workspace(path: Union[str, os.PathLike[str]] = ".", models: Optional[str] = None,
                   branch: Optional[str] = None, treeish: Any = None, **options: Any) -> Workspace:
    """A workspace on the repository at ``path`` (bare, its ``.git`` or its
    work tree) with its model classes in ``ws.models``.

    ``models`` is a module (``package.module``) whose models are imported;
    every other model stored at ``treeish`` (default: the branch) is built
    from its stored schema. A stored model that cannot be built (its layout
    is the application's code, an option its field refuses) is left out;
    :func:`get_model` then says so.
    """
    ws = Workspace(path, branch, **options)
    if models:
        try:
            module = importlib.import_module(models)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import the models module {models!r}: {exc}") from None
        ws.import_models(module)
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
