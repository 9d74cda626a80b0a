"""The metaclass of models: it collects a class's declared fields and
``Meta`` into ``cls._meta`` (:class:`~gitmodel.schema.options.ModelOptions`),
gives the class its ``DoesNotExist`` and ``MultipleObjectsReturned``, and
registers it with the workspace it is declared on. Importable as
``gitmodel.models.ModelBase`` (and, as in python-gitmodel 0.1,
``DeclarativeMetaclass``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Optional

from .exceptions import FieldError, MultipleObjectsReturned, ObjectDoesNotExist
from .fields import Field
from .schema.options import ModelOptions, check_field_name

if TYPE_CHECKING:
    from .workspace import Workspace

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
elif sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - Python 3.10 without typing_extensions
    try:
        from typing_extensions import dataclass_transform
    except ImportError:
        def dataclass_transform(**_kwargs: Any) -> Any:
            return lambda obj: obj


# No field specifiers on purpose: every field may be left out of the
# constructor (it gets its default; ``full_clean`` enforces ``required`` at
# save time), so to a type checker a field declaration is that field's default.
@dataclass_transform(kw_only_default=True, field_specifiers=())
class ModelBase(type):
    """Collects declared fields and ``Meta`` into ``cls._meta``.

    ``Meta`` stays on the class (``class Meta(Parent.Meta)`` extends a
    parent's). A field name that would shadow the model's API or state is
    refused with ``FieldError``: a name of any attribute of the class
    (``save``, ``filter``, ``oid``, ``Meta``...), ``pk``, a name starting
    with ``_`` (instance state lives there) or containing ``__``.
    """

    _meta: ModelOptions

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        attrs: dict[str, Any],
        workspace: Optional[Workspace] = None,
        **kwargs: Any,
    ) -> ModelBase:
        parents = [b for b in bases if isinstance(b, ModelBase)]
        if not parents:  # the root GitModel class itself
            return super().__new__(mcs, name, bases, attrs, **kwargs)
        meta = attrs.get("Meta")  # stays on the class: ``class Meta(Parent.Meta)`` works
        if isinstance(meta, Field):  # refused below, as a field name
            meta = None
        declared = {k: v for k, v in attrs.items() if isinstance(v, Field)}
        for key in declared:
            attrs.pop(key)
        cls = super().__new__(mcs, name, bases, attrs, **kwargs)
        for field_name in declared:
            check_field_name(cls, field_name)

        parent_opts = next((p._meta for p in parents if hasattr(p, "_meta")), None)
        opts = ModelOptions(meta, parent_opts)
        opts.contribute_to_class(cls, "_meta")  # type: ignore[arg-type]
        opts.workspace = workspace or (parent_opts.workspace if parent_opts else None)

        inherited: dict[str, Field[Any]] = {}
        for parent in parents:
            parent_meta: Optional[ModelOptions] = getattr(parent, "_meta", None)
            for field in parent_meta.fields if parent_meta is not None else []:
                inherited.setdefault(field.name, field)
        for field_name, field in inherited.items():
            if field_name in declared:
                raise FieldError(
                    f'{name}.{field_name} re-declares a field inherited from a parent model'
                )
            field.contribute_to_class(cls, field_name)  # type: ignore[arg-type]
        for field_name, field in sorted(declared.items(), key=lambda kv: kv[1].creation_counter):
            field.contribute_to_class(cls, field_name)  # type: ignore[arg-type]
        opts.finalize()
        if cls.__doc__ is None:  # as 0.1 gave it: Page(id, title, body)
            cls.__doc__ = f"{name}({', '.join(f.name for f in opts.fields)})"

        cls.DoesNotExist = type(  # type: ignore[attr-defined]
            "DoesNotExist",
            tuple(p.DoesNotExist for p in parents if hasattr(p, "DoesNotExist"))
            or (ObjectDoesNotExist,),
            {"__module__": cls.__module__, "__qualname__": f"{cls.__qualname__}.DoesNotExist"},
        )
        cls.MultipleObjectsReturned = type(  # type: ignore[attr-defined]
            "MultipleObjectsReturned",
            tuple(p.MultipleObjectsReturned for p in parents if hasattr(p, "MultipleObjectsReturned"))
            or (MultipleObjectsReturned,),
            {
                "__module__": cls.__module__,
                "__qualname__": f"{cls.__qualname__}.MultipleObjectsReturned",
            },
        )
        if opts.workspace is not None:
            opts.workspace.register_model(cls)  # type: ignore[arg-type]
        return cls


#: the metaclass under its python-gitmodel 0.1 name
DeclarativeMetaclass = ModelBase
