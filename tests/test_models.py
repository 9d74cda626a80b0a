"""Models: declaration, Meta options, inheritance, save/get/all/delete."""

from __future__ import annotations

import io
import json

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import (
    ConfigurationError,
    DoesNotExist,
    FieldError,
    GitModelError,
    IntegrityError,
    ReferenceNotFound,
    RepositoryError,
    ValidationError,
)
from gitmodel.models import GitModel
from gitmodel.workspace import Workspace


@pytest.fixture
def Page(ws: Workspace):
    class Page(ws.GitModel):
        slug = fields.SlugField()
        title = fields.CharField()
        content = fields.CharField(required=False)
        published = fields.BooleanField(default=True)

    return Page


# -- the README, step by step ---------------------------------------------------
def test_readme_quickstart(ws: Workspace, Page, run_git) -> None:
    page = Page(slug="example-page", title="Example Page")
    page.content = "<h2>Here is an Example</h2><p>Lorem Ipsum</p>"
    assert page.save() is None
    assert len(page.id) == 32 and int(page.id, 16) >= 0  # a uuid4 hex
    assert page.id != str(page.oid)
    oid = page.save(commit=True, message="Added an example page")
    commit = ws.repo[oid]
    assert isinstance(commit, pygit2.Commit)
    assert commit.message == "Added an example page"
    assert [c.message for c in ws.walk()] == ["Added an example page"]
    again = Page.get(page.id)
    assert again.title == "Example Page"
    assert again.published is True
    assert run_git(ws.path, "log", "--format=%s").strip() == "Added an example page"


# -- declaration -------------------------------------------------------------------
def test_fields_keep_declaration_order_with_auto_id_first(Page) -> None:
    assert [f.name for f in Page._meta.fields] == ["id", "slug", "title", "content", "published"]
    assert isinstance(Page._meta.get_field("id"), fields.UUIDField)
    assert Page._meta.id_attr == "id"


def test_field_with_id_true_is_the_id(ws: Workspace) -> None:
    class Tag(ws.GitModel):
        label = fields.CharField()
        name = fields.SlugField(id=True)

    assert [f.name for f in Tag._meta.fields] == ["label", "name"]
    assert Tag._meta.id_attr == "name"
    tag = Tag(name="python", label="Python")
    tag.save()
    assert tag.id == tag.get_id() == "python"
    assert tag.get_data_path() == "tag/python/data.json"
    assert Tag.get("python").label == "Python"


@pytest.mark.parametrize("option", ["id_attr", "id_field"])
def test_meta_id_attr_and_id_field(ws: Workspace, option: str) -> None:
    Meta = type("Meta", (), {option: "slug"})
    Article = type(
        "Article",
        (ws.GitModel,),
        {"__module__": __name__, "slug": fields.SlugField(), "title": fields.CharField(), "Meta": Meta},
    )
    assert [f.name for f in Article._meta.fields] == ["slug", "title"]
    assert Article._meta.id_attr == "slug"
    obj = Article(slug="hello", title="Hello")
    obj.save()
    assert obj.get_data_path() == "article/hello/data.json"
    assert Article.get("hello").title == "Hello"


def test_two_id_fields_are_refused(ws: Workspace) -> None:
    with pytest.raises(FieldError):

        class Bad(ws.GitModel):
            a = fields.CharField(id=True)
            b = fields.CharField(id=True)


def test_meta_id_attr_naming_no_field_is_refused(ws: Workspace) -> None:
    with pytest.raises(FieldError):

        class Bad(ws.GitModel):
            a = fields.CharField()

            class Meta:
                id_attr = "missing"


def test_unknown_meta_option_is_an_error(ws: Workspace) -> None:
    with pytest.raises(ConfigurationError, match="orderin"):

        class Bad(ws.GitModel):
            a = fields.CharField()

            class Meta:
                orderin = ["a"]


