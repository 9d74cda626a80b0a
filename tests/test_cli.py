"""The ``gitmodel`` command, run as a user runs it: a subprocess against real repositories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pygit2
import pytest

import gitmodel
from gitmodel import Workspace, fields

ROOT = Path(gitmodel.__file__).resolve().parents[1]

MODELS = '''
from gitmodel import fields
from gitmodel.models import GitModel


class Page(GitModel):
    slug = fields.SlugField(id=True)
    title = fields.CharField()
    body = fields.CharField(required=False)
    views = fields.IntegerField(default=0)

    class Meta:
        shard = {shard}


class Author(GitModel):
    name = fields.CharField(id=True)
    email = fields.EmailField()
'''


def gm(*args, cwd=None, stdin=None, extra_path=None, env=None):
    """Run ``python -m gitmodel ARGS``; returns the finished process."""
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    run_env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gitmodel", *map(str, args)], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=run_env, timeout=120)


def gm_json(*args, **kwargs):
    done = gm(*args, "--json", **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def git(path, *args):
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                          check=True).stdout


def refs(path):
    return git(path, "for-each-ref", "--format=%(refname) %(objectname)")


def fsck(path):
    done = subprocess.run(["git", "-C", str(path), "fsck", "--strict"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


class Store:
    """A repository with pages and their history, and the module declaring them."""

    def __init__(self, root: Path, bare: bool, shard: int) -> None:
        self.root = root
        self.path = root / ("site.git" if bare else "site")
        self.modules = root / "app"
        self.modules.mkdir()
        (self.modules / f"site_models_{shard}.py").write_text(MODELS.format(shard=shard))
        self.module = f"site_models_{shard}"
        ws = Workspace.init(self.path, bare=bare)
        Page = ws.register_model(self.load().Page)
        Page(slug="home", title="Home", body="Hello").save()
        Page(slug="about", title="About us", views=3).save()
        Page(slug="apply", title="Apply now", views=10).save()
        self.first = ws.commit("three pages")
        page = Page.get("home")
        page.title = "Welcome"
        page.save()
        self.second = ws.commit("retitle home")

    def load(self):
        sys.path.insert(0, str(self.modules))
        try:
            import importlib
            return importlib.import_module(self.module)
        finally:
            sys.path.remove(str(self.modules))

    def run(self, *args, **kwargs):
        return gm("-C", self.path, *args, extra_path=self.modules, **kwargs)

    def json(self, *args, **kwargs):
        return gm_json("-C", self.path, *args, extra_path=self.modules, **kwargs)

    def head(self):
        return git(self.path, "rev-parse", "HEAD").strip()


@pytest.fixture(params=[("bare", 0), ("non-bare", 0), ("bare", 2)], ids=["bare-flat", "worktree-flat", "bare-sharded"])
def any_store(request, tmp_path):
    """Each kind of repository: bare or with a work tree, flat or sharded."""
    kind, shard = request.param
    return Store(tmp_path, kind == "bare", shard)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path, True, 0)



# -- the program ---------------------------------------------------------------------
def test_version_and_help(tmp_path):
    done = gm("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"gitmodel {gitmodel.__version__}"
    listing = gm("--help").stdout
    for name in ("blame", "export", "import", "log", "merge", "resolve", "serve"):
        assert name in listing


def test_import_gitmodel_does_not_import_the_command_line_libraries():
    code = "import sys, gitmodel; print(sorted(m for m in ('click', 'rich') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert done.stdout.strip() == "[]"


def test_without_click_the_module_says_which_extra_to_install(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "click.py").write_text("raise ImportError('no click here')\n")
    done = gm("--version", extra_path=None, env={"PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"})
    assert done.returncode == 1
    assert done.stderr.strip() == "gitmodel: the command line needs its extra: pip install 'gitmodel[cli]'"
    code = "import sys, gitmodel.cli.context; print('click' in sys.modules)"
    opened = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"})
    assert opened.stdout.strip() == "False"  # the admin opens repositories without the cli extra


def test_serve_is_the_web_admin_or_names_the_web_extra():
    try:
        import gitmodel.web.command  # noqa: F401
    except ImportError:
        done = gm("serve")
        assert done.returncode == 2 and "pip install 'gitmodel[web]'" in done.stderr
    else:
        done = gm("serve", "--help")
        assert done.returncode == 0 and "--host" in done.stdout and "--port" in done.stdout


# -- reading -------------------------------------------------------------------------
def test_models_lists_counts_fields_and_layout_from_the_stored_schema(any_store):
    (page,) = any_store.json("models")
    assert page["model"] == "Page" and page["count"] == 3 and page["id_field"] == "slug"
    assert page["fields"] == {"body": "CharField", "slug": "SlugField", "title": "CharField",
                              "views": "IntegerField"}
    assert page["shard"] == int(any_store.module.rsplit("_", 1)[1])
    with_app = any_store.json("--models", any_store.module, "models")
    assert {m["model"] for m in with_app} == {"Author", "Page"}


def test_ls_filters_orders_limits_and_picks_fields(store):
    rows = store.json("ls", "Page", "--where", "title__startswith=A", "--order", "-views")
    assert [r["slug"] for r in rows] == ["apply", "about"]
    rows = store.json("ls", "Page", "--where", "views__gte=3", "--where", "views__lt=10", "--fields", "slug,views")
    assert rows == [{"slug": "about", "views": 3}]
    assert len(store.json("ls", "Page", "--order", "slug", "--limit", "2")) == 2
    assert [r["title"] for r in store.json("ls", "Page", "--at", str(store.first), "--where", "slug=home")] == ["Home"]


def test_piped_output_is_plain_tab_separated_text(store):
    done = store.run("ls", "Page", "--order", "slug", "--fields", "slug,title")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["slug\ttitle", "about\tAbout us", "apply\tApply now", "home\tWelcome"]
    assert "\x1b[" not in done.stdout


def test_show_an_object_now_and_at_a_revision(any_store):
    assert any_store.json("show", "Page", "home") == {"body": "Hello", "slug": "home", "title": "Welcome", "views": 0}
    assert any_store.json("show", "Page", "home", "--at", str(any_store.first))["title"] == "Home"
    plain = any_store.run("show", "Page", "home").stdout.splitlines()
    assert "title: Welcome" in plain


def test_log_of_the_repository_a_model_and_an_object(any_store):
    entries = any_store.json("log")
    assert [e["message"] for e in entries] == ["retitle home", "three pages"]
    assert entries[0]["commit"] == any_store.head()
    assert len(any_store.json("log", "-n", "1")) == 1
    assert [e["message"] for e in any_store.json("log", "Page")] == ["retitle home", "three pages"]
    assert any_store.json("--models", any_store.module, "log", "Author") == []
    versions = any_store.json("log", "Page", "home")
    assert versions[0]["fields"] == {"title": ["Home", "Welcome"]} and versions[0]["change"] == "modified"
    assert versions[1]["change"] == "added"
    (about,) = any_store.json("log", "Page", "about")
    assert about["commit"] == str(any_store.first) and about["fields"]["views"] == [None, 3]


def test_diff_between_revisions_and_of_one_object(store):
    assert store.json("diff") == [{"model": "Page", "id": "home", "change": "modified",
                                   "fields": {"title": ["Home", "Welcome"]}}]
    added = store.json("diff", str(store.first) + "~0", "HEAD", "Page")
    assert added == store.json("diff")
    assert store.json("diff", str(store.second), str(store.first), "Page", "home")[0]["fields"] == {
        "title": ["Welcome", "Home"]}
    assert store.json("diff", str(store.second), "Page", "about") == []


# -- writing -------------------------------------------------------------------------
def test_set_and_rm_are_validated_commits(any_store):
    before = any_store.head()
    done = any_store.json("set", "Page", "home", "views=7", "body=Hi there", "-m", "more views")
    assert done["commit"] == any_store.head() != before and done["fields"]["views"] == 7
    assert git(any_store.path, "log", "-1", "--format=%s").strip() == "more views"
    assert git(any_store.path, "rev-parse", "HEAD~1").strip() == before
    created = any_store.json("set", "Page", "contact", "title=Contact")
    assert created["created"] is True and any_store.json("show", "Page", "contact")["views"] == 0
    gone = any_store.json("rm", "Page", "about", "-m", "drop about")
    assert gone["commit"] == any_store.head()
    assert any_store.run("show", "Page", "about").returncode == 5
    fsck(any_store.path)


def test_blame_names_who_set_each_field_after_a_merge(store):
    assert store.run("branch", "feature").returncode == 0
    ws = Workspace(store.path, "feature")
    Page = ws.register_model(store.load().Page)
    page = Page.get("home")
    page.body = "Hello, world"
    page.save()
    body = ws.commit("new body", author=("Bea", "bea@example.com"))
    store.json("set", "Page", "about", "views=4")
    merged = store.json("merge", "feature")
    assert merged["commit"] == store.head() and not merged["fast_forward"]
    blame = {b["field"]: b for b in store.json("blame", "Page", "home")}
    assert blame["body"]["commit"] == str(body) and blame["body"]["author"] == "Bea <bea@example.com>"
    assert blame["title"]["commit"] == str(store.second) and blame["title"]["value"] == "Welcome"
    assert blame["slug"]["commit"] == str(store.first)
    assert [v["commit"] for v in store.json("log", "Page", "home")] == [str(body), str(store.second), str(store.first)]


def test_branches_and_tags(store):
    assert store.json("branch", "draft", str(store.first))["commit"] == str(store.first)
    names = {b["branch"]: b for b in store.json("branch")}
    assert names["draft"]["commit"] == str(store.first) and names["master"]["current"]
    assert store.json("tag", "v1")["commit"] == store.head()
    assert store.json("tag") == [{"tag": "v1", "commit": store.head()}]
    store.json("tag", "-d", "v1")
    store.json("branch", "-d", "draft")
    assert "draft" not in refs(store.path) and "v1" not in refs(store.path)


def test_merge_that_conflicts_stops_with_exit_code_7_and_changes_nothing(store):
    store.json("branch", "feature")
    ws = Workspace(store.path, "feature")
    Page = ws.register_model(store.load().Page)
    page = Page.get("home")
    page.title = "Their title"
    page.save()
    ws.commit("their title")
    store.json("set", "Page", "home", "title=Our title")
    before = refs(store.path)
    done = store.run("merge", "feature", "--json")
    assert done.returncode == 7
    report = json.loads(done.stdout)
    (conflict,) = report["conflicts"]
    assert (conflict["model"], conflict["id"], conflict["field"]) == ("Page", "home", "title")
    assert (conflict["base"], conflict["ours"], conflict["theirs"]) == ("Welcome", "Our title", "Their title")
    # the branches stay where they were; the open merge is kept in the repository
    after = refs(store.path).splitlines()
    assert [line for line in after if not line.startswith("refs/gitmodel/merge/")] == before.splitlines()
    assert any(line.startswith("refs/gitmodel/merge/master ") for line in after)
    fsck(store.path)
    # so another process can list, resolve and finish it
    listed = store.run("conflicts", "--json")
    assert listed.returncode == 7, listed.stderr  # conflicts still open
    assert [(c["model"], c["id"], c["field"]) for c in json.loads(listed.stdout)["conflicts"]] == [
        ("Page", "home", "title")]
    resolved = store.run("resolve", "Page", "home", "title", "--theirs")
    assert resolved.returncode == 0, resolved.stderr
    finished = store.run("merge", "--continue")
    assert finished.returncode == 0, finished.stderr
    assert not any(line.startswith("refs/gitmodel/merge/") for line in refs(store.path).splitlines())
    assert store.json("show", "Page", "home")["title"] == "Their title"
    fsck(store.path)
    again = store.json("merge", "feature")
    assert again["up_to_date"] and again["commit"] is None


def test_merge_continue_and_abort_need_an_open_merge(store):
    for args in (["merge", "--abort"], ["merge", "--continue"], ["conflicts"]):
        done = store.run(*args)
        assert done.returncode == 12 and done.stderr.strip() == "gitmodel: error: no merge is in progress"


def test_revert_and_restore_bring_data_back(store):
    reverted = store.json("revert", "HEAD")
    assert reverted["commit"] == store.head() and store.json("show", "Page", "home")["title"] == "Home"
    store.json("rm", "Page", "about")
    restored = store.json("restore", "Page", "about", "--at", str(store.first))
    assert restored["commit"] == store.head() and store.json("show", "Page", "about")["views"] == 3
    fsck(store.path)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_an_export_imports_into_another_repository_as_the_same_blobs(any_store, tmp_path, fmt):
    exported = any_store.run("export", "Page", "--format", fmt)
    assert exported.returncode == 0
    dump = tmp_path / f"pages.{fmt}"
    dump.write_text(exported.stdout)
    other = tmp_path / "copy.git"
    Workspace.init(other)
    done = gm_json("-C", other, "--models", any_store.module, "import", "Page", dump, "-m", "copy",
                   extra_path=any_store.modules)
    assert done["created"] == 3 and done["commit"] == git(other, "rev-parse", "HEAD").strip()
    assert git(other, "rev-parse", "HEAD:page").strip() == git(any_store.path, "rev-parse", "HEAD:page").strip()
    assert git(other, "log", "-1", "--format=%s").strip() == "copy"
    fsck(other)


def test_a_csv_export_of_carriage_returns_and_large_cells_imports_as_the_same_blobs(store, tmp_path):
    """A lone CR and a CRLF inside values, and a cell of 200 kB (past Python's
    csv limit of 128 KiB), come back as they were: the same tree."""
    ws = Workspace(store.path)
    Page = ws.register_model(store.load().Page)
    for slug, title in (("cr", "a\rb"), ("crlf", "a\r\nb"), ("big", "x" * 200_000)):
        Page(slug=slug, title=title).save()
    ws.commit("awkward values")
    dump = tmp_path / "pages.csv"
    assert store.run("export", "Page", "--format", "csv", "-o", dump).returncode == 0
    other = tmp_path / "copy.git"
    Workspace.init(other)
    done = gm_json("-C", other, "--models", store.module, "import", "Page", dump, extra_path=store.modules)
    assert done["created"] == 6
    assert git(other, "rev-parse", "HEAD:page").strip() == git(store.path, "rev-parse", "HEAD:page").strip()
    again = gm("-C", other, "--models", store.module, "import", "Page", "-", "--format", "csv",
               extra_path=store.modules,
               stdin=dump.read_bytes().decode("utf-8"))  # the same bytes through stdin
    assert again.returncode == 0, again.stderr
    assert git(other, "rev-parse", "HEAD:page").strip() == git(store.path, "rev-parse", "HEAD:page").strip()


def test_import_from_stdin_and_at_a_revision_export(store):
    old = store.run("export", "Page", "--at", str(store.first)).stdout
    assert '"title": "Home"' in old
    done = store.json("import", "Page", "-", stdin='{"slug": "news", "title": "News"}\n')
    assert done == {"model": "Page", "created": 1, "updated": 0, "commit": store.head()}


def test_check_reports_objects_that_do_not_decode(store):
    assert store.json("check") == [{"model": "Page", "ok": 3, "bad": []}]
    ws = Workspace(store.path)
    path = ws.schemas()["Page"].data_path("about")
    ws.add_blob(path, b"not json")
    ws.commit("a bad value written by hand")
    done = store.run("check", "--json")
    assert done.returncode == 10
    (report,) = json.loads(done.stdout)
    assert report["ok"] == 2 and report["bad"][0]["path"] == path


def test_pack_packs_loose_objects(store):
    assert store.json("pack")["packed"] > 0
    assert store.json("gc")["packed"] == 0
    fsck(store.path)


def test_clone_push_fetch_and_pull(store, tmp_path):
    if not str(store.path).endswith(".git"):
        pytest.skip("pushes go to the bare store")
    clone = tmp_path / "clone.git"
    cloned = gm_json("clone", store.path, clone)
    assert cloned["commit"] == store.head()
    gm_json("-C", clone, "set", "Page", "home", "views=9")
    pushed = gm_json("-C", clone, "push")
    assert pushed["updated"]["refs/heads/master"][1] == store.head()
    store.json("set", "Page", "about", "views=5")
    fetched = gm_json("-C", clone, "fetch")
    assert fetched["updated"]["refs/remotes/origin/master"][1] == store.head()
    pulled = gm_json("-C", clone, "pull")
    assert pulled["commit"] == store.head() and pulled["fast_forward"]
    assert gm_json("-C", clone, "show", "Page", "about")["views"] == 5


def test_migrate_and_makemigrations(store):
    source = store.run("--models", store.module, "makemigrations").stdout
    assert source.startswith('"""Migration auto') and "operations = [\n]" in source
    mig = store.modules / "site_migration_0001.py"
    mig.write_text(textwrap.dedent('''
        from gitmodel import fields
        from gitmodel.migrations import AddField
        operations = [AddField("Page", "rating", fields.IntegerField(default=0))]
    '''))
    done = store.json("migrate", "site_migration_0001")
    assert done["commit"] == store.head()
    assert store.json("show", "Page", "home")["rating"] == 0
    assert store.json("migrate", "site_migration_0001") == {"commit": None}


