"""Migrations: operations on stored objects, one commit on a chosen branch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pygit2
import pytest

from gitmodel import (
    BranchNotFound,
    CorruptObject,
    MigrationError,
    ObjectDoesNotExist,
    RepositoryError,
    SchemaMismatch,
    Workspace,
    fields,
)
from gitmodel.migrations import (
    AddField,
    AlterField,
    AlterModelLayout,
    Migration,
    RemoveField,
    RenameField,
    RenameModel,
    RunPython,
    applied,
    load,
    make_migration,
)
from gitmodel.schema import model_from_schema


def declare_page(ws: Workspace, name: str = "Page", meta: dict | None = None, **declared) -> type:
    attrs = {"slug": fields.SlugField(id=True), "title": fields.CharField(), **declared}
    if meta:
        attrs["Meta"] = type("Meta", (), meta)
    return type(name, (ws.GitModel,), {"__module__": __name__, **attrs})


def old_page(ws: Workspace) -> type:
    return declare_page(ws, headline=fields.CharField(required=False),
                        rating=fields.CharField(required=False))


@pytest.fixture
def store(ws: Workspace) -> Workspace:
    """Three pages in the old shape: ``headline`` and a text ``rating``."""
    Page = old_page(ws)
    Page.bulk_save([Page(slug=s, title=s.upper(), headline=f"h-{s}", rating=r)
                    for s, r in (("a", "great"), ("b", "3"), ("c", "4"))], commit=True,
                   message="old shape")
    return ws


def to_int(value: str) -> int:
    return 5 if value == "great" else int(value)


RENAME_AND_RETYPE = Migration("0001_rename_and_retype", [
    RenameField("Page", "headline", "summary"),
    AlterField("Page", "rating", fields.IntegerField(required=False), convert=to_int),
])


def new_page(ws: Workspace) -> type:
    return declare_page(ws, summary=fields.CharField(required=False, previous_names=["headline"]),
                        rating=fields.IntegerField(required=False))


def stored_json(run_git, ws: Workspace, spec: str) -> dict:
    return json.loads(run_git(ws.path, "show", spec))


def test_a_migration_is_one_commit_on_the_chosen_branch(store: Workspace, run_git) -> None:
    master = store.branch.oid
    store.create_branch("try")
    commit = store.migrate(RENAME_AND_RETYPE, branch="try")
    assert store.branch.oid == master  # master untouched
    assert store.get_branch("try").oid == commit
    assert store.repo[commit].parents[0].id == master
    assert stored_json(run_git, store, "try:page/a/data.json")["fields"] == {
        "rating": 5, "slug": "a", "summary": "h-a", "title": "A"}
    assert stored_json(run_git, store, "master:page/a/data.json")["fields"]["rating"] == "great"
    assert applied(store, "try") == ["0001_rename_and_retype"]
    assert applied(store) == []
    schema = store.schemas("try")["Page"]
    assert "summary" in schema.fields and schema.fields["rating"].type == "IntegerField"
    assert "headline" not in schema.fields
    record = stored_json(run_git, store, "try:.gitmodel/migrations/0001_rename_and_retype.json")
    assert [op["operation"] for op in record["operations"]] == ["RenameField", "AlterField"]
    run_git(store.path, "fsck", "--strict")
    # the migrated branch reads with today's class, in another workspace
    other = Workspace(store.path, "try")
    Page = new_page(other)
    assert [(p.slug, p.summary, p.rating) for p in Page.all().order_by("slug")] == [
        ("a", "h-a", 5), ("b", "h-b", 3), ("c", "h-c", 4)]


def test_running_a_migration_twice_does_nothing(store: Workspace) -> None:
    first = store.migrate(RENAME_AND_RETYPE)
    assert first == store.branch.oid
    assert store.migrate(RENAME_AND_RETYPE) is None
    assert store.branch.oid == first


def test_a_migration_whose_predecessor_is_missing_is_refused(store: Workspace) -> None:
    before = store.branch.oid
    later = Migration("0002_drop", [RemoveField("Page", "headline")],
                      dependencies=["0001_rename_and_retype"])
    with pytest.raises(MigrationError, match="needs '0001_rename_and_retype'"):
        store.migrate(later)
    assert store.branch.oid == before
    store.migrate([RENAME_AND_RETYPE, Migration("0002_add", [AddField(
        "Page", "views", fields.IntegerField(default=0))], ["0001_rename_and_retype"])])
    assert applied(store) == ["0001_rename_and_retype", "0002_add"]


def test_a_migration_that_fails_half_way_commits_nothing(store: Workspace, run_git) -> None:
    before = store.branch.oid
    bad = Migration("0001_bad", [AlterField("Page", "rating", fields.IntegerField(), convert=int)])
    with pytest.raises(MigrationError, match="'great'"):  # "great" is no int
        store.migrate(bad)
    assert store.branch.oid == before
    assert not store.has_changes()
    assert applied(store) == []
    assert run_git(store.path, "rev-list", "--count", "master").strip() == "1"


def test_add_field_with_default_or_function_and_remove_field(store: Workspace, run_git) -> None:
    store.migrate(Migration("0001", [
        AddField("Page", "views", fields.IntegerField(default=7)),
        AddField("Page", "length", fields.IntegerField(), value=lambda s: len(s["title"]) * 10),
        RemoveField("Page", "headline"),
    ]))
    assert stored_json(run_git, store, "master:page/b/data.json")["fields"] == {
        "length": 10, "rating": "3", "slug": "b", "title": "B", "views": 7}
    with pytest.raises(MigrationError, match="needs a default or value="):
        store.migrate(Migration("0002", [AddField("Page", "must", fields.CharField())]))
    with pytest.raises(MigrationError, match='no stored field "nope"'):
        store.migrate(Migration("0002", [RenameField("Page", "nope", "other")]))


def test_run_python_changes_each_object(store: Workspace, run_git) -> None:
    def shout(stored: dict) -> None:
        stored["title"] = stored["title"] + "!"

    store.migrate(Migration("0001_shout", [RunPython(shout, "Page")]))
    assert stored_json(run_git, store, "master:page/c/data.json")["fields"]["title"] == "C!"

    def boom(stored: dict) -> None:
        raise RuntimeError("no")

    with pytest.raises(MigrationError, match="RunPython on Page .*RuntimeError"):
        store.migrate(Migration("0002_boom", [RunPython(boom, "Page")]))
    assert applied(store) == ["0001_shout"]


def test_rename_model_moves_its_folder_and_history_follows(store: Workspace, run_git) -> None:
    store.migrate(Migration("0001_rename", [RenameModel("Page", "Article")]))
    listing = run_git(store.path, "ls-tree", "-r", "--name-only", "master").split()
    assert "article/a/data.json" in listing and not [p for p in listing if p.startswith("page/")]
    assert ".gitmodel/schema/Article.json" in listing
    assert ".gitmodel/schema/Page.json" not in listing
    assert stored_json(run_git, store, "master:article/a/data.json")["model"] == "Article"
    # git itself follows the object across the move
    log = run_git(store.path, "log", "--follow", "--format=%s", "--", "article/a/data.json")
    assert log.split("\n")[:2] == ["Migrate: 0001_rename", "old shape"]
    ws = Workspace(store.path)
    Article = declare_page(ws, "Article", headline=fields.CharField(required=False),
                           rating=fields.CharField(required=False))
    assert Article.get("a").headline == "h-a"
    with pytest.raises(SchemaMismatch, match="is not declared|folder"):
        declare_page(Workspace(store.path), "Article")


def test_layout_changes_flat_to_sharded_and_back(store: Workspace, run_git) -> None:
    store.migrate(Migration("0001_shard", [AlterModelLayout("Page", shard=2)]))
    ws = Workspace(store.path)
    Page = declare_page(ws, meta={"shard": 2}, headline=fields.CharField(required=False),
                        rating=fields.CharField(required=False))
    assert Page.get("a").title == "A"
    assert sorted(Page.all().ids()) == ["a", "b", "c"]
    assert len(Page.all()) == 3
    path = Page._meta.get_data_path("a")
    assert path.count("/") == 4
    assert path in run_git(store.path, "ls-tree", "-r", "--name-only", "master")
    with pytest.raises(SchemaMismatch, match="shard"):  # a declared flat layout does not fit
        declare_page(Workspace(store.path), meta={"shard": 0}, headline=fields.CharField(required=False),
                     rating=fields.CharField(required=False))
    adaptive = old_page(Workspace(store.path))  # no Meta.shard: reads the layout the store records
    assert adaptive._meta.get_data_path("a") == path and adaptive.get("a").title == "A"
    store.migrate(Migration("0002_flat", [AlterModelLayout("Page", shard=0)],
                            ["0001_shard"]))
    flat = old_page(Workspace(store.path))
    assert sorted(flat.all().ids()) == ["a", "b", "c"]
    listing = run_git(store.path, "ls-tree", "-r", "--name-only", "master").split()
    assert sorted(p for p in listing if p.startswith("page/")) == [
        "page/a/data.json", "page/b/data.json", "page/c/data.json"]


def test_objects_with_blob_files_move_with_them(ws: Workspace, run_git) -> None:
    Doc = type("Doc", (ws.GitModel,), {"__module__": __name__, "body": fields.BlobField()})
    Doc(id="d1", body=b"raw").save(commit=True)
    ws.migrate(Migration("0001", [AlterModelLayout("Doc", shard=1)]))
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    moved = [p for p in listing if p.startswith("doc/")]
    assert len(moved) == 2 and all(p.count("/") == 3 for p in moved)


def test_pending_changes_or_a_missing_branch_are_refused(store: Workspace) -> None:
    Page = store.models.Page
    Page(slug="d", title="D").save()
    with pytest.raises(RepositoryError, match="pending changes"):
        store.migrate(RENAME_AND_RETYPE)
    store.reset()
    with pytest.raises(BranchNotFound):
        store.migrate(RENAME_AND_RETYPE, branch="nope")


def test_migrations_load_from_modules_and_packages(store: Workspace, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "appmigrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_initial.py").write_text(textwrap.dedent("""
        from gitmodel import fields, migrations

        class Migration(migrations.Migration):
            operations = [migrations.AddField("Page", "views", fields.IntegerField(default=1))]
    """))
    (package / "0002_rename.py").write_text(textwrap.dedent("""
        from gitmodel.migrations import RenameField

        dependencies = [("app", "0001_initial")]
        operations = [RenameField("Page", "views", "hits")]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [m.name for m in load("appmigrations")] == ["0001_initial", "0002_rename"]
    store.migrate("appmigrations")
    assert applied(store) == ["0001_initial", "0002_rename"]
    assert "hits" in store.schemas()["Page"].fields
    with pytest.raises(MigrationError, match="cannot import"):
        load("no_such_migrations_package")