def test_meta_data_filename(ws: Workspace, run_git) -> None:
    class Item(ws.GitModel):
        name = fields.CharField()

        class Meta:
            data_filename = "item.json"

    item = Item(id="one", name="x")
    item.save(commit=True, message="item")
    assert item.get_data_path() == "item/one/item.json"
    assert json.loads(run_git(ws.path, "show", "master:item/one/item.json"))["fields"]["name"] == "x"
    assert [i.id for i in Item.all()] == ["one"]


def test_meta_get_data_path_override(ws: Workspace, run_git) -> None:
    def flat_path(opts, object_id):
        return f"flat/{opts.model_name}-{object_id}.json"

    class Doc(ws.GitModel):
        body = fields.CharField()

        class Meta:
            get_data_path = flat_path

    Doc(id="a", body="A").save()
    Doc(id="b", body="B").save()
    ws.add_blob("flat/unrelated.txt", "not a doc")
    ws.commit("docs")
    assert Doc(id="a").get_data_path() == "flat/doc-a.json"
    assert Doc.get("a").body == "A"
    assert sorted(d.id for d in Doc.all()) == ["a", "b"]
    assert "flat/doc-b.json" in run_git(ws.path, "ls-tree", "-r", "--name-only", "master")
    Doc.delete("a")
    assert [d.id for d in Doc.all()] == ["b"]


def test_meta_options_are_inherited(ws: Workspace) -> None:
    class Base(ws.GitModel):
        name = fields.CharField()

        class Meta:
            abstract = True
            data_filename = "obj.json"

    class Child(Base):
        extra = fields.IntegerField(required=False)

    assert Base._meta.abstract and not Child._meta.abstract
    assert Child._meta.data_filename == "obj.json"
    assert [f.name for f in Child._meta.fields] == ["id", "name", "extra"]


# -- inheritance ------------------------------------------------------------------
def test_redeclaring_a_parent_field_is_a_field_error(ws: Workspace) -> None:
    class Base(ws.GitModel):
        name = fields.CharField()

    with pytest.raises(FieldError, match="name"):

        class Child(Base):
            name = fields.CharField()


def test_abstract_models_cannot_be_got_listed_or_saved(ws: Workspace) -> None:
    class Base(ws.GitModel):
        name = fields.CharField()

        class Meta:
            abstract = True

    class Concrete(Base):
        pass

    with pytest.raises(GitModelError, match="abstract"):
        Base(name="x").save()
    with pytest.raises(GitModelError, match="abstract"):
        Base.get("x")
    with pytest.raises(GitModelError, match="abstract"):
        Base.all()
    assert ws.models.Base is Base  # registered, as python-gitmodel 0.1 did, and still refused
    obj = Concrete(name="x")
    obj.save()
    assert Concrete.get(obj.id).name == "x"
    assert [o.id for o in Concrete.all()] == [obj.id]
    assert isinstance(obj, Base)


def test_concrete_parent_and_child_store_separately(ws: Workspace) -> None:
    class Animal(ws.GitModel):
        name = fields.CharField()

    class Dog(Animal):
        breed = fields.CharField(required=False)

    Animal(id="a", name="generic").save()
    Dog(id="d", name="rex", breed="lab").save()
    assert Dog.get("d").breed == "lab"
    assert [a.id for a in Animal.all()] == ["a"]
    assert Dog(id="d").get_data_path() == "dog/d/data.json"
    with pytest.raises(Animal.DoesNotExist):
        Animal.get("d")


# -- save ---------------------------------------------------------------------------------
def test_save_validates_every_field_first(ws: Workspace) -> None:
    class Person(ws.GitModel):
        email = fields.EmailField()
        age = fields.IntegerField()

    with pytest.raises(ValidationError) as info:
        Person(email="nope", age="x").save()
    assert set(info.value.message_dict) == {"email", "age"}
    assert not ws.has_changes()