def test_merge_replays_a_migrations_functions_with_migrations(store):
    (store.modules / "site_migration_shout.py").write_text(textwrap.dedent('''
        from gitmodel.migrations import RunPython

        def shout(stored):
            stored["title"] = stored["title"].upper()

        operations = [RunPython(shout, "Page")]
    '''))
    Workspace(store.path).create_branch("loud")
    assert store.json("migrate", "site_migration_shout", "--branch", "loud")["commit"]
    store.json("set", "Page", "about", "title=About the team")  # master, in the old shape
    head = store.head()
    refused = store.run("merge", "loud")
    assert refused.returncode == 11 and head == store.head()
    assert "merging needs the code of migration 'site_migration_shout'" in refused.stderr
    assert store.json("merge", "loud", "--migrations", "site_migration_shout")["commit"]
    assert store.json("show", "Page", "about")["title"] == "ABOUT THE TEAM"
    assert store.json("show", "Page", "home")["title"] == "WELCOME"
    fsck(store.path)


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("args, code, message", [
    (["show", "Nope", "home"], 5, "no model named 'Nope'"),
    (["show", "Page", "ghost"], 5, "Page with id 'ghost' does not exist"),
    (["show", "Page", "../etc"], 6, '"slug" must not contain'),
    (["ls", "Page", "--where", "colour=red"], 6, 'Page has no field "colour"'),
    (["ls", "Page", "--where", "views__gte=many"], 6, '"views" must be an integer'),
    (["set", "Page", "home", "views=many"], 6, '"views" must be an integer'),
    (["set", "Page", "home", "title="], 6, '"title"'),
    (["set", "Page", "home", "colour=red"], 6, 'no field "colour"'),
    (["import", "Page", "-"], 6, "line 2"),
    (["log", "--at", "nope"], 4, "unknown branch, tag or commit: 'nope'"),
    (["show", "Page", "home", "--at", "v9"], 4, "'v9'"),
    (["diff", "nope"], 4, "'nope'"),
    (["merge", "nope"], 4, "'nope'"),
    (["revert", "nope"], 4, "'nope'"),
    (["branch", "-d", "nope"], 4, "nope"),
    (["resolve", "Page", "home", "title", "--ours"], 12, "no merge is in progress"),
    (["export", "Page", "--at", "nope"], 4, "'nope'"),
])
def test_bad_input_is_one_line_with_its_exit_code_and_changes_nothing(store, args, code, message):
    before = refs(store.path)
    done = store.run(*args, stdin='{"slug": "x", "title": "ok"}\n{"slug": "y", "views": "many"}\n')
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitmodel: error: ") and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert refs(store.path) == before
    fsck(store.path)


