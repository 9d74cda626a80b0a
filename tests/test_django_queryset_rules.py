"""Django's rules for querysets where gitmodel once differed: empty ``Q()``,
negative indexes and sliced queries, ``get_or_create`` defaults, paginating
sequences, ``NULL`` across relations and in ``IN``, annotations compared
with ``F()`` or filtered in ``Q``, ``Count`` over lists, objects of the
wrong model and the related manager's owner."""

from __future__ import annotations

import pytest

from gitmodel import (
    Count,
    F,
    FieldError,
    InvalidPage,
    KeysetPaginator,
    Max,
    Paginator,
    Q,
    ValidationError,
    Workspace,
    fields,
)


@pytest.fixture
def posts(tmp_path):
    ws = Workspace.init(tmp_path / "posts.git")

    class Post(ws.GitModel):
        slug = fields.SlugField(id=True)
        rank = fields.IntegerField()

    for i in range(5):
        Post(slug=f"p{i}", rank=i).save()
    ws.commit("five posts")
    return ws, Post


@pytest.fixture(params=[True, False], ids=["indexed", "scanned"])
def pages(tmp_path, request):
    ws = Workspace.init(tmp_path / "pages.git")

    class Author(ws.GitModel):
        name = fields.CharField(required=False, index=request.param)

    class Tag(ws.GitModel):
        label = fields.CharField(required=False)

    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        author = fields.RelatedField(Author, required=False, related_name="pages")
        rank = fields.IntegerField(required=False, index=request.param)
        tags = fields.ManyToManyField(Tag, required=False, related_name="pages")

    Author(id="ann", name="Ann").save()
    Author(id="nameless", name=None).save()
    Author(id="bob", name="Bob").save()  # writes no page
    Tag(id="ann", label="a tag named like Ann").save()
    Tag(id="blank", label=None).save()
    Page(slug="by-ann", author="ann", rank=1, tags=["ann"]).save()
    Page(slug="by-nameless", author="nameless", rank=None, tags=["blank"]).save()
    Page(slug="by-nobody", author=None, rank=3, tags=[]).save()
    ws.commit("pages")
    return ws, Author, Tag, Page


@pytest.fixture
def articles(tmp_path):
    ws = Workspace.init(tmp_path / "articles.git")

    class Writer(ws.GitModel):
        slug = fields.SlugField(id=True)

    class Tag(ws.GitModel):
        slug = fields.SlugField(id=True)

    class Article(ws.GitModel):
        slug = fields.SlugField(id=True)
        writer = fields.RelatedField(Writer, related_name="articles", required=False)
        tags = fields.ManyToManyField(Tag, related_name="articles", required=False)
        keywords = fields.ListField(fields.CharField(), required=False)
        words = fields.IntegerField(required=False)

    for slug in ("py", "git", "go"):
        Tag(slug=slug).save()
    for slug in ("ada", "bob", "cy"):
        Writer(slug=slug).save()
    Article(slug="a1", writer="ada", tags=["py", "git", "go"], keywords=["x", "y", "x"], words=5).save()
    Article(slug="a2", writer="ada", tags=["py"], keywords=["x"], words=None).save()
    Article(slug="a3", writer="bob", tags=[], keywords=[], words=3).save()
    ws.commit("articles")
    return ws, Writer, Tag, Article


# -- 1. an empty Q() ------------------------------------------------------------------------
def test_an_empty_q_is_dropped_when_combined(posts):
    ws, Post = posts
    q = Q()
    for wanted in (1, 2):
        q |= Q(rank=wanted)
    assert Post.filter(q).ids() == ["p1", "p2"]
    assert Post.filter(Q() | Q(rank=1)).ids() == Post.filter(Q(rank=1) | Q()).ids() == ["p1"]
    assert Post.filter(Q(rank=1) & Q()).ids() == ["p1"]
    assert Post.filter(Q(Q(), Q(rank=3))).ids() == ["p3"]
    assert Post.filter(Q() | ~Q(rank__lt=3)).ids() == ["p3", "p4"]
    assert not Q() and Q(rank=1)


