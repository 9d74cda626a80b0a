"""``annotate()`` on querysets of objects, as Django's: aggregates of the
objects that refer to each object (a tag cloud, writers by words written),
or the length of its own list; ordered by, read at the query's revision."""

from __future__ import annotations

import pytest

from gitmodel import Avg, Count, FieldError, Max, Min, Sum, Workspace, fields

from conftest import git

ARTICLES = [("a1", "ada", ["py", "git"], 100), ("a2", "ada", ["py"], 50),
            ("a3", "bob", ["git"], 10), ("a4", None, ["py", "web"], 5), ("a5", "bob", [], 7)]


@pytest.fixture
def cms(tmp_path):
    ws = Workspace.init(tmp_path / "cms.git")

    class Tag(ws.GitModel):
        label = fields.CharField()

    class Writer(ws.GitModel):
        name = fields.CharField(index=True)

    class Article(ws.GitModel):
        writer = fields.RelatedField(Writer, required=False, related_name="articles")
        tags = fields.ManyToManyField(Tag, related_name="articles")
        words = fields.IntegerField(default=0)

    for tag in ("py", "git", "web", "go"):
        Tag(id=tag, label=tag.upper()).save()
    for writer in ("ada", "bob", "cy"):
        Writer(id=writer, name=writer.title()).save()
    for object_id, writer, tags, words in ARTICLES:
        Article(id=object_id, writer=writer, tags=tags, words=words).save()
    ws.commit("articles")
    return ws, Tag, Writer, Article


def by_writer(writer):
    return [words for _i, w, _t, words in ARTICLES if w == writer]


def test_a_tag_cloud_and_writers_by_words(cms):
    ws, Tag, Writer, Article = cms
    cloud = Tag.objects.annotate(n=Count("articles")).order_by("-n", "label")
    assert [(t.id, t.n) for t in cloud] == [("py", 3), ("git", 2), ("web", 1), ("go", 0)]
    writers = Writer.objects.annotate(n=Count("articles"), words=Sum("articles__words"),
                                      top=Max("articles__words"), mean=Avg("articles__words"))
    for writer in writers:
        mine = by_writer(writer.id)
        assert (writer.n, writer.words, writer.top) == (len(mine), sum(mine) or None, max(mine, default=None))
        assert writer.mean == (sum(mine) / len(mine) if mine else None)
    assert [w.id for w in writers.order_by("-words")] == ["ada", "bob", "cy"]  # no words: last
    assert [(a.id, a.n) for a in Article.objects.annotate(n=Count("tags")).order_by("-n", "pk")] == [
        ("a1", 2), ("a4", 2), ("a2", 1), ("a3", 1), ("a5", 0)]


def test_every_way_to_read_an_annotated_query(cms):
    ws, Tag, Writer, Article = cms
    cloud = Tag.objects.annotate(n=Count("articles")).order_by("-n")
    assert (cloud[0].id, cloud[0].n) == ("py", 3) and cloud.first().n == 3 and cloud.last().n == 0
    assert [t.n for t in cloud[1:3]] == [2, 1] and len(cloud) == cloud.count() == 4
    assert Tag.objects.annotate(n=Count("articles")).get(pk="git").n == 2
    assert sorted(t.n for t in Tag.objects.annotate(n=Count("articles")).iterator()) == [0, 1, 2, 3]
    assert [(t.id, t.n) for t in Tag.filter(label__in=["PY", "GO"]).annotate(n=Count("articles"))] == [
        ("go", 0), ("py", 3)]


def test_at_a_revision_and_with_pending_edits(cms):
    ws, Tag, Writer, Article = cms
    first = git(ws.path, "rev-parse", "HEAD").strip()
    Article(id="a9", writer="cy", tags=["go"], words=1).save()
    Article.delete("a1")
    assert {t.id: t.n for t in Tag.objects.annotate(n=Count("articles"))} == {"py": 2, "git": 1, "web": 1, "go": 1}
    old = {t.id: t.n for t in Tag.all(treeish=first).annotate(n=Count("articles"))}
    assert old == {"py": 3, "git": 2, "web": 1, "go": 0}
    ws.commit("changes")
    assert "\"n\"" not in git(ws.path, "show", "HEAD:tag/py/data.json")  # annotations are never stored
    tag = Tag.objects.annotate(n=Count("articles")).get(pk="py")
    tag.label = "Python"
    tag.save(commit=True, message="renamed")
    assert "\"n\"" not in git(ws.path, "show", "HEAD:tag/py/data.json")


def test_what_annotate_refuses(cms):
    ws, Tag, Writer, Article = cms
    for bad in (lambda: Tag.objects.annotate(label=Count("articles")),  # a field's name
                lambda: Tag.objects.annotate(n=Count("label")),  # not a relation or a list
                lambda: Writer.objects.annotate(n=Sum("articles__tags")),
                lambda: Writer.objects.annotate(n=Count("articles__nope")),
                lambda: Tag.objects.annotate(n=5),
                lambda: Tag.objects.annotate(n=Count("articles")).order_by("m")):
        with pytest.raises(FieldError):
            bad()


