"""Migrations at their edges: ids that change, functions that misbehave,
renamed models other models refer to, and restoring from before a migration."""

from __future__ import annotations

import datetime
import json

import pytest

from gitmodel import MigrationError, SchemaMismatch, StoredValueMismatch, Workspace, fields
from gitmodel.migrations import (
    AddField,
    AlterField,
    Migration,
    RenameField,
    RenameModel,
    RunPython,
    applied,
)
from gitmodel.schema import model_from_schema


def stored(run_git, ws: Workspace, spec: str) -> dict:
    return json.loads(run_git(ws.path, "show", spec))["fields"]


def files(run_git, ws: Workspace, ref: str = "master") -> list[str]:
    return sorted(run_git(ws.path, "ls-tree", "-r", "--name-only", ref).split())


def commits(run_git, ws: Workspace, ref: str = "master") -> int:
    return int(run_git(ws.path, "rev-list", "--count", ref))


def declare(ws: Workspace, model: str, /, **attrs) -> type:
    return type(model, (ws.GitModel,), {"__module__": __name__, **attrs})


def authors_and_pages(ws: Workspace) -> tuple[type, type]:
    Author = declare(ws, "Author", slug=fields.SlugField(id=True), name=fields.CharField())
    Page = declare(ws, "Page", title=fields.CharField(),
                   author=fields.RelatedField(Author, required=False),
                   co=fields.ManyToManyField(Author, required=False, related_name="co_pages"),
                   body=fields.BlobField(required=False))
    return Author, Page


@pytest.fixture
def library(ws: Workspace) -> Workspace:
    """Authors ``ann`` and ``bob``; page ``p`` (with a blob file) refers to both."""
    Author, Page = authors_and_pages(ws)
    ann, bob = Author(slug="ann", name="Ann"), Author(slug="bob", name="Bob")
    ann.save()
    bob.save()
    Page(id="p", title="P", author=ann, co=[ann, bob], body=b"text").save()
    ws.commit("a library")
    return ws


def suffix(value: str) -> str:
    return value + "-x"


def rename_slug(stored: dict) -> None:
    stored["slug"] = {"ann": "anne"}.get(stored["slug"], stored["slug"])


# -- a migration that changes ids ----------------------------------------------------------
def test_an_object_whose_id_changes_moves_to_its_new_folder_with_its_files(ws: Workspace, run_git) -> None:
    Doc = declare(ws, "Doc", slug=fields.SlugField(id=True), body=fields.BlobField())
    Doc(slug="a", body=b"one").save()
    Doc(slug="b", body=b"two").save()
    ws.commit("docs")
    ws.migrate(Migration("0001_suffix", [
        AlterField("Doc", "slug", fields.SlugField(id=True), convert=suffix)]))
    assert [p for p in files(run_git, ws) if p.startswith("doc/")] == [
        "doc/a-x/body.data", "doc/a-x/data.json", "doc/b-x/body.data", "doc/b-x/data.json"]
    assert stored(run_git, ws, "master:doc/a-x/data.json") == {"slug": "a-x"}
    run_git(ws.path, "fsck", "--strict")
    log = run_git(ws.path, "log", "--follow", "--format=%s", "--", "doc/a-x/data.json")
    assert log.split("\n")[:2] == ["Migrate: 0001_suffix", "docs"]
    reader = Workspace(ws.path)
    Doc = declare(reader, "Doc", slug=fields.SlugField(id=True), body=fields.BlobField())
    assert sorted(Doc.all().ids()) == ["a-x", "b-x"]
    assert Doc.get("a-x").body.read() == b"one"


