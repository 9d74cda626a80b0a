"""Field names that would break a model are refused when the class is created."""

from __future__ import annotations

import pytest

from gitmodel import fields
from gitmodel.exceptions import FieldError
from gitmodel.models import GitModel
from gitmodel.workspace import Workspace

API_NAMES = [
    "history", "diff", "delete", "restore", "filter", "exclude", "all", "get", "save",
    "clean", "full_clean", "clean_fields", "merge_fields", "bulk_save", "lock", "refresh",
    "get_id", "get_data_path", "to_json_fields", "oid", "DoesNotExist",
    "MultipleObjectsReturned", "Meta",
]


def declare(base: type, name: str) -> type:
    return type("Clash", (base,), {"__module__": __name__, name: fields.CharField(required=False)})


@pytest.mark.parametrize("name", API_NAMES)
def test_names_of_the_model_api_are_refused(ws: Workspace, name: str) -> None:
    with pytest.raises(FieldError, match=f'a field cannot be named "{name}": it would shadow'):
        declare(ws.GitModel, name)


@pytest.mark.parametrize("name", ["_data", "_stored", "_oid", "_extra", "_anything", "__dict__"])
def test_names_starting_with_underscore_are_refused(ws: Workspace, name: str) -> None:
    with pytest.raises(FieldError, match=f'"{name}": names starting with \'_\''):
        declare(ws.GitModel, name)


def test_names_with_double_underscore_are_refused(ws: Workspace) -> None:
    with pytest.raises(FieldError, match='"a__b": \'__\' separates a field from its lookup'):
        declare(ws.GitModel, "a__b")


def test_pk_is_refused(ws: Workspace) -> None:
    with pytest.raises(FieldError, match='"pk": the id alias'):
        declare(ws.GitModel, "pk")


def test_unbound_models_and_mixins_are_checked_too() -> None:
    class Mixin:
        def publish(self) -> None: ...

    with pytest.raises(FieldError, match="shadow Mixin.publish"):
        type("Clash", (GitModel, Mixin), {"__module__": __name__, "publish": fields.CharField()})
    with pytest.raises(FieldError, match='"save"'):
        declare(GitModel, "save")


def test_a_refused_name_registers_nothing(ws: Workspace) -> None:
    with pytest.raises(FieldError):
        declare(ws.GitModel, "filter")
    assert "Clash" not in ws.models


def test_ordinary_names_and_the_id_still_work(ws: Workspace) -> None:
    class Page(ws.GitModel):
        id = fields.SlugField(id=True)
        title = fields.CharField()
        data = fields.JSONField(required=False)
        status = fields.CharField(default="draft")

    page = Page(id="p", title="t", data={"a": 1})
    page.save(commit=True)
    assert Page.filter(title="t").first() == page  # querying still works
    assert Page.get("p").data == {"a": 1} and Page.get("p").status == "draft"
    assert Page.get("p").history()[0].instance.title == "t"
