"""Querysets against Django's answers on the same data.

Every expected result here was checked against Django 5.2 (SQLite, the
same models: ``Book.author`` a nullable ``ForeignKey``, ``Book.tags`` a
``ManyToManyField``, both ``related_name="books"``). Covered: the
multi-valued relationship rule (one ``filter()`` call, one related object),
cached instances of an evaluated query, ``author_id``, many-to-many
``tags=``/``tags__in=``, ``filter=Q(...)`` of aggregates, JSON
``has_key``/``contains``, and ``exclude()`` of what SQL finds unknown."""

from __future__ import annotations

import pytest

from gitmodel import Avg, Count, F, FieldError, Max, Q, Sum, ValidationError, Workspace, fields


@pytest.fixture(params=[False, True], ids=["scanned", "indexed"])
def lib(tmp_path, request):
    ws = Workspace.init(tmp_path / "lib.git")
    indexed = request.param

    class Author(ws.GitModel):
        slug = fields.SlugField(id=True)
        age = fields.IntegerField(required=False, index=indexed)

    class Tag(ws.GitModel):
        slug = fields.SlugField(id=True)
        name = fields.CharField(index=indexed)

    class Book(ws.GitModel):
        slug = fields.SlugField(id=True)
        rating = fields.IntegerField(required=False, index=indexed)
        pages = fields.IntegerField(default=0, index=indexed)
        author = fields.RelatedField(Author, related_name="books", required=False)
        tags = fields.ManyToManyField(Tag, related_name="books", required=False)

    Author(slug="ann", age=30).save()
    Author(slug="eve", age=22).save()
    for slug, name in (("py", "Python"), ("web", "Web"), ("git", "Git")):
        Tag(slug=slug, name=name).save()
    Book(slug="b1", rating=5, pages=100, author="ann", tags=["py"]).save()
    Book(slug="b2", rating=3, pages=300, author="ann", tags=["git", "web"]).save()
    ws.commit("data")
    return ws, Author, Tag, Book


def ids(qs):
    return sorted({obj.pk for obj in qs})


# -- 1. multi-valued relationships ---------------------------------------------


def test_one_filter_call_means_one_related_object(lib):
    ws, Author, Tag, Book = lib
    A, B = Author.objects, Book.objects
    # ann: b1 (5, 100 pages) and b2 (3, 300 pages); no one book is 5 and 300
    assert ids(A.filter(books__rating=5, books__pages=300)) == []
    assert ids(A.filter(Q(books__rating=5) & Q(books__pages=300))) == []
    assert ids(A.filter(Q(books__rating=5), books__pages=300)) == []
    assert ids(A.filter(books__rating=5, books__pages=100)) == ["ann"]
    assert ids(A.filter(books__rating=5).filter(books__pages=300)) == ["ann"]  # chained: any book each
    assert ids(A.filter(Q(books__rating=3) | Q(books__pages=999))) == ["ann"]
    assert ids(A.filter(Q(books__rating=3) & (Q(books__pages=100) | Q(books__pages=999)))) == []
    assert ids(A.filter(Q(books__rating=3) & (Q(books__pages=300) | Q(books__pages=999)))) == ["ann"]
    # many-to-many: b2's tags are git (Git) and web (Web)
    assert ids(B.filter(tags__slug="git", tags__name="Web")) == []
    assert ids(B.filter(tags__slug="git", tags__name="Git")) == ["b2"]
    assert ids(Tag.objects.filter(books__rating=3, books__pages=100)) == []
    assert ids(Tag.objects.filter(books__rating=3, books__pages=300)) == ["git", "web"]


def test_nested_relations_and_exclude(lib):
    ws, Author, Tag, Book = lib
    Book(slug="b3", rating=5, pages=300, author="eve").save()
    ws.commit("b3")
    A, B = Author.objects, Book.objects
    assert ids(A.filter(books__tags__slug="git", books__tags__name="Web")) == []
    assert ids(A.filter(books__tags__slug="git", books__tags__name="Git")) == ["ann"]
    assert ids(A.filter(books__rating=5, books__tags__slug="git")) == []
    assert ids(A.filter(books__rating=3, books__tags__slug="git")) == ["ann"]
    assert ids(B.filter(author__books__rating=3, author__books__pages=100)) == []
    assert ids(B.filter(author__books__rating=5, author__books__pages=300)) == ["b3"]
    # exclude() and ~Q: each condition may be met by a different book (Django's rule)
    assert ids(A.exclude(books__rating=3, books__pages=100)) == ["eve"]
    assert ids(A.exclude(Q(books__rating=3) & Q(books__pages=100))) == ["eve"]
    assert ids(A.filter(~Q(books__rating=3, books__pages=100))) == ["eve"]
    assert ids(A.exclude(books__rating=5, books__pages=300)) == []
    assert ids(A.exclude(books__tags__slug="git", books__tags__name="Web")) == ["eve"]
    assert ids(A.filter(~Q(books__rating=5), books__pages=300)) == []