def test_ids_may_swap_in_a_sharded_layout_and_references_follow(ws: Workspace, run_git) -> None:
    Node = declare(ws, "Node", slug=fields.SlugField(id=True), title=fields.CharField(),
                   parent=fields.RelatedField("Node", required=False, on_delete="set_null"),
                   Meta=type("Meta", (), {"shard": 2}))
    a = Node(slug="a", title="A")
    a.save()
    Node(slug="b", title="B", parent=a).save()
    Node(slug="c", title="C", parent="b").save()
    ws.commit("nodes")
    swap = {"a": "b", "b": "a"}

    def swap_ids(stored: dict) -> None:
        stored["slug"] = swap.get(stored["slug"], stored["slug"])

    ws.migrate(Migration("0001_swap", [RunPython(swap_ids, "Node")]))
    by_title = {}
    for path in files(run_git, ws):
        if path.startswith("node/"):
            values = stored(run_git, ws, f"master:{path}")
            assert path == Node._meta.get_data_path(values["slug"])  # each where its id belongs
            by_title[values["title"]] = values
    assert by_title["A"]["slug"] == "b" and by_title["B"] == {"slug": "a", "title": "B", "parent": "b"}
    assert by_title["C"]["parent"] == "a"  # it referred to B, which is "a" now
    assert len(files(run_git, ws)) == 5  # three objects, one schema, one migration record
    run_git(ws.path, "fsck", "--strict")


def test_references_of_other_models_follow_moved_objects(library: Workspace, run_git) -> None:
    library.migrate(Migration("0001_rename_ann", [RunPython(rename_slug, "Author")]))
    assert stored(run_git, library, "master:page/p/data.json") == {
        "id": "p", "title": "P", "author": "anne", "co": ["anne", "bob"]}
    assert "author/anne/data.json" in files(run_git, library)
    assert "author/ann/data.json" not in files(run_git, library)
    assert commits(run_git, library) == 2  # the move and the references: one commit
    reader = Workspace(library.path)
    _Author, Page = authors_and_pages(reader)
    page = Page.get("p")
    assert page.author.name == "Ann" and [a.name for a in page.co] == ["Ann", "Bob"]
    run_git(library.path, "fsck", "--strict")


@pytest.mark.parametrize(("code", "message"), [
    (lambda s: s.update(slug="same"), r"Author '(ann|bob)' would get the id 'same', as Author "
     r"'(ann|bob)' does"),
    (lambda s: s.update(slug="bob") if s["slug"] == "ann" else None,
     r"Author 'ann' would get the id 'bob', which Author 'bob' keeps"),
    (lambda s: s.update(slug="a/b"), r"Author 'ann' would get the id 'a/b', which is not valid"),
    (lambda s: s.update(slug="not a slug"), r"Author 'ann' would get the id 'not a slug', which is not valid"),
    (lambda s: s.update(slug=7), r"Author 'ann' would get the id 7, which is not valid \(must be a string\)"),
])
def test_a_new_id_that_is_taken_or_invalid_fails_the_migration(library: Workspace, run_git,
                                                                code, message) -> None:
    before = library.branch.oid
    with pytest.raises(MigrationError, match=r"migration '0001_ids': " + message):
        library.migrate(Migration("0001_ids", [RunPython(code, "Author")]))
    assert library.branch.oid == before and not library.has_changes()
    assert applied(library) == [] and commits(run_git, library) == 1


def test_a_referring_model_stored_by_code_cannot_follow_and_refuses(ws: Workspace, run_git) -> None:
    Author = declare(ws, "Author", slug=fields.SlugField(id=True), name=fields.CharField())

    def flat_path(opts, object_id):
        return f"notes/{object_id}.json"

    Note = declare(ws, "Note", author=fields.RelatedField(Author),
                   Meta=type("Meta", (), {"get_data_path": flat_path}))
    ann = Author(slug="ann", name="Ann")
    ann.save()
    Note(id="n", author=ann).save()
    ws.commit("a note")
    with pytest.raises(MigrationError, match=r"Note refers to moved Author objects through \"author\", but is stored with "
                       "Meta.get_data_path"):
        ws.migrate(Migration("0001", [RunPython(rename_slug, "Author")]))
    assert commits(run_git, ws) == 1 and not ws.has_changes()
    assert "author/ann/data.json" in files(run_git, ws)