def test_save_runs_clean_hook_after_fields(ws: Workspace) -> None:
    seen = []

    class Event(ws.GitModel):
        start = fields.IntegerField()
        end = fields.IntegerField()

        def clean(self) -> None:
            seen.append((self.start, self.end))  # already coerced
            if self.end < self.start:
                raise ValidationError("end must not be before start")

    with pytest.raises(ValidationError, match="end must not be before start"):
        Event(start="5", end="3").save()
    assert seen == [(5, 3)]
    assert not ws.has_changes()
    Event(start="1", end="3").save()
    assert ws.has_changes()


def test_full_clean_coerces_values(ws: Workspace) -> None:
    class Counter(ws.GitModel):
        n = fields.IntegerField()

    c = Counter(n="33")
    c.full_clean()
    assert c.n == 33


def test_new_object_with_existing_id_is_integrity_error(ws: Workspace, Page) -> None:
    Page(id="p1", slug="a", title="first").save()
    with pytest.raises(IntegrityError):
        Page(id="p1", slug="b", title="second").save()
    assert Page.get("p1").title == "first"


def test_existing_committed_id_is_integrity_error(ws: Workspace, Page) -> None:
    Page(id="p1", slug="a", title="first").save(commit=True, message="one")
    with pytest.raises(IntegrityError):
        Page(id="p1", slug="b", title="second").save()


def test_saving_again_updates(ws: Workspace, Page) -> None:
    page = Page(slug="a", title="one")
    page.save()
    first_oid = page.oid
    page.title = "two"
    page.save()
    assert page.oid != first_oid
    assert Page.get(page.id).title == "two"
    loaded = Page.get(page.id)
    loaded.title = "three"
    loaded.save()
    assert Page.get(page.id).title == "three"


def test_changing_the_id_moves_the_object(ws: Workspace) -> None:
    class Post(ws.GitModel):
        slug = fields.SlugField(id=True)
        file = fields.BlobField()

    post = Post(slug="old", file=b"attached")
    post.save(commit=True, message="one")
    post.slug = "new"
    post.save()
    index = ws.index
    assert "post/old" not in index
    assert index["post/new/data.json"]
    assert index["post/new/file.data"].data == b"attached"
    with pytest.raises(Post.DoesNotExist):
        Post.get("old")
    assert Post.get("new").file.read() == b"attached"


def test_moving_onto_an_existing_id_is_refused(ws: Workspace) -> None:
    class Post(ws.GitModel):
        slug = fields.SlugField(id=True)

    Post(slug="a").save()
    b = Post(slug="b")
    b.save()
    b.slug = "a"
    with pytest.raises(IntegrityError):
        b.save()
    assert sorted(p.id for p in Post.all()) == ["a", "b"]


def test_blob_field_is_stored_beside_the_data_file(ws: Workspace, run_git) -> None:
    class Attachment(ws.GitModel):
        name = fields.CharField()
        content = fields.BlobField()

    att = Attachment(id="a1", name="logo", content=io.BytesIO(b"\x89PNG\x00data"))
    att.save(commit=True, message="attach")
    tree = run_git(ws.path, "ls-tree", "--name-only", "master:attachment/a1").split()
    assert tree == ["content.data", "data.json"]
    stored = json.loads(run_git(ws.path, "show", "master:attachment/a1/data.json"))
    assert "content" not in stored["fields"]
    loaded = Attachment.get("a1")
    assert loaded.content.read() == b"\x89PNG\x00data"
    assert loaded.content.read() == b"\x89PNG\x00data"  # a fresh file each time
    loaded.content = None
    loaded.save()
    assert "attachment/a1/content.data" not in ws.index
    assert Attachment.get("a1").content is None


def test_blob_field_accepts_bytes_and_str(ws: Workspace) -> None:
    class Attachment(ws.GitModel):
        content = fields.BlobField()

    Attachment(id="b", content=b"bytes").save()
    Attachment(id="s", content="text é").save()
    assert Attachment.get("b").content.read() == b"bytes"
    assert Attachment.get("s").content.read() == "text é".encode()


