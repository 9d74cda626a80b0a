"""Django's queryset shortcuts: ``none()``, ``reverse()``, ``latest()`` and
``earliest()``, with or without an index on the field."""

from __future__ import annotations

import pytest

from gitmodel import FieldError, Workspace, fields


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
