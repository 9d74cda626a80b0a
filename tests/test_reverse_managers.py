"""Related managers change one reference, as Django's do (an ``UPDATE`` of
the relation alone): ``author.pages.add(page)``, ``remove()``, ``set()``
and ``page.authors.add(author)`` apply their change to the object as the
workspace holds it now, so another writer's changes stay, and write
nothing else of the instance given (neither its unsaved edits nor the
stale values it was read with). Two workspaces on one repository play the
two writers."""

from __future__ import annotations

import json
import subprocess

import pytest

from gitmodel import MergeConflict, Workspace, fields
from gitmodel.fields import SET_NULL, ManyToManyField, RelatedField


def declare(ws):
    class Author(ws.GitModel):
        name = fields.CharField()

    class Page(ws.GitModel):
        title = fields.CharField()
        editor = RelatedField(Author, on_delete=SET_NULL, required=False, related_name="edited")
        authors = ManyToManyField(Author, related_name="pages", required=False)

    return Author, Page


@pytest.fixture
def two_writers(tmp_path):
    """A repository with authors a, b, c and page p (title t, editor a,
    authors [a]), and a second workspace on it: ``(w1, A1, P1, w2, A2, P2)``."""
    path = tmp_path / "site.git"
    w1 = Workspace.init(path)
    w2 = Workspace(path)
    A1, P1 = declare(w1)
    A2, P2 = declare(w2)
    for name in "abc":
        A1(id=name, name=name.upper()).save(commit=True, message=f"author {name}")
    P1(id="p", title="t", editor="a", authors=["a"]).save(commit=True, message="page p")
    return w1, A1, P1, w2, A2, P2


def git(ws, *args):
    return subprocess.run(["git", f"--git-dir={ws.path}", *args], capture_output=True,
                          text=True, check=True).stdout


def stored_page(ws):
    """page p as committed on the branch (what ``git show`` gives)."""
    return json.loads(git(ws, "show", "HEAD:page/p/data.json"))["fields"]


def log(ws):
    return git(ws, "log", "--format=%s").split("\n")[:-1]


def test_reverse_add_keeps_an_author_another_writer_added(two_writers):
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")  # writer 2 reads the page
    other = P1.get("p")
    other.authors.add(A1.get("b"))
    w1.commit("add b")
    assert A2.get("c").pages.add(page) == 1
    w2.commit("add c")
    assert sorted(stored_page(w1)["authors"]) == ["a", "b", "c"]
    assert log(w1)[:3] == ["add c", "add b", "page p"]
    assert sorted(A1.get("b").pages.ids()) == ["p"] and sorted(A1.get("c").pages.ids()) == ["p"]
    assert [a.id for a in page.authors] == ["a", "c"]  # the instance given gained c
    page.title = "T2"  # a later save of that instance: its edit, nobody's reference lost
    page.save(commit=True, message="T2")
    assert stored_page(w1)["title"] == "T2" and sorted(stored_page(w1)["authors"]) == ["a", "b", "c"]


def test_reverse_remove_keeps_an_author_another_writer_added(two_writers):
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    other = P1.get("p")
    other.authors.add("b")
    w1.commit("add b")
    assert A2.get("a").pages.remove(page) == 1
    w2.commit("drop a")
    assert stored_page(w1)["authors"] == ["b"]
    assert log(w1)[:2] == ["drop a", "add b"]
    assert [a.id for a in page.authors] == []  # the instance given: a dropped from what it read


def test_reverse_set_keeps_an_author_another_writer_added(two_writers):
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    other = P1.get("p")
    other.authors.add("b")
    w1.commit("add b")
    assert A2.get("c").pages.set([page]) == 1
    w2.commit("c wrote p")
    assert sorted(stored_page(w1)["authors"]) == ["a", "b", "c"]
    assert log(w1)[:2] == ["c wrote p", "add b"]


def test_reverse_remove_leaves_an_editor_another_writer_set(two_writers):
    """As Django's remove() filters on the foreign key as it is now: page p
    is no longer a's once b edits it, so there is nothing to clear."""
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    other = P1.get("p")
    other.editor = A1.get("b")
    other.save(commit=True, message="editor b")
    assert A2.get("a").edited.remove(page) == 0
    assert not w2.has_changes() and w2.commit("remove from a") is None
    assert stored_page(w1)["editor"] == "b" and P2.get("p").editor_id == "b"
    assert log(w1)[:2] == ["editor b", "page p"]


def test_reverse_add_refuses_to_take_over_an_editor_another_writer_set(two_writers):
    """The instance said editor a; another writer made it b since: setting
    it to c would drop b's change unseen, so it is a conflict, as a save()
    would be. The page read again moves to c, as Django's add() moves it."""
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    other = P1.get("p")
    other.editor = "b"
    other.save(commit=True, message="editor b")
    with pytest.raises(MergeConflict, match="editor"):
        A2.get("c").edited.add(page)
    assert not w2.has_changes() and page.editor_id == "a"
    assert stored_page(w1)["editor"] == "b"
    assert A2.get("c").edited.add(P2.get("p")) == 1
    w2.commit("c edits p")
    assert stored_page(w1)["editor"] == "c" and log(w1)[:2] == ["c edits p", "editor b"]


def test_reverse_add_of_a_stale_edited_instance_writes_only_the_reference(two_writers):
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    page.title = "draft"  # not saved
    other = P1.get("p")
    other.title = "final"
    other.authors.add("b")  # staged with the title by the next save
    other.save(commit=True, message="final, with b")
    assert A2.get("c").pages.add(page) == 1
    w2.commit("add c")
    data = stored_page(w1)
    assert data["title"] == "final" and sorted(data["authors"]) == ["a", "b", "c"]
    assert data["editor"] == "a"
    assert page.title == "draft"  # the unsaved edit stays on the instance, unsaved
    assert log(w1)[:2] == ["add c", "final, with b"]


def test_forward_add_writes_only_the_references(two_writers):
    """``page.authors.add()`` stages the list alone, as Django's manager
    inserts the relation's rows without saving the page."""
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    page.title = "draft"
    page.authors.add("b")
    w2.commit("add b")
    data = stored_page(w1)
    assert data["title"] == "t" and data["authors"] == ["a", "b"]
    assert page.title == "draft" and [a.id for a in page.authors] == ["a", "b"]
    page.save(commit=True, message="draft")  # save() writes the edit, keeping the list
    data = stored_page(w1)
    assert data["title"] == "draft" and data["authors"] == ["a", "b"]
    assert log(w1)[:3] == ["draft", "add b", "page p"]


def test_forward_set_and_clear_apply_to_the_list_as_stored_now(two_writers):
    """As Django's set(), which compares with the rows there are now: exactly
    the objects given afterwards, another writer's earlier addition included."""
    w1, A1, P1, w2, A2, P2 = two_writers
    page = P2.get("p")
    other = P1.get("p")
    other.title = "renamed"
    other.authors.add("b")
    other.save(commit=True, message="renamed, with b")
    page.authors.set(["c"])
    w2.commit("only c")
    data = stored_page(w1)
    assert data["authors"] == ["c"] and data["title"] == "renamed"
    other = P1.get("p")
    stale = P2.get("p")
    other.authors.add("a")
    w1.commit("add a")
    stale.authors.clear()
    w2.commit("none")
    assert stored_page(w1)["authors"] == []
    assert log(w1)[:4] == ["none", "add a", "only c", "renamed, with b"]