def test_edits_made_before_ids_moved_merge_onto_the_moved_objects(library: Workspace, run_git) -> None:
    library.create_branch("slugs")
    library.migrate(Migration("0001_rename_ann", [RunPython(rename_slug, "Author")]), branch="slugs")
    Author, Page = library.models.Author, library.models.Page
    ann = Author.get("ann")
    ann.name = "Ann B."
    ann.save()
    Page(id="q", title="Q", author=Author.get("ann")).save()
    library.commit("edits in the old ids")
    result = library.merge("slugs")
    assert not result.conflicts and not result.dropped_edits
    assert stored(run_git, library, "master:author/anne/data.json") == {"slug": "anne", "name": "Ann B."}
    assert stored(run_git, library, "master:page/q/data.json")["author"] == "anne"
    assert stored(run_git, library, "master:page/p/data.json")["co"] == ["anne", "bob"]
    assert "author/ann/data.json" not in files(run_git, library)
    run_git(library.path, "fsck", "--strict")


def test_a_moved_objects_edited_files_merge_when_the_migration_came_later(ws: Workspace, run_git) -> None:
    Doc = declare(ws, "Doc", slug=fields.SlugField(id=True), title=fields.CharField(),
                  body=fields.BlobField())
    Doc(slug="a", title="A", body=b"one").save(commit=True)
    ws.create_branch("slugs")
    branch = Workspace(ws.path, "slugs")
    OnBranch = declare(branch, "Doc", slug=fields.SlugField(id=True), title=fields.CharField(),
                       body=fields.BlobField())
    OnBranch(slug="other", title="O", body=b"o").save(commit=True)  # the migration is not on the base
    branch.migrate(Migration("0001", [AlterField("Doc", "slug", fields.SlugField(id=True), convert=suffix)]))
    doc = Doc.get("a")
    doc.title, doc.body = "A2", b"ONE"
    doc.save(commit=True)
    result = Workspace(ws.path).merge("slugs")
    assert not result.conflicts
    assert [p for p in files(run_git, ws) if p.startswith("doc/")] == [
        "doc/a-x/body.data", "doc/a-x/data.json", "doc/other-x/body.data", "doc/other-x/data.json"]
    assert stored(run_git, ws, "master:doc/a-x/data.json") == {"slug": "a-x", "title": "A2"}
    assert run_git(ws.path, "show", "master:doc/a-x/body.data") == "ONE"  # the edit moved too


# -- functions that misbehave ---------------------------------------------------------------
def stamp(stored: dict) -> None:
    stored["when"] = datetime.datetime(2024, 1, 1)


def as_text(stored: dict) -> str:
    return "oops"


def as_list(stored: dict) -> list:
    return [1, 2]


def number_keys(stored: dict) -> dict:
    return {**stored, 1: "one"}


@pytest.mark.parametrize(("code", "message"), [
    (stamp, r"left 'when' = datetime.datetime\(2024, 1, 1, 0, 0\), which cannot be stored as JSON"),
    (as_text, "returned a str, not a dict"),
    (as_list, "returned a list, not a dict"),
    (number_keys, "left 1 = 'one', which cannot be stored as JSON: field names must be strings"),
])
def test_a_run_python_leaving_no_json_dict_is_a_migration_error(library: Workspace, run_git,
                                                                code, message) -> None:
    before = library.branch.oid
    with pytest.raises(MigrationError, match=r"migration '0001_bad': RunPython on Page 'p' " + message):
        library.migrate(Migration("0001_bad", [RunPython(code, "Page")]))
    assert library.branch.oid == before and not library.has_changes()
    assert commits(run_git, library) == 1 and applied(library) == []


