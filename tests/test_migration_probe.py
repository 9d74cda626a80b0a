"""Migrations as a probe found them broken: each test drives the public API
(or the ``gitmodel`` command as a subprocess) against a real repository and,
where a migration must be refused, checks that nothing was committed (refs
unchanged, ``git fsck --strict`` clean)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import gitmodel
from gitmodel import GitModel, MigrationError, Workspace, fields
from gitmodel.migrations import (
    AddField,
    AlterField,
    Migration,
    RenameField,
    RenameModel,
    RunPython,
    applied,
    load,
    make_migration,
)
from gitmodel.versions.schemas import SchemaConflict

ROOT = Path(gitmodel.__file__).resolve().parents[1]


def gm(*args, extra_path=None):
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-m", "gitmodel", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)


def git(path, *args, check=True):
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=check)


def refs(path):
    return git(path, "for-each-ref", "--format=%(refname) %(objectname)").stdout


def assert_fsck_clean(path):
    done = git(path, "fsck", "--strict", "--no-dangling", check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def write_module(folder: Path, name: str, text: str) -> None:
    path = folder.joinpath(*name.split("."))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".py").write_text(textwrap.dedent(text))


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A folder on sys.path for the application's modules."""
    folder = tmp_path / "app"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def page_store(tmp_path, **values):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Page(ws.GitModel):
        title = fields.CharField()

    for object_id, title in (values or {"home": "  Home  "}).items():
        Page(id=object_id, title=title).save()
    ws.commit("pages")
    return ws, Page


# -- 1. a module that imports Migration (and declares module-level operations) ---------
def test_module_importing_migration_applies_its_module_level_operations(tmp_path, app):
    ws, Page = page_store(tmp_path)
    write_module(app, "probe_mig_import", '''
        from gitmodel.migrations import Migration, RunPython   # imported, not subclassed

        def strip_titles(stored):
            stored["title"] = stored["title"].strip()

        dependencies = []
        operations = [RunPython(strip_titles, "Page")]
        ''')
    import probe_mig_import

    (loaded,) = load(probe_mig_import)
    assert loaded.name == "probe_mig_import" and len(loaded.operations) == 1
    assert ws.migrate(probe_mig_import) is not None
    assert Page.get("home").title == "Home"
    assert applied(ws) == ["probe_mig_import"]


def test_module_subclassing_migration_still_uses_its_class(tmp_path, app):
    ws, Page = page_store(tmp_path)
    write_module(app, "probe_mig_class", '''
        from gitmodel import migrations

        def strip_titles(stored):
            stored["title"] = stored["title"].strip()

        class Migration(migrations.Migration):
            operations = [migrations.RunPython(strip_titles, "Page")]
        ''')
    import probe_mig_class

    ws.migrate(probe_mig_class)
    assert Page.get("home").title == "Home"


def test_module_importing_migration_without_operations_is_refused(tmp_path, app):
    ws, _Page = page_store(tmp_path)
    write_module(app, "probe_mig_empty", "from gitmodel.migrations import Migration\n")
    before = refs(ws.path)
    import probe_mig_empty

    with pytest.raises(MigrationError, match="declares no operations"):
        ws.migrate(probe_mig_empty)
    assert refs(ws.path) == before


# -- 2. a field made unique over duplicate values ---------------------------------------------
def _shared_code_store(tmp_path):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Page(ws.GitModel):
        code = fields.CharField()

    for slug in ("a", "b", "c"):
        Page(id=slug, code="same").save()
    Page(id="d", code="other").save()
    ws.commit("pages sharing a code")
    return ws


@pytest.mark.parametrize("operation", [
    AlterField("Page", "code", fields.CharField(unique=True)),
    AddField("Page", "ref", fields.CharField(unique=True, default="r")),
], ids=["AlterField", "AddField"])
def test_unique_over_duplicates_is_refused(tmp_path, operation):
    ws = _shared_code_store(tmp_path)
    before = refs(ws.path)
    with pytest.raises(MigrationError) as raised:
        ws.migrate(Migration("0001_unique", [operation]))
    message = str(raised.value)
    assert "unique" in message and "0001_unique" in message and "nothing was committed" in message
    assert "'a'" in message and "'b'" in message
    if isinstance(operation, AlterField):
        assert "'c'" in message and "'d'" not in message
    assert refs(ws.path) == before
    assert applied(ws) == []
    assert ws.schemas()["Page"].fields["code"].options["unique"] is False
    assert not ws.has_changes()
    assert_fsck_clean(ws.path)