def test_no_condition_keeps_every_object_and_deletes_only_what_matches(posts):
    ws, Post = posts
    every = ["p0", "p1", "p2", "p3", "p4"]
    assert Post.filter(~Q()).ids() == Post.exclude(Q()).ids() == Post.exclude().ids() == every
    assert Post.all().exclude().count() == 5 and Post.all()[:2].filter().ids() == ["p0", "p1"]
    assert Post.filter(Q() | Q(rank=4)).delete() == 1
    assert Post.all().ids() == every[:4]


# -- 2. negative indexes and sliced queries --------------------------------------------------
def test_negative_indexing_is_refused(posts):
    ws, Post = posts
    qs = Post.all().order_by("slug")
    for bad in (lambda: qs[-1], lambda: qs[-2:], lambda: qs[:-1], lambda: qs[1:][-1]):
        with pytest.raises(ValueError, match="Negative indexing is not supported"):
            bad()
    assert qs[4].slug == "p4" and qs.order_by("-slug")[0].slug == "p4"


def test_a_sliced_query_is_not_updated_deleted_or_read_in_bulk(posts):
    ws, Post = posts
    qs = Post.all().order_by("slug")
    with pytest.raises(TypeError, match="Cannot update a query once a slice has been taken"):
        qs[:2].update(rank=99)
    with pytest.raises(TypeError, match="Cannot use 'limit' or 'offset' with delete"):
        qs[3:].delete()
    with pytest.raises(TypeError, match="Cannot use 'limit' or 'offset' with in_bulk"):
        qs[:2].in_bulk()
    assert not ws.has_changes()
    assert Post.all().order_by("slug").values_list("rank", flat=True) == [0, 1, 2, 3, 4]


def test_a_sliced_query_is_not_reversed_or_made_distinct(posts):
    ws, Post = posts
    qs = Post.all().order_by("slug")
    for bad in (lambda: qs[:2].last(), lambda: qs[1:3].distinct(), lambda: qs[:2].reverse()):
        with pytest.raises(TypeError, match="slice has been taken"):
            bad()
    assert qs[1:3].first().slug == "p1" and qs.last().slug == "p4"
    assert qs[:2].none().count() == 0


# -- 3. get_or_create / update_or_create ------------------------------------------------------
def test_callable_defaults_are_called(posts):
    ws, Post = posts
    obj, created = Post.get_or_create(slug="new", defaults={"rank": lambda: 42})
    assert created and obj.rank == 42 and Post.get("new").rank == 42
    obj, created = Post.update_or_create(slug="p1", defaults={"rank": lambda: 7})
    assert not created and Post.get("p1").rank == 7


def test_unknown_defaults_are_a_field_error_and_stage_nothing(posts):
    ws, Post = posts
    for call in (lambda: Post.get_or_create(slug="z", defaults={"nope": 1}),
                 lambda: Post.update_or_create(slug="z", defaults={"nope": 1}),
                 lambda: Post.update_or_create(slug="p1", defaults={"nope": 1}),
                 lambda: Post.objects.update_or_create(slug="z", create_defaults={"nope": 1})):
        with pytest.raises(FieldError, match="Invalid field name.*'nope'"):
            call()
    assert not ws.has_changes()


def test_update_or_create_takes_create_defaults(posts):
    ws, Post = posts
    obj, created = Post.update_or_create(slug="p9", defaults={"rank": 1}, create_defaults={"rank": 90})
    assert created and obj.rank == 90
    obj, created = Post.objects.update_or_create(slug="p9", defaults={"rank": 1}, create_defaults={"rank": 90})
    assert not created and Post.get("p9").rank == 1
    with pytest.raises(FieldError):  # not get_or_create's: a lookup there, and no field
        Post.get_or_create(slug="p8", create_defaults={"rank": 1})