def test_save_commit_returns_commit_id(ws: Workspace, Page, run_git) -> None:
    page = Page(slug="a", title="A")
    oid = page.save(commit=True, message="add a", author=("Ann", "ann@example.com"))
    assert isinstance(oid, pygit2.Oid)
    commit = ws.repo[oid]
    assert commit.message == "add a"
    assert commit.author.name == "Ann"
    assert run_git(ws.path, "rev-parse", "master").strip() == str(oid)
    assert not ws.has_changes()


def test_save_commit_with_own_earlier_changes_pending(ws: Workspace, Page) -> None:
    page = Page(slug="a", title="A")
    page.save()
    page.title = "B"
    oid = page.save(commit=True, message="mine")
    assert oid is not None
    assert Page.get(page.id, oid).title == "B"


def test_save_commit_refused_when_other_changes_pending(ws: Workspace, Page) -> None:
    other = Page(slug="other", title="Other")
    other.save()
    page = Page(slug="a", title="A")
    with pytest.raises(RepositoryError, match="pending"):
        page.save(commit=True, message="only mine")
    assert ws.branch is None
    with pytest.raises(Page.DoesNotExist):
        Page.get(page.id)  # nothing of the refused save was staged
    assert Page.get(other.id).title == "Other"  # the pending work is kept
    ws.add_blob("unrelated.txt", "x")
    with pytest.raises(RepositoryError, match="pending"):
        Page.delete(other.id, commit=True)
    assert Page.get(other.id)


def test_save_commit_when_nothing_changed_returns_none(ws: Workspace, Page) -> None:
    page = Page(slug="a", title="A")
    assert page.save(commit=True, message="one") is not None
    assert page.save(commit=True, message="again") is None


# -- get and all -------------------------------------------------------------------------
def test_get_from_index_branch_tag_and_commit(ws: Workspace, Page) -> None:
    page = Page(id="p", slug="a", title="v1")
    first = page.save(commit=True, message="v1")
    ws.repo.references.create("refs/tags/light", first)
    ws.repo.create_tag("annotated", first, pygit2.enums.ObjectType.COMMIT, ws.repo[first].author, "t")
    ws.create_branch("old")
    page.title = "v2"
    second = page.save(commit=True, message="v2")
    page.title = "staged"
    page.save()
    assert Page.get("p").title == "staged"
    assert Page.get("p", "master").title == "v2"
    assert Page.get("p", "refs/heads/master").title == "v2"
    assert Page.get("p", ws.branch).title == "v2"
    assert Page.get("p", "old").title == "v1"
    assert Page.get("p", "light").title == "v1"
    assert Page.get("p", "annotated").title == "v1"
    assert Page.get("p", first).title == "v1"
    assert Page.get("p", str(first)).title == "v1"
    assert Page.get("p", str(first)[:10]).title == "v1"
    assert Page.get("p", ws.repo[second]).title == "v2"
    assert Page.get("p", ws.repo[second].tree).title == "v2"


def test_get_missing_raises_does_not_exist(ws: Workspace, Page) -> None:
    with pytest.raises(Page.DoesNotExist) as info:
        Page.get("missing")
    assert isinstance(info.value, DoesNotExist)
    assert isinstance(info.value, LookupError)
    assert "missing" in str(info.value)


def test_does_not_exist_is_per_model(ws: Workspace, Page) -> None:
    class Other(ws.GitModel):
        pass

    assert Page.DoesNotExist is not Other.DoesNotExist
    assert not issubclass(Page.DoesNotExist, Other.DoesNotExist)
    with pytest.raises(DoesNotExist):
        Other.get("x")
    try:
        Other.get("x")
    except Page.DoesNotExist:  # pragma: no cover - must not match
        pytest.fail("Other.get raised Page.DoesNotExist")
    except Other.DoesNotExist:
        pass


