"""Edits in the web admin never change what the editor did not change and
never overwrite another editor's work, through the real application (and,
for what only a browser does to a form, a real headless Chromium): files are
part of an object's version, an untouched field is never written, a restore
or a save from a page loaded before another change or on another branch is
refused, a protected object is not deleted, a filter no value matches is a
message."""

from __future__ import annotations

import datetime as dt
import decimal
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from gitmodel import datefields, fields  # noqa: E402
from gitmodel.web import create_app  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from webapp import PNG, Site, git, hidden, make_store  # noqa: E402


def site_for(path: Path) -> Site:
    return Site(TestClient(create_app(Workspace(path)), base_url="http://127.0.0.1",
                           raise_server_exceptions=False))


def editors(path: Path) -> tuple[Site, Site]:
    """Two editors (browsers of their own) of one admin."""
    app = create_app(Workspace(path))
    return (Site(TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)),
            Site(TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)))


def head(store: Path) -> str:
    return git(store, "rev-parse", "HEAD").strip()


def stored(store: Path, path: str, ref: str = "HEAD") -> dict[str, Any]:
    return json.loads(git(store, "show", f"{ref}:{path}"))["fields"]  # type: ignore[no-any-return]


def flashes(page: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'class="flash \w+">([^<]*)<', page)]


# -- a form as a browser submits it -----------------------------------------------------
_VALID = {"number": r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?",
          "time": r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,3})?)?", "date": r"[0-9]{4,}-[0-9]{2}-[0-9]{2}"}


