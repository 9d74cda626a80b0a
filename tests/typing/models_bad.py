"""Mistakes mypy must report. Each line that must be flagged ends with a
``# E: <error code>`` comment; the test checks mypy reports exactly these."""

from __future__ import annotations

from gitmodel import fields
from gitmodel.models import GitModel
from gitmodel.workspace import Workspace


class Author(GitModel):
    name: fields.CharField = fields.CharField()


class Page(GitModel):
    slug: fields.SlugField = fields.SlugField()
    title: fields.CharField = fields.CharField()
    views: fields.IntegerField = fields.IntegerField(default=0)
    published: fields.BooleanField = fields.BooleanField(default=True)
    author: fields.RelatedField[Author] = fields.RelatedField(Author, required=False)
    file: fields.BlobField = fields.BlobField()


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
    Pages(author=3)  # E: arg-type
    page.author.nickname  # E: attr-defined
    page.file.read() + 1  # E: operator
    page.file = 12  # E: assignment
    # the automatic id is not a declared field: annotated models that take
    # ids in the constructor declare ``id: fields.UUIDField = fields.UUIDField(id=True)``
    Pages(id="x")  # E: call-arg
