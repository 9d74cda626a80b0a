"""The web admin over HTTP: every journey of the admin guide, through the
real application and a real repository, checked with plain git."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from gitmodel.web import create_app  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from webapp import MODELS, PNG, Site, git, hidden, make_store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_store(tmp_path / "store.git")
    return tmp_path / "store.git"


def site_for(path: Path, **kwargs: object) -> Site:
    client = TestClient(create_app(Workspace(path), **kwargs), base_url="http://127.0.0.1")  # type: ignore[arg-type]
    return Site(client)


@pytest.fixture
def site(store: Path) -> Site:
    return site_for(store)


def head(store: Path) -> pygit2.Commit:
    repo = pygit2.Repository(str(store))
    return repo[repo.head.target]  # type: ignore[return-value]


def test_importing_gitmodel_does_not_import_the_web_dependencies() -> None:
    code = "import sys, gitmodel, gitmodel.workspace; print(sorted(m for m in ('starlette', 'jinja2', 'uvicorn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_home_page_lists_the_stored_models_with_their_counts(site: Site) -> None:
    page = site.get("/")
    assert '<a href="/m/Article">Article</a></td><td class="count">3<' in page
    assert '<a href="/m/Author">Author</a></td><td class="count">1<' in page


def test_lists_search_filter_order_and_paginate(tmp_path: Path) -> None:
    make_store(tmp_path / "big.git", articles=120)
    site = site_for(tmp_path / "big.git")
    page = site.get("/m/Article")
    assert "120 objects" in page and "page 1 of 3" in page and page.count('<tr><td><a href="/m/Article/o/') == 50
    last = site.get("/m/Article?p=3")
    assert last.count('<tr><td><a href="/m/Article/o/') == 20
    found = site.get("/m/Article?q=article+11")  # 11, 110..119
    assert "11 objects" in found
    blog = site.get("/m/Article?f.kind=blog")
    assert "60 objects" in blog and ">a001<" in blog and ">a000<" not in blog
    ordered = site.get("/m/Article?o=-views")
    assert ordered.index(">a119<") < ordered.index(">a118<")
    partial = site.get("/m/Article?q=article+5", headers={"HX-Request": "true"})
    assert "<html" not in partial and "11 objects" in partial  # 5, 50..59
    assert "60 objects" in site.get("/m/Article?f.published=&f.kind=news")
    assert "120 objects" in site.get("/m/Article?f.published=false")
    assert "0 objects" in site.get("/m/Article?f.published=true")
    for far in ("99999999999999999999999", "9" * 5000, "-4", "x"):  # from the address bar: never a 500
        assert "120 objects" in site.get(f"/m/Article?p={far}")
    assert "page 1 of 3" in site.get("/m/Article?p=x") and "page 1 of 3" in site.get("/m/Article?o=%ED%A0%80")


def test_with_the_application_models_their_own_validation_applies(store: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "newsroom_models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    site = site_for(store, models="newsroom_models")
    assert 'class="count">3<' in site.get("/")
    refused = site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "forbidden"},
                        status=400)
    assert "this title is reserved" in refused.text
    schema_only = site_for(store)
    schema_only.post("/m/Article/o/a000/edit", {**schema_only.edit_form("Article", "a000"), "title": "forbidden"})
    assert '"title": "forbidden"' in git(store, "show", "HEAD:article/a000/data.json")


def test_an_object_page_shows_fields_blobs_history_and_blame(site: Site, store: Path) -> None:
    site.post("/m/Article/o/a001/edit", {**site.edit_form("Article", "a001"), "title": "Renamed",
                                          "message": "Rename a001", "author_name": "Bob"},
              files={"image": ("pic.png", PNG, "image/png")})
    page = site.get("/m/Article/o/a001")
    assert "Renamed" in page and 'src="/m/Article/o/a001/blob/image"' in page
    history = page.split('id="history"')[1]
    assert history.count('class="version"') == 2
    assert "Bob" in history and "image, title" in history and "Rename a001" in history
    blame_row = page.split("<th>title</th>")[1].split("</tr>")[0]
    assert "Bob" in blame_row
    assert "Ann" in page.split("<th>views</th>")[1].split("</tr>")[0]
    image = site.client.get("/m/Article/o/a001/blob/image")
    assert image.content == PNG and image.headers["content-type"] == "image/png"
    assert head(store).message == "Rename a001"
    download = site.client.get("/m/Article/o/a001/blob/image?download=1")
    assert download.headers["content-disposition"].startswith("attachment")


def test_a_file_that_is_not_an_image_is_only_downloaded(site: Site) -> None:
    site.post("/m/Article/o/a002/edit", site.edit_form("Article", "a002"),
              files={"image": ("x.html", b"<script>alert(1)</script>", "text/html")})
    page = site.get("/m/Article/o/a002")
    assert "<img" not in page
    response = site.client.get("/m/Article/o/a002/blob/image")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_old_version_can_be_read_and_restored(site: Site, store: Path) -> None:
    first = str(head(store).id)
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Second"})
    old = site.get(f"/m/Article/o/a000?at={first}")
    assert "Article 0" in old and "Second" not in old and 'id="old-version"' in old
    site.post("/m/Article/o/a000/restore", {"at": first, "_version": hidden(old, "_version"),
                                            "message": "Back to the first title"})
    assert "Article 0" in site.get("/m/Article/o/a000")
    assert head(store).message == "Back to the first title" and head(store).author.name == "Editor"
    assert git(store, "show", "HEAD:article/a000/data.json").count('"title": "Article 0"') == 1
    site.get("/m/Article/o/a000?at=../../etc", status=404)
    site.get("/m/Article/o/a000?at=ffffffffff", status=404)


def test_a_new_object_is_created_from_a_generated_form(site: Site, store: Path) -> None:
    form = site.get("/m/Article/new")
    for kind in ('type="number"', 'type="checkbox"', 'type="date"', 'type="file"', "<select", "<textarea",
                 '<datalist id="choices-'):
        assert kind in form
    assert '<option value="ann">' in form  # the relation's picker
    site.post("/m/Article/new", {"slug": "fresh", "title": "Fresh", "views": "7", "score": "1.50",
                                 "published": "true", "kind": "blog", "day": "2024-05-06",
                                 "author": "ann", "tags": '["x", "y"]', "message": "Add fresh"},
              files={"image": ("p.png", PNG, "image/png")})
    data = git(store, "show", "HEAD:article/fresh/data.json")
    for line in ('"views": 7', '"published": true', '"day": "2024-05-06"', '"score": "1.50"', '"author": "ann"'):
        assert line in data
    assert git(store, "cat-file", "-s", "HEAD:article/fresh/image.data").strip() == str(len(PNG))
    assert head(store).author.email == "editor@example.com"
    git(store, "fsck", "--strict")


def test_validation_errors_are_shown_beside_their_fields_and_nothing_is_committed(site: Site, store: Path) -> None:
    before = head(store).id
    response = site.post("/m/Article/new", {"slug": "bad", "title": "x" * 61, "views": "many",
                                            "tags": "[not json", "message": ""}, status=400)
    page = response.text
    assert "is not a valid integer value" in page and "is not a valid JSON value" in page
    response = site.post("/m/Article/new", {"slug": "bad", "title": "x" * 61, "message": ""}, status=400)
    assert "a commit message is required" in response.text
    assert 'id="error-' in response.text and "60" in response.text
    response = site.post("/m/Article/new", {"slug": "a000", "title": "Taken"}, status=400)
    assert "already exists" in response.text
    assert head(store).id == before


def test_two_editors_changing_different_fields_are_both_kept(site: Site, store: Path) -> None:
    first = site.edit_form("Article", "a001")
    second = site.edit_form("Article", "a001")
    site.post("/m/Article/o/a001/edit", {**first, "title": "First editor's title"})
    response = site.post("/m/Article/o/a001/edit", {**second, "views": "99"})
    assert response.status_code == 303
    assert "their changes are kept and yours are applied on top" in site.get("/m/Article/o/a001")
    data = git(store, "show", "HEAD:article/a001/data.json")
    assert '"title": "First editor\'s title"' in data and '"views": 99' in data


def test_the_second_editor_of_a_changed_field_gets_a_conflict_not_an_overwrite(site: Site, store: Path) -> None:
    first = site.edit_form("Article", "a001")
    second = site.edit_form("Article", "a001")
    site.post("/m/Article/o/a001/edit", {**first, "title": "Mine", "author_name": "Alice"})
    saved = head(store).id
    response = site.post("/m/Article/o/a001/edit", {**second, "title": "Yours", "views": "5"}, status=409)
    page = response.text
    assert "Someone else changed this object" in page and "Alice" in page
    clash = page.split('id="clash-1"')[1].split("</tr>")[0]
    assert "<th>title</th>" in clash and "Mine" in clash and "Yours" in clash
    assert head(store).id == saved  # nothing written over
    resubmitted = {**second, "title": "Yours", "views": "5",
                   "_version": hidden(page, "_version"), "_commit": hidden(page, "_commit")}
    site.post("/m/Article/o/a001/edit", resubmitted)
    data = git(store, "show", "HEAD:article/a001/data.json")
    assert '"title": "Yours"' in data and '"views": 5' in data


def test_delete_asks_for_the_version_it_was_shown(site: Site, store: Path) -> None:
    page = site.get("/m/Article/o/a002")
    version = hidden(page, "_version")
    site.post("/m/Article/o/a002/edit", {**site.edit_form("Article", "a002"), "title": "Changed"})
    site.post("/m/Article/o/a002/delete", {"_version": version})
    assert "article/a002/data.json" in git(store, "ls-tree", "-r", "--name-only", "HEAD")
    fresh = hidden(site.get("/m/Article/o/a002"), "_version")
    site.post("/m/Article/o/a002/delete", {"_version": fresh, "message": "Remove a002"})
    assert "article/a002/" not in git(store, "ls-tree", "-r", "--name-only", "HEAD")
    assert head(store).message == "Remove a002"


def test_branches_are_created_switched_compared_and_merged(site: Site, store: Path) -> None:
    start = str(head(store).parents[0].id)  # the commit before the articles
    site.post("/branches/create", {"name": "old", "start": start, "switch": ""})
    assert git(store, "rev-parse", "old").strip() == start
    site.post("/branches/create", {"name": "draft", "switch": "1"})
    assert "on branch <b>draft</b>" in site.get("/")
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Draft title"})
    site.post("/branches/switch", {"name": "master"})
    assert "Draft title" not in site.get("/m/Article/o/a000")
    compared = site.get("/compare?other=draft")
    theirs = compared.split('id="changes-theirs"')[1]
    assert "a000" in theirs and "title" in theirs
    site.post("/branches/merge", {"name": "draft"})
    assert '"title": "Draft title"' in git(store, "show", "master:article/a000/data.json")


def test_a_clean_merge_is_made_by_the_editor_who_asked_for_it(site: Site, store: Path) -> None:
    site.post("/branches/create", {"name": "side", "switch": "1"})
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Side"})
    site.post("/branches/switch", {"name": "master"})
    site.post("/m/Article/o/a001/edit", {**site.edit_form("Article", "a001"), "title": "Main"})
    before = head(store).id
    site.post("/branches/merge", {"name": "side", "author_name": ""})
    assert "your name is required" in site.get("/branches") and head(store).id == before
    site.post("/branches/merge", {"name": "side", "author_name": "Mia", "author_email": "mia@example.com"})
    merged = head(store)
    assert len(merged.parents) == 2 and merged.parents[0].id == before
    who = git(store, "log", "-1", "--format=%an%n%ae%n%cn%n%ce").split()
    assert who == ["Mia", "mia@example.com", "Mia", "mia@example.com"]
    assert "Mia" in site.get("/compare?other=side")  # remembered for the next merge form


def test_a_merge_with_conflicts_is_settled_per_field_in_the_form(site: Site, store: Path) -> None:
    site.post("/branches/create", {"name": "side", "switch": "1"})
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Side", "views": "50"})
    site.post("/branches/switch", {"name": "master"})
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Main", "views": "60"})
    before = head(store).id
    response = site.post("/branches/merge", {"name": "side"})
    assert response.headers["location"] == "/merge"
    page = site.get("/merge")
    assert "2 conflict(s)" in page and "Side" in page and "Main" in page
    fingerprint = hidden(page, "fingerprint")
    order = ["title" if "field &#39;title&#39;" in part.split("</legend>")[0] else "views"
             for part in page.split('class="conflict" id="conflict-')[1:]]
    missing = site.post("/merge/resolve", {"fingerprint": fingerprint, "c0": "ours"}, status=400)
    assert "choose base, ours, theirs or type a value" in missing.text
    choices = {}
    for i, name in enumerate(order):
        choices.update({f"c{i}": "value", f"c{i}.value": "Both"} if name == "title" else {f"c{i}": "theirs"})
    site.post("/merge/resolve", {"fingerprint": fingerprint, **choices, "message": "Merge side"})
    merged = head(store)
    assert len(merged.parents) == 2 and merged.parents[0].id == before and merged.message == "Merge side"
    data = git(store, "show", "HEAD:article/a000/data.json")
    assert '"title": "Both"' in data and '"views": 50' in data
    assert "A merge is open" not in site.get("/")


def test_a_merge_opened_elsewhere_is_finished_or_aborted_in_the_admin(store: Path) -> None:
    ws = Workspace(store)
    from gitmodel.web.models import admin_models

    models, _ = admin_models(ws)
    Article = models["Article"]
    ws.create_branch("other")
    obj = Article.get("a000")
    obj.title = "Here"
    obj.save(commit=True)
    ws.set_branch("other")
    obj = Article.get("a000")
    obj.title = "There"
    obj.save(commit=True)
    ws.set_branch("master")
    assert ws.merge("other").conflicts and ws.merging
    client = TestClient(create_app(ws), base_url="http://127.0.0.1")
    site = Site(client)
    assert "A merge is open" in site.get("/")
    page = site.get("/merge")
    site.post("/merge/resolve", {"fingerprint": hidden(page, "fingerprint"), "c0": "theirs"})
    assert not ws.merging and '"title": "There"' in git(store, "show", "HEAD:article/a000/data.json")


def test_an_open_merge_can_be_aborted(site: Site, store: Path) -> None:
    site.post("/branches/create", {"name": "side", "switch": "1"})
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Side"})
    site.post("/branches/switch", {"name": "master"})
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Main"})
    before = head(store).id
    site.post("/branches/merge", {"name": "side"})
    site.post("/merge/abort")
    assert head(store).id == before and "A merge is open" not in site.get("/")


def test_snapshots_are_tagged(site: Site, store: Path) -> None:
    site.post("/tags/create", {"name": "v1", "message": "First release"})
    assert git(store, "rev-parse", "v1^{commit}").strip() == str(head(store).id)
    assert "v1" in site.get("/tags")
    site.post("/tags/create", {"name": "v1"})
    assert "already exists" in site.get("/tags")
    response = site.post("/tags/create", {"name": "bad..name"})
    assert response.status_code == 303 and "invalid tag name" in site.get("/tags")


def test_pull_and_push_through_a_hub_show_their_result(tmp_path: Path, store: Path) -> None:
    hub = tmp_path / "hub.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(store), str(hub)], check=True)
    ws = Workspace(store)
    ws.add_remote("origin", str(hub))
    ws.fetch()
    ws.set_upstream("origin/master")
    site = site_for(store)
    assert '<b id="ahead">0</b>' in site.get("/remotes")
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Local"})
    assert '<b id="ahead">1</b>' in site.get("/remotes")
    other = Workspace.clone(str(hub), tmp_path / "other.git")
    from gitmodel.web.models import admin_models

    theirs = admin_models(other)[0]["Article"].get("a001")
    theirs.title = "Remote"
    theirs.save(commit=True)
    other.push()
    site.post("/remotes/push")
    page = site.get("/remotes")
    assert "The hub refused the push" in page and "pull" in page
    site.post("/remotes/pull", {"author_name": "Puller", "author_email": "puller@example.com"})
    assert "Pulled: merged as" in site.get("/remotes")
    who = git(store, "log", "-1", "--format=%an%n%ae%n%cn%n%ce").split()
    assert who == ["Puller", "puller@example.com", "Puller", "puller@example.com"]
    site.post("/remotes/push")
    assert "Pushed: refs/heads/master" in site.get("/remotes")
    assert git(hub, "rev-parse", "master").strip() == str(head(store).id)


# -- security -------------------------------------------------------------------------
POSTS = ["/m/Article/new", "/m/Article/o/a000/edit", "/m/Article/o/a000/delete", "/m/Article/o/a000/restore",
         "/branches/create", "/branches/switch", "/branches/merge", "/merge/resolve", "/merge/abort",
         "/tags/create", "/remotes/pull", "/remotes/push"]


@pytest.mark.parametrize("url", POSTS)
def test_every_write_needs_the_csrf_token(site: Site, store: Path, url: str) -> None:
    before = git(store, "for-each-ref")
    site.get("/")
    for token in (None, "forged"):
        data = {"name": "x", "title": "x", "message": "m", "author_name": "a", "author_email": "e"}
        if token:
            data["csrf_token"] = token
        response = site.client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, url
    assert git(store, "for-each-ref") == before


def test_writes_are_posts_only(site: Site) -> None:
    for url in POSTS:
        if url.endswith(("/new", "/edit")):
            continue
        assert site.client.get(url).status_code in (404, 405), url


HOSTILE = "<script>alert('x')</script>"


def test_hostile_values_ids_and_field_names_are_escaped(tmp_path: Path) -> None:
    from gitmodel import fields

    ws = Workspace.init(tmp_path / "hostile.git")

    class Note(ws.GitModel):
        code = fields.CharField(id=True)
        title = fields.CharField()
        data = fields.JSONField(default=dict)

    Note(code="x'&y", title=HOSTILE, data={HOSTILE: HOSTILE}).save(commit=True, message=HOSTILE,
                                                                  author=("Mallory \" & '", "a@b"))
    site = site_for(tmp_path / "hostile.git")
    for url in ("/m/Note", "/m/Note/o/x%27%26y", "/m/Note/o/x%27%26y/edit", "/log", "/m/Note?q=%3Cscript%3E"):
        page = site.get(url)
        assert "<script>alert" not in page and "x'&y" not in page, url
    assert "&lt;script&gt;" in site.get("/m/Note/o/x%27%26y")


def test_a_stored_schema_with_hostile_names_is_shown_escaped(tmp_path: Path) -> None:
    from gitmodel import fields

    ws = Workspace.init(tmp_path / "schema.git")

    class Note(ws.GitModel):
        title = fields.CharField()

    Note(title="t").save(commit=True)
    repo = ws.repo
    schema = git(repo.path, "show", "HEAD:.gitmodel/schema/Note.json")
    hostile = schema.replace('"title"', '"<img src=x onerror=alert(1)>"')
    blob = repo.create_blob(hostile.encode())
    builder = pygit2.IndexEntry(".gitmodel/schema/Note.json", blob, pygit2.enums.FileMode.BLOB)
    index = pygit2.Index()
    index.read_tree(repo[repo.head.target].tree)
    index.add(builder)
    tree = index.write_tree(repo)
    sig = pygit2.Signature("x", "x@y")
    repo.create_commit("HEAD", sig, sig, "hostile schema", tree, [repo.head.target])
    site = site_for(tmp_path / "schema.git")
    object_id = git(repo.path, "ls-tree", "--name-only", "HEAD", "note/").split("/")[1].strip()
    for url in ("/", "/m/Note", f"/m/Note/o/{object_id}", f"/m/Note/o/{object_id}/edit", "/m/Note/new"):
        page = site.get(url)
        assert "<img src=x" not in page, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in site.get("/m/Note")


def test_pages_forbid_inline_scripts(site: Site) -> None:
    response = site.client.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "SameSite=Strict" in response.headers["set-cookie"] or "samesite=strict" in response.headers["set-cookie"].lower()


def test_uploads_past_the_limit_are_refused(store: Path) -> None:
    site = site_for(store, upload_limit=50_000)
    before = head(store).id
    response = site.post("/m/Article/o/a000/edit", site.edit_form("Article", "a000"),
                         files={"image": ("big.png", PNG + b"\x00" * 60_000, "image/png")}, status=413)
    assert "limit of 50000 bytes" in response.text
    assert head(store).id == before


def test_no_request_path_reaches_the_file_system(site: Site) -> None:
    for url in ("/static/..%2F..%2Fworkspace.py", "/static/../app.py", "/static/admin.css%00",
                "/static/__init__.py", "/m/Article/o/a000/blob/..%2F..%2Fdata.json",
                "/m/Article/o/..%2Fauthor%2Fann", "/m/..%2F.git/o/HEAD", "/m/Article/o/a000/blob/title"):
        response = site.client.get(url)
        assert response.status_code == 404, url
        assert "import" not in response.text and "[core]" not in response.text
    assert site.client.get("/static/htmx.min.js").status_code == 200


def test_requests_for_other_hosts_are_refused_without_credentials(store: Path) -> None:
    client = TestClient(create_app(Workspace(store)), base_url="http://evil.example")
    assert client.get("/").status_code == 421


def test_with_credentials_every_request_needs_the_password_or_token(store: Path) -> None:
    from gitmodel.web import hash_password

    hashed = hash_password("s3cret token")
    assert "s3cret" not in hashed
    client = TestClient(create_app(Workspace(store), password_hash=hashed), base_url="http://admin.example")
    assert client.get("/").status_code == 401
    assert client.get("/", auth=("editor", "wrong")).status_code == 401
    assert client.get("/", auth=("editor", "s3cret token")).status_code == 200
    assert client.get("/", headers={"Authorization": "Bearer s3cret token"}).status_code == 200
    assert client.get("/static/htmx.min.js").status_code == 401


def test_a_malformed_password_hash_is_refused(store: Path) -> None:
    from gitmodel.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="hash_password"):
        create_app(Workspace(store), password_hash="plaintext")


# -- the command ----------------------------------------------------------------------
def run_module(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitmodel.web", *args], capture_output=True, text=True,
                          timeout=60, **kwargs)  # type: ignore[call-overload,no-any-return]


def test_serving_another_address_without_a_password_is_refused(store: Path) -> None:
    result = run_module("-C", str(store), "--host", "0.0.0.0", "--port", "0")
    assert result.returncode != 0 and "needs a password" in result.stderr


def test_a_password_hash_is_made_from_standard_input() -> None:
    result = run_module("--hash-password", input="pw\n")
    from gitmodel.web.security import Credentials

    assert result.returncode == 0 and Credentials(result.stdout.strip()).check("pw")


def test_the_server_prints_its_url_first_and_serves_the_admin(store: Path) -> None:
    import urllib.request

    process = subprocess.Popen([sys.executable, "-m", "gitmodel.web", "-C", str(store), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        page = ""
        for _ in range(100):
            try:
                page = urllib.request.urlopen(url + "m/Article", timeout=5).read().decode()
                break
            except OSError:
                import time

                time.sleep(0.1)
        assert "3 objects" in page
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_reads_the_repository_given_to_the_command_line_group(tmp_path: Path) -> None:
    import click
    from click.testing import CliRunner

    from gitmodel.web.command import serve

    @click.group()
    @click.option("-C", "repo")
    @click.pass_context
    def cli(ctx: click.Context, repo: str) -> None:
        ctx.obj = {"repo": repo}

    cli.add_command(serve)
    missing = tmp_path / "not-a-repo"
    result = CliRunner().invoke(cli, ["-C", str(missing), "serve", "--port", "0"])
    assert result.exit_code != 0 and "no git repository" in result.output and str(missing) in result.output


def test_lists_and_many_relations_are_edited_one_element_per_line(tmp_path: Path) -> None:
    from gitmodel import fields

    ws = Workspace.init(tmp_path / "lists.git")

    class Tag(ws.GitModel):
        slug = fields.SlugField(id=True)

    class Post(ws.GitModel):
        slug = fields.SlugField(id=True)
        words = fields.ListField(fields.CharField())
        nums = fields.ListField(fields.IntegerField())
        tags = fields.ManyToManyField(Tag, on_delete=fields.SET_NULL)

    for slug in ("a", "b"):
        Tag(slug=slug).save()
    Post(slug="p", words=["x", "y z"], nums=[1, 2], tags=["a"]).save()
    ws.commit("Add a post")
    site = site_for(tmp_path / "lists.git")
    form = site.edit_form("Post", "p")
    assert (form["words"], form["nums"], form["tags"]) == ("x\ny z", "1\n2", "a")
    assert "one Tag id per line" in site.get("/m/Post/o/p/edit")
    bad = site.post("/m/Post/o/p/edit", {**form, "nums": "3\nmany"}, status=400)
    assert "line 2: is not a valid integer value" in bad.text
    site.post("/m/Post/o/p/edit", {**form, "words": "one\n\n two \n", "nums": "3\n4", "tags": "b\na"})
    stored = json.loads(git(tmp_path / "lists.git", "show", "HEAD:post/p/data.json"))["fields"]
    assert stored["nums"] == [3, 4] and stored["words"] == ["one", "two"] and sorted(stored["tags"]) == ["a", "b"]
    site.post("/m/Post/o/p/edit", {**site.edit_form("Post", "p"), "tags": "nobody"}, status=400)


def test_bad_input_gets_a_message_or_a_404_never_a_server_error(site: Site, store: Path) -> None:
    before = git(store, "for-each-ref")
    for url in ("/compare?other=nope", "/compare", "/m/Article/o/a000?at=zzz", "/m/Article/o/a000?at=0000000000",
                "/m/Article/o/%2e%2e", "/m/Article/o/a000/blob/nope", "/m/Article/o/a000/blob/title",
                "/static/..%2fapp.py", "/m/Article/o/%00", "/m/Nope"):
        site.get(url, status=404)
    for url in ("/m/Article?o=title;drop", "/m/Article?p=-5", "/m/Article?p=99999999999999999999", "/merge",
                "/m/Article?f.day=notadate", "/m/Article?q=%00", "/branches?start=%3Cscript%3E"):
        site.get(url)
    flashes = [
        ("/branches/create", {"name": "bad..name"}, "/branches", "invalid branch name"),
        ("/branches/create", {"name": "a" * 300}, "/branches", "longer than 250 bytes"),
        ("/branches/switch", {"name": "nope"}, "/branches", "no branch"),
        ("/branches/merge", {"name": "nope"}, "/branches", "unknown branch, tag or commit"),
        ("/merge/resolve", {}, "/", "No merge is open"),
        ("/remotes/pull", {}, "/remotes", "no remote named"),
        ("/tags/create", {"name": "t" * 300}, "/tags", "longer than 250 bytes"),
    ]
    for url, data, shown_at, message in flashes:
        site.post(url, data)
        assert message in html.unescape(site.get(shown_at)), (url, data)
    site.post("/m/Article/o/a000/restore", {"at": "nope"}, status=404)
    site.post("/branches/create", {"name": "x", "start": "nope"}, status=404)
    assert git(store, "for-each-ref") == before


def test_an_object_that_cannot_be_read_is_named_on_its_list_page_and_the_rest_listed(store: Path) -> None:
    import zlib

    paths = subprocess.run(["git", f"--git-dir={store}", "ls-tree", "-r", "HEAD", "--", "article"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    mode_type_oid, path = next(line.split("\t") for line in paths if line.endswith("/data.json"))
    oid = mode_type_oid.split()[2]
    loose = store / "objects" / oid[:2] / oid[2:]
    raw = zlib.decompress(loose.read_bytes())
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(raw[:-1] + b" "))  # other bytes, same length: only the id tells
    site = site_for(store)
    for url in ("/m/Article", "/m/Article?o=views", "/m/Article?o=-title"):
        page = site.get(url)
        assert 'id="skipped"' in page and path in page and "do not match its id" in page, url
        assert page.count('<tr><td><a href="/m/Article/o/') >= 1
    counts = dict(re.findall(r'>(\w+)</a></td><td class="count">(\d+)<', site.get("/")))
    listed = int(re.search(r"(\d+) objects?<", site.get("/m/Article")).group(1))
    stored = sum(1 for line in paths if line.endswith("/data.json"))
    assert int(counts["Article"]) == listed == stored - 1  # counted without it, everywhere
    page = site.get(f"/m/Article/o/{path.split('/')[-2]}", status=500)  # the object itself: named as corrupt
    assert "CorruptObject" in page and path in page
