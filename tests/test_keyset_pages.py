"""Keyset pages: every page starts strictly after its cursor, by SQL where
the index orders the sort field and in Python otherwise, and walking the
pages lists exactly the ordered objects, once each."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gitmodel import FieldError, KeysetPaginator, Workspace, fields


def make_store(path, indexed: bool):
    ws = Workspace.init(path, bare=True)

    class Post(ws.GitModel):
        score = fields.IntegerField(required=False, index=indexed)
        title = fields.CharField(required=False, index=indexed)

    return ws, Post


def walk(paginator: KeysetPaginator) -> list[str]:
    seen: list[str] = []
    page = paginator.page()
    total = paginator.queryset.count()
    while True:
        seen += [p.id for p in page]
        assert len(page) <= paginator.per_page
        assert len(seen) <= total, "a page repeats objects"
        if page.next_cursor is None:
            return seen
        page = paginator.page(page.next_cursor)


def expected(Post, name: str) -> list[str]:
    objs = list(Post.all())
    bare = name.lstrip("-")
    present = sorted((o for o in objs if getattr(o, bare) is not None),
                     key=lambda o: getattr(o, bare), reverse=name.startswith("-"))
    missing = [o for o in objs if getattr(o, bare) is None]
    # equal values by id ascending; a missing value sorts first (ascending) or last
    by_id = {o.id: i for i, o in enumerate(sorted(objs, key=lambda o: o.id))}
    present.sort(key=lambda o: by_id[o.id])
    present.sort(key=lambda o: getattr(o, bare), reverse=name.startswith("-"))
    missing.sort(key=lambda o: o.id)
    return [o.id for o in (present + missing if name.startswith("-") else missing + present)]


@pytest.mark.parametrize("indexed", [True, False])
@pytest.mark.parametrize("order", ["score", "-score", "title", "-title"])
def test_walking_keyset_pages_lists_every_object_once_in_order(tmp_path, indexed, order):
    ws, Post = make_store(tmp_path / "s.git", indexed)
    Post.bulk_save(Post(id=f"p{i:03d}", score=None if i % 11 == 0 else i % 7,
                        title=None if i % 13 == 0 else f"t{i % 5}") for i in range(120))
    ws.commit("posts")
    keyset = KeysetPaginator(Post.all(), 9, order_by=(order,))
    assert walk(keyset) == expected(Post, order)


def test_keyset_pages_by_id_alone_and_with_pending_edits(tmp_path):
    ws, Post = make_store(tmp_path / "s.git", True)
    Post.bulk_save(Post(id=f"p{i:03d}", score=i % 4) for i in range(50))
    ws.commit("posts")
    assert walk(KeysetPaginator(Post.all(), 7)) == sorted(f"p{i:03d}" for i in range(50))
    Post(id="p0005", score=0).save()  # pending: between p000 and p001 in id order
    Post.get("p010").delete()
    post = Post.get("p020")
    post.score = -1
    post.save()
    assert walk(KeysetPaginator(Post.all(), 7)) == sorted(Post.all().ids())
    assert walk(KeysetPaginator(Post.all(), 7, order_by=("score",))) == expected(Post, "score")


def test_a_page_from_a_cursor_starts_after_it_when_others_commit(tmp_path):
    ws, Post = make_store(tmp_path / "s.git", True)
    Post.bulk_save(Post(id=f"p{i:03d}", score=i // 10) for i in range(100))
    ws.commit("posts")
    keyset = KeysetPaginator(Post.all(), 10, order_by=("score",))
    first = keyset.page()
    assert [p.id for p in first] == [f"p{i:03d}" for i in range(10)]
    Post(id="a-early", score=0).save(commit=True)  # before the cursor: not seen
    Post(id="p0095", score=0).save(commit=True)  # after it, with an equal score
    second = keyset.page(first.next_cursor)
    assert [p.id for p in second][:2] == ["p0095", "p010"]


def test_a_keyset_bound_needs_an_order_ending_with_the_id(tmp_path):
    ws, Post = make_store(tmp_path / "s.git", True)
    with pytest.raises(FieldError):
        Post.all().order_by("score")._seek_after([1])
    with pytest.raises(FieldError):
        Post.all().order_by("score", "pk")._seek_after([1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=0, max_size=40),
       per_page=st.integers(1, 6), descending=st.booleans())
def test_keyset_pages_agree_with_the_ordered_query(tmp_path_factory, scores, per_page, descending):
    path = tmp_path_factory.mktemp("k") / "s.git"
    ws, Post = make_store(path, True)
    Post.bulk_save(Post(id=f"p{i:02d}", score=s) for i, s in enumerate(scores))
    ws.commit("posts")
    order = "-score" if descending else "score"
    assert walk(KeysetPaginator(Post.all(), per_page, order_by=(order,))) == Post.all().order_by(order, "pk").ids()


BAD_CURSORS = ['[{"a": 1}, "p001"]', '["x", "p001"]', '[1, "../etc"]', '[1, null]', '[1e999, "p001"]',
               '[1, "p001", 3]', "{}", '"p001"', "[]", '[1, 5]', '[NaN, "p001"]', "[" * 5000 + "]" * 5000,
               "\ud800", "", "not json", "x" * 100_000, None, 42, b'[1, "p001"]', ["p001"]]


@pytest.mark.parametrize("cursor", BAD_CURSORS, ids=lambda c: repr(c)[:30])
def test_a_cursor_that_names_no_page_is_invalid_page(tmp_path, cursor):
    from gitmodel import InvalidPage

    ws, Post = make_store(tmp_path / "s.git", True)
    Post.bulk_save(Post(id=f"p{i:03d}", score=i) for i in range(10))
    ws.commit("posts")
    for order in (("score",), ()):
        keyset = KeysetPaginator(Post.all(), 3, order_by=order)
        if cursor is not None:
            with pytest.raises(InvalidPage, match="not a cursor"):
                keyset.page(cursor)
    assert ws.has_changes() is False


def test_page_numbers_from_a_query_string_as_django_takes_them(tmp_path):
    from gitmodel import InvalidPage, Paginator

    ws, Post = make_store(tmp_path / "s.git", True)
    Post.bulk_save(Post(id=f"p{i:03d}", score=i) for i in range(10))
    ws.commit("posts")
    pages = Paginator(Post.all().order_by("pk"), 4)
    assert [p.id for p in pages.page("2")] == ["p004", "p005", "p006", "p007"]
    assert pages.page(" 3 ").number == 3 and pages.page(2.0).number == 2
    for bad in ("two", "2.5", 2.5, "", "1" * 40, None, True, float("nan"), float("inf"), [2], "0", "-1", 4, "4"):
        with pytest.raises(InvalidPage):
            pages.page(bad)
    assert pages.get_page("two").number == 1 and pages.get_page(99).number == 3
    # as Django's: a number below 1 is an EmptyPage, which get_page() answers with the last page
    assert pages.get_page("-5").number == 3 and pages.get_page("2").number == 2


@pytest.mark.parametrize("indexed", [True, False])
def test_a_keyset_bound_counts_and_aggregates_only_the_rows_after_it(tmp_path, indexed):
    from gitmodel import Count, Sum

    ws, Post = make_store(tmp_path / "s.git", indexed)
    Post.bulk_save(Post(id=f"p{i:03d}", score=i % 10) for i in range(50))
    ws.commit("posts")
    after = Post.all().order_by("score", "pk")._seek_after([7, "p017"])
    rows = [p for p in Post.all() if (p.score, p.id) > (7, "p017")]
    assert after.count() == len(rows) == len(list(after))
    assert after.aggregate(n=Count("pk"), total=Sum("score")) == {"n": len(rows), "total": sum(p.score for p in rows)}
    assert after.exists() and [p.id for p in after][:2] == ["p027", "p037"]
