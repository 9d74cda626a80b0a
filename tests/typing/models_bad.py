"""Mistakes mypy must report. Each line that must be flagged ends with a
``# E: <error code>`` comment; the test checks mypy reports exactly these."""

from __future__ import annotations

from gitmodel import fields
from gitmodel.models import GitModel
from gitmodel.workspace import Workspace


class Page(GitModel):
    slug: fields.SlugField = fields.SlugField()
    title: fields.CharField = fields.CharField()
    views: fields.IntegerField = fields.IntegerField(default=0)
    published: fields.BooleanField = fields.BooleanField(default=True)


def misuse(ws: Workspace) -> None:
    Pages = ws.register_model(Page)
    Page(slug=1)  # E: arg-type
    Page(slugg="typo")  # E: call-arg
    Pages(title=["not", "a", "str"])  # E: arg-type
    page = Pages.get("x")
    page.title + 1  # E: operator
    page.views + "1"  # E: operator
    page.published = "yes"  # E: assignment
    page.title.no_such_method()  # E: attr-defined
    number: int = page.slug  # E: assignment
    print(number)