class BrowserForm(HTMLParser):
    """The controls of the page's ``edit-form`` and what a browser sends for
    them untouched (HTML's rules): a typed input whose value it cannot hold is
    emptied, a text input loses line breaks, a textarea loses the line break
    right after its start tag and sends its line breaks as CR LF, an
    unchecked box sends nothing, a menu sends its selected (or first) option."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.inputs: dict[str, str] = {}  # name -> type ("textarea", "select", ...)
        self._in_form = False
        self._textarea: Optional[tuple[str, list[str]]] = None
        self._select: Optional[tuple[str, list[tuple[str, bool]]]] = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = a.get("id") == "edit-form"
        if not self._in_form or "disabled" in a:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            self.inputs[name] = kind
            value = a.get("value", "")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[name] = value or "on"
            elif kind != "file":
                value = value.replace("\r", "").replace("\n", "")
                if kind in _VALID and value and not re.fullmatch(_VALID[kind], value):
                    value = ""
                self.values[name] = value
        elif tag == "textarea":
            self._textarea = (name, [])
            self.inputs[name] = "textarea"
        elif tag == "select":
            self._select = (name, [])
            self.inputs[name] = "select"
        elif tag == "option" and self._select is not None:
            self._select[1].append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        if tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            text = "".join(parts).replace("\r\n", "\n").replace("\r", "\n")
            text = text[1:] if text.startswith("\n") else text
            self.values[name] = text.replace("\n", "\r\n")
            self._textarea = None
        if tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [v for v, selected in options if selected] or [v for v, _ in options[:1]]
            if chosen:
                self.values[name] = chosen[0]
            self._select = None


def browser_form(site: Site, url: str) -> BrowserForm:
    """The form on ``url`` as a browser sends it (the commit's message and
    author left to ``Site.post``)."""
    form = BrowserForm(site.get(url))
    for name in ("csrf_token", "message", "author_name", "author_email"):
        form.values.pop(name, None)
    return form


def make_docs(path: Path) -> Workspace:
    ws = Workspace.init(path)

    class Doc(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        body = fields.CharField(required=False, max_length=200)
        lead = fields.CharField(required=False)
        at = datefields.TimeField(required=False)
        zoned = datefields.TimeField(required=False)
        plain = datefields.TimeField(required=False)
        when = datefields.DateTimeField(required=False)
        price = fields.DecimalField(max_digits=12, decimal_places=4, required=False)
        ratio = fields.FloatField(required=False)
        flag = fields.BooleanField(required=False)
        words = fields.ListField(fields.CharField(required=False), required=False)
        kind = fields.CharField(choices=["news", "blog"], required=False)
        data = fields.JSONField(required=False)

    Doc(slug="d", title="T", body="line one\nline two\r\nline three", lead="\nstarts with a line break",
        at=dt.time(12, 30, 45, 123456), zoned=dt.time(9, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        plain=dt.time(12, 30), when=dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc),
        price=decimal.Decimal("12.3400"), ratio=0.1 + 0.2, flag=None, words=["  padded  ", "", "x"],
        kind="blog", data={"b": [1, 2], "a": "x\ny"}).save(commit=True, message="seed")
    return ws


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    make_docs(tmp_path / "docs.git")
    return tmp_path / "docs.git"


def test_values_an_input_type_cannot_hold_get_an_input_that_keeps_them(docs: Path) -> None:
    page = site_for(docs).get("/m/Doc/o/d/edit")
    def control(name: str) -> str:
        return re.search(rf'<(?:input|textarea|select)[^>]*name="{name}"[^>]*>', page).group(0)  # type: ignore[union-attr]
    assert control("body").startswith("<textarea") and 'maxlength="200"' in control("body")
    assert re.search(r'name="lead"[^>]*>\n\n', page)  # a leading line break survives the parser
    assert 'type="text"' in control("at") and 'type="text"' in control("zoned")
    assert 'type="time"' in control("plain") and 'type="number"' in control("price")


def test_a_value_outside_the_choices_is_shown_not_replaced_by_the_first_choice(docs: Path) -> None:
    import pygit2

    repo = pygit2.Repository(str(docs))  # another tool wrote a value the choices do not hold
    data = json.loads(repo.revparse_single("HEAD:doc/d/data.json").data)
    data["fields"]["kind"] = "archived"
    tip = repo.revparse_single("HEAD")
    index = pygit2.Index()
    index.read_tree(tip.tree)
    index.add(pygit2.IndexEntry("doc/d/data.json", repo.create_blob(json.dumps(data).encode()),
                                pygit2.enums.FileMode.BLOB))
    who = pygit2.Signature("Other tool", "o@x")
    repo.create_commit("HEAD", who, who, "archive\n", index.write_tree(repo), [tip.id])
    site = site_for(docs)
    form = browser_form(site, "/m/Doc/o/d/edit").values
    assert form["kind"] == "archived"  # not "news", the first choice, silently
    before = head(docs)
    refused = site.post("/m/Doc/o/d/edit", {**form, "title": "New"}, status=400)
    assert "must be one of news, blog" in html.unescape(refused.text) and head(docs) == before


def test_a_form_saved_as_a_browser_sends_it_changes_only_the_field_edited(docs: Path) -> None:
    site = site_for(docs)
    before = stored(docs, "doc/d/data.json")
    form = browser_form(site, "/m/Doc/o/d/edit").values
    assert form["body"] == "line one\r\nline two\r\nline three" and "flag" not in form
    site.post("/m/Doc/o/d/edit", {**form, "title": "Only the title changed"})
    after = stored(docs, "doc/d/data.json")
    assert after == {**before, "title": "Only the title changed"}
    assert git(docs, "show", "--stat", "--format=", "HEAD").count("|") == 1


def test_a_multi_line_text_edited_in_its_textarea_keeps_the_values_line_breaks(docs: Path) -> None:
    site = site_for(docs)
    form = browser_form(site, "/m/Doc/o/d/edit").values
    site.post("/m/Doc/o/d/edit", {**form, "lead": "\r\nstarts with a line break\r\nand goes on"})
    assert stored(docs, "doc/d/data.json")["lead"] == "\nstarts with a line break\nand goes on"
    form = browser_form(site, "/m/Doc/o/d/edit").values
    site.post("/m/Doc/o/d/edit", {**form, "body": form["body"] + "\r\nline four"})
    assert stored(docs, "doc/d/data.json")["body"] == "line one\r\nline two\r\nline three\r\nline four"


def test_a_submitted_text_meaning_the_value_shown_is_not_written(docs: Path) -> None:
    site = site_for(docs)
    before = head(docs)
    form = browser_form(site, "/m/Doc/o/d/edit").values
    same = {"plain": "12:30", "words": "  padded  \n\nx", "data": '{"a": "x\\ny", "b": [1, 2]}',
            "ratio": str(0.1 + 0.2)}
    site.post("/m/Doc/o/d/edit", {**form, **same, "title": "New"})
    assert stored(docs, "doc/d/data.json")["words"] == ["  padded  ", "", "x"]
    assert stored(docs, "doc/d/data.json")["plain"] == "12:30:00"
    assert git(docs, "rev-list", "--count", f"{before}..HEAD").strip() == "1"


# -- files are part of the version --------------------------------------------------------
@pytest.fixture
def articles(tmp_path: Path) -> Path:
    ws = Workspace.init(tmp_path / "a.git")

    class Article(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        image = fields.BlobField(required=False)

    Article(slug="a", title="A").save(commit=True, message="seed")
    return tmp_path / "a.git"


def image(store: Path) -> bytes:
    return subprocess.run(["git", f"--git-dir={store}", "show", "HEAD:article/a/image.data"],
                          capture_output=True, check=True).stdout


def test_a_second_upload_from_an_older_form_is_a_conflict_not_an_overwrite(articles: Path) -> None:
    alice, bob = site_for(articles), site_for(articles)
    a_form, b_form = alice.edit_form("Article", "a"), bob.edit_form("Article", "a")
    alice.post("/m/Article/o/a/edit", {**a_form, "author_name": "Alice"},
               files={"image": ("a.png", PNG + b"ALICE", "image/png")})
    saved = head(articles)
    refused = bob.post("/m/Article/o/a/edit", {**b_form, "author_name": "Bob"},
                       files={"image": ("b.png", PNG + b"BOB", "image/png")}, status=409)
    clash = refused.text.split('id="clash-1"')[1].split("</tr>")[0]
    assert "<th>image</th>" in clash and "(no file)" in clash and "Alice" in refused.text
    assert head(articles) == saved and image(articles).endswith(b"ALICE")
    again = {**b_form, "_version": hidden(refused.text, "_version"), "_commit": hidden(refused.text, "_commit")}
    bob.post("/m/Article/o/a/edit", again, files={"image": ("b.png", PNG + b"BOB", "image/png")})
    assert image(articles).endswith(b"BOB")  # seen, chosen: saved on top


def test_an_older_form_that_left_the_file_alone_keeps_the_new_file(articles: Path) -> None:
    alice, bob = site_for(articles), site_for(articles)
    b_form = bob.edit_form("Article", "a")
    alice.post("/m/Article/o/a/edit", alice.edit_form("Article", "a"),
               files={"image": ("a.png", PNG + b"ALICE", "image/png")})
    bob.post("/m/Article/o/a/edit", {**b_form, "title": "Bob's title"})
    assert image(articles).endswith(b"ALICE") and stored(articles, "article/a/data.json")["title"] == "Bob's title"


def test_delete_from_a_page_loaded_before_a_new_file_is_refused(articles: Path) -> None:
    alice, bob = site_for(articles), site_for(articles)
    version = hidden(bob.get("/m/Article/o/a"), "_version")
    alice.post("/m/Article/o/a/edit", alice.edit_form("Article", "a"),
               files={"image": ("a.png", PNG + b"NEWER", "image/png")})
    response = bob.post("/m/Article/o/a/delete", {"_version": version})
    assert response.headers["location"] == "/m/Article/o/a"
    assert "someone changed this object" in " ".join(flashes(bob.get("/m/Article/o/a")))
    assert image(articles).endswith(b"NEWER")


# -- restore -----------------------------------------------------------------------------
def test_restore_from_a_page_loaded_before_another_edit_is_refused(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "r.git")

    class Article(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        body = fields.CharField(required=False)

    Article(slug="a", title="v1").save(commit=True, message="v1")
    first = git(tmp_path / "r.git", "rev-parse", "HEAD").strip()
    a = Article.get("a")
    a.title = "v2"
    a.save(commit=True, message="v2")
    bob, alice = site_for(tmp_path / "r.git"), site_for(tmp_path / "r.git")
    old = bob.get(f"/m/Article/o/a?at={first}")
    restore = {"at": hidden(old, "at"), "_version": hidden(old, "_version"), "message": "Back to v1"}
    alice.post("/m/Article/o/a/edit", {**alice.edit_form("Article", "a"), "body": "Alice's paragraph"})
    saved = head(tmp_path / "r.git")
    assert bob.post("/m/Article/o/a/restore", restore).headers["location"] == f"/m/Article/o/a?at={first}"
    assert "Not restored: someone changed this object" in " ".join(flashes(bob.get("/m/Article/o/a")))
    assert head(tmp_path / "r.git") == saved
    bob.post("/m/Article/o/a/restore", {**restore, "_version": hidden(bob.get(f"/m/Article/o/a?at={first}"),
                                                                        "_version")})
    assert stored(tmp_path / "r.git", "article/a/data.json")["title"] == "v1"
    bob.post("/m/Article/o/a/restore", {"at": first, "message": "no version"})  # a form that does not say
    assert "Not restored" in " ".join(flashes(bob.get("/m/Article/o/a")))


# -- another editor switched the branch ------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_store(tmp_path / "store.git")
    return tmp_path / "store.git"


def test_a_save_from_a_form_loaded_on_another_branch_is_refused(store: Path) -> None:
    alice, bob = editors(store)
    form = bob.edit_form("Article", "a000")
    new_form = browser_form(bob, "/m/Article/new").values
    object_page = bob.get("/m/Article/o/a001")
    merge_page = bob.get("/branches")
    alice.post("/branches/create", {"name": "draft", "switch": "1"})
    refused = bob.post("/m/Article/o/a000/edit", {**form, "title": "Fixed for production"}, status=409)
    assert "switched to branch draft" in refused.text and "loaded on master" in refused.text
    assert "Fixed for production" in refused.text  # the edit is kept in the form
    for ref in ("master", "draft"):
        assert "Fixed" not in git(store, "show", f"{ref}:article/a000/data.json")
    assert git(store, "rev-parse", "master").strip() == git(store, "rev-parse", "draft").strip()
    bob.post("/m/Article/new", {**new_form, "slug": "n1", "title": "New"}, status=409)
    bob.post("/m/Article/o/a001/delete", {name: hidden(object_page, name) for name in ("_version", "_branch")})
    assert "Not deleted: the admin was switched" in " ".join(flashes(bob.get("/")))
    bob.post("/branches/merge", {"name": "draft", "_branch": hidden(merge_page, "_branch")})
    assert "switched to branch draft" in " ".join(flashes(bob.get("/")))
    assert "article/n1/" not in git(store, "ls-tree", "-r", "--name-only", "draft")
    # the form shown again is on this branch: saving it now is the editor's choice
    again = {**form, "title": "Fixed for production", "_version": hidden(refused.text, "_version"),
             "_commit": hidden(refused.text, "_commit")}
    bob.post("/m/Article/o/a000/edit", again)
    assert "Fixed" in git(store, "show", "draft:article/a000/data.json")
    assert "Fixed" not in git(store, "show", "master:article/a000/data.json")


def test_a_form_naming_only_a_commit_outside_this_branch_is_refused(store: Path) -> None:
    site = site_for(store)
    ws = Workspace(store)
    ws.create_branch("other")
    ws.set_branch("other")
    from gitmodel.web.models import admin_models

    obj = admin_models(ws)[0]["Article"].get("a002")
    obj.title = "On other"
    obj.save(commit=True)
    ws.set_branch("master")
    form = site.edit_form("Article", "a000")
    other = git(store, "rev-parse", "other").strip()
    site.post("/m/Article/o/a000/edit", {**form, "_commit": other, "title": "x"}, status=409)
    site.post("/m/Article/o/a000/edit", {**form, "_commit": form["_commit"].partition(":")[0], "title": "y"})
    assert '"title": "y"' in git(store, "show", "master:article/a000/data.json")


# -- protected objects and filters ----------------------------------------------------------
def test_deleting_a_protected_object_is_a_message_and_deletes_nothing(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "p.git")

    class Author(ws.GitModel):
        name = fields.CharField()

    class Article(ws.GitModel):
        title = fields.CharField()
        author = fields.RelatedField(Author, on_delete=fields.PROTECT)

    Author(id="ann", name="Ann").save()
    Article(id="x", title="t", author="ann").save()
    ws.commit("seed")
    site = site_for(tmp_path / "p.git")
    before = head(tmp_path / "p.git")
    response = site.post("/m/Author/o/ann/delete", {"_version": hidden(site.get("/m/Author/o/ann"), "_version")})
    assert response.headers["location"] == "/m/Author/o/ann"
    shown = " ".join(flashes(site.get("/m/Author/o/ann")))
    assert "Not deleted" in shown and "PROTECT" in shown
    assert head(tmp_path / "p.git") == before


def test_a_filter_no_value_of_its_field_can_match_is_a_message(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "f.git")

    class Item(ws.GitModel):
        price = fields.DecimalField(max_digits=6, decimal_places=2, required=False, index=True)
        ratio = fields.FloatField(required=False)
        count = fields.IntegerField(required=False)
        day = datefields.DateField(required=False)
        when = datefields.DateTimeField(required=False)
        at = datefields.TimeField(required=False)
        data = fields.JSONField(required=False)
        words = fields.ListField(fields.CharField(), required=False)
        flag = fields.BooleanField(required=False)

    Item(id="i", price="1.50", ratio=1.5, count=1).save(commit=True, message="seed")
    site = site_for(tmp_path / "f.git")
    for name, values in (("price", ["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "1E+999999"]),
                         ("ratio", ["nan", "inf", "-inf", "1e999"]), ("count", ["9" * 5000]),
                         ("day", ["0000-01-01"]), ("when", ["9999-12-31T23:59:59-23:59"]),
                         ("at", ["25:00"]), ("data", ["NaN", "Infinity", '{"a": NaN}']),
                         ("words", ["a\nb"]), ("flag", ["maybe"]), ("id", ["../x", ".git"])):
        for value in values:
            page = site.get(f"/m/Item?f.{name}={urllib.request.quote(value)}")  # never a server error
            assert 'id="total"' in page, (name, value)
    for value in ("NaN", "sNaN", "Infinity"):
        page = site.get(f"/m/Item?f.price={value}")
        assert "filter price: " in page and "must be a finite number" in page and "1 object" in page


# -- in a real browser ------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI") == "true":
            raise RuntimeError("the browser tests need chromium and chromium-driver")
        pytest.skip("needs chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def docs_server(docs: Path) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "gitmodel.web", "-C", str(docs), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip().rstrip("/")
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def save_in_browser(driver: Any, message: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for name, value in (("message", message), ("author_name", "Ed"), ("author_email", "ed@example.com")):
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.ID, "save").click()
    WebDriverWait(driver, 30).until(lambda d: "/edit" not in d.current_url)


def test_in_a_browser_saving_one_field_leaves_every_other_field_as_stored(
        docs: Path, docs_server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    before = stored(docs, "doc/d/data.json")
    browser.get(f"{docs_server}/m/Doc/o/d/edit")
    box = browser.find_element(By.NAME, "title")
    box.clear()
    box.send_keys("Only the title changed")
    save_in_browser(browser, "title only")
    assert "Saved Doc d" in browser.find_element(By.TAG_NAME, "body").text
    assert stored(docs, "doc/d/data.json") == {**before, "title": "Only the title changed"}
    browser.get(f"{docs_server}/m/Doc/o/d/edit")
    browser.find_element(By.NAME, "lead").send_keys(" and more")  # the caret is at the end
    save_in_browser(browser, "lead")
    after = stored(docs, "doc/d/data.json")
    assert after == {**before, "title": "Only the title changed", "lead": "\nstarts with a line break and more"}