def test_unique_over_distinct_values_is_applied(tmp_path):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Page(ws.GitModel):
        code = fields.CharField(required=False)

    Page(id="a", code="x").save()
    Page(id="b", code="y").save()
    Page(id="c").save()  # no value: not a duplicate (as SQL's NULL)
    Page(id="d").save()
    ws.commit("pages")
    assert ws.migrate(Migration("0001_unique", [AlterField("Page", "code", fields.CharField(
        unique=True, required=False))])) is not None
    assert ws.schemas()["Page"].fields["code"].options["unique"] is True


# -- 3. a RunPython leaving a value the stored field does not read ----------------------------
def test_runpython_leaving_a_value_the_field_refuses_is_refused(tmp_path):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

    for i in range(3):
        Page(id=f"p{i}", title=f"T{i}", views=i).save()
    ws.commit("init")
    before = refs(ws.path)

    def describe_views(stored):
        stored["views"] = f"{stored['views']} views"

    with pytest.raises(MigrationError) as raised:
        ws.migrate(Migration("0001_views", [RunPython(describe_views, "Page")]))
    message = str(raised.value)
    assert "0001_views" in message and '"views"' in message and "Page 'p" in message
    assert "IntegerField" in message and "nothing was committed" in message
    assert refs(ws.path) == before and applied(ws) == []
    assert Page.get("p1").views == 1
    assert_fsck_clean(ws.path)


def test_runpython_then_alterfield_converting_is_applied(tmp_path):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Page(ws.GitModel):
        views = fields.CharField()

    Page(id="a", views="3").save(commit=True)

    def pad(stored):
        stored["views"] = " " + stored["views"] + " "

    ws.migrate(Migration("0001", [RunPython(pad, "Page"),
                                  AlterField("Page", "views", fields.IntegerField(), convert=int)]))
    fresh = Workspace(ws.path)

    class Page(fresh.GitModel):  # noqa: F811
        views = fields.IntegerField()

    assert Page.get("a").views == 3


