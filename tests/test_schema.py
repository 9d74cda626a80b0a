"""The schema kept in the repository: written, read back, compared with declarations."""

from __future__ import annotations

import json

import pytest

from gitmodel import (
    CorruptObject,
    FieldError,
    SchemaMismatch,
    StoredValueMismatch,
    Workspace,
    fields,
)
from gitmodel.schema import (
    SCHEMA_FOLDER,
    FieldSchema,
    ModelSchema,
    declared_schema,
    drop_unknown_fields,
    unknown_fields,
)


def declare_page(ws: Workspace, **extra: fields.Field) -> type:
    attrs = {"slug": fields.SlugField(id=True), "title": fields.CharField(max_length=80),
             **extra}
    return type("Page", (ws.GitModel,), {"__module__": __name__, **attrs})


@pytest.fixture
def stored(ws: Workspace) -> Workspace:
    """A store with two pages committed by the first declaration."""
    Page = declare_page(ws, rating=fields.CharField(required=False))
    Page(slug="a", title="A", rating="great").save()
    Page(slug="b", title="B", rating="5").save()
    ws.commit("two pages")
    return ws


def reopen(ws: Workspace) -> Workspace:
    return Workspace(ws.path)


def test_the_first_commit_of_a_model_stores_its_schema(stored: Workspace, run_git) -> None:
    text = run_git(stored.path, "show", f"master:{SCHEMA_FOLDER}/Page.json")
    doc = json.loads(text)
    assert doc["model"] == "Page"
    assert doc["folder"] == "page"
    assert doc["id_field"] == "slug"
    assert doc["layout"] == {"shard": 0, "custom_path": False}
    assert doc["fields"]["title"] == {
        "type": "CharField", "max_length": 80, "required": True, "readonly": False,
        "unique": False, "serialize": True, "index": False,
    }
    # diff-friendly: sorted keys, one item per line, a trailing newline
    assert text.endswith("}\n")
    assert '    "title": {\n' in text
    assert json.dumps(doc, indent=2, sort_keys=True) + "\n" == text
    assert "fsck" not in run_git(stored.path, "fsck", "--strict")


def test_schemas_are_readable_at_any_commit_without_the_classes(stored: Workspace) -> None:
    first = stored.branch.oid
    fresh = reopen(stored)  # no model declared
    schemas = fresh.schemas(first)
    assert set(schemas) == {"Page"}
    page = schemas["Page"]
    assert isinstance(page, ModelSchema)
    assert page.data_path("a") == "page/a/data.json"
    assert page.fields["rating"] == FieldSchema(
        "rating", "CharField",
        {"required": False, "readonly": False, "unique": False, "serialize": True, "index": False})
    assert page.fields["title"].to_field().clean(" x ") == " x "
    assert fresh.schemas() == schemas
    assert fresh.schemas(first) == stored.schemas()


def test_a_commit_without_a_model_change_leaves_the_schema_alone(stored: Workspace, run_git) -> None:
    Page = stored.models.Page
    Page(slug="c", title="C").save(commit=True, message="third")
    log = run_git(stored.path, "log", "--format=%s", "--", SCHEMA_FOLDER).split("\n")
    assert [line for line in log if line] == ["two pages"]


def test_a_new_field_with_a_default_is_recorded_in_the_next_commit(stored: Workspace, run_git) -> None:
    ws = reopen(stored)
    Page = declare_page(ws, rating=fields.CharField(required=False),
                        category=fields.CharField(default="misc"))
    assert Page.get("a").category == "misc"
    assert "category" not in ws.schemas()["Page"].fields  # not yet: nothing committed
    Page(slug="c", title="C").save(commit=True, message="with category")
    assert ws.schemas()["Page"].fields["category"].options["default"] == "misc"
    log = run_git(ws.path, "log", "--format=%s", "--", SCHEMA_FOLDER).split()
    assert log[0] == "with"


@pytest.mark.parametrize(
    "declare, said",
    [
        (lambda ws: declare_page(ws, rating=fields.IntegerField(required=False)),
         'field "rating" is stored as CharField, declared as IntegerField'),
        (lambda ws: declare_page(ws), 'stored field "rating" is not declared'),
        (lambda ws: declare_page(ws, rating=fields.CharField(required=False),
                                 category=fields.CharField()),
         'new required field "category" has no default'),
        (lambda ws: type("Page", (ws.GitModel,), {
            "__module__": __name__, "slug": fields.SlugField(id=True),
            "title": fields.CharField(max_length=80),
            "rating": fields.CharField(required=False), "Meta": type("Meta", (), {"shard": 2})}),
         "AlterModelLayout('Page', shard=2)"),
    ],
)
def test_a_declaration_old_objects_do_not_survive_raises_schema_mismatch(stored, declare, said) -> None:
    ws = reopen(stored)
    with pytest.raises(SchemaMismatch) as exc:
        declare(ws)
    assert said in str(exc.value)
    assert "migrate with" in str(exc.value) or "default" in str(exc.value)
    assert exc.value.differences and not any(d.survivable for d in exc.value.differences)
    assert "Page" not in ws.models  # the class was not bound
    assert not isinstance(exc.value, CorruptObject)


def test_a_mismatch_found_at_commit_time_commits_nothing(stored: Workspace) -> None:
    ws = reopen(stored)
    Page = declare_page(ws, rating=fields.CharField(required=False))
    other = reopen(stored)  # another writer retypes rating on the branch
    from gitmodel.migrations import AlterField, Migration

    other.migrate(Migration("0001_int", [AlterField("Page", "rating", fields.IntegerField(
        required=False), convert=lambda v: 5 if v == "great" else int(v))]))
    before = ws.branch.oid
    page = Page(slug="c", title="C")
    page.save()
    with pytest.raises(SchemaMismatch, match="IntegerField"):
        ws.commit("stale declaration")
    assert ws.branch.oid == before


