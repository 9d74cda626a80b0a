"""Reading a many-to-many field gives the target objects with the methods of
Django's related manager: ``add``, ``remove``, ``set`` and ``clear`` change
the references and stage the object at once; ``all``, ``filter`` and
``count`` query the targets where the object was read."""

from __future__ import annotations

import subprocess

import pytest

from gitmodel import FieldError, IntegrityError, ValidationError, Workspace, fields


@pytest.fixture
def blog(tmp_path):
    ws = Workspace.init(tmp_path / "blog.git")

    class Tag(ws.GitModel):
        slug = fields.SlugField(id=True)
        label = fields.CharField(required=False)

    class Article(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField(required=False)
        tags = fields.ManyToManyField(Tag, related_name="articles", required=False)

    for slug in ("python", "git", "web"):
        Tag(slug=slug, label=slug.upper()).save()
    Article(slug="intro", tags=["python"]).save()
    ws.commit("start")
    return ws, Tag, Article


def slugs(objs):
    return [obj.slug for obj in objs]


def test_add_remove_set_and_clear_stage_the_object(blog):
    ws, Tag, Article = blog
    article = Article.get("intro")
    article.tags.add("git", Tag.get("web"), "python")  # python is there already: kept once
    assert slugs(article.tags) == ["python", "git", "web"]
    assert ws.has_changes() and slugs(Article.get("intro").tags) == ["python", "git", "web"]
    ws.commit("tagged")
    shown = subprocess.run(["git", f"--git-dir={ws.path}", "show", "HEAD:article/intro/data.json"],
                           capture_output=True, text=True, check=True).stdout
    assert '"git"' in shown and '"web"' in shown
    tags = article.tags
    tags.remove("python", "nothing-like-it")  # one not referred to is left out
    assert slugs(tags) == ["git", "web"] and slugs(Article.get("intro").tags) == ["git", "web"]
    article.tags.set([Tag.get("python")])
    assert slugs(Article.get("intro").tags) == ["python"]
    article.tags.clear()
    assert Article.get("intro").tags == [] and article.tags.count() == 0
    assert sorted(slugs(Tag.get("git").articles)) == []


def test_a_refused_change_stages_nothing_and_keeps_the_list(blog):
    ws, Tag, Article = blog
    article = Article.get("intro")
    with pytest.raises(IntegrityError, match="does not exist"):
        article.tags.add("no-such-tag")
    assert slugs(article.tags) == ["python"] and not ws.has_changes()
    with pytest.raises(ValidationError):
        article.tags.add(Article.get("intro"))  # an object of another model
    with pytest.raises(TypeError):
        article.tags.set("python")
    assert slugs(article.tags) == ["python"] and not ws.has_changes()
    new = Article(slug="draft")
    with pytest.raises(ValidationError, match="save the Article"):
        new.tags.add("git")
    assert not ws.has_changes()


def test_the_targets_as_a_query_where_the_object_was_read(blog):
    ws, Tag, Article = blog
    article = Article.get("intro")
    article.tags.add("git", "web")
    ws.commit("three tags")
    first = ws.branch.commit.id
    web = Tag.get("web")
    web.label = "renamed"
    web.save()
    article.tags.remove("git")
    ws.commit("web renamed, git dropped")
    now = Article.get("intro")
    assert now.tags.count() == 2 and now.tags.exists()
    assert sorted(slugs(now.tags.all())) == ["python", "web"]
    assert slugs(now.tags.filter(label="renamed")) == ["web"]
    assert slugs(now.tags.exclude(slug="web")) == ["python"]
    old = Article.get("intro", treeish=str(first))
    assert sorted(slugs(old.tags.all())) == ["git", "python", "web"]
    assert [t.label for t in old.tags.filter(slug="web")] == ["WEB"]  # as it was then
    assert old.tags.count("x") == 0  # with an argument: a list's count


def test_a_value_read_is_still_a_list_of_targets(blog):
    ws, Tag, Article = blog
    tags = Article.get("intro").tags
    assert isinstance(tags, list) and tags == [Tag.get("python")] and len(tags) == 1
    article = Article.get("intro")
    article.tags = ["git", Tag.get("web")]  # assigning still works, staged by save()
    article.save()
    assert slugs(Article.get("intro").tags) == ["git", "web"]


def test_lookups_across_the_relation_match_objects_one_of_whose_targets_matches(blog):
    ws, Tag, Article = blog
    Article(slug="merge", tags=["git", "web"]).save()
    Article(slug="bare").save()
    ws.commit("more")
    assert Article.filter(tags__label="GIT").ids() == ["merge"]
    assert sorted(Article.filter(tags__slug__in=["python", "web"]).ids()) == ["intro", "merge"]
    assert sorted(Article.filter(tags__label__startswith="P").ids()) == ["intro"]
    assert sorted(Article.exclude(tags__slug="git").ids()) == ["bare", "intro"]
    assert Article.filter(tags__pk="web").ids() == ["merge"]
    assert Article.filter(tags__contains="python").ids() == ["intro"]  # an element, as before
    with pytest.raises(FieldError):
        Article.filter(tags__nope="x")
    old = ws.branch.commit.id
    web = Tag.get("web")
    web.label = "WWW"
    web.save()
    ws.commit("web renamed")
    assert Article.filter(tags__label="WWW").ids() == ["merge"]
    assert Article.all(treeish=str(old)).filter(tags__label="WEB").ids() == ["merge"]
    assert Article.all(treeish=str(old)).filter(tags__label="WWW").ids() == []


def test_lookups_across_a_reverse_relation(tmp_path):
    ws = Workspace.init(tmp_path / "rev.git")

    class Author(ws.GitModel):
        name = fields.CharField()

    class Tag(ws.GitModel):
        slug = fields.SlugField(id=True)

    class Page(ws.GitModel):
        author = fields.RelatedField(Author, related_name="pages")
        rank = fields.IntegerField(default=0)
        tags = fields.ManyToManyField(Tag, related_name="pages", required=False)

    for name in ("ada", "bob", "cy"):
        Author(id=name, name=name.title()).save()
    for slug in ("python", "git"):
        Tag(slug=slug).save()
    Page(id="p1", author="ada", rank=5, tags=["python"]).save()
    Page(id="p2", author="ada", rank=1).save()
    Page(id="p3", author="bob", rank=9, tags=["python", "git"]).save()
    ws.commit("pages")
    assert sorted(Author.filter(pages__rank__gt=4).ids()) == ["ada", "bob"]
    assert Author.filter(pages__rank__gt=6).ids() == ["bob"]
    assert Author.filter(pages__tags__slug="git").ids() == ["bob"]  # across both
    assert Author.filter(pages__isnull=True).ids() == ["cy"]
    assert sorted(Author.filter(pages__isnull=False).ids()) == ["ada", "bob"]
    assert Author.filter(pages=Page.get("p3")).ids() == ["bob"] == Author.filter(pages="p3").ids()
    assert sorted(Tag.filter(pages__rank__gte=5).ids()) == ["git", "python"]
    assert Tag.exclude(pages__author="ada").ids() == ["git"]
    with pytest.raises(FieldError):
        Author.filter(pages__nope=1)
    with pytest.raises(FieldError):
        Author.filter(pages__isnull="yes")
