"""The query API: lookups, Q objects, ordering, slicing and methods."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

import gitmodel
from gitmodel import FieldError, GitModelError, Q, fields
from gitmodel.query import LOOKUPS, QuerySet


def declare(ws):
    class Author(ws.GitModel):
        name = fields.CharField(index=True)
        country = fields.CharField(required=False)

    class Page(ws.GitModel):
        slug = fields.SlugField()
        title = fields.CharField(index=True)
        rank = fields.IntegerField(default=0, index=True)
        score = fields.FloatField(required=False)
        published = fields.DateField(required=False)
        draft = fields.BooleanField(default=False)
        author = fields.RelatedField("Author", required=False, index=True)
        metadata = fields.JSONField(default=dict)
        body = fields.CharField(required=False)

        class Meta:
            id_attr = "slug"
            indexes = ["score", "published", "draft"]

    return SimpleNamespace(Author=Author, Page=Page)


@pytest.fixture
def m(ws):
    models = declare(ws)
    ann = models.Author(name="Ann", country="NZ")
    bob = models.Author(name="Bob")
    ann.save()
    bob.save()
    rows = [
        ("alpha", "Alpha", 3, 1.5, "2020-01-01", False, ann, {"lang": "en", "tags": ["a"]}, "Hello World"),
        ("beta", "beta", 1, None, "2021-06-01", True, bob, {"lang": "fr"}, "bonjour"),
        ("gamma", "Gamma", 2, 2.5, None, False, ann, {"lang": "en", "n": {"x": 1}}, None),
        ("delta", "Delta", 5, 0.5, "2019-03-03", False, None, {}, "hello there"),
    ]
    for slug, title, rank, score, published, draft, author, metadata, body in rows:
        models.Page(
            slug=slug, title=title, rank=rank, score=score, published=published,
            draft=draft, author=author, metadata=metadata, body=body,
        ).save()
    ws.commit("four pages")
    models.ann, models.bob = ann, bob
    return models


def slugs(qs):
    return sorted(qs.ids())


@pytest.mark.parametrize(
    "lookups, expected",
    [
        ({"title": "Alpha"}, ["alpha"]),
        ({"title__exact": "beta"}, ["beta"]),
        ({"title__iexact": "ALPHA"}, ["alpha"]),
        ({"body__contains": "ello"}, ["alpha", "delta"]),
        ({"body__contains": "Hello"}, ["alpha"]),
        ({"body__icontains": "HELLO"}, ["alpha", "delta"]),
        ({"title__startswith": "G"}, ["gamma"]),
        ({"title__istartswith": "b"}, ["beta"]),
        ({"body__endswith": "World"}, ["alpha"]),
        ({"body__iendswith": "WORLD"}, ["alpha"]),
        ({"rank__in": [1, 5, 9]}, ["beta", "delta"]),
        ({"title__in": ("Alpha", "Gamma")}, ["alpha", "gamma"]),
        ({"rank__gt": 2}, ["alpha", "delta"]),
        ({"rank__gte": 2}, ["alpha", "delta", "gamma"]),
        ({"rank__lt": 2}, ["beta"]),
        ({"rank__lte": 2}, ["beta", "gamma"]),
        ({"rank__range": (2, 3)}, ["alpha", "gamma"]),
        ({"score__gt": 1}, ["alpha", "gamma"]),
        ({"score__isnull": True}, ["beta"]),
        ({"score__isnull": False}, ["alpha", "delta", "gamma"]),
        ({"body": None}, ["gamma"]),
        ({"published__lt": dt.date(2020, 6, 1)}, ["alpha", "delta"]),
        ({"published__range": ("2020-01-01", "2021-12-31")}, ["alpha", "beta"]),
        ({"draft": True}, ["beta"]),
        ({"rank": "3"}, ["alpha"]),  # coerced by the field, as on save
        ({"title__gt": "Beta"}, ["beta", "delta", "gamma"]),
        ({"pk": "gamma"}, ["gamma"]),
        ({"slug__in": ["alpha", "zeta"]}, ["alpha"]),
    ],
)
def test_lookup(m, lookups, expected):
    assert slugs(m.Page.filter(**lookups)) == expected
    # an OR keeps the index out: the scan agrees with the index
    scan = m.Page.filter(Q(**lookups) | Q(pk="no-such-page"))
    assert scan.explain() == "scan"
    assert slugs(scan) == expected
    # the same query on the staged state and at the commit agree
    assert slugs(m.Page.all(treeish=m.Page._meta.workspace.head).filter(**lookups)) == expected


def test_every_lookup_is_covered():
    assert set(LOOKUPS) == {
        "exact", "iexact", "contains", "icontains", "startswith", "istartswith",
        "endswith", "iendswith", "in", "gt", "gte", "lt", "lte", "range", "isnull", "regex", "iregex",
    }


def test_related_lookups(m):
    assert slugs(m.Page.filter(author__name="Ann")) == ["alpha", "gamma"]
    assert slugs(m.Page.filter(author__name__startswith="B")) == ["beta"]
    # as Django's LEFT JOIN: a page with no author has no author's country either
    assert slugs(m.Page.filter(author__country__isnull=True)) == ["beta", "delta"]
    assert slugs(m.Page.filter(author=m.ann)) == ["alpha", "gamma"]
    assert slugs(m.Page.filter(author=m.bob.id)) == ["beta"]
    assert slugs(m.Page.filter(author__id=m.bob.id)) == ["beta"]
    assert slugs(m.Page.filter(author__isnull=True)) == ["delta"]
    assert slugs(m.Page.filter(author__in=m.Author.filter(country="NZ"))) == ["alpha", "gamma"]
    assert slugs(m.Page.exclude(author__name="Ann")) == ["beta", "delta"]


def test_json_key_lookups(m):
    assert slugs(m.Page.filter(metadata__lang="en")) == ["alpha", "gamma"]
    assert slugs(m.Page.filter(metadata__lang__in=["fr", "de"])) == ["beta"]
    assert slugs(m.Page.filter(metadata__lang__isnull=True)) == ["delta"]
    assert slugs(m.Page.filter(metadata__n__x=1)) == ["gamma"]
    assert slugs(m.Page.filter(metadata__n__x__gte=1)) == ["gamma"]
    assert slugs(m.Page.filter(metadata__tags__contains="a")) == ["alpha"]
    assert slugs(m.Page.filter(metadata__tags__0="a")) == ["alpha"]
    assert slugs(m.Page.filter(metadata={})) == ["delta"]


def test_q_objects(m):
    Page = m.Page
    assert slugs(Page.filter(Q(rank=1) | Q(rank=5))) == ["beta", "delta"]
    assert slugs(Page.filter(Q(rank__gt=1) & Q(draft=False))) == ["alpha", "delta", "gamma"]
    assert slugs(Page.filter(~Q(title__startswith="A"))) == ["beta", "delta", "gamma"]
    assert slugs(Page.filter(~(Q(rank=1) | Q(rank=5)))) == ["alpha", "gamma"]
    assert slugs(Page.filter(Q(rank__lt=3), title__icontains="a")) == ["beta", "gamma"]
    assert slugs(Page.filter(Q(author__name="Ann") | Q(metadata__lang="fr"))) == ["alpha", "beta", "gamma"]
    assert gitmodel.Q is Q
    with pytest.raises(TypeError):
        Q("rank")  # type: ignore[arg-type]


def test_exclude_and_chaining(m):
    Page = m.Page
    assert slugs(Page.exclude(rank__gt=2)) == ["beta", "gamma"]
    assert slugs(Page.filter(draft=False).exclude(author=None).filter(rank__lt=3)) == ["gamma"]
    assert slugs(Page.all().filter(title__in=["Alpha", "beta"]).exclude(slug="beta")) == ["alpha"]


def test_order_by(m):
    Page = m.Page
    assert Page.all().order_by("rank").ids() == ["beta", "gamma", "alpha", "delta"]
    assert Page.all().order_by("-rank").ids() == ["delta", "alpha", "gamma", "beta"]
    assert Page.all().order_by("-title").ids() == ["beta", "gamma", "delta", "alpha"]
    # None sorts first ascending, last descending; ties keep the next key's order
    assert Page.all().order_by("score", "slug").ids() == ["beta", "delta", "alpha", "gamma"]
    assert Page.all().order_by("draft", "-slug").ids() == ["gamma", "delta", "alpha", "beta"]
    assert Page.all().order_by("-pk").ids() == ["gamma", "delta", "beta", "alpha"]
    # without order_by: path order (ids here)
    assert Page.all().ids() == ["alpha", "beta", "delta", "gamma"]


def test_slicing_and_indexing(m):
    qs = m.Page.all().order_by("rank")
    assert [p.slug for p in qs[1:3]] == ["gamma", "alpha"]
    assert isinstance(qs[1:3], QuerySet)
    assert qs[1:3].count() == 2
    assert qs[1:][1:2].ids() == ["alpha"]
    assert qs[:10].ids() == ["beta", "gamma", "alpha", "delta"]
    assert qs[0].slug == "beta"
    with pytest.raises(ValueError, match="Negative indexing"):  # as Django's
        qs[-1]
    assert [p.slug for p in qs[::2]] == ["beta", "alpha"]
    assert qs[5:].ids() == []
    with pytest.raises(IndexError):
        qs[10]
    with pytest.raises(TypeError):
        qs[1:2].filter(rank=1)
    with pytest.raises(TypeError):
        qs["a"]  # type: ignore[index]


def test_count_exists_first_last(m):
    Page = m.Page
    assert Page.all().count() == 4
    assert len(Page.filter(draft=False)) == 3
    assert Page.filter(rank=3).exists()
    assert not Page.filter(rank=99).exists()
    assert Page.all().order_by("rank").first().slug == "beta"
    assert Page.all().order_by("rank").last().slug == "delta"
    assert Page.filter(rank=99).first() is None
    assert Page.filter(rank=99).last() is None
    assert bool(Page.filter(rank=99)) is False


def test_get(m):
    Page = m.Page
    page = Page.all().get(title="Gamma")
    assert page.slug == "gamma" and page.rank == 2
    assert Page.filter(rank=1).get().slug == "beta"
    assert Page.all().get(Q(rank=5) | Q(rank=50)).slug == "delta"
    with pytest.raises(Page.DoesNotExist) as missing:
        Page.all().get(title="nope")
    assert isinstance(missing.value, GitModelError)
    assert isinstance(missing.value, gitmodel.DoesNotExist)
    assert "nope" in str(missing.value)
    with pytest.raises(Page.MultipleObjectsReturned) as many:
        Page.all().get(draft=False)
    assert isinstance(many.value, GitModelError)
    assert isinstance(many.value, gitmodel.MultipleObjectsReturned)
    with pytest.raises(m.Author.DoesNotExist):
        m.Author.all().get(name="Zed")
    # the model-level get by id still works
    assert Page.get("beta").title == "beta"


def test_values_and_values_list(m):
    Page = m.Page
    qs = Page.filter(slug__in=["alpha", "beta"])
    assert qs.values("slug", "rank") == [{"slug": "alpha", "rank": 3}, {"slug": "beta", "rank": 1}]
    full = qs.values()[0]
    assert full["title"] == "Alpha" and full["author"] == m.ann.id
    assert full["metadata"] == {"lang": "en", "tags": ["a"]}
    full["metadata"]["lang"] = "changed"  # copies: the next read is untouched
    assert qs.values("metadata")[0]["metadata"]["lang"] == "en"
    assert qs.values_list("slug", "published") == [
        ("alpha", dt.date(2020, 1, 1)), ("beta", dt.date(2021, 6, 1))
    ]
    assert Page.all().order_by("-rank").values_list("slug", flat=True) == [
        "delta", "alpha", "gamma", "beta"
    ]
    with pytest.raises(TypeError):
        qs.values_list("slug", "rank", flat=True)
    with pytest.raises(FieldError, match="nope"):
        qs.values("nope")


def test_ids_do_not_build_objects(m, ws, monkeypatch):
    """Index answers build nothing; a scan checks only its matches are
    objects get() returns (so ids() and count() agree with iteration)."""
    from gitmodel.schema import codec

    ws._objects.clear()
    built = []
    original = codec.load

    def spy(ws_, cls, path, *args, **kwargs):
        built.append(path)
        return original(ws_, cls, path, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(codec, "load", spy)  # the one decoder every read goes through
        assert m.Page.filter(title="Gamma").ids() == ["gamma"]
        assert m.Page.filter(rank__gte=0).ids() == ["alpha", "beta", "delta", "gamma"]
        assert m.Page.filter(body__contains="hello").ids() == ["delta"]
        assert m.Page.all().count() == 4
    assert built == []  # the index lists the files for the scan and vouches for them
    assert [p.slug for p in m.Page.filter(title="Gamma")] == ["gamma"]


def test_unknown_field_or_lookup_fails_before_reading(m, ws, monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("data was read")

    monkeypatch.setattr(ws.repo.__class__, "__getitem__", no_reading, raising=False)
    with pytest.raises(FieldError, match='"titel"'):
        m.Page.filter(titel="x")
    with pytest.raises(FieldError, match='"startswit"'):
        m.Page.filter(title__startswit="x")
    with pytest.raises(FieldError, match='"exact__in"'):
        m.Page.filter(title__exact__in="x")
    with pytest.raises(FieldError, match='"nam"'):
        m.Page.filter(author__nam="Ann")
    with pytest.raises(FieldError, match='"nope"'):
        m.Page.all().order_by("-nope")
    with pytest.raises(FieldError, match='"nope"'):
        m.Page.exclude(Q(rank=1) | Q(nope=2))
    with pytest.raises(FieldError):
        m.Page.filter(rank__in=5)
    with pytest.raises(FieldError):
        m.Page.filter(rank__isnull="yes")
    with pytest.raises(FieldError):
        m.Page.filter(rank__range=(1, 2, 3))
    assert issubclass(FieldError, GitModelError)


def test_bad_value_names_the_field(m):
    with pytest.raises(gitmodel.ValidationError) as err:
        m.Page.filter(rank="many")
    assert err.value.field == "rank"


def test_blob_fields_cannot_be_queried(ws):
    class Doc(ws.GitModel):
        name = fields.CharField()
        content = fields.BlobField()

    Doc(name="a", content=b"xyz").save()
    with pytest.raises(FieldError, match="content"):
        Doc.filter(content=b"xyz")
    doc = Doc.filter(name="a").get()
    assert doc.content.read() == b"xyz"


def test_queryset_is_lazy_and_cached(m, ws):
    qs = m.Page.filter(rank__gt=2)
    m.Page(slug="eps", title="Eps", rank=9).save()  # saved after the query was built
    assert slugs(qs) == ["alpha", "delta", "eps"]
    m.Page(slug="zeta", title="Zeta", rank=10).save()
    assert slugs(qs) == ["alpha", "delta", "eps"]  # evaluated once
    assert slugs(qs.all()) == ["alpha", "delta", "eps", "zeta"]
    assert "Page" in repr(qs)


def test_iterating_like_modelset(m):
    pages = list(m.Page.all())
    assert [p.slug for p in pages] == ["alpha", "beta", "delta", "gamma"]
    assert all(isinstance(p, m.Page) for p in pages)
    assert m.Page.all()[0].title == "Alpha"
    pages[0].title = "mutated"
    assert m.Page.get("alpha").title == "Alpha"  # objects are copies, the cache is intact


def test_model_without_objects(ws):
    class Empty(ws.GitModel):
        name = fields.CharField(index=True)

    assert Empty.all().count() == 0
    assert Empty.filter(name="x").ids() == []
    assert Empty.all().first() is None


def test_custom_data_paths_are_scanned(ws):
    def flat_path(opts, object_id):
        return f"flat/{opts.model_name}-{object_id}.json"

    class Doc(ws.GitModel):
        body = fields.CharField(index=True)

        class Meta:
            get_data_path = flat_path

    Doc(id="a", body="A").save()
    Doc(id="b", body="B").save()
    ws.commit("docs")
    Doc(id="c", body="B").save()  # pending
    assert Doc.filter(body="B").explain() == "scan"
    assert Doc.filter(body="B").ids() == ["b", "c"]
    assert Doc.all(treeish="master").filter(body="B").ids() == ["b"]
    assert Doc.all().order_by("-body", "-id").ids() == ["c", "b", "a"]


def test_which_lookups_use_an_index(m):
    Page = m.Page
    assert Page.filter(draft=True).explain() == "index only: Page.draft (exact)"
    assert Page.filter(published__lt="2020-06-01").explain() == "index only: Page.published (lt)"
    assert Page.filter(score__isnull=True).explain() == "index only: Page.score (isnull)"
    assert Page.filter(author=m.ann).explain() == "index only: Page.author (exact)"
    assert Page.filter(rank__in=[1, 2]).explain() == "index only: Page.rank (in)"
    assert Page.filter(title__startswith="A").explain() == "scan"
    assert Page.filter(metadata__lang="en").explain() == "scan"
    assert Page.filter(rank=1, body__contains="x").explain() == "index, rows checked: Page.rank (exact)"
    # a related lookup becomes ``author__in=<ids>`` when run
    assert Page.filter(author__name="Ann").explain() == "index only: Page.author (in)"
    assert Page.filter(author__name="Ann", rank=3).explain() == "index, rows checked: Page.rank (exact)"