def test_get_at_unknown_treeish(ws: Workspace, Page) -> None:
    with pytest.raises(ReferenceNotFound):
        Page.get("p", "no-such-branch")


def test_get_object_absent_at_old_commit(ws: Workspace, Page) -> None:
    Page(id="a", slug="a", title="A").save(commit=True, message="one")
    first = ws.branch.commit.id
    Page(id="b", slug="b", title="B").save(commit=True, message="two")
    with pytest.raises(Page.DoesNotExist):
        Page.get("b", first)


def test_all_lists_every_instance(ws: Workspace, Page) -> None:
    assert list(Page.all()) == []
    for i in range(3):
        Page(id=f"p{i}", slug=f"s{i}", title=f"T{i}").save()
    first = ws.commit("three")
    Page(id="p3", slug="s3", title="T3").save()
    Page.delete("p0")
    assert sorted(p.id for p in Page.all()) == ["p1", "p2", "p3"]
    assert sorted(p.id for p in Page.all(first)) == ["p0", "p1", "p2"]
    assert len(Page.all()) == 3
    assert all(isinstance(p, Page) for p in Page.all())


def test_get_returns_independent_copies(ws: Workspace) -> None:
    class Doc(ws.GitModel):
        data = fields.JSONField()

    Doc(id="d", data={"a": [1]}).save()
    one = Doc.get("d")
    one.data["a"].append(2)
    assert Doc.get("d").data == {"a": [1]}


# -- delete --------------------------------------------------------------------------------
def test_delete_by_id_and_instance(ws: Workspace, Page, run_git) -> None:
    a = Page(id="a", slug="a", title="A")
    b = Page(id="b", slug="b", title="B")
    a.save()
    b.save()
    ws.commit("both")
    oid = Page.delete("a", commit=True, message="drop a")
    assert isinstance(oid, pygit2.Oid)
    assert ws.repo[oid].message == "drop a"
    with pytest.raises(Page.DoesNotExist):
        Page.get("a")
    assert b.delete() is None
    assert b.oid is None
    assert ws.has_changes()
    oid = ws.commit("drop b")
    assert run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split() == [".gitmodel/schema/Page.json"]
    assert Page.get("b", ws.repo[oid].parents[0].id).title == "B"


def test_delete_missing_raises_does_not_exist(ws: Workspace, Page) -> None:
    with pytest.raises(Page.DoesNotExist):
        Page.delete("ghost")
    with pytest.raises(Page.DoesNotExist):
        Page(id="ghost", slug="g", title="G").delete()


def test_delete_removes_blob_fields_too(ws: Workspace) -> None:
    class Attachment(ws.GitModel):
        content = fields.BlobField()

    Attachment(id="x", content=b"data").save()
    Attachment.delete("x")
    assert "attachment" not in ws.index


# -- _meta and instances ----------------------------------------------------------------------
def test_meta_attributes(ws: Workspace, Page) -> None:
    opts = Page._meta
    assert [f.name for f in opts.fields][0] == "id"
    assert opts.get_field("title").name == "title"
    assert isinstance(opts.get_field("slug"), fields.SlugField)
    with pytest.raises(FieldError):
        opts.get_field("nope")
    assert opts.id_attr == "id"
    assert opts.model_name == "page"
    assert opts.data_filename == "data.json"
    assert opts.abstract is False
    assert opts.workspace is ws


def test_instance_identity_helpers(ws: Workspace, Page) -> None:
    page = Page(id="p1", slug="a", title="A")
    assert page.id == page.get_id() == "p1"
    assert page.oid is None
    assert page.get_data_path() == "page/p1/data.json"
    page.save()
    assert page.oid == ws.index["page/p1/data.json"].id
    assert Page.get("p1").oid == page.oid


