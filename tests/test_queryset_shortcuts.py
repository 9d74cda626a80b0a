"""Django's queryset shortcuts: ``none()``, ``reverse()``, ``latest()`` and
``earliest()``, with or without an index on the field."""

from __future__ import annotations

import pytest

from gitmodel import FieldError, ValidationError, Workspace, fields


@pytest.fixture(params=[True, False], ids=["indexed", "scanned"])
def posts(tmp_path, request):
    ws = Workspace.init(tmp_path / "s.git")

    class Post(ws.GitModel):
        score = fields.IntegerField(default=0, index=request.param)
        title = fields.CharField(required=False)

    for i, score in enumerate([5, 3, 9, 3, 7]):
        Post(id=f"p{i}", score=score, title=f"t{i % 2}").save()
    ws.commit("posts")
    return ws, Post


def test_none_matches_nothing(posts):
    ws, Post = posts
    empty = Post.all().none()
    assert list(empty) == [] and empty.count() == 0 and not empty.exists()
    assert list(empty.filter(score=5)) == [] and Post.all().count() == 5


def test_reverse_flips_the_order_and_leaves_an_unordered_query(posts):
    ws, Post = posts
    ordered = Post.all().order_by("score", "-pk")
    assert ordered.reverse().ids() == list(reversed(ordered.ids())) == ["p2", "p4", "p0", "p1", "p3"]
    assert ordered.reverse().reverse().ids() == ordered.ids()
    assert Post.all().reverse().ids() == Post.all().ids()
    with pytest.raises(TypeError):
        ordered[:2].reverse()


def test_latest_and_earliest(posts):
    ws, Post = posts
    assert Post.all().latest("score").id == "p2" and Post.all().earliest("score").id in ("p1", "p3")
    assert Post.all().earliest("score").id == "p1"  # equal scores: the smaller id first
    assert Post.all().latest("-score").id == "p3"  # equal scores: the larger id last
    assert Post.filter(title="t1").latest("score").id == "p3"
    assert Post.all().latest("title", "score").id == "p3"
    with pytest.raises(Post.DoesNotExist):
        Post.filter(score=100).latest("score")
    with pytest.raises(FieldError):
        Post.all().latest()
    with pytest.raises(FieldError):
        Post.all().earliest("nope")


# -- values_list(named=True), distinct() and order_by() on values, in_bulk(field_name=) ---------
def test_values_list_gives_named_tuples(posts):
    ws, Post = posts
    rows = Post.all().order_by("pk").values_list("score", "title", named=True)
    assert rows[0] == (5, "t0") and (rows[0].score, rows[0].title) == (5, "t0")
    assert [r.score for r in rows] == [5, 3, 9, 3, 7]
    pk = Post.all().order_by("pk").values_list("pk", "score", named=True)[1]
    assert (pk.pk, pk.score) == ("p1", 3)
    with pytest.raises(TypeError):
        Post.all().values_list("score", flat=True, named=True)


def test_values_lists_drop_repeats_and_sort(posts):
    ws, Post = posts
    flat = Post.all().values_list("score", flat=True)
    assert sorted(flat.distinct()) == [3, 5, 7, 9] and len(flat.distinct()) == 4
    assert flat.order_by("-score") == [9, 7, 5, 3, 3]
    pairs = Post.all().order_by("pk").values_list("title", "score")
    assert pairs.distinct().order_by("title", "-score") == [("t0", 9), ("t0", 7), ("t0", 5), ("t1", 3)]
    assert pairs.order_by("-title", "score")[0] == ("t1", 3)
    with pytest.raises(FieldError, match="cannot order by 'nope'"):
        pairs.order_by("nope")


def test_annotated_groups_sort_by_their_aggregates(posts):
    from gitmodel import Count, Sum

    ws, Post = posts
    Post(id="p9", score=3).save()  # no title: its group sorts first
    groups = Post.all().values("title").annotate(n=Count("pk"), total=Sum("score"))
    assert groups.order_by("-n") == [{"title": "t0", "n": 3, "total": 21},
                                     {"title": "t1", "n": 2, "total": 6},
                                     {"title": None, "n": 1, "total": 3}]
    assert [g["title"] for g in groups.order_by("title")] == [None, "t0", "t1"]
    assert [g["total"] for g in groups.order_by("total")] == [3, 6, 21]
    with pytest.raises(FieldError):
        groups.order_by("score")