def test_not_a_repository_is_exit_code_3(tmp_path):
    done = gm("-C", tmp_path / "nowhere", "log")
    assert done.returncode == 3 and done.stderr.startswith("gitmodel: error: no git repository at")
    (tmp_path / "plain").mkdir()
    assert gm("-C", tmp_path / "plain", "models").returncode == 3


def test_a_conflicting_push_is_exit_code_8(store, tmp_path):
    if not str(store.path).endswith(".git"):
        pytest.skip("pushes go to the bare store")
    clone = tmp_path / "clone.git"
    gm_json("clone", store.path, clone)
    store.json("set", "Page", "home", "views=1")
    gm_json("-C", clone, "set", "Page", "home", "views=2")
    before = refs(store.path)
    done = gm("-C", clone, "push")
    assert done.returncode == 8 and len(done.stderr.strip().splitlines()) == 1
    assert refs(store.path) == before


def test_debug_shows_the_traceback(store):
    done = store.run("--debug", "show", "Page", "ghost")
    assert done.returncode == 5 and "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "gitmodel: error: Page with id 'ghost' does not exist"


def test_a_usage_error_is_exit_code_2(store):
    done = store.run("show", "Page")
    assert done.returncode == 2 and "Missing argument" in done.stderr


def test_an_unknown_models_module_is_one_line(store):
    done = store.run("--models", "no.such.module", "models")
    assert done.returncode == 1 and "cannot import the models module 'no.such.module'" in done.stderr
    assert pygit2.Repository(str(store.path)).head.target