def test_unknown_constructor_argument_is_refused(Page) -> None:
    with pytest.raises(TypeError, match="bogus"):
        Page(bogus=1)


def test_defaults_apply_on_construction(Page) -> None:
    page = Page()
    assert page.published is True
    assert page.content is None
    assert Page().id != Page().id


def test_equality_by_model_and_id(ws: Workspace, Page) -> None:
    class Other(ws.GitModel):
        pass

    assert Page(id="x", title="a") == Page(id="x", title="b")
    assert Page(id="x") != Page(id="y")
    assert Page(id="x") != Other(id="x")
    assert Page(id="x") != "x"
    assert len({Page(id="x"), Page(id="x"), Page(id="y")}) == 2
    page = Page(slug="a", title="A")
    page.save()
    assert Page.get(page.id) == page


def test_repr(Page) -> None:
    assert repr(Page(id="abc")) == "<Page: abc>"


def test_object_lock(ws: Workspace, Page) -> None:
    page = Page(id="p1", slug="a", title="A")
    with page.lock():
        assert ws.locked("page-p1")
    assert not ws.locked("page-p1")


# -- bad ids ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["a/b", "a\x00b", "..", ".", ".git", "", "   ", "back\\slash"])
def test_bad_ids_are_validation_errors_naming_the_field(ws: Workspace, Page, bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        Page(id=bad, slug="s", title="t").save()
    assert info.value.field == "id"
    assert '"id"' in str(info.value)
    with pytest.raises(ValidationError):
        Page.get(bad)
    assert not ws.has_changes()


@pytest.mark.parametrize("bad", ["a/b", "..", ".git"])
def test_bad_ids_on_custom_id_field(ws: Workspace, bad: str) -> None:
    class Tag(ws.GitModel):
        name = fields.CharField(id=True)

    with pytest.raises(ValidationError) as info:
        Tag(name=bad).save()
    assert info.value.field == "name"


def test_unbound_model_refuses_to_be_instantiated() -> None:
    class Loose(GitModel):
        title = fields.CharField()

    with pytest.raises(
        GitModelError, match=r"Cannot call Loose.__init__\(\) because Loose has not been registered"
    ) as info:
        Loose(title="x")
    assert "ws.register_model(Loose)" in str(info.value)


def test_get_data_path_override_with_blob_field(ws: Workspace) -> None:
    def flat_path(opts, object_id):
        return f"files/{object_id}.json"

    class Upload(ws.GitModel):
        body = fields.BlobField()

        class Meta:
            get_data_path = flat_path

    Upload(id="a", body=b"A").save()
    Upload(id="b", body=b"B").save()
    assert Upload.get("a").body.read() == b"A"
    assert sorted(u.id for u in Upload.all()) == ["a", "b"]
    Upload.delete("a")
    assert sorted(e.name for e in ws.index["files"]) == ["b.json", "b.json.body"]
    assert Upload.get("b").body.read() == b"B"


def test_original_readme_as_written(workdir_repo_path, capsys) -> None:
    from gitmodel.workspace import Workspace as W

    ws = W(str(workdir_repo_path / ".git"))

    class Page(ws.GitModel):
        slug = fields.SlugField()
        title = fields.CharField()
        content = fields.CharField()
        published = fields.BooleanField(default=True)

    page = Page(slug="example-page", title="Example Page")
    page.content = "<h2>Here is an Example</h2><p>Lorem Ipsum</p>"
    page.save()
    print(page.id)
    oid = page.save(commit=True, message="Added an example page")
    commit = ws.repo[oid]
    print(commit.message)
    for commit in ws.walk():
        print(commit.id, commit.message)
    page = Page.get(page.id)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == page.id and len(page.id) == 32
    assert out[1] == "Added an example page"
    assert out[2] == f"{oid} Added an example page"
    assert page.content == "<h2>Here is an Example</h2><p>Lorem Ipsum</p>"
    assert page.published is True
