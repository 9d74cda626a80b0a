"""Helpers for the admin's tests: a store with a model of every field type,
and a client that fills in forms the way a browser does."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path
from typing import Any, Optional

from gitmodel import datefields, fields
from gitmodel.workspace import Workspace

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

#: the application's models module for the stores make_store builds; its
#: clean() is a rule no stored schema can tell
MODELS = '''
from gitmodel import fields, datefields
from gitmodel.exceptions import ValidationError
from gitmodel.models import GitModel


class Author(GitModel):
    name = fields.CharField()


class Article(GitModel):
    slug = fields.SlugField(id=True)
    title = fields.CharField(max_length=60)
    body = fields.CharField(required=False)
    views = fields.IntegerField(default=0)
    score = fields.DecimalField(max_digits=6, decimal_places=2, required=False)
    published = fields.BooleanField(default=False)
    kind = fields.CharField(choices=["news", "blog"], default="news")
    day = datefields.DateField(required=False)
    author = fields.RelatedField("Author", required=False)
    tags = fields.JSONField(default=list)
    image = fields.BlobField()

    def clean(self):
        if self.title == "forbidden":
            raise ValidationError("this title is reserved", "title", "reserved")
'''


def make_store(path: Path, articles: int = 3) -> Workspace:
    """A repository holding one author and ``articles`` articles, committed."""
    ws = Workspace.init(path)

    class Author(ws.GitModel):
        name = fields.CharField()

    class Article(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField(max_length=60)
        body = fields.CharField(required=False)
        views = fields.IntegerField(default=0)
        score = fields.DecimalField(max_digits=6, decimal_places=2, required=False)
        published = fields.BooleanField(default=False)
        kind = fields.CharField(choices=["news", "blog"], default="news")
        day = datefields.DateField(required=False)
        author = fields.RelatedField("Author", required=False)
        tags = fields.JSONField(default=list)
        image = fields.BlobField()

    ann = Author(id="ann", name="Ann")
    ann.save(commit=True, message="Add Ann", author=("Ann", "ann@example.com"))
    for i in range(articles):
        Article(slug=f"a{i:03d}", title=f"Article {i}", views=i, author="ann",
                kind="blog" if i % 2 else "news").save()
    ws.commit("Add articles", author=("Ann", "ann@example.com"))
    return Workspace(path)


def git(repo: Path | str, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True,
                          capture_output=True, text=True).stdout


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found, f"no hidden field {name!r}"
    return html.unescape(found.group(1))


class Site:
    """A client for the admin that sends the CSRF token and the author like a browser."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, url: str, status: int = 200, **kwargs: Any) -> str:
        response = self.client.get(url, **kwargs)
        assert response.status_code == status, (url, response.status_code, response.text[:500])
        return response.text

    def post(self, url: str, data: Optional[dict[str, Any]] = None, status: int = 303,
             who: bool = True, **kwargs: Any) -> Any:
        self.get("/")  # the CSRF cookie
        form = {"csrf_token": self.client.cookies.get("gitmodel_csrf")}
        if who:
            form.update(message="An edit", author_name="Editor", author_email="editor@example.com")
        form.update(data or {})
        response = self.client.post(url, data=form, follow_redirects=False, **kwargs)
        assert response.status_code == status, (url, response.status_code, response.text[:3000])
        return response

    def edit_form(self, model: str, object_id: str) -> dict[str, str]:
        """What the edit form holds, hidden fields included."""
        page = self.get(f"/m/{model}/o/{object_id}/edit")
        values = {name: hidden(page, name) for name in ("_version", "_commit")}
        for name, value in re.findall(r'<input type="(?:text|number|date)"[^>]* name="([^"]+)" value="([^"]*)"', page):
            values[html.unescape(name)] = html.unescape(value)
        for name, text in re.findall(r'<textarea[^>]* name="([^"]+)"[^>]*>([^<]*)</textarea>', page):
            values[html.unescape(name)] = html.unescape(text)
        for name, choice in re.findall(r'<select[^>]* name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected', page, re.S):
            values[html.unescape(name)] = html.unescape(choice)
        for name in re.findall(r'<input type="checkbox"[^>]* name="([^"]+)" value="true" checked', page):
            values[html.unescape(name)] = "true"
        return values
