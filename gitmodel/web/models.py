"""The models the admin shows: the application's classes, or classes built
from the schema stored in the repository (no application code needed)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .. import datefields
from ..exceptions import GitModelError
from ..models import GitModel, ModelBase
from ..fields import Field
from ..schema import FieldSchema, ModelSchema, constructor_options
from ..workspace import Workspace


def _model_from_schema(ws: Workspace, stored: ModelSchema) -> type[GitModel]:
    """A model class bound to ``ws`` that reads and writes the objects
    ``stored`` describes; ``GitModelError`` if it cannot be built."""
    if stored.custom_path:
        raise GitModelError(f"{stored.model}: a custom data path cannot be rebuilt from the schema")
    if stored.folder != stored.model.lower():
        raise GitModelError(f"{stored.model}: folder {stored.folder!r} does not follow its name")
    attrs: dict[str, Any] = {"__module__": __name__, "__qualname__": stored.model}
    for name, record in stored.fields.items():
        field = _field(record)
        field.id = name == stored.id_field
        attrs[name] = field

    class Meta:
        id_attr = stored.id_field
        data_filename = stored.data_filename
        shard = stored.shard

    attrs["Meta"] = Meta
    try:
        return ModelBase(stored.model, (ws.GitModel,), attrs, workspace=ws)  # type: ignore[return-value]
    except (GitModelError, TypeError, ValueError) as exc:
        raise GitModelError(f"{stored.model}: its stored schema cannot be read ({exc})") from None


#: default factories a stored schema may name (nothing else is called)
_FACTORIES: dict[str, Callable[[], Any]] = {"list": list, "dict": dict}


def _field(record: FieldSchema) -> Field[Any]:
    """The field ``record`` describes; gitmodel's own date fields by their
    class (a name only: nothing is imported from the repository's say)."""
    module, _, name = record.type.rpartition(".")
    klass = getattr(datefields, name, None) if module == datefields.__name__ else None
    if isinstance(klass, type) and issubclass(klass, Field):
        made = klass(**constructor_options(klass, record.options))
        made.name = record.name
    else:
        made = record.to_field()
    factory = _FACTORIES.get(str(record.options.get("default_factory")))
    if factory is not None and not made.has_default():
        made._default = factory
    return made


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
            models[name] = _model_from_schema(ws, record)
        except GitModelError as exc:
            problems[name] = str(exc)
    return dict(sorted(models.items())), problems
