"""A typed models module: mypy must accept every line of it.

Declare fields with the field class as the annotation (``slug:
fields.SlugField = fields.SlugField()``, or ``slug: Field[str] = ...``):
instances then read ``str``, the constructor takes ``slug: str``, and the
class attribute stays the field. Models that type checkers should see are
declared on :class:`gitmodel.models.GitModel` and bound with
``ws.register_model`` (a variable such as ``ws.GitModel`` cannot be a base
class for a static checker).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Optional

import pygit2

from gitmodel import fields
from gitmodel.fields import Field
from gitmodel.models import GitModel
from gitmodel.workspace import Workspace


class Author(GitModel):
    # the automatic id is not an annotated field: declare it to pass ids
    # to the constructor of an annotated model
    id: fields.UUIDField = fields.UUIDField(id=True)
    name: fields.CharField = fields.CharField()
    email: fields.EmailField = fields.EmailField(required=False)


class Page(GitModel):
    slug: fields.SlugField = fields.SlugField()
    title: Field[str] = fields.CharField()
    content: fields.CharField = fields.CharField(required=False)
    published: fields.BooleanField = fields.BooleanField(default=True)
    views: fields.IntegerField = fields.IntegerField(default=0)
    rating: fields.FloatField = fields.FloatField(required=False)
    price: fields.DecimalField = fields.DecimalField(required=False)
    day: fields.DateField = fields.DateField(required=False)
    stamp: fields.DateTimeField = fields.DateTimeField(required=False)
    author: fields.RelatedField[Author] = fields.RelatedField(Author, required=False)
    editor: fields.RelatedField[Author] = fields.RelatedField("Author", required=False)
    attachment: fields.BlobField = fields.BlobField()
    extra: fields.JSONField = fields.JSONField(required=False)


class Legacy(GitModel):
    # the untyped style of the original README still type-checks: attribute
    # reads are typed, the constructor accepts any keyword
    slug = fields.SlugField()
    title = fields.CharField()
    owner = fields.RelatedField("Author", required=False)
    data = fields.BlobField()


def use(ws: Workspace) -> Optional[pygit2.Oid]:
    Pages = ws.register_model(Page)
    Authors = ws.register_model(Author)
    ann = Authors(id="ann-id", name="Ann", email="ann@example.com")
    ann.save()
    page = Pages(
        slug="hello",
        title="Hello",
        views=3,
        price=decimal.Decimal("1.50"),
        day=dt.date(2020, 1, 2),
        stamp=dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.timezone.utc),
        author=ann,
        editor="ann-id",
        attachment=b"\x89PNG",
        extra={"k": [1, 2]},
    )
    page.content = "<p>Hi</p>"
    title: str = page.title.upper()
    total: int = page.views + 1
    price: decimal.Decimal = page.price
    published: bool = page.published
    header: bytes = page.attachment.read(4)
    writer: Author = page.author
    page.attachment = "text works too"
    field: fields.SlugField = Page.slug
    assert field.name == "slug" and title and total and price is not None and published
    assert header == b"\x89PNG" and writer.name == "Ann"
    page.save()
    loaded: Page = Pages.get(page.id)
    for other in Pages.all():
        print(other.title.lower())
    legacy = ws.register_model(Legacy)(id="legacy", slug="x", title="y")
    print(legacy.title.strip(), loaded.slug)
    page.save()
    return ws.commit("typed")
