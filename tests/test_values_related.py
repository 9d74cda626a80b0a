"""``values()`` and ``values_list()`` across relations (``author__name``, as
Django names them): the related objects are read once each at the rows'
commit, a missing target gives ``None``, and group-by counts work on them."""

from __future__ import annotations

import datetime
import json

import pytest

from gitmodel import Count, FieldError, Workspace, fields

from test_relations import build


@pytest.fixture
def cms(tmp_path):
    ws = Workspace.init(tmp_path / "cms.git")
    Author, Tag, Page, Comment = build(ws)
    for slug in ("ada", "bob"):
        Author(slug=slug, name=slug.title()).save()
    for slug, author, rank in (("home", "ada", 3), ("about", "bob", 5), ("faq", "ada", 1)):
        Page(slug=slug, author=author, editor="bob" if slug == "home" else None, rank=rank).save()
    for cid, page in (("c1", "home"), ("c2", "about")):
        Comment(id=cid, page=page, text="hi").save()
    ws.commit("start")
    ws.create_tag("v1")
    return ws, Author, Tag, Page, Comment


def test_values_follow_a_relation_and_a_chain_of_them(cms):
    ws, Author, Tag, Page, Comment = cms
    got = Page.all().order_by("slug").values("slug", "author__name", "editor__name")
    assert got == [{"slug": "about", "author__name": "Bob", "editor__name": None},
                   {"slug": "faq", "author__name": "Ada", "editor__name": None},
                   {"slug": "home", "author__name": "Ada", "editor__name": "Bob"}]
    assert Comment.all().order_by("pk").values_list("page__author__name", flat=True) == ["Ada", "Bob"]
    counts = Page.all().values("author__name").annotate(n=Count("pk"))
    assert sorted(counts, key=lambda d: d["author__name"]) == [
        {"author__name": "Ada", "n": 2}, {"author__name": "Bob", "n": 1}]


def test_values_across_a_relation_read_at_the_rows_commit(cms):
    ws, Author, Tag, Page, Comment = cms
    ada = Author.get("ada")
    ada.name = "Ada Lovelace"
    ada.save(commit=True)
    assert Page.filter(slug="home").values_list("author__name", flat=True) == ["Ada Lovelace"]
    assert Page.all(treeish="v1").filter(slug="home").values_list("author__name", flat=True) == ["Ada"]


def test_json_safe_values_across_a_relation(tmp_path):
    ws = Workspace.init(tmp_path / "j.git")

    class Event(ws.GitModel):
        when = fields.DateTimeField()

    class Ticket(ws.GitModel):
        event = fields.RelatedField(Event)

    when = datetime.datetime(2026, 12, 3, 9, 30, tzinfo=datetime.timezone.utc)
    Event(id="e1", when=when).save()
    Ticket(id="t1", event="e1").save()
    ws.commit("one ticket")
    assert Ticket.all().values("event__when") == [{"event__when": when}]
    assert json.dumps(Ticket.all().values("event__when", json_safe=True)) == \
        '[{"event__when": "2026-12-03T09:30:00+00:00"}]'


def test_values_refuse_paths_that_are_not_relations_to_one_object(cms):
    ws, Author, Tag, Page, Comment = cms
    for name in ("rank__x", "tags__slug", "author__nope", "author__name__x", "nope__name"):
        with pytest.raises(FieldError):
            Page.all().values(name)
    with pytest.raises(FieldError):
        Page.all().values_list("slug__x")