def test_a_failing_value_function_of_add_field_is_a_migration_error(library: Workspace) -> None:
    before = library.branch.oid
    with pytest.raises(MigrationError, match=r"migration '0001': Page 'p': computing \"words\" failed: KeyError"):
        library.migrate(Migration("0001", [
            AddField("Page", "words", fields.IntegerField(), value=lambda s: len(s["missing"]))]))
    assert library.branch.oid == before and not library.has_changes()


# -- a renamed model others refer to --------------------------------------------------------------
def test_renaming_a_model_retargets_every_stored_relation_field(library: Workspace, run_git) -> None:
    Author = library.models.Author
    Author(slug="cy", name="Cy").save(commit=True)
    library.migrate(Migration("0001", [RenameModel("Author", "Writer")]))
    schema = json.loads(run_git(library.path, "show", "master:.gitmodel/schema/Page.json"))
    assert schema["fields"]["author"]["to"] == "Writer"
    assert schema["fields"]["co"]["to"] == "Writer"
    tool = Workspace(library.path)  # reads with the stored schemas alone
    schemas = tool.schemas()
    model_from_schema(tool, schemas["Writer"])
    Page = model_from_schema(tool, schemas["Page"])
    page = Page.get("p")
    assert page.author.name == "Ann" and [w.name for w in page.co] == ["Ann", "Bob"]


