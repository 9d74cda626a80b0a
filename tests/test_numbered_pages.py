"""Numbered pages far into an ordered listing start at a bookmark of the
index (a remembered row every ``BOOKMARK_EVERY`` rows) instead of stepping
over every row before them; what they list is exactly what a scan lists."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gitmodel import EmptyPage, InvalidPage, PageNotAnInteger, Paginator, Workspace, fields
from gitmodel.query import answers

EVERY = 8  # small, so that a store of a few hundred objects has many bookmarks


@pytest.fixture(autouse=True)
def small_bookmarks(monkeypatch):
    monkeypatch.setattr(answers, "BOOKMARK_EVERY", EVERY)
    answers._BOOKMARKS.clear()
    yield
    answers._BOOKMARKS.clear()


def make_store(path, indexed: bool):
    ws = Workspace.init(path, bare=True)

    class Post(ws.GitModel):
        score = fields.IntegerField(required=False, index=indexed)
        title = fields.CharField(required=False, index=indexed)

    return ws, Post


def fill(Post, n, shift=0):
    Post.bulk_save(Post(id=f"p{i:04d}", score=None if (i + shift) % 11 == 0 else (i * 7 + shift) % 13,
                        title=None if i % 17 == 0 else f"t{(i + shift) % 5}") for i in range(n))


@pytest.fixture
def stores(tmp_path):
    indexed = make_store(tmp_path / "indexed.git", True)
    scanned = make_store(tmp_path / "scanned.git", False)
    for ws, Post in (indexed, scanned):
        fill(Post, 230)
        ws.commit("posts")
    return indexed, scanned


ORDERS = ["score", "-score", "title", "-title"]


def ids(qs):
    return [obj.id for obj in qs]


@pytest.mark.parametrize("order", ORDERS)
def test_every_slice_of_an_indexed_order_equals_the_scan(stores, order):
    (_ws, Indexed), (_ws2, Scanned) = stores
    lows = (221, 9, 163, 0, 7, 8, 31, 200, 64, 100, 229, 230, 400, 120)  # deep first, then back
    for low in lows:
        for size in (1, 20):
            got = ids(Indexed.all().order_by(order)[low : low + size])
            assert got == ids(Scanned.all().order_by(order)[low : low + size]), (order, low)
    assert answers._BOOKMARKS, "deep slices of an indexed order start at bookmarks"


@pytest.mark.parametrize("order", ORDERS)
def test_a_filtered_order_starts_at_its_own_bookmarks(stores, order):
    (_ws, Indexed), (_ws2, Scanned) = stores
    for where in ({"score__gte": 4}, {"title": "t2"}, {"score__isnull": True}):
        for low in (9, 40, 77):
            got = ids(Indexed.filter(**where).order_by(order)[low : low + 10])
            assert got == ids(Scanned.filter(**where).order_by(order)[low : low + 10]), (where, low)


def test_bookmarks_of_an_older_tree_never_answer_for_a_newer_one(stores):
    (ws, Indexed), (ws2, Scanned) = stores
    first = ids(Indexed.all().order_by("score")[150:170])  # bookmarks of the first commit
    old_commit = ws.branch.commit.id
    for w, model in ((ws, Indexed), (ws2, Scanned)):
        for i in range(0, 230, 3):  # values move
            post = model.get(f"p{i:04d}")
            post.score = None if post.score == 5 else (post.score or 0) + 7
            post.save()
        model.bulk_save(model(id=f"p{i:04d}", score=i % 9) for i in range(230, 260))
        w.commit("moved")
    for low in (0, 50, 150, 240):
        assert ids(Indexed.all().order_by("score")[low : low + 20]) == \
            ids(Scanned.all().order_by("score")[low : low + 20])
    # the old commit still reads as it was
    assert ids(Indexed.all(treeish=old_commit).order_by("score")[150:170]) == first


def test_pending_edits_are_in_the_pages(stores):
    (ws, Indexed), (ws2, Scanned) = stores
    for model in (Indexed, Scanned):
        post = model.get("p0003")
        post.score = -5  # now first
        post.save()
        model(id="p9999", score=100).save()  # now last
    for low in (0, 40, 200, 225):
        assert ids(Indexed.all().order_by("score")[low : low + 10]) == \
            ids(Scanned.all().order_by("score")[low : low + 10])
    missing = Scanned.filter(score__isnull=True).count()
    assert ids(Indexed.all().order_by("score")[missing : missing + 1]) == ["p0003"]


def test_walking_numbered_pages_lists_every_object_once(stores):
    (_ws, Indexed), (_ws2, Scanned) = stores
    for order in ORDERS:
        pages = Paginator(Indexed.all().order_by(order), 9)
        seen = [obj.id for number in pages.page_range for obj in pages.page(number)]
        assert seen == ids(Scanned.all().order_by(order))
        assert len(set(seen)) == len(seen) == 230


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=0, max_size=70),
       low=st.integers(0, 80), size=st.integers(1, 30), descending=st.booleans())
def test_a_slice_at_any_depth_equals_the_scan(tmp_path_factory, scores, low, size, descending):
    root = tmp_path_factory.mktemp("pages")
    answers._BOOKMARKS.clear()
    (ws, Indexed), (ws2, Scanned) = make_store(root / "i.git", True), make_store(root / "s.git", False)
    for w, model in ((ws, Indexed), (ws2, Scanned)):
        model.bulk_save(model(id=f"o{i:03d}", score=s) for i, s in enumerate(scores))
        w.commit("scores")
    order = "-score" if descending else "score"
    assert ids(Indexed.all().order_by(order)[low : low + size]) == \
        ids(Scanned.all().order_by(order)[low : low + size])


def test_threads_finding_bookmarks_together_each_get_the_right_page(stores):
    import random
    import threading

    (_ws, Indexed), (_ws2, Scanned) = stores
    expected = {order: ids(Scanned.all().order_by(order)) for order in ORDERS}
    wrong: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(60):
                if rng.random() < 0.1:
                    answers._BOOKMARKS.clear()
                order, low = rng.choice(ORDERS), rng.randrange(0, 240)
                if ids(Indexed.all().order_by(order)[low : low + 5]) != expected[order][low : low + 5]:
                    wrong.append((order, low))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and wrong == []


# -- Django's Paginator, name for name ----------------------------------------------------------
@pytest.fixture
def ten(tmp_path):
    ws, Post = make_store(tmp_path / "ten.git", True)
    Post.bulk_save(Post(id=f"p{i:02d}", score=i) for i in range(10))
    ws.commit("ten")
    return Post


def test_orphans_join_the_last_page(ten):
    from gitmodel import Paginator

    pages = Paginator(ten.all().order_by("score"), 4, orphans=2)  # 4 + 4 + 2: the 2 join page 2
    assert (pages.count, pages.num_pages, list(pages.page_range)) == (10, 2, [1, 2])
    last = pages.page(2)
    assert [p.id for p in last] == [f"p{i:02d}" for i in range(4, 10)]
    assert (last.start_index(), last.end_index(), last.has_next(), last.has_other_pages()) == (5, 10, False, True)
    assert [len(page) for page in pages] == [4, 6]
    with pytest.raises(EmptyPage):
        pages.page(3)
    assert Paginator(ten.all(), 4, orphans=1).num_pages == 3  # 4 + 4 + 2: 2 is more than 1


def test_an_empty_listing_has_one_page_unless_told_otherwise(ten):
    from gitmodel import Paginator

    empty = ten.filter(score__gt=100)
    pages = Paginator(empty, 5)
    page = pages.page(1)
    assert (pages.num_pages, len(page), page.start_index(), page.end_index(), page.has_other_pages()) == \
        (1, 0, 0, 0, False)
    strict = Paginator(empty, 5, allow_empty_first_page=False)
    assert strict.num_pages == 0 and list(strict.page_range) == []
    with pytest.raises(EmptyPage):
        strict.page(1)
    for bad in (-1, 1.5, "x", None):
        with pytest.raises(InvalidPage):
            Paginator(empty, 5, orphans=bad)


def test_page_numbers_that_are_not_whole_or_out_of_range_are_djangos_errors(ten):
    from gitmodel import Paginator

    pages = Paginator(ten.all().order_by("score"), 3)
    for bad in ("two", "2.5", None, [1], float("nan")):
        with pytest.raises(PageNotAnInteger):
            pages.page(bad)
    for bad in (0, -1, "5", 99):
        with pytest.raises(EmptyPage):
            pages.page(bad)
    assert issubclass(EmptyPage, InvalidPage) and issubclass(PageNotAnInteger, InvalidPage)
    assert pages.get_page("two").number == 1 and pages.get_page(0).number == 4 and pages.get_page(99).number == 4


def test_a_page_is_a_sequence_of_its_objects(ten):
    from gitmodel import Paginator

    page = Paginator(ten.all().order_by("score"), 4).page(2)
    assert page[0].id == "p04" and page[-1].id == "p07" and [p.id for p in page[1:3]] == ["p05", "p06"]
    assert page[0] in page and len(page) == 4 and repr(page) == "<Page 2 of 3>"
    with pytest.raises(TypeError):
        page["x"]
    with pytest.raises(IndexError):
        page[9]


def test_the_count_is_read_once_per_paginator(ten, monkeypatch):
    from gitmodel import Paginator
    from gitmodel.query import QuerySet

    calls = []
    original = QuerySet.count
    monkeypatch.setattr(QuerySet, "count", lambda self: calls.append(1) or original(self))
    pages = Paginator(ten.all(), 3)
    page = pages.page(2)
    page.has_next(), page.end_index(), pages.num_pages, list(pages.page_range)
    assert len(calls) == 1


def test_elided_page_ranges_are_djangos(tmp_path):
    from gitmodel import Paginator

    ws, Post = make_store(tmp_path / "many.git", True)
    Post.bulk_save(Post(id=f"p{i:03d}", score=i) for i in range(50))
    ws.commit("fifty")
    pages = Paginator(Post.all(), 2)  # 25 pages
    E = Paginator.ELLIPSIS
    assert list(pages.get_elided_page_range(1)) == [1, 2, 3, 4, E, 24, 25]
    assert list(pages.get_elided_page_range(10)) == [1, 2, E, 7, 8, 9, 10, 11, 12, 13, E, 24, 25]
    assert list(pages.get_elided_page_range(25)) == [1, 2, E, 22, 23, 24, 25]
    assert list(pages.get_elided_page_range(10, on_each_side=1, on_ends=1)) == [1, E, 9, 10, 11, E, 25]
    assert list(Paginator(Post.all(), 10).get_elided_page_range(3)) == [1, 2, 3, 4, 5]
    with pytest.raises(EmptyPage):
        list(pages.get_elided_page_range(26))