# -- 2. an evaluated query's instances -------------------------------------------


def test_evaluated_query_gives_its_instances(lib):
    ws, Author, Tag, Book = lib
    qs = Book.objects.order_by("slug")
    objs = list(qs)
    for book in objs:
        book.pages = 999
    assert [b.pages for b in qs] == [999, 999]
    assert qs[0] is objs[0] and qs[1] is objs[1]
    assert qs.first() is objs[0]
    assert qs[0:2][1] is objs[1] and list(qs[1:])[0] is objs[1]
    assert qs.last() is objs[-1]  # Django's last() reads again; gitmodel keeps the instance
    fresh = Book.objects.order_by("slug")
    assert fresh[0] is not fresh[0]  # not evaluated: each read builds an object, as Django's


# -- 3. author_id ------------------------------------------------------------------


def test_relation_id_name(lib):
    ws, Author, Tag, Book = lib
    Book(slug="b3", rating=1, pages=1).save()
    ws.commit("b3")
    B = Book.objects
    assert B.get(pk="b1").author_id == "ann"
    assert ids(B.filter(author_id="ann")) == ["b1", "b2"]
    assert ids(B.exclude(author_id="ann")) == ["b3"]
    assert ids(B.filter(author_id__in=["ann"])) == ["b1", "b2"]
    assert ids(B.filter(author_id__isnull=True)) == ["b3"]
    assert [b.pk for b in B.order_by("-author_id", "slug")] == ["b1", "b2", "b3"]
    assert list(B.order_by("slug").values("slug", "author_id")) == [
        {"slug": "b1", "author_id": "ann"}, {"slug": "b2", "author_id": "ann"},
        {"slug": "b3", "author_id": None}]
    assert list(B.order_by("slug").values_list("author_id", flat=True)) == ["ann", "ann", None]
    assert B.order_by("slug").values()[0]["author"] == "ann"  # no names: the field's name (kept)
    with pytest.raises(FieldError, match="author_id"):
        B.filter(author_id__age=3)


# -- 4. many-to-many exact and in --------------------------------------------------


def test_many_to_many_exact_and_in(lib):
    ws, Author, Tag, Book = lib
    Book(slug="b3", rating=1, pages=1).save()
    ws.commit("b3")
    B = Book.objects
    web = Tag.objects.get(pk="web")
    assert ids(B.filter(tags__in=["py", "web"])) == ["b1", "b2"]
    assert ids(B.filter(tags__in=Tag.objects.filter(slug="web"))) == ["b2"]
    assert ids(B.filter(tags=web)) == ["b2"]
    assert ids(B.filter(tags="web")) == ["b2"]
    assert ids(B.filter(tags__exact="py")) == ["b1"]
    assert ids(B.filter(tags__in=[Tag.objects.get(pk="py")])) == ["b1"]
    assert ids(B.filter(tags__in=[])) == []
    assert ids(B.exclude(tags="web")) == ["b1", "b3"]
    assert ids(B.exclude(tags__in=["py", "web"])) == ["b3"]
    with pytest.raises(ValidationError, match="Tag"):
        B.filter(tags=Author.objects.get(pk="ann"))
    with pytest.raises(ValidationError, match="query of Tag"):
        B.filter(tags__in=Author.objects.all())
    with pytest.raises(FieldError, match="tags__in"):
        B.filter(tags__in=3)


# -- 5. filter= of an aggregate ------------------------------------------------------