def test_a_stored_value_that_no_longer_fits_names_object_field_and_commit(ws: Workspace) -> None:
    Page = declare_page(ws, rating=fields.CharField(required=False))
    Page(slug="a", title="A", rating="great").save(commit=True)
    # the same repository, written by a tool that keeps no schema
    ws.add_blob("page/b/data.json", b'{"model": "Page", "fields": {"rating": 3, "slug": "b", "title": []}}')
    ws.commit("by hand")
    with pytest.raises(StoredValueMismatch) as exc:
        Page.get("b")
    text = str(exc.value)
    assert "'title'" in text and "page/b/data.json" in text and str(ws.branch.oid)[:10] in text
    assert exc.value.field == "title"
    assert isinstance(exc.value, CorruptObject)  # still what a scan skips
    commit = ws.branch.oid
    with pytest.raises(StoredValueMismatch, match=str(commit)[:10]):
        Page.get("b", treeish="master")
    assert [p.slug for p in Page.all(errors="skip")] == ["a"]


def test_unknown_stored_fields_can_be_listed_dropped_or_kept(stored: Workspace, run_git) -> None:
    ws = reopen(stored)
    ws.add_blob("page/a/data.json", b'{"model": "Page", "fields": {"slug": "a", "title": "A",'
                b' "rating": "x", "legacy": [1, 2], "old": true}}')
    ws.commit("legacy values")
    Page = declare_page(ws, rating=fields.CharField(required=False))
    page = Page.get("a")
    assert unknown_fields(page) == {"legacy": [1, 2], "old": True}
    unknown_fields(page)["legacy"].append(3)  # a copy
    assert unknown_fields(page)["legacy"] == [1, 2]
    page.title = "kept"
    page.save(commit=True)
    assert json.loads(run_git(ws.path, "show", "master:page/a/data.json"))["fields"]["old"] is True
    assert drop_unknown_fields(page, "old") == {"old": True}
    with pytest.raises(FieldError, match="'nope'"):
        drop_unknown_fields(page, "nope")
    page.save(commit=True)
    stored_fields = json.loads(run_git(ws.path, "show", "master:page/a/data.json"))["fields"]
    assert "old" not in stored_fields and stored_fields["legacy"] == [1, 2]
    assert drop_unknown_fields(page) == {"legacy": [1, 2]}
    page.save(commit=True)
    assert unknown_fields(Page.get("a")) == {}


def test_a_field_reads_its_previous_names(stored: Workspace) -> None:
    first = stored.branch.oid
    ws = reopen(stored)
    Page = declare_page(ws, score=fields.CharField(required=False, previous_names=["rating"]))
    assert Page.get("a").score == "great"
    assert Page.get("a", treeish=first).score == "great"
    assert unknown_fields(Page.get("a")) == {}
    page = Page.get("b")
    page.score = "6"
    page.save(commit=True, message="renamed on save")
    assert [v.instance.score for v in Page.history("b")] == ["6", "5"]
    assert ws.schemas()["Page"].fields["score"].options["previous_names"] == ["rating"]


def test_declared_schema_matches_what_is_stored(stored: Workspace) -> None:
    assert declared_schema(stored.models.Page) == stored.schemas()["Page"]


def test_a_corrupt_schema_file_is_reported_with_its_path(stored: Workspace) -> None:
    with pytest.raises(CorruptObject, match="Page.json"):  # not committed by a declaring writer
        stored.add_blob(f"{SCHEMA_FOLDER}/Page.json", b"[1, 2")
        stored.commit("broken schema")
    stored.reset()
    tool = reopen(stored)  # a writer that declares no model
    tool.add_blob(f"{SCHEMA_FOLDER}/Page.json", b"[1, 2")
    tool.commit("broken schema")
    with pytest.raises(CorruptObject, match="Page.json"):
        tool.schemas()
    with pytest.raises(CorruptObject, match="Page.json"):
        declare_page(reopen(stored), rating=fields.CharField(required=False))


def test_diffs_across_a_rename_show_old_values_under_todays_names(stored: Workspace) -> None:
    first = stored.branch.oid
    ws = reopen(stored)
    Page = declare_page(ws, score=fields.CharField(required=False, previous_names=["rating"]))
    page = Page.get("a")
    page.score = "good"
    page.save(commit=True)
    change = Page.diff("a", first, ws.branch.oid)
    assert change is not None and change.changes == {"score": ("great", "good")}
    by_id = {c.id: c.changes for c in ws.changes(first, ws.branch.oid) if hasattr(c, "changes")}
    assert by_id["a"] == {"score": ("great", "good")}


@pytest.mark.parametrize("folder", ["../escape", "a/b", ".git", ""])
def test_a_hostile_schema_cannot_steer_paths(ws: Workspace, folder: str) -> None:
    doc = {"format": 1, "model": "Page", "folder": folder, "id_field": "id",
           "data_filename": "data.json", "layout": {"shard": 0, "custom_path": False},
           "fields": {"id": {"type": "UUIDField"}}}
    ws.add_blob(f"{SCHEMA_FOLDER}/Page.json", json.dumps(doc).encode())
    ws.commit("hostile schema")
    with pytest.raises(CorruptObject, match="folder"):
        ws.schemas()
    from gitmodel.migrations import AlterModelLayout, Migration

    with pytest.raises(CorruptObject, match="folder"):
        ws.migrate(Migration("0001", [AlterModelLayout("Page", shard=1)]))