def test_values_include_annotations(cms):
    ws, Tag, Writer, Article = cms
    cloud = Tag.objects.annotate(n=Count("articles")).order_by("-n", "label")
    assert list(cloud.values("label", "n")) == [{"label": "PY", "n": 3}, {"label": "GIT", "n": 2},
                                                {"label": "WEB", "n": 1}, {"label": "GO", "n": 0}]
    assert list(cloud.values_list("n", flat=True)) == [3, 2, 1, 0]
    assert list(cloud.values())[0] == {"id": "py", "label": "PY", "n": 3}
    with pytest.raises(FieldError):
        Tag.objects.all().values("n")


def test_filtering_by_an_annotation(cms):
    ws, Tag, Writer, Article = cms
    cloud = Tag.objects.annotate(n=Count("articles"))
    counts = {"py": 3, "git": 2, "web": 1, "go": 0}
    cases = [({"n__gt": 1}, lambda n: n > 1), ({"n": 2}, lambda n: n == 2), ({"n__lte": 1}, lambda n: n <= 1),
             ({"n__in": [0, 3]}, lambda n: n in (0, 3)), ({"n__range": (1, 2)}, lambda n: 1 <= n <= 2)]
    for lookups, test in cases:
        want = sorted(t for t, n in counts.items() if test(n))
        assert sorted(cloud.filter(**lookups).ids()) == want
        assert cloud.filter(**lookups).count() == len(want) and cloud.filter(**lookups).exists() == bool(want)
        assert sorted(cloud.exclude(**lookups).ids()) == sorted(set(counts) - set(want))
    used = cloud.filter(n__gt=0, label__startswith="G").order_by("-n")
    assert [(t.id, t.n) for t in used] == [("git", 2)]
    assert [t.id for t in cloud.filter(n__gte=1).order_by("-n")[:2]] == ["py", "git"]
    totals = Writer.objects.annotate(words=Sum("articles__words"))
    assert totals.filter(words__isnull=True).ids() == ["cy"] and sorted(totals.filter(words__gt=20).ids()) == ["ada"]
    for bad in (lambda: cloud.filter(n__contains=1), lambda: cloud.filter(n__in=3),
                lambda: cloud.filter(n__range=(1,)), lambda: cloud.filter(n__isnull="yes")):
        with pytest.raises(FieldError):
            bad()
    with pytest.raises(TypeError, match="annotation"):
        cloud.filter(n__gt=1) | Tag.objects.all()


def test_aggregating_annotations(cms):
    """``annotate(...).aggregate(...)`` over the annotations' values, as
    Django's: the mean number of articles per writer, and so on."""
    ws, Tag, Writer, Article = cms
    writers = Writer.objects.annotate(n=Count("articles"), words=Sum("articles__words"),
                                      top=Max("articles__words"))
    counts = [len(by_writer(w)) for w in ("ada", "bob", "cy")]  # 2, 2, 0
    totals = [sum(by_writer(w)) for w in ("ada", "bob")]  # cy wrote nothing: None, left out
    got = writers.aggregate(Avg("n"), Sum("n"), Max("words"), Count("words"), Count("n", distinct=True),
                            writers=Count("pk"), least=Min("top"))
    assert got == {"n__avg": sum(counts) / 3, "n__sum": sum(counts), "words__max": max(totals),
                   "words__count": 2, "n__count": 2, "writers": 3,
                   "least": min(max(by_writer(w)) for w in ("ada", "bob"))}
    assert writers.filter(n__gt=0).aggregate(Avg("n")) == {"n__avg": 2.0}  # over the kept ones only
    assert writers.order_by("-words")[:1].aggregate(Sum("words")) == {"words__sum": max(totals)}
    assert Article.objects.annotate(nt=Count("tags")).aggregate(Sum("nt")) == {
        "nt__sum": sum(len(t) for _i, _w, t, _n in ARTICLES)}
    # at a revision: the values there
    Article(id="a6", writer="cy", words=1).save()
    ws.commit("cy writes")
    assert writers.aggregate(Sum("n")) == {"n__sum": sum(counts)}  # as it read its matches
    assert writers.all().aggregate(Sum("n")) == {"n__sum": sum(counts) + 1}
    assert Writer.all(treeish="HEAD~1").annotate(n=Count("articles")).aggregate(Sum("n")) == {
        "n__sum": sum(counts)}
    index_before = ws.index.id
    firsts = Writer.objects.annotate(first=Min("articles__pk"))
    assert firsts.aggregate(Max("first")) == {"first__max": "a6"}
    for bad in (lambda: firsts.aggregate(Sum("first")),  # a sum of ids: refused as over the ids
                lambda: writers.aggregate(Sum("nope")), lambda: writers.aggregate(n=5)):
        with pytest.raises(FieldError):
            bad()
    assert ws.index.id == index_before and not ws.has_changes()