# -- 4. paginating a sequence -------------------------------------------------------------------
def test_paginator_pages_lists_and_the_lists_values_return(posts):
    ws, Post = posts
    pages = Paginator([1, 2, 3, 4, 5], 2)
    assert pages.count == 5 and pages.num_pages == 3 and list(pages.page(3)) == [5]
    second = pages.page(2)  # a page is a sequence, as Django's: index() and count()
    assert second.index(4) == 1 and second.count(3) == 1 and second.count(9) == 0
    with pytest.raises(ValueError):
        second.index(9)
    slugs = Post.all().order_by("slug").values_list("slug", flat=True)
    assert list(Paginator(slugs, 2).page(3)) == ["p4"]
    assert list(Paginator(Post.all().order_by("slug").values("slug"), 2).page(1)) == [
        {"slug": "p0"}, {"slug": "p1"}]
    assert Paginator(Post.all(), "2").num_pages == 3 and Paginator([1, 2, 3], "1", orphans="1").num_pages == 2
    for bad in ("x", "0", 0, None):
        with pytest.raises(InvalidPage):
            Paginator([1], bad)
    with pytest.raises(TypeError):
        KeysetPaginator([1, 2, 3], 2)  # type: ignore[arg-type]


# -- 5. NULL across a relation, and in IN ------------------------------------------------------
def test_a_lookup_matching_null_keeps_objects_without_a_related_one(pages):
    ws, Author, Tag, Page = pages
    both = ["by-nameless", "by-nobody"]
    assert sorted(Page.filter(author__name__isnull=True).ids()) == both
    assert sorted(Page.filter(author__name=None).ids()) == both
    assert sorted(Page.exclude(author__name__isnull=False).ids()) == both  # its complement agrees
    assert sorted(Page.filter(Q(author__name__isnull=True) | Q(pk="none")).ids()) == both  # scanned
    assert Page.filter(author__name__isnull=False).ids() == ["by-ann"]
    assert sorted(Page.filter(tags__label__isnull=True).ids()) == both  # no tags, or a blank one
    assert Page.filter(tags__isnull=True).ids() == ["by-nobody"]  # an empty list: no tag at all
    assert Author.filter(pages__tags__isnull=True).ids() == ["bob"]
    assert sorted(Author.filter(pages__rank__isnull=True).ids()) == ["bob", "nameless"]
    assert sorted(Author.filter(pages__rank=None).ids()) == ["bob", "nameless"]
    at_commit = Page.all(treeish=ws.head)
    assert sorted(at_commit.filter(author__name__isnull=True).ids()) == both


def test_in_never_matches_a_missing_value(pages):
    ws, Author, Tag, Page = pages
    assert Page.filter(rank__in=[None, 1]).ids() == ["by-ann"]
    assert Page.filter(Q(rank__in=[None, 1]) | Q(pk="none")).ids() == ["by-ann"]
    assert Page.filter(rank__in=[None]).ids() == []
    assert sorted(Page.exclude(rank__in=[None, 1]).ids()) == ["by-nameless", "by-nobody"]
    assert sorted(Page.filter(author__in=[None, "ann"]).ids()) == ["by-ann"]


# -- 6. annotations compared with F(), and in Q ---------------------------------------------
def test_an_annotation_compares_with_f(articles):
    ws, Writer, Tag, Article = articles
    tagged = Article.objects.annotate(n=Count("tags"))  # a1: 3, a2: 1, a3: 0
    assert tagged.filter(n__lt=F("words")).ids() == ["a1", "a3"]  # a2 has no words: no match
    assert tagged.filter(n__gt=F("words") - 3).ids() == ["a1"]
    assert tagged.filter(n=F("n")).ids() == ["a1", "a2", "a3"] and tagged.exclude(n=F("n")).ids() == []
    with pytest.raises(FieldError, match="nope"):
        tagged.filter(n__lt=F("nope"))
    with pytest.raises(FieldError, match="F()"):
        tagged.filter(n__in=F("words"))


def test_annotations_filter_inside_q(articles):
    ws, Writer, Tag, Article = articles
    writers = Writer.objects.annotate(n=Count("articles"))  # ada: 2, bob: 1, cy: 0
    assert writers.filter(Q(n__gt=1)).ids() == ["ada"]
    assert writers.filter(Q(n=0) | Q(n__gt=1)).ids() == ["ada", "cy"]
    assert writers.filter(~Q(n=2)).ids() == ["bob", "cy"]
    assert writers.filter(Q(n=0) | Q(slug="bob")).ids() == ["bob", "cy"]
    assert writers.filter(Q(n__gte=1), slug="bob").count() == 1
    assert writers.exclude(n=2, slug="bob").ids() == ["ada", "bob", "cy"]  # NOT (both), as Django's
    assert writers.exclude(n=2, slug="ada").ids() == ["bob", "cy"]


