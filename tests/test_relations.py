"""Relations with integrity, reverse queries, time travel, lists, querysets
and paginators, against real repositories."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from gitmodel import (
    Avg,
    Count,
    FieldError,
    IntegrityError,
    InvalidPage,
    KeysetPaginator,
    Max,
    Min,
    Paginator,
    ProtectedError,
    RepositoryError,
    Sum,
    ValidationError,
    Workspace,
    fields,
)
from gitmodel.listfield import ElementConflict, merge_sequence, merge_set


def build(ws):
    class Author(ws.GitModel):
        slug = fields.SlugField(id=True)
        name = fields.CharField()
        email = fields.CharField(unique=True, required=False)

    class Tag(ws.GitModel):
        slug = fields.SlugField(id=True)

    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        author = fields.RelatedField(Author, related_name="pages")
        editor = fields.RelatedField(Author, required=False, on_delete=fields.SET_NULL,
                                     related_name="edited")
        tags = fields.ManyToManyField(Tag, related_name="pages", on_delete=fields.SET_NULL)
        words = fields.ListField(fields.CharField())
        rank = fields.IntegerField(default=0)

    class Comment(ws.GitModel):
        page = fields.RelatedField(Page, on_delete=fields.CASCADE, related_name="comments")
        text = fields.CharField()

    return Author, Tag, Page, Comment


@pytest.fixture
def cms(tmp_path):
    ws = Workspace.init(tmp_path / "cms.git")
    Author, Tag, Page, Comment = build(ws)
    Author(slug="ada", name="Ada").save()
    Author(slug="bob", name="Bob").save()
    Tag(slug="python").save()
    Tag(slug="git").save()
    Page(slug="home", author="ada", editor="bob", tags=["python"], words=["x"], rank=3).save()
    Page(slug="about", author="bob", tags=["python", "git"], rank=5).save()
    Comment(id="c1", page="home", text="hi").save()
    ws.commit("start")
    return ws, Author, Tag, Page, Comment


def git(path, *args):
    return subprocess.run(["git", f"--git-dir={path}", *args], check=True,
                          capture_output=True, text=True).stdout


# -- integrity on save -------------------------------------------------------------


def test_a_reference_to_a_missing_object_is_refused_with_nothing_staged(cms):
    ws, Author, Tag, Page, Comment = cms
    with pytest.raises(IntegrityError, match="Author 'nobody', which does not exist"):
        Page(slug="x", author="nobody").save()
    with pytest.raises(IntegrityError, match="Tag 'rust'"):
        Page(slug="x", author="ada", tags=["rust"]).save()
    assert not ws.has_changes()


def test_an_instance_of_another_model_is_refused(cms):
    ws, Author, Tag, Page, Comment = cms
    with pytest.raises(ValidationError, match="not a Tag instance"):
        Page(slug="x", author=Tag.get("git")).save()
    assert not ws.has_changes()


def test_a_target_saved_in_the_same_unit_of_work_counts(cms):
    ws, Author, Tag, Page, Comment = cms
    cy = Author(slug="cy", name="Cy")
    cy.save()
    Page(slug="new", author=cy).save()
    ws.commit("cy and a page")
    assert Page.get("new").author.name == "Cy"


# -- integrity on delete -----------------------------------------------------------


def test_protect_is_the_default_and_stages_nothing(cms):
    ws, Author, Tag, Page, Comment = cms
    with pytest.raises(ProtectedError, match="Page 'home' \\(author\\) refers to it") as info:
        Author.delete("ada", commit=True)
    assert info.value.protected == [("Page", "home")]
    assert not ws.has_changes()
    assert Author.get("ada").name == "Ada"


def test_cascade_set_null_and_many_to_many_in_one_commit(cms):
    ws, Author, Tag, Page, Comment = cms
    before = ws.branch.commit.id
    Page.delete("home", commit=True, message="drop home")
    commit = ws.branch.commit
    assert commit.parents[0].id == before  # one commit for the page and its comment
    assert Comment.all().ids() == []
    changed = git(ws.repo.path, "show", "--name-status", "--format=", str(commit.id)).split("\n")
    assert "D\tcomment/c1/data.json" in changed and "D\tpage/home/data.json" in changed

    Page.delete("about", commit=True)
    Page(slug="p", author="ada", editor="bob", tags=["git", "python"]).save(commit=True)
    Author.delete("bob")
    Tag.delete("git")
    ws.commit("drop bob and git")
    page = Page.get("p")
    assert page.editor is None and [t.slug for t in page.tags] == ["python"]
    assert "bob" not in Author.all().ids()


def test_moving_a_referenced_object_to_a_new_id_is_refused(cms):
    """A changed id moves the object; whatever the rule (PROTECT, SET_NULL,
    CASCADE, a many-to-many list), the objects referring to the old id would
    dangle, so save() and bulk_save() refuse it with nothing staged."""
    ws, Author, Tag, Page, Comment = cms
    head = git(ws.path, "rev-parse", "HEAD")
    for model, old, new, referrer in ((Author, "ada", "adeline", "Page 'home' (author)"),
                                      (Author, "bob", "robert", "Page 'about' (author), Page 'home' (editor)"),
                                      (Tag, "git", "gitscm", "Page 'about' (tags)"),
                                      (Page, "home", "start", "Comment 'c1' (page)")):
        for save in (lambda obj: obj.save(), lambda obj: type(obj).bulk_save([obj])):
            obj = model.get(old)
            obj.slug = new
            index = ws.index.id
            with pytest.raises(IntegrityError) as caught:
                save(obj)
            assert f"cannot move {model.__name__} '{old}' to '{new}': {referrer} refer" in str(caught.value)
            assert ws.index.id == index and not ws.has_changes()
            assert model.filter(pk=old).exists() and not model.filter(pk=new).exists()
    # the way to do it: a new object, the references moved, the old one deleted
    Author(slug="adeline", name="Ada").save()
    home = Page.get("home")
    home.author = "adeline"
    home.save()
    Author.delete("ada")
    ws.commit("ada is adeline")
    assert Page.get("home").author.slug == "adeline"
    # an object no one refers to moves
    cy = Author(slug="cy", name="Cy")
    cy.save()
    cy.slug = "cyd"
    cy.save()
    ws.commit("cy moves")
    assert Author.all().ids() == ["adeline", "bob", "cyd"] and git(ws.path, "rev-parse", "HEAD") != head
    git(ws.path, "fsck", "--strict")


def test_a_partial_reset_that_would_break_a_rule_resets_nothing(cms):
    """reset() of some objects leaves the others pending: refused (nothing
    reset) when those would then refer to nothing or share a unique value."""
    ws, Author, Tag, Page, Comment = cms
    ada = Author.get("ada")
    ada.email = "ada@one.org"
    ada.save(commit=True)
    cy = Author(slug="cy", name="Cy")
    cy.save()
    Page(slug="new", author="cy").save()  # refers to the pending cy
    ada = Author.get("ada")
    ada.email = "ada@two.org"
    ada.save()
    Author(slug="dee", name="Dee", email="ada@one.org").save()  # the email ada gave up
    Tag.delete("git")  # SET_NULL: 'about' loses the tag, pending
    for targets, named in (([cy], "Page 'new' field 'author' (dangling reference)"),
                           (["page/about"], "Page 'about' field 'tags' (dangling reference)"),
                           ([ada], "field 'email' (unique): 'ada@one.org' is also held by")):
        index = ws.index.id
        with pytest.raises(IntegrityError) as caught:
            ws.reset(targets)
        assert named in str(caught.value) and "nothing was reset" in str(caught.value)
        assert ws.index.id == index
    ws.reset([cy, Page.get("new")])  # the two together: fine
    assert not Author.filter(pk="cy").exists() and not Page.filter(pk="new").exists()
    ws.reset(["tag/git", "page/about"])
    assert sorted(t.slug for t in Page.get("about").tags) == ["git", "python"]
    ws.reset(["author/ada", "author/dee"])
    assert not ws.has_changes()
    git(ws.path, "fsck", "--strict")


def test_set_null_needs_an_optional_field_and_set_default_a_default():
    with pytest.raises(FieldError, match="required=False"):
        fields.RelatedField("Author", on_delete=fields.SET_NULL)
    with pytest.raises(FieldError, match="needs a default"):
        fields.RelatedField("Author", on_delete=fields.SET_DEFAULT)
    with pytest.raises(FieldError, match="on_delete must be one of"):
        fields.RelatedField("Author", on_delete="explode")


# -- reverse queries, batching, ordering ----------------------------------------------


def test_related_name_gives_an_indexed_reverse_query(cms):
    ws, Author, Tag, Page, Comment = cms
    ada = Author.get("ada")
    assert [p.slug for p in ada.pages] == ["home"]
    assert ada.pages.explain() == "index only: Page.author (exact)"
    assert sorted(p.slug for p in Tag.get("python").pages) == ["about", "home"]
    assert [c.id for c in Page.get("home").comments] == ["c1"]
    assert Author.get("bob").pages.filter(rank__gt=4).ids() == ["about"]


def test_select_related_loads_each_target_once(cms):
    ws, Author, Tag, Page, Comment = cms
    pages = list(Page.all().select_related("author", "tags"))
    assert all(isinstance(p._data["author"], Author) for p in pages)
    assert {p.slug: p.author.name for p in pages} == {"about": "Bob", "home": "Ada"}
    assert [t.slug for t in pages[0].tags] == ["python", "git"]
    with pytest.raises(FieldError, match="not a relation"):
        Page.all().select_related("rank")


def test_order_by_across_a_relation(cms):
    ws, Author, Tag, Page, Comment = cms
    assert Page.all().order_by("-author__name").ids() == ["about", "home"]
    assert Page.all().order_by("author__name").ids() == ["home", "about"]
    assert Comment.all().order_by("page__author__name").ids() == ["c1"]
    with pytest.raises(FieldError):
        Page.all().order_by("rank__name")


# -- time travel ----------------------------------------------------------------------


def test_an_old_version_reads_related_objects_at_the_same_commit(cms):
    ws, Author, Tag, Page, Comment = cms
    start = ws.branch.commit.id
    ws.repo.references.create("refs/tags/v1", start)
    ada = Author.get("ada")
    ada.name = "Ada Lovelace"
    ada.save(commit=True)
    Page.delete("home")
    Author.delete("ada")
    ws.commit("drop ada")
    old = Page.get("home", treeish="v1")
    assert old.author.name == "Ada"  # deleted now, read as it was
    assert [t.slug for t in old.tags] == ["python"]
    assert [p.slug for p in Author.get("ada", treeish=start).pages] == ["home"]
    assert [p.author.name for p in Page.all(treeish="v1").order_by("slug")] == ["Bob", "Ada"]


# -- lists ----------------------------------------------------------------------------


def test_list_elements_are_stored_one_per_line_and_matched_exactly(cms):
    ws, Author, Tag, Page, Comment = cms
    Page(slug="l", author="ada", words=["python", "git"]).save(commit=True)
    text = git(ws.repo.path, "show", "HEAD:page/l/data.json")
    assert '    "words": [\n      "python",\n      "git"\n    ]' in text
    assert Page.filter(words__contains="python").ids() == ["l"]
    assert Page.filter(words__contains="pyth").ids() == []
    assert Page.filter(words=["python", "git"]).ids() == ["l"]
    with pytest.raises(FieldError, match="unknown lookup"):
        Page.filter(words__startswith="p")
    with pytest.raises(ValidationError, match="element 1"):
        Page(slug="bad", author="ada", words=["ok", ["nested"]]).save()


def test_the_stored_schema_records_lists_and_relations(cms):
    ws, Author, Tag, Page, Comment = cms
    record = json.loads(git(ws.repo.path, "show", "HEAD:.gitmodel/schema/Page.json"))
    recorded = record["fields"]
    assert recorded["words"]["of"]["type"] == "CharField"
    assert recorded["editor"]["on_delete"] == "set_null"
    assert recorded["tags"]["related_name"] == "pages"
    assert "on_delete" not in recorded["author"]  # declared without: PROTECT
    stored = ws.schemas()["Page"]
    assert isinstance(stored.fields["words"].to_field(), fields.ListField)
    assert isinstance(stored.fields["tags"].to_field(), fields.ManyToManyField)


def test_lists_merge_element_by_element_across_branches(cms):
    ws, Author, Tag, Page, Comment = cms
    ws.create_branch("other")
    page = Page.get("home")
    page.words = ["x", "ours"]
    page.tags = []
    page.save(commit=True)
    ws.set_branch("other")
    page = Page.get("home")
    page.words = ["theirs", "x"]
    page.tags = ["python", "git"]
    page.save(commit=True)
    ws.set_branch("master" if "refs/heads/master" in ws.repo.references else "main")
    result = ws.merge("other")
    assert result.commit is not None, result.conflicts
    merged = Page.get("home")
    assert merged.words == ["theirs", "x", "ours"]
    assert [t.slug for t in merged.tags] == ["git"]  # ours removed python, theirs added git


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_sequence_merge_keeps_both_sides_adds_and_removes(data):
    base = data.draw(st.lists(st.integers(0, 50), unique=True, max_size=8))

    def side(tag):
        kept = [v for v in base if data.draw(st.booleans())]
        for new in data.draw(st.lists(st.integers(0, 20), unique=True, max_size=4)):
            kept.insert(data.draw(st.integers(0, len(kept))), f"{tag}{new}")
        return kept

    ours, theirs = side("o"), side("t")
    merged = merge_sequence(base, ours, theirs)
    removed = (set(base) - set(ours)) | (set(base) - set(theirs))
    expected = (set(base) - removed) | (set(ours) - set(base)) | (set(theirs) - set(base))
    assert sorted(map(str, merged)) == sorted(map(str, expected))
    for side_list in (ours, theirs):  # each side's order is kept
        kept = [v for v in merged if v in side_list]
        assert kept == [v for v in side_list if v in kept]
    assert merge_sequence(base, ours, base) == ours
    assert merge_sequence(base, base, theirs) == theirs


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 9)), st.sets(st.integers(0, 9)), st.sets(st.integers(0, 9)))
def test_set_merge_is_the_three_way_set_answer(base, ours, theirs):
    merged = merge_set(sorted(base), sorted(ours), sorted(theirs))
    assert set(merged) == (base & ours & theirs) | (ours - base) | (theirs - base)
    assert len(merged) == len(set(merged))


def test_reordering_both_ways_is_a_conflict():
    with pytest.raises(ElementConflict):
        merge_sequence([1, 2, 3], [3, 2, 1], [2, 1, 3])


# -- integrity across merges and pulls ----------------------------------------------


def test_a_merge_breaking_a_unique_field_or_a_reference_stays_open(cms):
    ws, Author, Tag, Page, Comment = cms
    main = ws.branch.name
    ws.create_branch("other")
    Page.delete("about")
    Author.delete("bob")
    Page.filter(slug="home").update(editor=None)
    Author(slug="cy", name="Cy", email="same@x").save()
    ws.commit("ours")
    ws.set_branch("other")
    Page(slug="new", author="bob").save()
    Author(slug="dee", name="Dee", email="same@x").save()
    ws.commit("theirs")
    ws.set_branch(main)
    head = ws.branch.commit.id
    result = ws.merge("other")
    assert result.commit is None
    described = sorted(c.describe() for c in result.conflicts)
    assert any("Page 'new' field 'author' (dangling reference)" in d and "'bob'" in d for d in described)
    assert any("Author 'cy' field 'email' (unique)" in d and "Author 'dee'" in d for d in described)
    assert ws.branch.commit.id == head  # nothing committed
    for conflict in result.conflicts:
        ws.resolve(conflict, "ours")
    ws.commit("merged")
    assert sorted(Author.all().ids()) == ["ada", "cy"] and "new" not in Page.all().ids()


def test_a_pull_breaking_a_reference_reports_it(tmp_path):
    origin = Workspace.init(tmp_path / "origin.git")
    Author, Tag, Page, Comment = build(origin)
    Author(slug="ada", name="Ada").save()
    origin.commit("start")
    clone = Workspace.clone(str(tmp_path / "origin.git"), tmp_path / "clone.git")
    CAuthor, _CTag, CPage, _CComment = build(clone)
    CPage(slug="mine", author="ada").save(commit=True)
    Author.delete("ada", commit=True)  # allowed there: nothing refers to it yet
    result = clone.pull()
    conflicts = result.conflicts or result.merge.conflicts
    assert [c.describe() for c in conflicts] == [
        "Page 'mine' field 'author' (dangling reference): refers to Author 'ada', deleted on one side"
    ]
    clone.abort_merge()
    assert CAuthor.get("ada").name == "Ada"


# -- querysets ------------------------------------------------------------------------


def test_update_and_delete_are_validated_first_and_can_commit(cms):
    ws, Author, Tag, Page, Comment = cms
    head = ws.branch.commit.id
    assert Page.all().update(rank=9, commit=True) == 2
    assert ws.branch.commit.parents[0].id == head
    assert Page.all().values_list("rank", flat=True) == [9, 9]
    with pytest.raises(ValidationError):
        Page.all().update(rank="lots")
    with pytest.raises(IntegrityError, match="unique"):
        Author.all().update(email="same@x")
    with pytest.raises(ProtectedError):
        Author.all().delete()
    assert not ws.has_changes()
    assert Page.filter(slug="home").delete(commit=True) == 2  # the page and its comment
    with pytest.raises(RepositoryError):
        Page.all(treeish=head).update(rank=1)


def test_aggregates_group_by_and_json_safe_values(cms):
    ws, Author, Tag, Page, Comment = cms
    assert Page.all().aggregate(Sum("rank"), Min("rank"), Max("rank"), Avg("rank"), n=Count("pk")) == {
        "rank__sum": 8, "rank__min": 3, "rank__max": 5, "rank__avg": 4.0, "n": 2}
    grouped = Page.all().order_by("slug").values("author").annotate(n=Count("pk"), top=Max("rank"))
    assert grouped == [{"author": "bob", "n": 1, "top": 5}, {"author": "ada", "n": 1, "top": 3}]
    assert Page.all().values("author").distinct() == [{"author": "bob"}, {"author": "ada"}]
    with pytest.raises(FieldError, match="needs a number field"):
        Page.all().aggregate(Sum("slug"))
    with pytest.raises(FieldError):
        Page.all().aggregate("rank")

    class Event(ws.GitModel):
        when = fields.DateTimeField()
        price = fields.DecimalField()

    import datetime
    import decimal

    Event(id="e", when=datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
          price=decimal.Decimal("1.50")).save()
    assert json.loads(json.dumps(Event.all().values(json_safe=True))) == [
        {"id": "e", "when": "2024-01-02T00:00:00+00:00", "price": "1.50"}]
    assert Event.all().values_list("price", flat=True, json_safe=True) == ["1.50"]


def test_exists_in_bulk_get_or_create_update_or_create(cms):
    ws, Author, Tag, Page, Comment = cms
    assert Page.filter(rank=3).exists() and not Page.filter(rank=99).exists()
    assert set(Page.all().in_bulk(["home", "missing"])) == {"home"}
    page, created = Page.all().get_or_create(slug="new", defaults={"author": "ada"})
    assert created and Page.get("new").author.name == "Ada"
    again, created = Page.all().get_or_create(slug="new", defaults={"author": "bob"})
    assert not created and again.author.name == "Ada"
    updated, created = Page.all().update_or_create(slug="new", defaults={"rank": 7})
    assert not created and Page.get("new").rank == 7
    assert Page.all().distinct().count() == 3


def test_model_shortcuts_for_get_or_create_update_or_create_in_bulk(cms):
    ws, Author, Tag, Page, Comment = cms  # Django's manager methods, on the model as filter() is
    page, created = Page.get_or_create(slug="new", defaults={"author": "ada"})
    assert created and Page.get("new").author.name == "Ada"
    again, created = Page.get_or_create(slug="new", defaults={"author": "bob"})
    assert not created and again.author.name == "Ada"
    updated, created = Page.update_or_create(slug="new", defaults={"rank": 7})
    assert not created and updated.rank == 7 and Page.get("new").rank == 7
    fresh, created = Page.update_or_create(slug="newer", defaults={"author": "bob", "rank": 1})
    assert created and Page.get("newer").author.name == "Bob"
    assert sorted(Page.in_bulk(["home", "newer", "missing"])) == ["home", "newer"]
    with pytest.raises(ValidationError):
        Page.get_or_create(slug="bad id/", defaults={"author": "ada"})
    assert sorted(Page.all().ids()) == sorted(["home", "about", "new", "newer"])
    import gitmodel

    assert (gitmodel.PROTECT, gitmodel.CASCADE, gitmodel.SET_NULL, gitmodel.SET_DEFAULT) == (
        fields.PROTECT, fields.CASCADE, fields.SET_NULL, fields.SET_DEFAULT)


# -- pagination -------------------------------------------------------------------------


def test_numbered_and_keyset_pages(cms):
    ws, Author, Tag, Page, Comment = cms
    for i in range(7):
        Page(slug=f"p{i}", author="ada", rank=i).save()
    ws.commit("more")
    paginator = Paginator(Page.all().order_by("slug"), 4)
    assert paginator.count == 9 and paginator.num_pages == 3
    page = paginator.page(3)
    assert [p.slug for p in page] == ["p6"] and page.has_previous() and not page.has_next()
    assert page.start_index() == 9
    with pytest.raises(InvalidPage):
        paginator.page(4)

    keyset = KeysetPaginator(Page.all(), 3, order_by=("rank",))
    first = keyset.page()
    assert [p.slug for p in first] == ["p0", "p1", "p2"]
    Page(slug="early", author="ada", rank=-1).save(commit=True)  # another writer, before the cursor
    second = keyset.page(first.next_cursor)
    assert [p.slug for p in second] == ["home", "p3", "p4"]  # equal ranks: by id
    seen = [p.slug for p in second]
    cursor = second.next_cursor
    while cursor is not None:
        page = keyset.page(cursor)
        seen += [p.slug for p in page]
        cursor = page.next_cursor
    assert seen == ["home", "p3", "p4", "about", "p5", "p6"]
    with pytest.raises(InvalidPage):
        keyset.page("not a cursor")


# -- index answers equal row answers --------------------------------------------------


def test_aggregates_and_ordering_agree_with_the_rows_whatever_is_pending(tmp_path):
    ws = Workspace.init(tmp_path / "n.git")

    class Item(ws.GitModel):
        score = fields.IntegerField(index=True, default=0)
        name = fields.CharField(index=True)

    Item.bulk_save(Item(id=f"i{k:03d}", score=(k * 7) % 10, name=f"n{(k * 3) % 11}") for k in range(40))
    ws.commit("items")

    def by_rows():
        objs = list(Item.all())
        return (sum(o.score for o in objs),
                [o.id for o in sorted(objs, key=lambda o: (o.name, o.id))])

    assert (Item.all().aggregate(Sum("score"))["score__sum"],
            Item.all().order_by("name", "pk").ids()) == by_rows()
    item = Item.get("i005")
    item.score, item.name = 2**70, "a first"  # pending, and too big for SQLite
    item.save()
    Item(id="new", score=3, name="zz").save()
    assert (Item.all().aggregate(Sum("score"))["score__sum"],
            Item.all().order_by("name", "pk").ids()) == by_rows()
    ws.commit("big")
    assert Item.all().aggregate(Sum("score"))["score__sum"] == by_rows()[0]
    assert Item.filter(score__lt=5).aggregate(n=Count("pk"), low=Min("score")) == {
        "n": sum(1 for o in Item.all() if o.score < 5), "low": 0}


def test_list_and_relation_fields_round_trip_through_the_stored_schema(tmp_path):
    ws = Workspace.init(tmp_path / "s.git")
    Author, Tag, Page, Comment = build(ws)
    Author(slug="ada", name="Ada").save()
    Tag(slug="git").save()
    Page(slug="p", author="ada", tags=["git"]).save()
    ws.commit("schema")
    reopened = Workspace(str(tmp_path / "s.git"))
    stored = reopened.schemas()["Page"].fields
    words = stored["words"].to_field()
    assert isinstance(words.base_field, fields.CharField) and words.kind == "sequence"
    tags = stored["tags"].to_field()
    assert tags.on_delete is fields.SET_NULL and tags.related_name == "pages"
    author = stored["author"].to_field()
    assert author.on_delete is None and author.rule is fields.PROTECT
    # the same declaration again is the same schema: no migration needed
    build(reopened)
    assert not reopened.has_changes()