def test_make_migration_writes_the_difference(store: Workspace, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(store.path)
    # a class that reads the old data under new names, declared before migrating
    Page = declare_page(ws, summary=fields.CharField(required=False, previous_names=["headline"]),
                        rating=fields.CharField(required=False),
                        views=fields.IntegerField(default=0))
    source = make_migration(ws, Page, name="0001_auto")
    assert 'RenameField(\'Page\', \'headline\', \'summary\')' in source
    assert "AddField('Page', 'views', fields.IntegerField(" in source
    assert "default=0" in source
    (tmp_path / "auto_0001.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    ws.migrate("auto_0001")
    again = make_migration(ws, Page, name="0002_auto")
    assert "operations = [\n]" in again
    assert "dependencies = ['auto_0001']" in again
    assert Page.get("a").summary == "h-a"


def test_reading_an_old_commit_after_a_rename_and_a_type_change(store: Workspace) -> None:
    old = store.branch.oid
    store.migrate(RENAME_AND_RETYPE)
    ws = Workspace(store.path)
    Page = new_page(ws)
    assert Page.get("b").rating == 3
    assert Page.get("b", treeish=old).summary == "h-b"  # the old name, read as today's
    versions = Page.history("b")
    assert [v.instance.summary for v in versions] == ["h-b", "h-b"]


def test_a_second_process_declaring_the_old_class_is_refused(store: Workspace) -> None:
    store.migrate(RENAME_AND_RETYPE)
    program = textwrap.dedent(f"""
        import sys
        from gitmodel import SchemaMismatch, Workspace, fields
        ws = Workspace({store.path!r})
        try:
            class Page(ws.GitModel):
                slug = fields.SlugField(id=True)
                title = fields.CharField()
                headline = fields.CharField(required=False)
                rating = fields.CharField(required=False)
        except SchemaMismatch as exc:
            print("refused:", exc)
            sys.exit(0)
        sys.exit(1)
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: Page does not match its stored schema" in done.stdout
    assert 'field "rating" is stored as IntegerField, declared as CharField' in done.stdout


KILLED_MIGRATION = """
import os, signal, sys
from gitmodel import Workspace
from gitmodel.migrations import Migration, RenameField, RunPython
seen = []
def die_half_way(stored):
    seen.append(stored["slug"])
    if len(seen) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
ws = Workspace(sys.argv[1])
ws.migrate(Migration("0001_rename", [RenameField("Page", "headline", "summary"),
                                     RunPython(die_half_way, "Page")]))
"""


def test_a_migration_killed_half_way_commits_nothing_and_reruns(store: Workspace, run_git) -> None:
    before = store.branch.oid
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", KILLED_MIGRATION, store.path], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert Workspace(store.path).branch.oid == before
    run_git(store.path, "fsck", "--strict")
    commit = store.migrate(Migration("0001_rename", [RenameField("Page", "headline", "summary")]))
    assert commit is not None and applied(store) == ["0001_rename"]
    assert stored_json(run_git, store, "master:page/a/data.json")["fields"]["summary"] == "h-a"


def test_a_renamed_model_reads_old_commits_through_its_previous_names(store: Workspace) -> None:
    old = store.branch.oid
    store.migrate(Migration("0001_rename", [RenameModel("Page", "Article")]))
    ws = Workspace(store.path)
    Article = declare_page(ws, "Article", meta={"previous_names": ["Page"]},
                           headline=fields.CharField(required=False),
                           rating=fields.CharField(required=False))
    page = Article.get("a")
    page.headline = "after the rename"
    page.save(commit=True, message="edit")
    assert Article.get("a", treeish=old).headline == "h-a"  # from page/a/data.json
    versions = Article.history("a")
    assert [v.instance.headline for v in versions] == ["after the rename", "h-a", "h-a"]
    assert [v.commit.message for v in versions] == ["edit", "Migrate: 0001_rename", "old shape"]
    assert versions[0].changes == {"headline": ("h-a", "after the rename")}


@pytest.fixture
def renamed(store: Workspace) -> tuple[Workspace, pygit2.Oid]:
    """``Page`` became ``Article`` (its folder moved), then ``a`` was edited;
    with the commit from before the rename."""
    old = store.branch.oid
    store.migrate(Migration("0001_rename", [RenameModel("Page", "Article")]))
    Article = article(Workspace(store.path))
    page = Article.get("a")
    page.headline = "after the rename"
    page.save(commit=True, message="edit")
    return store, old


def article(ws: Workspace) -> type:
    return declare_page(ws, "Article", headline=fields.CharField(required=False),
                        rating=fields.CharField(required=False))


def test_queries_at_a_commit_before_a_rename_read_the_old_folder(renamed, run_git) -> None:
    store, old = renamed
    ws = Workspace(store.path)
    Article = article(ws)  # no Meta.previous_names: the recorded RenameModel is followed
    assert Article.get("a", treeish=old).headline == "h-a"
    assert Article.all(treeish=old).order_by("slug").ids() == ["a", "b", "c"]
    assert Article.all(treeish=old).filter(headline="h-b").ids() == ["b"]
    assert Article.all(treeish=old).count() == 3
    assert "page/a/data.json" in run_git(store.path, "ls-tree", "-r", "--name-only", str(old))
    with pytest.raises(ObjectDoesNotExist):
        Article.get("zz", treeish=old)


def test_history_and_blame_continue_through_a_rename(renamed) -> None:
    store, _old = renamed
    Article = article(Workspace(store.path))
    versions = Article.history("a")
    assert [v.commit.message for v in versions] == ["edit", "Migrate: 0001_rename", "old shape"]
    assert [v.instance.headline for v in versions] == ["after the rename", "h-a", "h-a"]
    assert versions[0].changes == {"headline": ("h-a", "after the rename")}
    assert versions[-1].change == "added"
    blame = Article.blame("a")
    assert blame["headline"].commit.message == "edit"
    assert blame["title"].commit.message == "old shape"  # set before the rename


def test_changes_and_diffs_across_a_rename_show_only_what_changed(renamed) -> None:
    store, old = renamed
    ws = Workspace(store.path)
    Article = article(ws)
    found = ws.changes(old, "master")
    assert [(c.model, c.id, c.kind, c.changes) for c in found if c.model is not None] == [
        (Article, "a", "modified", {"headline": ("h-a", "after the rename")})]
    assert Article.diff("a", old, "master").changes == {"headline": ("h-a", "after the rename")}
    assert Article.diff("b", old, "master") is None
    restored = Article.restore("a", old)  # the page as it was, in today's folder and name
    assert restored.headline == "h-a"
    ws.commit("restore a")
    assert json.loads(ws.repo.revparse_single("master:article/a/data.json").data)["model"] == "Article"


def test_a_class_built_from_the_stored_schema_follows_the_rename(renamed) -> None:
    store, old = renamed
    tool = Workspace(store.path)
    Article = model_from_schema(tool, tool.schemas()["Article"])
    assert Article.get("c", treeish=old).headline == "h-c"
    assert [v.commit.message for v in Article.history("c")] == ["Migrate: 0001_rename", "old shape"]


def test_a_branch_without_the_rename_does_not_follow_it(renamed) -> None:
    store, old = renamed
    store.create_branch("before", old)
    elsewhere = Workspace(store.path, "before")
    with pytest.raises(ObjectDoesNotExist):  # its records name no RenameModel
        article(elsewhere).get("a", treeish=old)


def test_a_corrupt_object_fails_the_migration_naming_its_path(store: Workspace) -> None:
    tool = Workspace(store.path)  # a writer that declares no model
    tool.add_blob("page/z/data.json", b"{not json")
    tool.commit("a broken file")
    before = store.branch.oid
    with pytest.raises(CorruptObject, match="page/z/data.json"):
        store.migrate(RENAME_AND_RETYPE)
    assert store.branch.oid == before
    assert applied(store) == []


def test_a_tampered_migration_record_fails_the_merge_clearly(store: Workspace, run_git, tmp_path) -> None:
    """A branch whose migration record was rewritten by another tool (a
    shard of 1e999, JSON nested past any depth) is refused by the merge that
    replays it, with a MigrationError and nothing changed."""
    from gitmodel.exceptions import MigrationError
    from gitmodel.migrations import MIGRATIONS_FOLDER

    store.create_branch("try")
    store.migrate(Migration("0001_shard", [AlterModelLayout("Page", shard=2)]), branch="try")
    record = f"{MIGRATIONS_FOLDER}/0001_shard.json"
    text = run_git(store.path, "show", f"try:{record}")
    assert '"shard": 2' in text
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "index")}
    for tampered in (text.replace('"shard": 2', '"shard": 1e999'),
                     text.replace('"shard": 2', '"shard": ' + "[" * 100_000 + "]" * 100_000)):
        def git_env(*args: str, data: str | None = None) -> str:
            return subprocess.run(["git", f"--git-dir={store.path}", *args], input=data, env=env,
                                  check=True, capture_output=True, text=True).stdout.strip()

        git_env("read-tree", "try")
        blob = git_env("hash-object", "-w", "--stdin", data=tampered)
        git_env("update-index", "--cacheinfo", f"100644,{blob},{record}")
        commit = git_env("commit-tree", git_env("write-tree"), "-p", "try", "-m", "tampered")
        git_env("update-ref", "refs/heads/evil", commit)
        ws = Workspace(store.path)
        page = old_page(ws).get("a")
        page.title = f"edited on master {len(tampered)}"  # so the merge replays the migration
        page.save(commit=True)
        head = ws.branch.oid
        with pytest.raises(MigrationError, match="0001_shard"):
            ws.merge("evil")
        assert ws.branch.oid == head and not ws.merging and not ws.has_changes()