def test_the_benchmark_runs_end_to_end_at_a_small_size():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cli.py"), "--n", "200", "--versions", "20",
                           "--repeat", "1"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[2:]]
    assert [r[0] for r in rows] == ["export", "import", "log", "blame", "gitmodel"]
    for row in rows:
        numbers = [float(x) for x in row if x.replace(".", "", 1).isdigit()]
        assert len(numbers) >= 3 and all(n > 0 for n in numbers[-3:])


def test_resolve_and_continue_finish_a_merge_the_workspace_keeps_open(store):
    """Within one workspace (the open merge lives there): conflicts, resolve, merge --continue."""
    from click.testing import CliRunner

    from gitmodel.cli.context import CliState, open_workspace
    from gitmodel.cli.main import cli

    store.json("branch", "feature")
    other = Workspace(store.path, "feature")
    Page = other.register_model(store.load().Page)
    page = Page.get("home")
    page.title, page.views = "Their title", 5
    page.save()
    other.commit("their edit")
    store.json("set", "Page", "home", "title=Our title", "views=2")
    state = CliState(path=str(store.path))
    state._ws = open_workspace(store.path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, ["-C", str(store.path), *args], obj=state, standalone_mode=False)

    started = invoke("merge", "feature", "--json")
    assert started.return_value == 7 and state._ws.merging
    listed = invoke("conflicts", "--json")
    assert listed.return_value == 7
    assert {c["field"] for c in json.loads(listed.output)["conflicts"]} == {"title", "views"}
    assert invoke("resolve", "Page", "home", "title", "--theirs").exception is None
    refused = invoke("resolve", "Page", "home", "views")
    assert refused.exception is not None and "--ours" in str(refused.exception)
    assert invoke("resolve", "Page", "home", "views", "--value", "9").exception is None
    done = invoke("merge", "--continue", "--json")
    assert done.exception is None and json.loads(done.output)["commit"] == store.head()
    assert store.json("show", "Page", "home") | {"body": None} == {
        "body": None, "slug": "home", "title": "Their title", "views": 9}
    assert git(store.path, "rev-list", "--parents", "-n1", "HEAD").count(" ") == 2
    fsck(store.path)
