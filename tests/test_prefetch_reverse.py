"""``prefetch_related`` of a reverse query (``Author.all().prefetch_related("pages")``):
each object's reverse query is read in batches with the objects, lists what
the reverse query lists, in its order, at the same commit, and iterating it
runs no query."""

from __future__ import annotations

import pytest

from gitmodel import FieldError, Workspace
from gitmodel.query import planner

from test_relations import build


@pytest.fixture
def cms(tmp_path):
    ws = Workspace.init(tmp_path / "cms.git")
    Author, Tag, Page, Comment = build(ws)
    for slug in ("ada", "bob", "cy"):
        Author(slug=slug, name=slug.title()).save()
    for slug in ("python", "git", "rust"):
        Tag(slug=slug).save()
    for i in range(30):
        Page(slug=f"p{i:02d}", author=("ada", "bob")[i % 2], editor="cy" if i % 3 == 0 else None,
             tags=[["python"], ["git", "python"], []][i % 3], rank=i).save()
    ws.commit("start")
    ws.create_tag("v1")
    return ws, Author, Tag, Page


def count_queries(monkeypatch):
    calls = []
    real = planner.execute

    def counted(qs):
        calls.append(qs.model.__name__)
        return real(qs)

    monkeypatch.setattr(planner, "execute", counted)
    return calls


def test_a_prefetched_reverse_query_lists_what_the_query_lists_and_runs_none(cms, monkeypatch):
    ws, Author, Tag, Page = cms
    expected = {a.slug: [p.slug for p in a.pages] for a in Author.all()}
    edited = {a.slug: [p.slug for p in a.edited] for a in Author.all()}
    authors = list(Author.all().prefetch_related("pages", "edited"))
    calls = count_queries(monkeypatch)
    assert {a.slug: [p.slug for p in a.pages] for a in authors} == expected
    assert {a.slug: [p.slug for p in a.edited] for a in authors} == edited
    assert calls == []  # iterating the prefetched queries read nothing
    assert expected["cy"] == [] and len(expected["ada"]) == 15
    assert [p.slug for p in authors[0].pages.filter(rank__lt=4)] == expected["ada"][:2]  # a filter queries
    assert calls == ["Page"]


def test_a_prefetched_many_to_many_reverse_query(cms, monkeypatch):
    ws, Author, Tag, Page = cms
    expected = {t.slug: [p.slug for p in t.pages] for t in Tag.all()}
    tags = list(Tag.all().prefetch_related("pages"))
    calls = count_queries(monkeypatch)
    assert {t.slug: [p.slug for p in t.pages] for t in tags} == expected
    assert calls == [] and expected["rust"] == [] and len(expected["python"]) == 20
    first = {id(p) for t in tags for p in t.pages if p.slug == "p01"}
    assert len(first) == 1  # one instance for a page both tags list


def test_a_prefetched_reverse_query_reads_at_the_objects_commit(cms):
    ws, Author, Tag, Page = cms
    Page(slug="late", author="ada").save()
    Page.get("p00").delete()
    ws.commit("later")
    now = {a.slug: [p.slug for p in a.pages] for a in Author.all().prefetch_related("pages")}
    then = {a.slug: [p.slug for p in a.pages] for a in Author.all(treeish="v1").prefetch_related("pages")}
    assert "late" in now["ada"] and "p00" not in now["ada"]
    assert "late" not in then["ada"] and "p00" in then["ada"]
    assert then == {a.slug: [p.slug for p in a.pages] for a in Author.all(treeish="v1")}


def test_prefetching_many_objects_batches_the_queries(tmp_path, monkeypatch):
    ws = Workspace.init(tmp_path / "many.git")
    Author, Tag, Page, Comment = build(ws)
    Author.bulk_save(Author(slug=f"a{i:04d}", name="x") for i in range(1200))
    Page.bulk_save(Page(slug=f"p{i:04d}", author=f"a{i % 1200:04d}") for i in range(2400))
    ws.commit("many")
    authors = list(Author.all())
    calls = count_queries(monkeypatch)
    prefetched = list(Author.all().prefetch_related("pages"))
    assert calls.count("Page") == 3  # 1,200 ids in batches of 500
    assert all(len(list(a.pages)) == 2 for a in prefetched)
    assert [p.slug for p in prefetched[7].pages] == [p.slug for p in authors[7].pages]


def test_prefetch_related_refuses_what_is_neither_a_relation_nor_a_reverse_query(cms):
    ws, Author, Tag, Page = cms
    for name in ("name", "nope", "pagez"):
        with pytest.raises(FieldError):
            Author.all().prefetch_related(name)
    with pytest.raises(FieldError):
        Author.all().select_related("pages")  # select_related follows forward relations only