def test_aggregate_filter(lib):
    ws, Author, Tag, Book = lib
    A, B = Author.objects, Book.objects
    assert B.aggregate(n=Count("pk", filter=Q(rating=5))) == {"n": 1}
    assert B.aggregate(n=Count("pk", filter=Q(rating__gte=3)), s=Sum("pages", filter=Q(rating=3)),
                       m=Max("pages", filter=Q(rating=99)), a=Avg("pages", filter=Q(author__age=30))) == {
        "n": 2, "s": 300, "m": None, "a": 200.0}
    assert B.aggregate(n=Count("pk", filter=Q(tags__slug="web"))) == {"n": 1}
    assert B.aggregate(k=Count("pk", filter=~Q(rating=5))) == {"k": 1}
    assert [(a.pk, a.n) for a in A.annotate(n=Count("books", filter=Q(books__rating=5))).order_by("slug")] == [
        ("ann", 1), ("eve", 0)]
    assert [(a.pk, a.n, a.s) for a in A.annotate(
        n=Count("books", filter=Q(books__pages__gt=150)),
        s=Sum("books__pages", filter=Q(books__rating__lt=5))).order_by("slug")] == [
        ("ann", 1, 300), ("eve", 0, None)]
    assert [(a.pk, a.n) for a in A.annotate(n=Count("books", filter=Q(books__in=["b1"]))).order_by("slug")] == [
        ("ann", 1), ("eve", 0)]
    assert [(b.pk, b.n) for b in B.annotate(
        n=Count("tags", filter=Q(tags__name__startswith="W"))).order_by("slug")] == [("b1", 0), ("b2", 1)]
    assert [(t.pk, t.n) for t in Tag.objects.annotate(
        n=Count("books", filter=Q(books__rating=5))).order_by("slug")] == [("git", 0), ("py", 1), ("web", 0)]
    assert list(B.values("author").annotate(n=Count("pk", filter=Q(rating=5)))) == [{"author": "ann", "n": 1}]


def test_aggregate_filter_errors(lib):
    ws, Author, Tag, Book = lib
    with pytest.raises(FieldError, match="filter"):
        Count("pk", filter={"rating": 5})
    with pytest.raises(FieldError, match="nope"):
        Book.objects.aggregate(n=Count("pk", filter=Q(nope=1)))
    with pytest.raises(FieldError, match="age"):  # a lookup that does not cross the relation
        Author.objects.annotate(n=Count("books", filter=Q(age=30)))


# -- 6. JSON keys and containment ------------------------------------------------------


@pytest.fixture
def docs(tmp_path):
    ws = Workspace.init(tmp_path / "docs.git")

    class Doc(ws.GitModel):
        slug = fields.SlugField(id=True)
        meta = fields.JSONField(default=dict, required=False)

    for slug, meta in (("d1", {"lang": "en", "n": {"a": 1, "b": [1, 2]}}), ("d2", {}),
                       ("d3", {"lang": None, "x": 1}), ("d4", ["lang"]), ("d5", None)):
        Doc(slug=slug, meta=meta).save()
    ws.commit("docs")
    return Doc


def test_json_has_key(docs):
    D = docs.objects
    assert ids(D.filter(meta__has_key="lang")) == ["d1", "d3"]
    assert ids(D.filter(meta__has_keys=["lang", "x"])) == ["d3"]
    assert ids(D.filter(meta__has_any_keys=["x", "n"])) == ["d1", "d3"]
    assert ids(D.filter(meta__n__has_key="a")) == ["d1"]
    assert ids(D.exclude(meta__has_key="lang")) == ["d2", "d4", "d5"]
    assert ids(D.filter(meta__has_key=3)) == []
    with pytest.raises(FieldError, match="has_keys"):
        D.filter(meta__has_keys="lang")  # Django reads the letters; a list of keys is meant


def test_json_contains(docs):
    # Django on SQLite refuses contains (NotSupportedError); this is PostgreSQL's @> containment
    D = docs.objects
    assert ids(D.filter(meta__contains={"lang": "en"})) == ["d1"]
    assert ids(D.filter(meta__contains={"n": {"b": [2]}})) == ["d1"]
    assert ids(D.filter(meta__contains={"n": {"b": [3]}})) == []
    assert ids(D.filter(meta__contains={})) == ["d1", "d2", "d3"]
    assert ids(D.filter(meta__contains=["lang"])) == ["d4"]
    assert ids(D.filter(meta__contains={"x": True})) == []  # 1 is not true in JSON
    assert ids(D.filter(meta__n__contains={"a": 1})) == ["d1"]