def test_in_bulk_by_a_unique_field(tmp_path):
    ws = Workspace.init(tmp_path / "u.git")

    class Post(ws.GitModel):
        slug = fields.SlugField(unique=True)
        title = fields.CharField(required=False)

    for i in range(30):
        Post(id=f"p{i:02d}", slug=f"s{i:02d}", title=f"t{i % 3}").save()
    ws.commit("posts")
    found = Post.all().in_bulk(["s03", "s07", "nope"], field_name="slug")
    assert {k: v.id for k, v in found.items()} == {"s03": "p03", "s07": "p07"}
    assert len(Post.in_bulk(field_name="slug")) == 30
    assert Post.filter(title="t0").in_bulk(field_name="slug").keys() == {f"s{i:02d}" for i in range(0, 30, 3)}
    assert set(Post.all().in_bulk(["p01", "p02"], field_name="pk")) == {"p01", "p02"}
    with pytest.raises(FieldError, match="unique"):
        Post.all().in_bulk(["t0"], field_name="title")
    with pytest.raises(FieldError):
        Post.all().in_bulk(["x"], field_name="nope")


def test_pk_iterator_and_counting_values(posts):
    ws, Post = posts
    post = Post.get("p1")
    assert post.pk == "p1" == post.get_id()
    assert [p.pk for p in Post.all().order_by("pk").iterator(chunk_size=2)] == ["p0", "p1", "p2", "p3", "p4"]
    for bad in (0, -1, "2", 1.5, True):  # refused as Django refuses them, before anything is read
        with pytest.raises(ValidationError, match="chunk_size"):
            Post.all().iterator(chunk_size=bad)
    assert Post.filter(score=3).values("score").count() == 2
    assert Post.all().values_list("score", flat=True).count() == 5
    assert Post.all().values_list("score", flat=True).count(3) == 2  # with an argument: a list's count
    moved = Post(score=1)
    moved.pk = "p7"
    moved.save()
    assert Post.get("p7").score == 1


def test_pk_names_the_id_field_whatever_it_is_called(tmp_path):
    ws = Workspace.init(tmp_path / "slug.git")

    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)

    page = Page(slug="home")
    assert page.pk == "home"
    page.pk = "start"
    assert page.slug == "start"
    page.save()
    assert Page.get("start").pk == "start"


def test_refresh_from_db_reads_the_object_again(posts):
    ws, Post = posts
    mine = Post.get("p1")
    other = Post.get("p1")
    other.score = 42
    other.save(commit=True)
    mine.title = "edited, then thrown away"
    mine.refresh_from_db()
    assert (mine.score, mine.title) == (42, "t1")
    mine.score = 43
    mine.save(commit=True)  # saved onto the version it re-read: no conflict, nothing lost
    assert Post.get("p1").score == 43
    gone = Post.get("p2")
    Post.delete("p2", commit=True)
    with pytest.raises(Post.DoesNotExist):
        gone.refresh_from_db()
    assert gone.score == 9  # nothing changed
    with pytest.raises(Post.DoesNotExist):
        Post(id="never", score=1).refresh_from_db()


def test_random_order(posts):
    ws, Post = posts
    for i in range(5, 40):
        Post(id=f"p{i}", score=i).save()  # pending: read with the committed ones
    matching = Post.filter(score__gte=3)
    shuffled = matching.order_by("?")
    expected = sorted(matching.ids())
    runs = [shuffled.all().ids() for _ in range(8)]
    assert all(sorted(run) == expected for run in runs)  # every match, each once
    assert len({tuple(run) for run in runs}) > 1  # a new order each time the query runs
    few = shuffled[:4]
    assert len({p.id for p in few}) == 4 and set(few.ids()) <= set(expected)
    assert shuffled.count() == len(expected) and few.count() == 4 and shuffled[37:].count() == len(expected) - 37
    assert shuffled.reverse().count() == len(expected) and shuffled.exists()
    assert [p.score for p in shuffled.order_by("score")[:2]] == [3, 3]  # a later order_by wins
    assert sorted((shuffled | Post.filter(score=0)).ids()) == expected
    with pytest.raises(FieldError, match="no other key"):
        Post.all().order_by("?", "score")


def test_only_and_defer_check_names_and_read_whole_objects(tmp_path):
    ws = Workspace.init(tmp_path / "s.git")

    class Photo(ws.GitModel):
        caption = fields.CharField()
        image = fields.BlobField(required=False)

    Photo(id="a", caption="sea", image=b"\x89PNG...").save()
    ws.commit("a photo")
    for qs in (Photo.all().only("caption"), Photo.all().defer("image"), Photo.all().only("pk", "image")):
        photo = qs.get(caption="sea")
        assert photo.caption == "sea" and photo.image.read() == b"\x89PNG..."
    for bad in (lambda: Photo.all().only("nope"), lambda: Photo.all().defer("caption", "nope")):
        with pytest.raises(FieldError, match="nope"):
            bad()


def test_values_lists_have_first_last_and_exists(posts):
    ws, Post = posts
    flat = Post.all().order_by("pk").values_list("score", flat=True)
    assert (flat.first(), flat.last(), flat.exists()) == (5, 7, True)
    pairs = Post.all().order_by("pk").values_list("pk", "score")
    assert (pairs.first(), pairs.last()) == (("p0", 5), ("p4", 7))
    none = Post.filter(score=1000).values_list("score", flat=True)
    assert (none.first(), none.last(), none.exists()) == (None, None, False)