def test_a_relation_field_still_naming_the_old_model_reads_through_the_rename(library: Workspace,
                                                                              run_git) -> None:
    library.migrate(Migration("0001", [RenameModel("Author", "Writer")]))
    tool = Workspace(library.path)  # as a store migrated before relation fields were retargeted
    record = json.loads(run_git(library.path, "show", "master:.gitmodel/schema/Page.json"))
    record["fields"]["author"]["to"] = record["fields"]["co"]["to"] = "Author"
    tool.add_blob(".gitmodel/schema/Page.json", (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    tool.commit("a schema naming the old model")
    reader = Workspace(library.path)
    schemas = reader.schemas()
    model_from_schema(reader, schemas["Writer"])
    page = model_from_schema(reader, schemas["Page"]).get("p")
    assert page.author.name == "Ann" and [w.name for w in page.co] == ["Ann", "Bob"]


def test_a_self_reference_follows_its_renamed_model(ws: Workspace, run_git) -> None:
    Node = declare(ws, "Node", parent=fields.RelatedField("Node", required=False, on_delete="set_null"),
                   kids=fields.ManyToManyField("Node", required=False, on_delete="set_null"))
    Node(id="root").save(commit=True)
    ws.migrate(Migration("0001", [RenameModel("Node", "Item")]))
    record = json.loads(run_git(ws.path, "show", "master:.gitmodel/schema/Item.json"))["fields"]
    assert record["parent"]["to"] == "Item" and record["kids"]["to"] == "Item"


def test_a_schema_edit_made_before_the_rename_merges_with_the_new_target(library: Workspace, run_git) -> None:
    library.create_branch("writers")
    library.migrate(Migration("0001", [RenameModel("Author", "Writer")]), branch="writers")
    here = Workspace(library.path)
    Author = declare(here, "Author", slug=fields.SlugField(id=True), name=fields.CharField())
    Page = declare(here, "Page", title=fields.CharField(),
                   author=fields.RelatedField(Author, required=False),
                   co=fields.ManyToManyField(Author, required=False, related_name="co_pages"),
                   body=fields.BlobField(required=False),
                   views=fields.IntegerField(default=0))  # a field added in the old shape
    Page(id="r", title="R").save(commit=True)
    result = Workspace(library.path).merge("writers")  # as a tool merges, with no classes
    assert not result.conflicts
    schema = json.loads(run_git(library.path, "show", "master:.gitmodel/schema/Page.json"))["fields"]
    assert schema["author"]["to"] == "Writer" and schema["co"]["to"] == "Writer"
    assert schema["views"]["default"] == 0


# -- restoring from before a migration ---------------------------------------------------------------
@pytest.fixture
def reshaped(ws: Workspace):
    """Page ``a`` saved, then ``content`` renamed ``body`` and ``rating`` made
    an integer; today's class; the commit from before."""
    Page = declare(ws, "Page", title=fields.CharField(), content=fields.CharField(required=False),
                   rating=fields.CharField(required=False))
    Page(id="a", title="A", content="ca", rating="2").save()
    Page(id="b", title="B", content="cb", rating="3").save()
    launch = ws.commit("launch")
    ws.migrate(Migration("0001", [
        RenameField("Page", "content", "body"),
        AlterField("Page", "rating", fields.IntegerField(required=False), convert=int)]))
    today = Workspace(ws.path)
    Page = declare(today, "Page", title=fields.CharField(),
                   body=fields.CharField(required=False, previous_names=["content"]),
                   rating=fields.IntegerField(required=False))
    return today, Page, launch


def test_restoring_from_before_a_migration_writes_todays_shape(reshaped, run_git) -> None:
    ws, Page, launch = reshaped
    Page.delete("a")
    ws.commit("delete a")
    restored = Page.restore("a", launch)
    assert (restored.body, restored.rating) == ("ca", 2)
    ws.commit("restore a")
    assert stored(run_git, ws, "master:page/a/data.json") == {
        "body": "ca", "id": "a", "rating": 2, "title": "A"}
    Page(id="z", title="A", body="ca", rating=2).save(commit=True)  # a save of the same values
    assert run_git(ws.path, "show", "master:page/a/data.json") == run_git(
        ws.path, "show", "master:page/z/data.json").replace('"z"', '"a"')
    tool = Workspace(ws.path)
    assert model_from_schema(tool, tool.schemas()["Page"]).get("a").body == "ca"


def test_restore_keeps_values_no_field_reads(reshaped, run_git) -> None:
    ws, Page, launch = reshaped
    writer = Workspace(ws.path)
    writer.add_blob("page/c/data.json", b'{"model": "Page", "fields": {"id": "c", "title": "C", '
                    b'"content": "cc", "legacy": 7}}')
    old = writer.commit("a page written by another tool, in the old shape")
    ws.refresh()
    Page.restore("c", old)
    ws.commit("restore c")
    assert stored(run_git, ws, "master:page/c/data.json") == {
        "body": "cc", "id": "c", "legacy": 7, "rating": None, "title": "C"}


def test_a_value_todays_field_cannot_read_fails_the_restore_naming_its_commit(reshaped) -> None:
    ws, Page, launch = reshaped
    writer = Workspace(ws.path)
    writer.add_blob("page/d/data.json", b'{"model": "Page", "fields": {"id": "d", "title": "D", '
                    b'"rating": "great"}}')
    old = writer.commit("a rating no integer field reads")
    writer.remove("page/d")
    writer.commit("gone")
    ws.refresh()
    with pytest.raises(StoredValueMismatch, match="rating") as info:
        Page.restore("d", old)
    assert info.value.commit == old  # where the value is, not the branch it was restored onto
    assert not ws.has_changes()


def test_references_edited_meanwhile_follow_a_later_migration_of_ids(library: Workspace, run_git) -> None:
    library.create_branch("slugs")
    branch = Workspace(library.path, "slugs")
    OnBranch, _Page = authors_and_pages(branch)
    OnBranch(slug="cy", name="Cy").save(commit=True)  # the migration is not on the base
    branch.migrate(Migration("0001_rename_ann", [RunPython(rename_slug, "Author")]))
    Page = library.models.Page
    page = Page.get("p")
    page.author = "bob"
    page.save()
    Page(id="q", title="Q", author="ann").save()
    library.commit("references in the old ids")
    result = library.merge("slugs")
    assert not result.conflicts
    assert stored(run_git, library, "master:page/p/data.json")["author"] == "bob"
    assert stored(run_git, library, "master:page/p/data.json")["co"] == ["anne", "bob"]
    assert stored(run_git, library, "master:page/q/data.json")["author"] == "anne"


def _to_cents(stored_fields: dict) -> None:
    stored_fields["price"] = stored_fields["price"] * 100


def test_edits_that_lose_the_race_to_a_migration_go_through_it(tmp_path, run_git) -> None:
    """A web worker's new object and edit, made in the old units, land after a
    value migration another process committed meanwhile: they are migrated
    as a merge would migrate them, not committed as they were made."""
    path = tmp_path / "store.git"

    def items(ws: Workspace) -> type:
        return declare(ws, "Item", name=fields.CharField(required=False), price=fields.IntegerField())

    setup = Workspace.init(path)
    item = items(setup)
    item(id="a", price=5).save()
    item(id="b", price=7).save()
    setup.commit("prices in euros")
    worker = Workspace(path)
    w_item = items(worker)
    w_item(id="c", name="new", price=3).save()
    renamed = w_item.get("b")
    renamed.name = "renamed"
    renamed.save()
    Workspace(path).migrate(Migration("0001_cents", [RunPython(_to_cents, "Item")]))
    worker.commit("add c, rename b")
    final = Workspace(path)
    model = items(final)
    assert applied(final) == ["0001_cents"]
    assert {o.id: o.price for o in model.all()} == {"a": 500, "b": 700, "c": 300}
    assert model.get("b").name == "renamed"
    assert stored(run_git, final, "master:item/c/data.json") == {"id": "c", "name": "new", "price": 300}
    assert run_git(path, "log", "--format=%s").split("\n")[:2] == ["add c, rename b", "Migrate: 0001_cents"]


def test_a_class_another_process_migrated_away_is_refused_not_read_wrongly(tmp_path) -> None:
    """A long-running worker declared Page before a deploy renamed and
    retyped its fields: once the worker follows the branch, every use of the
    old class is a SchemaMismatch (nothing reads ``None`` for a renamed
    field), other models keep working, and declaring the class as it now is
    reads the migrated data."""
    path = tmp_path / "store.git"

    def old(ws: Workspace) -> type:
        return declare(ws, "Page", title=fields.CharField(), content=fields.CharField(required=False),
                       rating=fields.CharField(required=False))

    setup = Workspace.init(path)
    old(setup)(id="home", title="Home", content="old body", rating="3").save()
    declare(setup, "Tag", name=fields.CharField())(id="t", name="git").save()
    setup.commit("init")
    worker = Workspace(path)
    page, tag = old(worker), declare(worker, "Tag", name=fields.CharField())
    assert page.get("home").content == "old body"
    Workspace(path).migrate(Migration("0001", [
        RenameField("Page", "content", "body"),
        AlterField("Page", "rating", fields.IntegerField(required=False), convert=int)]))
    with pytest.raises(SchemaMismatch, match="a migration changed"):
        page.get("home")
    for use in (lambda: page.filter(content="old body").count(), lambda: list(page.all()),
                lambda: page(id="x", title="X").save()):
        with pytest.raises(SchemaMismatch):
            use()
    assert tag.get("t").name == "git"
    new = declare(worker, "Page", title=fields.CharField(), body=fields.CharField(required=False),
                  rating=fields.IntegerField(required=False))
    assert (new.get("home").body, new.get("home").rating) == ("old body", 3)
    assert new.filter(body="old body").count() == 1


def test_the_migrating_workspaces_own_old_class_is_refused_too(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "own.git")
    page = declare(ws, "Page", title=fields.CharField(), content=fields.CharField(required=False))
    page(id="home", title="Home", content="<p>Hello</p>").save(commit=True)
    ws.migrate(Migration("0001_body", [RenameField("Page", "content", "body")]))
    for use in (lambda: page.get("home"), lambda: list(page.all()),
                lambda: page.filter(content="<p>Hello</p>").count()):
        with pytest.raises(SchemaMismatch, match="a migration changed"):
            use()
    new = declare(ws, "Page", title=fields.CharField(), body=fields.CharField(required=False))
    assert new.get("home").body == "<p>Hello</p>"
