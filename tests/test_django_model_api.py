"""What a Django user reaches for on a model and its instances: pickling
and ``copy.deepcopy`` (caches keep objects), ``Model.objects``,
``create()`` (also through a reverse relation), ``page.author_id`` and
``full_clean(exclude=...)``."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from gitmodel import FieldError, IntegrityError, MergeConflict, RepositoryError, ValidationError, Workspace, fields

from conftest import git


#: the models of the current test, at module level so that pickle finds them
Author: Any = None
Tag: Any = None
Page: Any = None


def declare(ws: Workspace) -> tuple[type, type, type]:
    global Author, Tag, Page

    class Author(ws.GitModel):
        name = fields.CharField()

    class Tag(ws.GitModel):
        label = fields.CharField()

    class Page(ws.GitModel):
        title = fields.CharField(max_length=20)
        author = fields.RelatedField(Author, required=False, related_name="pages")
        tags = fields.ManyToManyField(Tag, related_name="pages")
        photo = fields.BlobField(required=False)

    for cls in (Author, Tag, Page):
        cls.__qualname__ = cls.__name__  # pickled by reference, as a module-level model is
    return Author, Tag, Page


@pytest.fixture
def cms(tmp_path):
    ws = Workspace.init(tmp_path / "cms.git")
    Author, Tag, Page = declare(ws)
    Author(id="ada", name="Ada").save()
    Tag(id="py", label="Python").save()
    Page(id="home", title="Home", author="ada", tags=["py"], photo=b"\x89PNG").save()
    ws.commit("first")
    return ws, Author, Tag, Page


def test_a_read_object_survives_pickle_and_deepcopy(cms):
    ws, Author, Tag, Page = cms
    page = Page.get("home")
    assert page.author.name == "Ada"  # the related object is loaded, then pickled with it
    pickled, copied = pickle.loads(pickle.dumps(page)), copy.deepcopy(page)
    for twin in (pickled, copied):
        assert twin == page and twin.title == "Home" and twin.oid == page.oid
        assert twin.author.name == "Ada" and [t.id for t in twin.tags] == ["py"]
        assert twin.photo.read() == b"\x89PNG"
    pickled.title = "Start"
    pickled.save(commit=True, message="renamed by a copy")
    assert Page.get("home").title == "Start"
    copied.photo = b"GIF89a"  # still the version both were read at: merged onto the rename
    copied.save(commit=True, message="new photo from a copy")
    assert (Page.get("home").title, Page.get("home").photo.read()) == ("Start", b"GIF89a")
    again = copy.deepcopy(page)  # the copies remember their version: the same rename twice
    again.title = "Start"        # is a second writer's edit, not one to take once
    with pytest.raises(MergeConflict):
        again.save(commit=True, message="renamed again")
    assert page.title == "Home"  # the copies share nothing with it
    assert git(ws.path, "log", "--format=%s", "-1").startswith("new photo from a copy")


def test_an_old_version_pickled_still_reads_at_its_commit(cms):
    ws, Author, Tag, Page = cms
    first = git(ws.path, "rev-parse", "HEAD").strip()
    author = Author.get("ada")
    author.name = "Ada L."
    author.save(commit=True, message="renamed")
    old = pickle.loads(pickle.dumps(Page.get("home", treeish=first)))
    assert old.author.name == "Ada"  # read where the page was read
    assert Page.get("home").author.name == "Ada L."
    fresh = pickle.loads(pickle.dumps(Page(id="new", title="New")))
    assert fresh.oid is None and fresh.title == "New"
    fresh.save()
    assert Page.get("new").title == "New"


def test_objects_is_the_model_s_queries(cms):
    ws, Author, Tag, Page = cms
    assert Page.objects.count() == 1 and Page.objects.get(title="Home").id == "home"
    assert [p.id for p in Page.objects.filter(author="ada")] == ["home"]
    assert Page.objects.all().exists() and Page.objects.none().count() == 0
    with pytest.raises(AttributeError, match="Page.objects"):
        Page.get("home").objects

    class Shelf(ws.GitModel):  # a field may take the name (python-gitmodel 0.1 had none)
        objects = fields.JSONField(default=list)

    Shelf(id="s", objects=["a", "b"]).save()
    assert Shelf.get("s").objects == ["a", "b"]


def test_create(cms):
    ws, Author, Tag, Page = cms
    about = Page.objects.create(id="about", title="About")
    assert Page.get("about").title == "About" == about.title
    with pytest.raises(IntegrityError, match="already exists"):
        Page.objects.create(id="home", title="Clash")
    with pytest.raises(ValidationError):
        Page.objects.create(id="long", title="x" * 30)
    assert Page.get("home").title == "Home" and sorted(Page.all().ids()) == ["about", "home"]
    with pytest.raises(RepositoryError, match="changes the workspace"):
        Page.all(treeish="HEAD").create(id="old", title="Old")
    ws.commit("about")
    assert git(ws.path, "show", "HEAD:page/about/data.json").count("About") == 1


def test_create_through_a_reverse_relation(cms):
    ws, Author, Tag, Page = cms
    ada, py = Author.get("ada"), Tag.get("py")
    made = ada.pages.create(id="notes", title="Notes")
    assert made.author_id == "ada" and Page.get("notes").author.name == "Ada"
    tagged = py.pages.create(id="tips", title="Tips")
    assert [t.id for t in Page.get("tips").tags] == ["py"] and tagged.author is None
    assert sorted(ada.pages.ids()) == ["home", "notes"] and sorted(py.pages.ids()) == ["home", "tips"]


def test_the_target_id_without_reading_the_target(cms):
    ws, Author, Tag, Page = cms
    page = Page.get("home")
    assert page.author_id == "ada" and "ada" == page._data["author"]  # nothing loaded
    assert page.author.name == "Ada" and page.author_id == "ada"  # loaded: the same id
    page.author_id = None
    page.save()
    assert Page.get("home").author is None and Page.get("home").author_id is None
    page.author_id = "ghost"
    with pytest.raises(IntegrityError, match="ghost"):
        page.save()


def test_full_clean_with_exclude(cms):
    ws, Author, Tag, Page = cms
    page = Page(id="x", title="y" * 30)
    page.full_clean(exclude=["title"])
    with pytest.raises(ValidationError, match="title"):
        page.full_clean()
    with pytest.raises(ValidationError, match="title"):
        page.save()


@pytest.mark.parametrize("bad, error", [
    ({"mesage": "a typo"}, TypeError), ({"update": True}, TypeError),
    ({"message": b"bytes"}, ValidationError), ({"message": "a\x00b"}, ValidationError),
    ({"message": "ok", "author": "no e-mail"}, ValidationError),
    ({"message": "ok", "committer": ("x", "")}, ValidationError),
])
def test_what_a_commit_would_refuse_is_refused_before_anything_is_staged(cms, bad, error):
    ws, Author, Tag, Page = cms
    head = git(ws.path, "rev-parse", "HEAD")
    page = Page.get("home")
    page.title = "Changed"
    attempts = [lambda: page.save(commit=True, **bad), lambda: page.delete(commit=True, **bad),
                lambda: Page.delete("home", commit=True, **bad),
                lambda: Page.bulk_save([page], commit=True, **bad),
                lambda: Page.bulk_create([Page(id="n", title="N")], commit=True, **bad),
                lambda: Page.filter(title="Home").delete(commit=True, **bad),
                lambda: page.save(commit=True, update_fields=["title"], **bad)]
    for attempt in attempts:
        with pytest.raises(error):
            attempt()
        assert not ws.has_changes() and git(ws.path, "rev-parse", "HEAD") == head
    assert Page.get("home").title == "Home"


def test_an_unknown_argument_without_a_commit(cms):
    ws, Author, Tag, Page = cms
    with pytest.raises(TypeError, match="colour"):
        Page(id="n", title="N").save(colour="red")
    assert not ws.has_changes()


def test_save_with_update_fields(cms):
    ws, Author, Tag, Page = cms
    page = Page.get("home")
    page.title, page.author = "Renamed", None
    commit = page.save(update_fields=["author"], commit=True, message="only the author")
    assert git(ws.path, "log", "-1", "--format=%H %s").split(" ", 1) == [str(commit), "only the author\n"]
    stored = Page.get("home")
    assert stored.author is None and stored.title == "Home"  # the title was not written
    other = Page.get("home")
    other.title = "Theirs"
    other.save(commit=True, message="meanwhile")
    page.author = "ada"
    page.save(update_fields=["author"])  # onto the object as stored now
    assert Page.get("home").title == "Theirs" and Page.get("home").author_id == "ada"
    assert page.save(update_fields=[]) is None
    ws.commit("author back")
    with pytest.raises(Page.DoesNotExist, match="not stored"):
        Page(id="fresh", title="F").save(update_fields=["title"])
    with pytest.raises(FieldError, match="nope"):
        Page.get("home").save(update_fields=["nope"])
    assert not ws.has_changes()


def test_a_bad_default_identity_stages_nothing(cms):
    ws, Author, Tag, Page = cms
    ws.default_author = ("Nobody", "")  # not an identity git can write
    page = Page.get("home")
    page.title = "Changed"
    for attempt in (lambda: page.save(commit=True, message="m"),
                    lambda: Page.filter(title="Home").update(title="Other", commit=True),
                    lambda: Page.filter(title="Home").delete(commit=True),
                    lambda: Page.bulk_save([page], commit=True, message="m")):
        with pytest.raises(ValidationError, match="author"):
            attempt()
        assert not ws.has_changes()
    page.save()  # staging alone needs no identity
    assert ws.has_changes()


def test_add_through_a_reverse_relation(cms):
    ws, Author, Tag, Page = cms
    Author(id="bob", name="Bob").save()
    Tag(id="go", label="Go").save()
    Page(id="notes", title="Notes", author="bob").save()
    ws.commit("bob's notes")
    bob, go = Author.get("bob"), Tag.get("go")
    assert bob.pages.add(Page.get("home")) == 1
    assert sorted(bob.pages.ids()) == ["home", "notes"] and Author.get("ada").pages.ids() == []
    assert go.pages.add(Page.get("home"), Page.get("home"), Page.get("notes")) == 2
    assert [t.id for t in Page.get("home").tags] == ["py", "go"] and Page.get("home").title == "Home"
    ws.commit("added")
    assert git(ws.path, "show", "HEAD:page/home/data.json").count('"go"') == 1  # one element line
    for bad in (lambda: bob.pages.add(go), lambda: bob.pages.add(Page(id="draft", title="D")),
                lambda: bob.pages.add(Page.get("notes"), go)):
        with pytest.raises(ValidationError):
            bad()
        assert not ws.has_changes()
    with pytest.raises(TypeError, match="reverse relation"):
        Page.all().add(Page.get("home"))
    with pytest.raises(RepositoryError, match="changes the workspace"):
        Author.get("bob", treeish="HEAD").pages.add(Page.get("home"))


def test_bulk_calls_through_objects(cms):
    ws, Author, Tag, Page = cms
    made = Page.objects.bulk_create([Page(id=f"b{i}", title=f"B{i}") for i in range(3)])
    assert [p.id for p in made] == ["b0", "b1", "b2"] and Page.objects.count() == 4
    for page in made:
        page.title = page.title.lower()
    assert Page.objects.bulk_update(made, ["title"]) == 3
    assert sorted(Page.objects.filter(title__startswith="b").ids()) == ["b0", "b1", "b2"]
    with pytest.raises(RepositoryError):
        Page.all(treeish="HEAD").bulk_create([Page(id="x", title="X")])


def test_pk_in_the_constructor(cms):
    ws, Author, Tag, Page = cms
    assert Page(pk="about", title="About").id == "about"
    assert Page.objects.create(pk="faq", title="FAQ").id == "faq" and Page.get("faq").title == "FAQ"
    with pytest.raises(TypeError, match="both pk and id"):
        Page(pk="a", id="b", title="T")


def test_remove_clear_and_set_through_a_reverse_relation(cms):
    ws, Author, Tag, Page = cms
    Author(id="bob", name="Bob").save()
    Tag(id="go", label="Go").save()
    for name in ("a", "b", "c"):
        Page(id=name, title=name.upper(), author="bob", tags=["go", "py"]).save()
    ws.commit("bob's pages")
    bob, go = Author.get("bob"), Tag.get("go")
    assert bob.pages.remove(Page.get("a")) == 1
    assert sorted(bob.pages.ids()) == ["b", "c"] and Page.get("a").author is None
    assert go.pages.remove(Page.get("a"), Page.get("b")) == 2
    assert [t.id for t in Page.get("a").tags] == ["py"] and sorted(go.pages.ids()) == ["c"]
    assert bob.pages.set([Page.get("a"), Page.get("b")]) == 2  # a added, c removed; b kept
    assert sorted(bob.pages.ids()) == ["a", "b"] and Page.get("c").author is None
    assert go.pages.clear() == 1 and go.pages.ids() == []
    ws.commit("moved")
    assert git(ws.path, "show", "HEAD:page/c/data.json").count('"go"') == 0
    assert [t.id for t in Page.get("home").tags] == ["py"]  # untouched

    class Shelf(ws.GitModel):
        owner = fields.RelatedField(Author, related_name="shelves")  # required

    Shelf(id="s", owner="ada").save(commit=True, message="a shelf")
    with pytest.raises(FieldError, match="required"):
        Author.get("ada").shelves.remove(Shelf.get("s"))
    with pytest.raises(ValidationError):
        bob.pages.remove(go)
    with pytest.raises(ValidationError):
        bob.pages.set([Page.get("a"), Page(id="draft", title="Draft")])
    assert not ws.has_changes() and sorted(bob.pages.ids()) == ["a", "b"]