# -- 7. exclude() of what SQL finds unknown ---------------------------------------------


def test_exclude_unknown_expression(lib):
    ws, Author, Tag, Book = lib
    Book(slug="b3", rating=None, pages=250).save()
    ws.commit("b3")
    B = Book.objects
    assert ids(B.filter(pages__gt=F("rating") * 60)) == ["b2"]
    assert ids(B.exclude(pages__gt=F("rating") * 60)) == ["b1"]
    assert ids(B.filter(~Q(pages__gt=F("rating") * 60))) == ["b1"]
    assert ids(B.exclude(Q(pages__gt=F("rating") * 60) | Q(slug="b1"))) == []
    assert ids(B.filter(~Q(pages__gt=F("rating") * 60), slug__in=["b1", "b3"])) == ["b1"]
    # a missing field, or a plain F() of one: Django adds IS NOT NULL, so exclude keeps it
    assert ids(B.exclude(pages__gt=F("rating"))) == ["b3"]
    assert ids(B.exclude(rating__lt=F("pages"))) == ["b3"]
    assert ids(B.exclude(rating__lt=F("pages") + 1)) == ["b3"]
    assert ids(B.exclude(rating__gt=3)) == ["b2", "b3"]
    assert ids(B.filter(~Q(rating__gt=3))) == ["b2", "b3"]
    assert ids(B.exclude(rating__in=[5])) == ["b2", "b3"]


def test_exclude_unknown_annotation(lib):
    ws, Author, Tag, Book = lib
    qs = Author.objects.annotate(s=Sum("books__pages"), m=Max("books__rating"))  # eve: None, None
    assert [(a.pk, a.s) for a in qs.order_by("slug")] == [("ann", 400), ("eve", None)]
    assert ids(qs.exclude(s__gt=1000)) == ["ann"]
    assert ids(qs.filter(~Q(s__gt=1000))) == ["ann"]
    assert ids(qs.exclude(m__lt=4)) == ["ann"]
    assert ids(qs.exclude(s=400)) == []
    assert ids(qs.exclude(s__in=[1])) == ["ann"]
    assert ids(qs.exclude(s__range=(1, 2))) == ["ann"]
    assert ids(qs.exclude(s__isnull=True)) == ["ann"]
    assert ids(qs.exclude(s__isnull=False)) == ["eve"]
    assert ids(qs.exclude(Q(s__gt=1000) | Q(slug="ann"))) == []
    assert ids(qs.exclude(s__gt=1000, slug="eve")) == ["ann"]
    assert ids(qs.filter(~Q(s__gt=1000) | Q(slug="eve"))) == ["ann", "eve"]
    assert ids(qs.filter(~Q(s__lt=F("m")))) == ["ann"]
    assert ids(qs.filter(~Q(~Q(s__gt=1000)))) == []


# -- values() rows: filter (HAVING after annotate), exclude, get, first -------


def test_values_rows_filter_like_djangos_having_and_exclude(lib):
    ws, Author, Tag, Book = lib
    Book(slug="b3", pages=1, author="eve").save()  # no rating
    ws.commit("b3")
    grouped = Book.objects.values("author").annotate(n=Count("pk")).order_by("author")
    assert grouped.filter(n__gt=1) == [{"author": "ann", "n": 2}]
    assert grouped.exclude(n__gt=1) == [{"author": "eve", "n": 1}]
    assert grouped.get(author="eve") == {"author": "eve", "n": 1}
    with pytest.raises(Book.DoesNotExist):
        grouped.get(author="zed")
    with pytest.raises(Book.MultipleObjectsReturned):
        grouped.get(n__gte=1)
    rows = Book.objects.order_by("slug").values("slug", "rating")
    assert rows.filter(rating__gte=4) == [{"slug": "b1", "rating": 5}]
    # a field's missing value is kept by exclude(), as Django's nullable column is
    assert rows.exclude(rating__gte=4) == [{"slug": "b2", "rating": 3}, {"slug": "b3", "rating": None}]
    assert rows.filter(rating__isnull=True) == [{"slug": "b3", "rating": None}]
    assert rows.first() == {"slug": "b1", "rating": 5} and rows.last()["slug"] == "b3" and rows.exists()
    with pytest.raises(FieldError, match="title"):
        rows.filter(title="x")
    with pytest.raises(FieldError, match="regex"):
        rows.filter(slug__regex="b")
