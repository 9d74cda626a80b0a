"""Code written for python-gitmodel 0.1 runs: its declarations, import paths,
registration, accepted values and messages (see docs/guides/coming-from-0.1.rst)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import textwrap
from pathlib import Path

import pygit2
import pytest

from gitmodel import conf, utils
from gitmodel.exceptions import (
    ConfigurationError,
    GitModelError,
    IntegrityError,
    ReferenceNotFound,
    RepositoryError,
    ValidationError,
)
from gitmodel.models import DeclarativeMetaclass, GitModel, ModelBase
from gitmodel.workspace import Workspace

# A models module as 0.1 users wrote them: plain GitModel subclasses, bound later.
MODELS = textwrap.dedent(
    '''
    from gitmodel import fields
    from gitmodel.models import GitModel


    class Author(GitModel):
        first_name = fields.CharField()
        last_name = fields.CharField()
        email = fields.EmailField()
        language = fields.CharField(default="en-US")


    class Post(GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        author = fields.RelatedField(Author, required=False)


    def get_path_custom(opts, object_id):
        return f"{opts.model_name.replace('alternate', '-alt')}/{object_id}/data.json"


    class PostAlternate(GitModel):
        slug = fields.SlugField()
        title = fields.CharField()

        class Meta:
            id_attr = "slug"
            get_data_path = get_path_custom


    class PostAlternateSub(PostAlternate):
        foo = fields.CharField()

        class Meta(PostAlternate.Meta):
            id_attr = "foo"


    class AbstractBase(GitModel):
        field_one = fields.CharField()

        class Meta:
            abstract = True


    class Concrete(AbstractBase):
        field_two = fields.CharField()
    '''
)


@pytest.fixture
def old_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "modules"
    folder.mkdir()
    name = f"old_models_{abs(hash(str(tmp_path)))}"
    (folder / f"{name}.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(folder))
    return importlib.import_module(name)


@pytest.fixture
def models(ws: Workspace, old_models):
    return ws.import_models(old_models)


# -- Meta ------------------------------------------------------------------------------------
def test_meta_stays_readable_and_is_inherited_the_0_1_way(models, old_models) -> None:
    assert old_models.PostAlternate.Meta.id_attr == "slug"
    assert old_models.PostAlternateSub.Meta.id_attr == "foo"
    assert issubclass(old_models.PostAlternateSub.Meta, old_models.PostAlternate.Meta)
    Sub = models.PostAlternateSub
    assert Sub._meta.id_attr == "foo"
    assert [f.name for f in Sub._meta.fields if f.id] == ["foo"]  # slug is no id any more
    sub = Sub(slug="s", title="t", foo="bar")
    sub.save()
    assert sub.get_data_path() == "post-altsub/bar/data.json"  # the parent's get_data_path
    assert Sub.get("bar").slug == "s"


def test_meta_data_path_override(models) -> None:
    post = models.PostAlternate(slug="foobar", title="Foobar")
    post.save()
    assert post.get_data_path() == "post-alt/foobar/data.json"
    assert models.PostAlternate._meta.id_field.name == "slug"


def test_model_without_meta_has_none_of_its_own(ws: Workspace) -> None:
    class Page(ws.GitModel):
        pass

    assert not hasattr(Page, "Meta")  # nothing misleading inherited from ws.GitModel


# -- import paths ----------------------------------------------------------------------------
def test_declarative_metaclass_is_the_model_metaclass(ws: Workspace) -> None:
    assert DeclarativeMetaclass is ModelBase
    assert isinstance(GitModel, DeclarativeMetaclass)
    assert isinstance(ws.models.GitModel, DeclarativeMetaclass)


def test_conf_config_and_defaults() -> None:
    assert conf.defaults.DEFAULT_SERIALIZER == "gitmodel.serializers.json"
    assert conf.defaults["LOCK_WAIT_TIMEOUT"] == 30
    assert conf.DEFAULTS["DEFAULT_GIT_USER"] == ("gitmodel", "gitmodel@local")
    config = conf.Config({"LOCK_WAIT_TIMEOUT": 5})
    assert config.LOCK_WAIT_TIMEOUT == 5 and config.LOCK_WAIT_INTERVAL == 1000
    config.EXTRA = 1
    assert config["EXTRA"] == 1
    with pytest.raises(AttributeError, match="NOPE"):
        config.NOPE
    with pytest.raises(ConfigurationError, match="yaml"):
        conf.Config({"DEFAULT_SERIALIZER": "gitmodel.serializers.yaml"})


def test_workspace_config_is_the_workspace_settings(ws: Workspace) -> None:
    assert isinstance(ws.config, conf.Config)
    assert ws.config is ws.config
    ws.config.DEFAULT_GIT_USER = ("John Doe", "jdoe@example.com")
    ws.config["LOCK_WAIT_TIMEOUT"] = 2
    assert ws.default_author == ("John Doe", "jdoe@example.com") and ws.lock_timeout == 2.0
    ws.add_blob("a.txt", "a")
    commit = ws.repo[ws.commit("by config")]
    assert (commit.author.name, commit.author.email) == ("John Doe", "jdoe@example.com")
    ws.lock_timeout = 7
    assert ws.config.LOCK_WAIT_TIMEOUT == 7 and ws.config.get("LOCK_WAIT_TIMEOUT") == 7


# -- gitmodel.utils --------------------------------------------------------------------------
def _test_tree(repo: pygit2.Repository) -> pygit2.Oid:
    blob = repo.create_blob(b"TEST")
    baz = utils.path.build_path(repo, "foo/bar/baz", [("test2.txt", blob, pygit2.GIT_FILEMODE_BLOB)])
    entries = [("test.txt", blob, pygit2.GIT_FILEMODE_BLOB), ("test3.txt", blob, pygit2.GIT_FILEMODE_BLOB)]
    return utils.path.build_path(repo, "/foo/bar/", entries, baz)


def test_build_path_and_describe_tree(ws: Workspace, run_git) -> None:
    repo = ws.repo
    root = _test_tree(repo)
    assert utils.path.describe_tree(repo, root) == (
        "foo/\n  bar/\n    baz/\n      test2.txt\n    test.txt\n    test3.txt"
    )
    updated = utils.path.build_path(
        repo, "foo/bar/baz", [("test2.txt", repo.create_blob(b"NEW"), pygit2.GIT_FILEMODE_BLOB)], root
    )
    tree = repo[updated]
    assert tree["foo/bar/baz/test2.txt"].data == b"NEW"  # type: ignore[attr-defined]
    assert tree["foo/bar/test.txt"].data == b"TEST"  # type: ignore[attr-defined]
    run_git(repo.path, "fsck", "--strict", "--no-dangling")
    assert run_git(repo.path, "ls-tree", "-r", "--name-only", str(updated)).split() == [
        "foo/bar/baz/test2.txt", "foo/bar/test.txt", "foo/bar/test3.txt",
    ]


def test_build_path_refuses_unsafe_paths(ws: Workspace) -> None:
    blob = ws.repo.create_blob(b"x")
    for path, name in (("a/../b", "x"), ("a", "../x"), ("a", "")):
        with pytest.raises(GitModelError):
            utils.path.build_path(ws.repo, path, [(name, blob, pygit2.GIT_FILEMODE_BLOB)])


def test_glob(ws: Workspace) -> None:
    repo = ws.repo
    root = _test_tree(repo)
    assert list(utils.path.glob(repo, root, "foo/*/*.txt")) == ["foo/bar/test.txt", "foo/bar/test3.txt"]
    assert list(utils.path.glob(repo, root, "foo/bar/baz/test2.txt")) == ["foo/bar/baz/test2.txt"]
    assert list(utils.path.glob(repo, root, "foo/*/nothing")) == []
    assert list(utils.path.glob(repo, repo[root], "*/b?r/test[23].txt")) == ["foo/bar/test3.txt"]


def test_make_signature() -> None:
    stamp = 1_355_270_400.7
    sig = utils.make_signature("Tester Test", "test@example.com", timestamp=stamp)
    local = dt.datetime.fromtimestamp(stamp).astimezone().utcoffset()
    assert (sig.name, sig.email, sig.time) == ("Tester Test", "test@example.com", 1_355_270_400)
    assert sig.offset == local.total_seconds() // 60  # type: ignore[union-attr]
    assert utils.make_signature("a", "b", stamp, default_offset=-240).offset == -240
    assert utils.make_signature("a", "b", stamp, offset=60, default_offset=-240).offset == 60
    assert abs(utils.make_signature("a", "b").time - dt.datetime.now().timestamp()) < 3600


def test_treeish_to_tree(ws: Workspace) -> None:
    ws.add_blob("a.txt", "a")
    commit_id = ws.commit("one")
    tree = ws.repo[commit_id].tree  # type: ignore[attr-defined]
    for treeish in ("master", "refs/heads/master", commit_id, str(commit_id)[:8], ws.repo[commit_id], tree):
        assert utils.treeish_to_tree(ws.repo, treeish).id == tree.id
    with pytest.raises(ReferenceNotFound):
        utils.treeish_to_tree(ws.repo, "nope")


# -- registration ----------------------------------------------------------------------------
def test_import_models_reaches_every_model_abstract_included(models, ws: Workspace) -> None:
    assert models is ws.models
    assert {"Author", "Post", "PostAlternate", "PostAlternateSub", "AbstractBase", "Concrete"} <= set(models)
    for call in (
        models.AbstractBase.all,
        models.AbstractBase.get,
        lambda: models.AbstractBase.get("1"),
        models.AbstractBase,
    ):
        with pytest.raises(GitModelError, match="abstract model AbstractBase"):
            call()
    concrete = models.Concrete(field_one="1", field_two="2")
    concrete.save()
    assert models.Concrete.get(id=concrete.id).field_one == "1"
    with pytest.raises(TypeError, match=r"Concrete.get\(\) needs an id"):
        models.Concrete.get()


def test_unregistered_model_is_refused_when_used(models, old_models) -> None:
    models.Author(first_name="J", last_name="D", email="j@example.com").save()
    pattern = r"Cannot call Author\.\w+\(\) because Author has not been registered with a workspace"
    for call in (
        lambda: old_models.Author(first_name="John"),
        lambda: old_models.Author.get("x"),
        old_models.Author.all,
    ):
        with pytest.raises(GitModelError, match=pattern) as info:
            call()
        assert "ws.register_model(Author)" in str(info.value)


# -- values and messages ---------------------------------------------------------------------
def test_charfield_stores_the_text_form_of_a_datetime(models) -> None:
    author = models.Author(first_name=dt.datetime(2012, 12, 12), last_name=0.007, email="j@example.com")
    author.save()
    loaded = models.Author.get(author.id)
    assert (loaded.first_name, loaded.last_name) == ("2012-12-12 00:00:00", "0.007")


def test_taken_id_message_names_model_and_id(models) -> None:
    models.Post(slug="test-post", title="one").save()
    with pytest.raises(IntegrityError, match='A Post instance already exists with id "test-post"'):
        models.Post(slug="test-post", title="two").save()


def test_invalid_git_oid_message(ws: Workspace) -> None:
    from gitmodel import fields

    class Snapshot(ws.GitModel):
        commit = fields.GitObjectField(type=pygit2.Commit)

    with pytest.raises(ValidationError, match='"commit" must be a valid git OID'):
        Snapshot(commit="foo").save()


def test_save_commit_refuses_only_other_pending_changes(models) -> None:
    author = models.Author(first_name="John", last_name="Doe", email="j@example.com")
    author.save()
    author.first_name = "Jane"
    commit_id = author.save(commit=True, message="only this object pending")
    assert commit_id is not None
    models.Post(slug="other", title="pending").save()
    author.first_name = "Jo"
    with pytest.raises(RepositoryError, match="pending"):
        author.save(commit=True)


def test_stored_format_is_the_one_field_per_line_json(models, ws: Workspace) -> None:
    author = models.Author(first_name="John", last_name="Doe", email="j@example.com")
    author.save()
    data = ws.repo[author.oid].data  # type: ignore[index]
    assert json.loads(data) == {
        "model": "Author",
        "fields": {
            "id": author.id, "first_name": "John", "last_name": "Doe",
            "email": "j@example.com", "language": "en-US",
        },
    }
    assert data.endswith(b"\n") and b'\n    "email": "j@example.com",\n' in data


def test_switching_to_a_missing_branch_says_reference_not_found(ws: Workspace) -> None:
    with pytest.raises(RepositoryError, match="Reference not found: refs/heads/foobar"):
        ws.set_branch("foobar")


def test_compact_json_written_by_0_1_is_read(models, ws: Workspace) -> None:
    blob = ws.repo.create_blob(
        b'{"model": "Author", "fields": {"id": "old", "first_name": "John", '
        b'"last_name": "Doe", "email": "j@example.com", "language": "fr"}}'
    )
    ws.stage.set("author/old/data.json", blob)
    ws.commit("written by 0.1")
    author = models.Author.get("old")
    assert (author.first_name, author.language) == ("John", "fr")
    author.save(commit=True)
    data = ws.repo[author.oid].data  # type: ignore[index]
    assert data.endswith(b"}\n") and b'\n    "first_name": "John",\n' in data  # rewritten


def test_str_repr_and_docstring_are_0_1s(ws: Workspace) -> None:
    from gitmodel import fields

    class Plain(ws.GitModel):
        title = fields.CharField()

    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()

        def __str__(self) -> str:
            return self.title

    class Legacy(ws.GitModel):
        title = fields.CharField()

        def __unicode__(self) -> str:  # as written for 0.1
            return self.title

    plain = Plain(title="x")
    assert str(plain) == "Plain object" and repr(plain) == f"<Plain: {plain.id}>"
    assert repr(Page(slug="home", title="Home Page")) == "<Page: Home Page>"
    legacy = Legacy(title="Old")
    assert (str(legacy), repr(legacy)) == ("Old", "<Legacy: Old>")
    assert Plain.__doc__ == "Plain(id, title)" and Page.__doc__ == "Page(slug, title)"


def test_a_0_1_custom_field_raises_its_validation_errors_by_code(ws: Workspace) -> None:
    from gitmodel import fields

    class EvenField(fields.IntegerField):
        default_error_messages = {"odd": "must be even, not {value}"}

        def validate(self, value, model_instance=None):  # type: ignore[no-untyped-def]
            super().validate(value, model_instance)
            if value is not None and value % 2:
                raise ValidationError("odd", self, value=value)

    class Counter(ws.GitModel):
        n = EvenField(required=False)
        lang = fields.CharField(default="en-US")

    with pytest.raises(ValidationError) as caught:
        Counter(n=3).save()
    assert str(caught.value) == '"n" must be even, not 3' and caught.value.field == "n"
    assert caught.value.code == "odd"
    lang = Counter._meta.get_field("lang")
    assert lang.default == "en-US"
    assert lang.get_error_message("nope", default="is odd") == '"lang" is odd'
    assert lang.get_error_message("odd") == '"lang" odd'  # no message for that code: the code itself


def test_two_id_fields_are_a_configuration_error_as_in_0_1(ws: Workspace) -> None:
    from gitmodel import FieldError, fields

    with pytest.raises(ConfigurationError) as caught:
        class Bad(ws.GitModel):
            a = fields.CharField(id=True)
            b = fields.CharField(id=True)
    assert isinstance(caught.value, FieldError)


def test_0_1_helpers_utils_json_references_create_blob_and_branch_items(ws: Workspace) -> None:
    from gitmodel.exceptions import UnsupportedFormat

    assert utils.json is json and issubclass(UnsupportedFormat, GitModelError)
    ws.add_blob("test.txt", "Test")
    commit = ws.commit("initial commit")
    ref = ws.repo.lookup_reference("refs/heads/master")
    assert utils.treeish_to_tree(ws.repo, ref).id == ws.repo[commit].tree.id
    blob = ws.create_blob("abc")
    assert ws.repo[blob].data == b"abc" and not ws.has_changes()
    assert ws.branch["test.txt"].name == "test.txt" and ws.branch["test.txt"].data == b"Test"
