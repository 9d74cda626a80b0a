"""Model.blame and history across merges: a change belongs to the commit that made it."""

from __future__ import annotations

import pytest

from gitmodel import fields
from gitmodel.exceptions import ObjectDoesNotExist


@pytest.fixture
def Page(ws):
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        body = fields.CharField(default="-")
        views = fields.IntegerField(default=0)

    return Page


def edit(ws, Page, branch, message, **values):
    ws.set_branch(branch)
    page = Page.get("home")
    for name, value in values.items():
        setattr(page, name, value)
    page.save()
    return ws.commit(message, author=(f"{branch} writer", f"{branch}@example.com"))


def merged_page(ws, Page):
    """master changes the title, a branch the body, then the branch is merged."""
    Page(slug="home", title="Home", body="Hello").save()
    first = ws.commit("add home", author=("Ann", "ann@example.com"))
    ws.create_branch("feature")
    body = edit(ws, Page, "feature", "new body", body="Hello, world")
    title = edit(ws, Page, "master", "new title", title="Welcome")
    merge = ws.merge("feature").commit
    assert merge is not None
    return first, body, title, merge


def test_history_lists_a_merged_change_at_its_own_commit_only(ws, Page):
    first, body, title, merge = merged_page(ws, Page)
    versions = Page.history("home")
    assert [v.commit.id for v in versions][-1] == first
    assert merge not in [v.commit.id for v in versions]
    changes = {v.commit.id: v.changes for v in versions}
    assert changes[body] == {"body": ("Hello", "Hello, world")}
    assert changes[title] == {"title": ("Home", "Welcome")}


def test_history_keeps_a_merge_that_set_a_value_of_its_own(ws, Page):
    Page(slug="home", title="Home").save()
    ws.commit("add home")
    ws.create_branch("feature")
    edit(ws, Page, "feature", "feature title", title="Feature")
    edit(ws, Page, "master", "master title", title="Master")
    result = ws.merge("feature")
    assert result.conflicts
    ws.resolve(result.conflicts[0], value="Both")
    merge = ws.commit("merge, titles combined")
    versions = Page.history("home")
    assert versions[0].commit.id == merge
    assert versions[0].changes == {"title": ("Master", "Both")}
    assert Page.blame("home")["title"].commit.id == merge


def test_blame_names_the_commit_author_and_date_of_each_field(ws, Page):
    first, body, title, merge = merged_page(ws, Page)
    blame = Page.blame("home")
    assert list(blame) == ["slug", "title", "body", "views"]
    assert blame["title"].value == "Welcome" and blame["title"].commit.id == title
    assert blame["body"].value == "Hello, world" and blame["body"].commit.id == body
    assert blame["body"].author == "feature writer <feature@example.com>"
    assert blame["slug"].commit.id == first and blame["views"].commit.id == first
    assert blame["views"].value == 0
    assert blame["title"].date.tzinfo is not None
    assert blame["title"].date.timestamp() == ws.repo[title].author.time


def test_blame_at_a_treeish_and_on_an_instance(ws, Page):
    first, body, title, merge = merged_page(ws, Page)
    old = Page.blame("home", treeish=first)
    assert old["title"].value == "Home" and old["title"].commit.id == first
    assert Page.get("home").blame()["body"].commit.id == body


def test_blame_takes_the_newest_commit_that_set_the_current_value(ws, Page):
    Page(slug="home", title="A").save()
    ws.commit("A")
    edit(ws, Page, "master", "B", title="B")
    back = edit(ws, Page, "master", "A again", title="A")
    assert Page.blame("home")["title"].commit.id == back


def test_blame_of_a_missing_object_raises_does_not_exist(ws, Page):
    Page(slug="home", title="A").save()
    ws.commit("A")
    with pytest.raises(ObjectDoesNotExist):
        Page.blame("nothing")
    Page.get("home").delete()
    ws.commit("gone")
    with pytest.raises(ObjectDoesNotExist):
        Page.blame("home")
