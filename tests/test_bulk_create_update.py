"""Django's ``bulk_create()`` and ``bulk_update()``: many objects in one
step, new ones only, or only the named fields of stored ones."""

from __future__ import annotations

import pytest

from gitmodel import FieldError, IntegrityError, ValidationError, Workspace, fields


@pytest.fixture
def store(tmp_path):
    ws = Workspace.init(tmp_path / "b.git")

    class Author(ws.GitModel):
        name = fields.CharField()

    class Post(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)
        author = fields.RelatedField(Author, required=False)
        tags = fields.ListField(fields.CharField(), required=False)

    Author(id="ada", name="Ada").save()
    ws.commit("ada")
    return ws, Author, Post


def test_bulk_create_makes_new_objects_in_one_commit(store):
    ws, Author, Post = store
    made = Post.bulk_create([Post(id=f"p{i}", title=f"t{i}", author="ada") for i in range(5)], commit=True)
    assert [p.id for p in made] == [f"p{i}" for i in range(5)] and Post.all().count() == 5
    with pytest.raises(IntegrityError, match="stored already"):
        Post.bulk_create([Post(id="p9", title="new"), Post.get("p1")])
    with pytest.raises(IntegrityError):
        Post.bulk_create([Post(id="p1", title="same id as a stored one")])
    assert not ws.has_changes() and Post.all().count() == 5


def test_bulk_update_writes_only_the_named_fields(store):
    ws, Author, Post = store
    Post.bulk_create([Post(id=f"p{i}", title=f"t{i}", tags=["a"]) for i in range(4)], commit=True)
    posts = list(Post.all().order_by("pk"))
    for post in posts:
        post.views = 7
        post.title = "not written"
        post.tags.append("b")
        post.author = "ada"
    other = Post.get("p2")
    other.title = "changed meanwhile"
    other.save(commit=True)
    assert Post.bulk_update(posts, ["views", "tags", "author"], commit=True) == 4
    found = {p.id: (p.title, p.views, p.tags, p.author.id) for p in Post.all()}
    assert found["p2"] == ("changed meanwhile", 7, ["a", "b"], "ada")
    assert found["p0"] == ("t0", 7, ["a", "b"], "ada")
    Post.delete("p3", commit=True)
    assert Post.bulk_update(posts, ["views"]) == 3  # the deleted one is left out
    assert Post.bulk_update([Post(id="new", title="x")], ["views"]) == 0


def test_bulk_update_refuses_what_it_cannot_do(store):
    ws, Author, Post = store
    Post.bulk_create([Post(id="p0", title="t")], commit=True)
    post = Post.get("p0")
    for bad in ("views", [], ["nope"], ["id"]):
        with pytest.raises(FieldError):
            Post.bulk_update([post], bad)
    with pytest.raises(ValidationError):
        Post.bulk_update([Author.get("ada")], ["title"])
    post.author = "nobody"
    with pytest.raises(IntegrityError):
        Post.bulk_update([post], ["author"])
    assert not ws.has_changes()
