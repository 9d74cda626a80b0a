"""Names of revisions and remote branches that no ref can have (a lone
surrogate, a component longer than a file name, a non-string) are
``ReferenceNotFound`` wherever a treeish or a remote branch is taken, and a
remote with a name or address that is not text is a ``ConfigurationError``:
never a raw ``UnicodeEncodeError`` or ``ValueError`` from libgit2."""

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
