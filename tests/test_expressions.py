"""``update(field=F("field") + 1)``: each object's new values computed from
its own values as the query found it, as Django's ``F``."""

from __future__ import annotations

import subprocess

import pytest

from gitmodel import F, FieldError, IntegrityError, ValidationError, Workspace, fields


@pytest.fixture
def posts(tmp_path):
    ws = Workspace.init(tmp_path / "f.git")

    class Post(ws.GitModel):
        views = fields.IntegerField(default=0, index=True)
        likes = fields.IntegerField(required=False)
        ratio = fields.FloatField(default=0.0)
        slug = fields.SlugField(unique=True, required=False)

    for i in range(4):
        Post(id=f"p{i}", views=i * 10, likes=i, slug=f"s{i}").save()
    ws.commit("posts")
    return ws, Post


def state(Post):
    return {p.id: (p.views, p.likes, p.ratio) for p in Post.all()}


def test_each_object_gets_values_computed_from_its_own(posts):
    ws, Post = posts
    assert Post.filter(views__gte=10).update(views=F("views") + 1, likes=2 * F("likes") - F("views") // 10,
                                             commit=True) == 3
    assert state(Post) == {"p0": (0, 0, 0.0), "p1": (11, 1, 0.0), "p2": (21, 2, 0.0), "p3": (31, 3, 0.0)}
    Post.all().update(ratio=F("likes") / 4, views=-F("views") % 7)
    assert state(Post) == {"p0": (0, 0, 0.0), "p1": (3, 1, 0.25), "p2": (0, 2, 0.5), "p3": (4, 3, 0.75)}
    ws.commit("more")
    log = subprocess.run(["git", f"--git-dir={ws.path}", "log", "--oneline"], capture_output=True,
                         text=True, check=True).stdout
    assert len(log.splitlines()) == 3


def test_a_value_that_cannot_be_computed_stages_nothing(posts):
    ws, Post = posts
    Post(id="p9", views=5, likes=None).save()
    ws.commit("one without likes")
    before = state(Post)
    with pytest.raises(ValidationError, match="p9"):
        Post.all().update(likes=F("likes") + 1)
    with pytest.raises(ValidationError):
        Post.all().update(views=F("views") / 0)
    assert state(Post) == before and not ws.has_changes()


def test_unknown_fields_and_filters_with_f_are_refused_before_anything_is_read(posts):
    ws, Post = posts
    with pytest.raises(FieldError):
        Post.all().update(views=F("nope") + 1)
    with pytest.raises(FieldError, match="update"):
        Post.filter(views=F("likes"))
    with pytest.raises(FieldError):
        F("")
    assert not ws.has_changes()


def test_an_f_value_on_a_unique_field_is_checked_per_object(posts):
    ws, Post = posts
    Post.all().update(slug=F("slug") + "-x", commit=True)  # differs per object: allowed
    assert sorted(p.slug for p in Post.all()) == ["s0-x", "s1-x", "s2-x", "s3-x"]
    with pytest.raises(IntegrityError):
        Post.all().update(slug=F("slug") * 0 + "same")  # one value for all: refused
    assert sorted(p.slug for p in Post.all()) == ["s0-x", "s1-x", "s2-x", "s3-x"] and not ws.has_changes()
