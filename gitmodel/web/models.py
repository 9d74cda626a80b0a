"""The models the admin shows: the application's classes, or classes built
from the schema stored in the repository (no application code needed)."""

from __future__ import annotations

from typing import Optional

from ..exceptions import GitModelError
from ..models import GitModel
from ..schema import model_from_schema
from ..workspace import Workspace


def admin_models(ws: Workspace, module: Optional[str] = None) -> tuple[dict[str, type[GitModel]], dict[str, str]]:
    """``(models, problems)``: model name -> bound class, and model name ->
    why it cannot be shown. With ``module``, the application's models;
    models stored without a class in it are built from the stored schema."""
    models: dict[str, type[GitModel]] = {}
    problems: dict[str, str] = {}
    if module:
        ws.import_models(module)
        for name, cls in ws.models.items():
            if cls is not ws.GitModel and not cls._meta.abstract:
                models[name] = cls
    try:
        stored = ws.schemas()
    except GitModelError as exc:
        problems["(schema)"] = str(exc)
        stored = {}
    for name, record in sorted(stored.items()):
        if name in models:
            continue
        try:
            models[name] = model_from_schema(ws, record)
        except GitModelError as exc:
            problems[name] = str(exc)
    return dict(sorted(models.items())), problems