# -- 4 and 5. make_migration writes a module that compiles and settles ------------------------
def test_make_migration_output_compiles_and_settles_for_callable_and_typed_defaults(tmp_path):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Tag(ws.GitModel):
        name = fields.CharField()

    class Page(ws.GitModel):
        title = fields.CharField()

    Tag(id="t", name="T").save()
    Page(id="a", title="A").save()
    ws.commit("init")

    class Page(GitModel):  # noqa: F811 -- today's class, as the application's module declares it
        title = fields.CharField()
        meta = fields.JSONField(default=dict)
        tags = fields.ListField(fields.CharField())
        related = fields.ManyToManyField("Tag")
        uid = fields.UUIDField()
        seen = fields.DateTimeField(default=datetime.datetime.now)
        launch = fields.DateTimeField(default=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
        day = fields.DateField(default=datetime.date(2021, 2, 3))
        token = fields.CharField(default=uuid.uuid4)

    source = make_migration(ws, Page, name="0001_more")
    namespace: dict = {}
    exec(compile(source, "0001_more.py", "exec"), namespace)
    ws.migrate(Migration("0001_more", namespace["operations"], namespace["dependencies"]))
    again = make_migration(ws, Page, name="0002_next")
    assert "operations = [\n]" in again, again
    stored = ws.schemas()["Page"].fields
    assert stored["launch"].options["default"] == "2020-01-01T00:00:00+00:00"
    assert stored["day"].options["default"] == "2021-02-03"
    after = Workspace(ws.path)
    bound = after.register_model(Page)
    assert bound.get("a").launch == datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    assert bound.get("a").meta == {}


def test_make_migration_names_a_default_it_cannot_write_in_a_comment(tmp_path):
    ws, _Page = page_store(tmp_path)

    class Page(GitModel):
        title = fields.CharField()
        score = fields.IntegerField(default=lambda: 3)

    source = make_migration(ws, Page, name="0001_score")
    compile(source, "0001_score.py", "exec")
    assert "# Page.score: its default" in source


# -- 6. a migrations module that does not compile --------------------------------------------
BROKEN = ("from gitmodel import fields\nfrom gitmodel.migrations import AddField\n\ndependencies = []\n"
          "operations = [\n    AddField('Page', 'meta', fields.JSONField(required=True)  # comment),\n]\n")


def test_migrate_a_module_that_does_not_compile_is_a_migration_error(tmp_path, app):
    ws, _Page = page_store(tmp_path)
    (app / "probe_broken").mkdir()
    (app / "probe_broken" / "__init__.py").write_text("")
    (app / "probe_broken" / "m0001.py").write_text(BROKEN)
    before = refs(ws.path)
    with pytest.raises(MigrationError, match="probe_broken.m0001.*SyntaxError"):
        ws.migrate("probe_broken")
    assert refs(ws.path) == before


def test_cli_migrate_a_module_that_does_not_compile(tmp_path, app):
    ws, _Page = page_store(tmp_path)
    (app / "clibroken").mkdir()
    (app / "clibroken" / "__init__.py").write_text("")
    (app / "clibroken" / "m0001.py").write_text(BROKEN)
    before = refs(ws.path)
    done = gm("-C", ws.path, "migrate", "clibroken", extra_path=app)
    assert done.returncode == 11, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitmodel: error:") and "SyntaxError" in lines[0]
    assert "Traceback" not in done.stderr
    assert refs(ws.path) == before
    assert_fsck_clean(ws.path)


# -- 7. makemigrations for the changes it exists for -----------------------------------------
def test_cli_makemigrations_prints_the_migration_for_a_retyped_field(tmp_path, app):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Page(ws.GitModel):
        title = fields.CharField()
        rating = fields.CharField(required=False)
        legacy = fields.CharField(required=False)

    Page(id="home", title="Home", rating="3").save(commit=True)
    write_module(app, "probe_models", '''
        from gitmodel import GitModel, fields

        class Page(GitModel):
            title = fields.CharField()
            rating = fields.IntegerField(required=False)
        ''')
    before = refs(ws.path)
    done = gm("-C", ws.path, "--models", "probe_models", "makemigrations", "--name", "0001_int",
              extra_path=app)
    assert done.returncode == 0, done.stderr
    assert "AlterField('Page', 'rating', fields.IntegerField(" in done.stdout
    assert "RemoveField('Page', 'legacy')" in done.stdout
    compile(done.stdout, "0001_int.py", "exec")
    named = gm("-C", ws.path, "--models", "probe_models", "makemigrations", "Page", extra_path=app)
    assert named.returncode == 0 and "AlterField" in named.stdout, named.stderr
    unknown = gm("-C", ws.path, "--models", "probe_models", "makemigrations", "Nope", extra_path=app)
    assert unknown.returncode == 5 and "Nope" in unknown.stderr
    assert refs(ws.path) == before


# -- 8. a field's options changed on one side, the field altered by the other's migration -----
def test_merge_reports_a_schema_conflict_for_options_changed_beside_alterfield(tmp_path):
    path = str(tmp_path / "repo")
    ws = Workspace.init(path, bare=True)

    class Page(ws.GitModel):
        rating = fields.CharField(required=False)

    Page(id="home", rating="3").save(commit=True)
    ws.create_branch("mig")
    ws.migrate(Migration("0001_int", [AlterField("Page", "rating", fields.IntegerField(required=False),
                                                 convert=int)]), branch="mig")
    live = Workspace(path)

    class Page(live.GitModel):  # noqa: F811
        rating = fields.CharField(required=False, default="5", max_length=1)

    Page(id="about").save(commit=True, message="rating gets a default")
    master = live.store.read_ref("refs/heads/master")
    result = live.merge("mig")
    assert result.commit is None
    (conflict,) = [c for c in result.conflicts if isinstance(c, SchemaConflict)]
    assert conflict.model_name == "Page" and conflict.field == "rating"
    assert conflict.base["type"] == "CharField" and "default" not in conflict.base
    assert conflict.ours["default"] == "5" and conflict.ours["max_length"] == 1
    assert conflict.theirs["type"] == "IntegerField"
    assert live.store.read_ref("refs/heads/master") == master
    live.resolve(conflict, "theirs")
    assert live.commit("merge the migration") is not None
    after = Workspace(path)
    assert after.schemas()["Page"].fields["rating"].type == "IntegerField"

    class Page(after.GitModel):  # noqa: F811
        rating = fields.IntegerField(required=False)

    assert Page.get("home").rating == 3
    assert_fsck_clean(path)


def test_merge_still_carries_options_of_a_field_no_operation_touched(tmp_path):
    path = str(tmp_path / "repo")
    ws = Workspace.init(path, bare=True)

    class Page(ws.GitModel):
        rating = fields.CharField(required=False)
        title = fields.CharField(required=False)

    Page(id="home", rating="3").save(commit=True)
    ws.create_branch("mig")
    ws.migrate(Migration("0001_int", [AlterField("Page", "rating", fields.IntegerField(required=False),
                                                 convert=int)]), branch="mig")
    live = Workspace(path)

    class Page(live.GitModel):  # noqa: F811
        rating = fields.CharField(required=False)
        title = fields.CharField(required=False, default="untitled")

    Page(id="about").save(commit=True)
    result = live.merge("mig")
    assert not result.conflicts and result.commit is not None
    stored = Workspace(path).schemas()["Page"].fields
    assert stored["rating"].type == "IntegerField" and stored["title"].options["default"] == "untitled"


# -- 9. the command line reading --at a migrated branch -----------------------------------------
def test_cli_reads_a_migrated_branch_at_rev(tmp_path):
    path = str(tmp_path / "repo")
    ws = Workspace.init(path, bare=True)

    class Page(ws.GitModel):
        title = fields.CharField()

    Page(id="home", title="Home").save(commit=True)
    ws.create_branch("try")
    commit = ws.migrate(Migration("0001_headline", [RenameField("Page", "title", "headline")]),
                        branch="try")
    before = refs(path)
    for rev in ("try", str(commit)):
        listed = gm("-C", path, "ls", "Page", "--at", rev)
        assert listed.returncode == 0, listed.stderr
        assert "headline" in listed.stdout and "Home" in listed.stdout
        shown = gm("-C", path, "show", "Page", "home", "--at", rev)
        assert shown.returncode == 0 and "headline: Home" in shown.stdout, shown.stderr
        checked = gm("-C", path, "check", "--at", rev)
        assert checked.returncode == 0 and "Page: 1 ok" in checked.stdout, checked.stderr
        blamed = gm("-C", path, "blame", "Page", "home", "--at", rev)
        assert blamed.returncode == 0 and "headline\tHome" in blamed.stdout, blamed.stdout + blamed.stderr
        assert "title" not in blamed.stdout
        logged = gm("-C", path, "log", "Page", "home", "--at", rev)
        assert logged.returncode == 0, logged.stderr
    current = gm("-C", path, "ls", "Page")
    assert current.returncode == 0 and "title" in current.stdout and "headline" not in current.stdout
    assert refs(path) == before


# -- 10. RenameModel to a folder no class can declare ------------------------------------------
def test_renamemodel_refuses_a_folder_that_is_not_the_new_name(tmp_path):
    ws = Workspace.init(str(tmp_path / "repo"), bare=True)

    class Author(ws.GitModel):
        name = fields.CharField()

    Author(id="ada", name="Ada").save(commit=True)
    before = refs(ws.path)
    with pytest.raises(MigrationError, match="'writers'.*'writer'"):
        RenameModel("Author", "Writer", folder="writers")
    ws.migrate(Migration("0001_rename", [RenameModel("Author", "Writer", folder="writer")]))
    assert refs(ws.path) != before
    fresh = Workspace(ws.path)

    class Writer(fresh.GitModel):
        name = fields.CharField()

    assert Writer.get("ada").name == "Ada"


# -- 11. a conflict on a converted field settled with a side ------------------------------------
def test_a_side_chosen_for_a_converted_field_is_stored_in_the_migrated_type(tmp_path):
    import json as _json
    import subprocess as _subprocess

    from gitmodel.migrations import AlterField

    def old_shape(ws):
        class Product(ws.GitModel):
            price = fields.CharField()
        return Product

    def new_shape(ws):
        class Product(ws.GitModel):
            price = fields.IntegerField()
        return Product

    path = str(tmp_path / "repo")
    ws = Workspace.init(path, bare=True)
    product = old_shape(ws)
    product(id="mug", price="4").save(commit=True)
    ws.create_branch("cents")
    ws.migrate(Migration("0001_cents", [AlterField("Product", "price", fields.IntegerField(),
                                                   convert=lambda euros: int(euros) * 100)]), branch="cents")
    mug = product.get("mug")
    mug.price = "5"
    mug.save(commit=True, message="master: 5 euros")
    branch = Workspace(path, "cents")
    cents = new_shape(branch).get("mug")
    cents.price = 600
    cents.save(commit=True, message="cents: 600")
    live = Workspace(path)
    old_shape(live)
    (conflict,) = live.merge("cents").conflicts
    live.resolve(conflict, "ours")
    live.commit("merge: keep master's price")
    stored = _json.loads(_subprocess.run(["git", "--git-dir", path, "show", "HEAD:product/mug/data.json"],
                                         capture_output=True, text=True, check=True).stdout)
    assert stored["fields"]["price"] == 500  # the number the stored schema says, not the text "500"
    assert new_shape(Workspace(path)).get("mug").price == 500
