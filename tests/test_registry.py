"""The model registry: ws.GitModel, ws.models, register_model, import_models."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitmodel import fields
from gitmodel.exceptions import GitModelError
from gitmodel.models import GitModel
from gitmodel.workspace import Workspace

MODULE = textwrap.dedent(
    """
    from gitmodel import fields
    from gitmodel.models import GitModel


    class Named(GitModel):
        name = fields.CharField()

        class Meta:
            abstract = True


    class Author(Named):
        email = fields.EmailField(required=False)


    class Post(GitModel):
        title = fields.CharField()
        author = fields.RelatedField("Author", required=False)
    """
)


@pytest.fixture
def models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "pkgs"
    package.mkdir()
    name = f"declared_models_{abs(hash(str(tmp_path)))}"
    (package / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(package))
    import importlib

    return importlib.import_module(name)


def test_models_declared_on_ws_gitmodel_are_registered(ws: Workspace) -> None:
    class Page(ws.GitModel):
        title = fields.CharField()

    assert ws.models.Page is Page
    assert ws.models["Page"] is Page
    assert "Page" in ws.models
    assert Page._meta.workspace is ws
    assert isinstance(Page(), ws.GitModel)
    assert isinstance(Page(), GitModel)


def test_models_gitmodel_is_ws_gitmodel(ws: Workspace) -> None:
    assert ws.models.GitModel is ws.GitModel
    assert issubclass(ws.GitModel, GitModel)
    assert ws.GitModel._meta.abstract


def test_unknown_model_name_on_registry(ws: Workspace) -> None:
    with pytest.raises(AttributeError, match="Nope"):
        ws.models.Nope
    with pytest.raises(KeyError):
        ws.models["Nope"]


def test_unbound_model_refuses_to_be_used(ws: Workspace) -> None:
    class Loose(GitModel):
        title = fields.CharField()

    actions = [
        ("__init__", lambda: Loose(title="x")),
        ("get", lambda: Loose.get("x")),
        ("all", Loose.all),
        ("all", lambda: Loose.filter(title="x")),
        ("delete", lambda: Loose.delete("x")),
    ]
    for name, action in actions:
        with pytest.raises(GitModelError, match="has not been registered with a workspace") as info:
            action()
        assert f"Cannot call Loose.{name}()" in str(info.value)


def test_register_model_binds_a_subclass(ws: Workspace) -> None:
    class Loose(GitModel):
        title = fields.CharField()

    Bound = ws.register_model(Loose)
    assert Bound is not Loose
    assert issubclass(Bound, Loose)
    assert ws.models.Loose is Bound
    assert ws.register_model(Loose) is Bound  # idempotent
    obj = Bound(title="hello")
    obj.save()
    assert isinstance(obj, Loose) and isinstance(obj, Bound) and isinstance(obj, ws.GitModel)
    assert Bound.get(obj.id).title == "hello"
    with pytest.raises(GitModelError, match="has not been registered"):
        Loose.get(obj.id)  # the declared class itself stays unbound


def test_register_model_of_own_model_returns_it(ws: Workspace) -> None:
    class Page(ws.GitModel):
        title = fields.CharField()

    assert ws.register_model(Page) is Page


def test_register_model_refuses_non_models(ws: Workspace) -> None:
    with pytest.raises(TypeError):
        ws.register_model(dict)  # type: ignore[type-var]


def test_one_class_in_two_workspaces(tmp_path: Path) -> None:
    class Shared(GitModel):
        title = fields.CharField()

    ws1 = Workspace.init(tmp_path / "one.git")
    ws2 = Workspace.init(tmp_path / "two.git")
    A = ws1.register_model(Shared)
    B = ws2.register_model(Shared)
    A(id="x", title="in one").save()
    with pytest.raises(B.DoesNotExist):
        B.get("x")
    assert A.get("x").title == "in one"


def test_import_models_binds_declared_classes(ws: Workspace, models_module) -> None:
    registry = ws.import_models(models_module)
    assert registry is ws.models
    assert set(ws.models) >= {"Author", "Post"}
    assert ws.models.Named._meta.abstract  # abstract models are reachable too
    assert issubclass(ws.models.Named, models_module.Named)
    with pytest.raises(GitModelError, match="Cannot call Named.all.. on abstract model Named"):
        ws.models.Named.all()
    Author = ws.models.Author
    Post = ws.models["Post"]
    assert issubclass(Author, models_module.Author)
    assert [f.name for f in Author._meta.fields] == ["id", "name", "email"]
    ann = Author(name="Ann")
    ann.save()
    post = Post(title="Hi", author=ann)
    post.save()
    loaded = Post.get(post.id)
    assert isinstance(loaded, models_module.Post)
    assert isinstance(loaded, Post)
    assert isinstance(loaded.author, models_module.Author)
    assert isinstance(loaded.author, models_module.Named)
    assert loaded.author.name == "Ann"
    with pytest.raises(GitModelError, match="has not been registered with a workspace"):
        models_module.Author.get(ann.id)


def test_import_models_by_dotted_name(ws: Workspace, models_module) -> None:
    ws.import_models(models_module.__name__)
    assert issubclass(ws.models.Author, models_module.Author)


def test_models_with_a_reverse_relation_in_a_second_workspace(tmp_path: Path) -> None:
    """A model with a ``related_name`` registers in another workspace on the
    same store (as the merging guide's second writer does); its reverse
    query reads there, and names the model missing there if it is."""
    from gitmodel.exceptions import FieldError

    ws = Workspace.init(tmp_path / "s.git")

    class Author(ws.GitModel):
        name = fields.CharField()

    class Page(ws.GitModel):
        author = fields.RelatedField(Author, related_name="pages")

    Author(id="ann", name="Ann").save()
    Page(id="p1", author="ann").save()
    ws.commit("base")
    lonely = Workspace(ws.path)
    with pytest.raises(FieldError, match="register Page in this workspace"):
        list(lonely.register_model(Author).get("ann").pages)
    other = Workspace(ws.path)
    OtherAuthor = other.register_model(Author)
    OtherPage = other.register_model(Page)
    OtherPage(id="p2", author="ann").save()
    other.commit("another page")
    assert OtherAuthor.get("ann").pages.ids() == ["p1", "p2"]
    assert Author.get("ann").pages.ids() == ["p1", "p2"]

    with pytest.raises(FieldError, match='related_name "pages" of Note.author'):
        class Note(ws.GitModel):  # another relation may not take the same name
            author = fields.RelatedField(Author, related_name="pages")
    assert "Note" not in ws.models and Author.get("ann").pages.ids() == ["p1", "p2"]


def test_a_delete_refuses_when_an_unregistered_model_may_refer_to_the_object(tmp_path: Path) -> None:
    """A workspace that knows Author but not Page cannot apply Page's
    on_delete rules: the stored schema says Page refers to Author, so the
    delete is refused (nothing staged) until Page is registered there."""
    from gitmodel.exceptions import ProtectedError

    ws = Workspace.init(tmp_path / "s.git")

    class Author(ws.GitModel):
        name = fields.CharField()

    class Page(ws.GitModel):
        author = fields.RelatedField(Author, related_name="pages", on_delete=fields.CASCADE)

    Author(id="ann", name="Ann").save()
    Page(id="p1", author="ann").save()
    ws.commit("base")
    other = Workspace(ws.path)
    OtherAuthor = other.register_model(Author)
    index = other.index.id
    with pytest.raises(ProtectedError, match="Page is not registered in this workspace"):
        OtherAuthor.delete("ann")
    assert other.index.id == index and not other.has_changes()
    other.register_model(Page)
    OtherAuthor.delete("ann")  # now the cascade applies
    other.commit("ann and her pages go")
    assert Page.all().ids() == [] and Author.all().ids() == []