# -- 7. Count over lists and many-to-many fields ---------------------------------------------
def test_count_over_a_list_counts_its_elements(articles):
    ws, Writer, Tag, Article = articles
    assert Article.objects.aggregate(n=Count("tags")) == {"n": 4}  # one per link, as Django's join
    assert Article.objects.aggregate(n=Count("tags", distinct=True)) == {"n": 3}
    assert Article.objects.aggregate(n=Count("keywords"), d=Count("keywords", distinct=True)) == {"n": 4, "d": 2}
    assert Article.objects.aggregate(Max("tags")) == {"tags__max": "py"}
    assert Article.objects.values("writer").annotate(n=Count("tags")).order_by("writer") == [
        {"writer": "ada", "n": 4}, {"writer": "bob", "n": 0}]
    distinct = Article.objects.annotate(k=Count("keywords", distinct=True)).order_by("pk")
    assert [(a.slug, a.k) for a in distinct] == [("a1", 2), ("a2", 1), ("a3", 0)]


def test_count_across_a_reverse_relation_counts_the_list_elements(articles):
    ws, Writer, Tag, Article = articles
    links = Writer.objects.annotate(n=Count("articles__tags")).order_by("pk")
    assert [(w.slug, w.n) for w in links] == [("ada", 4), ("bob", 0), ("cy", 0)]
    tags = Writer.objects.annotate(n=Count("articles__tags", distinct=True)).order_by("pk")
    assert [(w.slug, w.n) for w in tags] == [("ada", 3), ("bob", 0), ("cy", 0)]


# -- 8. objects of the wrong model ----------------------------------------------------------------
def test_filtering_by_an_object_of_another_model_is_refused(pages):
    ws, Author, Tag, Page = pages
    tag = Tag.get("ann")  # the id of an author too
    for call in (lambda: Page.filter(author=tag), lambda: Page.filter(author__in=[tag]),
                 lambda: Page.filter(author__in=Tag.all()), lambda: Page.filter(tags__contains=Author.get("ann")),
                 lambda: Author.filter(pages=tag), lambda: Author.filter(pages__in=[tag])):
        with pytest.raises(ValidationError) as caught:
            call()
        assert "Tag" in str(caught.value) or "Author" in str(caught.value)
        assert isinstance(caught.value, ValueError)  # Django's error type
    assert Author.filter(pages__in=[Page.get("by-ann"), "by-nobody"]).ids() == ["ann"]
    assert Page.filter(author=Author.get("ann")).ids() == ["by-ann"]


def test_filtering_by_an_object_with_no_id_is_refused(articles):
    ws, Writer, Tag, Article = articles
    with pytest.raises(ValidationError, match="saved"):  # it would match the articles of no writer
        Article.filter(writer=Writer())
    assert Article.filter(writer=None).ids() == []


# -- 9. the related manager's owner ------------------------------------------------------------
def test_the_related_manager_sets_its_owner(pages):
    ws, Author, Tag, Page = pages
    ann = Author.get("ann")
    assert ann.pages.create(slug="forced", author="bob").author_id == "ann"  # as Django's
    made, created = ann.pages.get_or_create(slug="made")
    assert created and made.author_id == "ann" and Page.get("made").author_id == "ann"
    made, created = ann.pages.update_or_create(slug="upd", create_defaults={"rank": 5})
    assert created and (made.author_id, made.rank) == ("ann", 5)
    tagged = Tag.get("blank").pages.create(slug="tagged", tags=["ann"])
    assert sorted(t.id for t in tagged.tags) == ["ann", "blank"]
    assert sorted(p.slug for p in ann.pages) == ["by-ann", "forced", "made", "upd"]
    staged = ws.has_changes()
    with pytest.raises(TypeError, match="slice"):
        ann.pages.order_by("slug")[:2].clear()  # would clear two pages of four
    assert ws.has_changes() == staged and Page.filter(author="ann").count() == 4
