"""The web admin against hostile input and damaged repositories, through the
real application: a bad value is a message beside its field, a clash of
names a flash, a form that does not say its base a conflict, one broken
model a line on the home page; never a server error or a lost edit."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pygit2
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from gitmodel.web import create_app  # noqa: E402
from gitmodel.web.models import admin_models  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from webapp import Site, git, hidden, make_store  # noqa: E402

DEEP = "[" * 50000 + "]" * 50000


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_store(tmp_path / "store.git")
    return tmp_path / "store.git"


def site_for(path: Path) -> Site:
    return Site(TestClient(create_app(Workspace(path)), base_url="http://127.0.0.1"))


@pytest.fixture
def site(store: Path) -> Site:
    return site_for(store)


def head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").strip()


def field_error(page: str) -> list[str]:
    return [html.unescape(e) for e in re.findall(r'class="error"[^>]*>([^<]*)<', page)]


def test_deeply_nested_json_in_a_form_is_a_field_error(site: Site, store: Path) -> None:
    before = head(store)
    form = {**site.edit_form("Article", "a000"), "tags": DEEP}
    refused = site.post("/m/Article/o/a000/edit", form, status=400)
    assert "is not a valid JSON value" in field_error(refused.text)
    created = site.post("/m/Article/new", {"slug": "new", "title": "New", "tags": DEEP}, status=400)
    assert "is not a valid JSON value" in field_error(created.text)
    listed = site.get("/m/Article?f.tags=" + "[" * 5000 + "]" * 5000)  # a filter from the address bar
    assert "is not a valid JSON value" in listed
    assert head(store) == before


def test_deeply_nested_json_typed_on_the_merge_screen_is_a_field_error(store: Path) -> None:
    ws = Workspace(store)
    Article = admin_models(ws)[0]["Article"]
    obj = Article.get("a000")
    obj.tags = {"k": 0}
    obj.save(commit=True)
    ws.create_branch("other")
    for branch, value in (("master", 1), ("other", 2)):
        ws.set_branch(branch)
        obj = Article.get("a000")
        obj.tags = {"k": value}
        obj.save(commit=True)
    ws.set_branch("master")
    assert ws.merge("other").conflicts  # key "k" of the JSON field, changed on both sides
    site = Site(TestClient(create_app(ws), base_url="http://127.0.0.1"))
    page = site.get("/merge")
    refused = site.post("/merge/resolve", {"fingerprint": hidden(page, "fingerprint"), "c0": "value",
                                           "c0.value": DEEP}, status=400)
    assert "is not a valid JSON value" in field_error(refused.text)
    assert ws.merging


def stale_form(site: Site, store: Path) -> dict[str, str]:
    """Bob's form, loaded before Alice changed the title."""
    bob = site.edit_form("Article", "a001")
    site.post("/m/Article/o/a001/edit", {**site.edit_form("Article", "a001"), "title": "Alice's"})
    return {**bob, "title": "Bob's"}


@pytest.mark.parametrize("drop", [{"_commit": None}, {"_commit": ""}, {"_version": None, "_commit": None},
                                  {"_version": "", "_commit": ""}])
def test_a_form_that_does_not_say_its_base_is_a_conflict_not_an_overwrite(
        site: Site, store: Path, drop: dict[str, object]) -> None:
    form = stale_form(site, store)
    saved = head(store)
    for name, value in drop.items():
        if value is None:
            form.pop(name)
        else:
            form[name] = str(value)
    response = site.post("/m/Article/o/a001/edit", form, status=409)
    clash = response.text.split('id="clash-1"')[1].split("</tr>")[0]
    assert "<th>title</th>" in clash and "Alice&#39;s" in clash and "Bob&#39;s" in clash
    assert head(store) == saved and "Alice's" in git(store, "show", "HEAD:article/a001/data.json")
    again = {**form, "_version": hidden(response.text, "_version"), "_commit": hidden(response.text, "_commit")}
    site.post("/m/Article/o/a001/edit", again)  # seen, chosen: saved on top
    assert "Bob's" in git(store, "show", "HEAD:article/a001/data.json")


def test_a_branch_or_tag_cannot_be_a_folder_of_another(site: Site, store: Path) -> None:
    site.post("/branches/create", {"name": "a/b"})
    site.post("/tags/create", {"name": "v1/rc"})
    refs = git(store, "for-each-ref")
    for url, name, shown_at, text in (
            ("/branches/create", "a", "/branches", "Could not create 'a': cannot create branch 'a': branch 'a/b' exists"),
            ("/branches/create", "a/b/c", "/branches", "cannot create branch 'a/b/c': branch 'a/b' exists"),
            ("/tags/create", "v1", "/tags", "Could not tag: cannot create tag 'v1': tag 'v1/rc' exists"),
            ("/tags/create", "v1/rc/2", "/tags", "cannot create tag 'v1/rc/2': tag 'v1/rc' exists")):
        site.post(url, {"name": name})
        page = html.unescape(site.get(shown_at))
        assert text in page and "a name cannot be both" in page, (url, name)
    assert git(store, "for-each-ref") == refs


def test_one_model_that_cannot_be_read_is_named_on_the_home_page(store: Path) -> None:
    repo = pygit2.Repository(str(store))
    tip = repo[repo.head.target]
    root = repo.TreeBuilder(tip.tree)
    root.insert("article", repo.create_blob(b"not a folder"), pygit2.GIT_FILEMODE_BLOB)
    who = pygit2.Signature("Mallory", "m@x")
    repo.create_commit("HEAD", who, who, "break article\n", root.write(), [tip.id])
    page = site_for(store).get("/")
    assert '<a href="/m/Author">Author</a></td><td class="count">1<' in page
    assert '<a href="/m/Article">' not in page.split('id="models"')[1].split("</table>")[0]
    problems = html.unescape(page.split("Models that cannot be shown")[1])
    assert "<b>Article</b>" in problems and "expected a folder, found a file" in problems
