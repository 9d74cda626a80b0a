"""Names that cannot be what they should name get a gitmodel error, never a
raw ``UnicodeEncodeError``, ``ValueError`` or ``GitError``: revisions and
remote branches no ref can have (a lone surrogate, a component longer than a
file name) are ``ReferenceNotFound`` wherever a treeish is taken; a remote
named or addressed by a non-string is a ``ConfigurationError``; a path no
repository can be created at is a ``RepositoryError``; blob text UTF-8
cannot hold is a ``ValidationError``."""

from __future__ import annotations

import pytest

from gitmodel import ConfigurationError, ReferenceNotFound, Workspace, fields

NO_REF = ["\ud800", "x" * 5000, "refs/heads/" + "y" * 300, "refs/heads/\udfff"]


@pytest.fixture
def store(tmp_path):
    ws = Workspace.init(tmp_path / "s.git")

    class Page(ws.GitModel):
        title = fields.CharField()

    Page(id="home", title="Home").save(commit=True)
    return ws, Page


@pytest.mark.parametrize("name", NO_REF, ids=["surrogate", "long", "long-ref", "surrogate-ref"])
def test_a_name_no_ref_can_have_is_not_found_wherever_a_treeish_is_taken(store, name):
    ws, Page = store
    head = ws.branch.commit.id
    calls = [
        lambda: Page.get("home", treeish=name),
        lambda: list(Page.all(treeish=name)),
        lambda: list(ws.changes(name)),
        lambda: ws.create_branch("new", name),
        lambda: ws.update_index(name),
        lambda: ws.revert(name),
        lambda: ws.schemas(name),
        lambda: Page.get("home").restore(name),
        lambda: ws.ahead_behind(name),
    ]
    for call in calls:
        with pytest.raises(ReferenceNotFound):
            call()
    assert ws.branch.commit.id == head and not ws.has_changes() and "new" not in ws.branches


@pytest.mark.parametrize("name, url", [(42, "x"), ("origin", None), (None, "x"), ("origin", 3.5)])
def test_a_remote_whose_name_or_url_is_not_text_is_a_configuration_error(store, name, url):
    ws, Page = store
    with pytest.raises(ConfigurationError):
        ws.add_remote(name, url)
    assert ws.remotes.names() == []


@pytest.mark.parametrize("path", ["", "a\x00b", "\ud800", "x" * 5000])
def test_a_repository_that_cannot_be_created_there_is_a_repository_error(tmp_path, path):
    from gitmodel import RepositoryError

    with pytest.raises(RepositoryError, match="cannot create a repository"):
        Workspace.init(path if path == "" else str(tmp_path / path))


def test_blob_text_that_utf8_cannot_hold_is_refused(tmp_path):
    from gitmodel import ValidationError
    from gitmodel.blobs import BlobFile

    ws = Workspace.init(tmp_path / "b.git")

    class Image(ws.GitModel):
        data = fields.BlobField()

    with pytest.raises(ValidationError, match="surrogates"):
        BlobFile("a\ud800b", name="a.txt")
    with pytest.raises(ValidationError) as info:
        Image(id="a", data="a\ud800b").save()
    assert info.value.field == "data" and not ws.has_changes()
    Image(id="b", data="plain text").save(commit=True)
    assert Image.get("b").data.read() == b"plain text"
