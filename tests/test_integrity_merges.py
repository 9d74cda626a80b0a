"""Integrity across fast-forwards and across processes taking up an open
merge, against real repositories."""

from __future__ import annotations

import subprocess

import pytest

from gitmodel import IntegrityError, MergeConflict, Workspace, fields


def build(ws):
    class Author(ws.GitModel):
        name = fields.CharField()
        email = fields.CharField(unique=True, required=False)

    class Page(ws.GitModel):
        author = fields.RelatedField(Author, related_name="pages")

    return Author, Page


def dangling_branch(ws, Author, Page, branch="other"):
    """A branch whose last commit holds a page pointing at a removed author,
    as another tool (bypassing on_delete) could write it."""
    main = ws.branch.name
    ws.create_branch(branch)
    ws.set_branch(branch)
    Page(id="ghost", author="ada").save()
    ws.commit("a page")
    ws.remove("author/ada")  # below the library's checks
    ws.commit("drop the author behind the page's back")
    ws.set_branch(main)


@pytest.fixture
def store(tmp_path):
    ws = Workspace.init(tmp_path / "s.git")
    Author, Page = build(ws)
    Author(id="ada", name="Ada").save()
    Author(id="bob", name="Bob").save()
    ws.commit("authors")
    return ws, Author, Page


def test_a_fast_forward_bringing_a_dangling_reference_becomes_a_conflict(store):
    ws, Author, Page = store
    dangling_branch(ws, Author, Page)
    head = ws.branch.commit.id
    result = ws.merge("other")
    assert not result.fast_forward and result.commit is None
    assert [c.describe() for c in result.conflicts] == [
        "Page 'ghost' field 'author' (dangling reference): refers to Author 'ada', deleted on one side"]
    assert ws.branch.commit.id == head  # the branch did not move
    ws.abort_merge()
    assert ws.branch.commit.id == head and Author.get("ada").name == "Ada"
    # taking our version of the page (none) settles it: a merge commit without the ghost
    result = ws.merge("other")
    ws.resolve(result.conflicts[0], "ours")
    merged = ws.commit("merged")
    assert len(ws.repo[merged].parents) == 2
    assert "ghost" not in Page.all().ids()
    assert subprocess.run(["git", f"--git-dir={ws.repo.path}", "fsck", "--strict"],
                          capture_output=True).returncode == 0


def test_a_fast_forward_of_a_clean_branch_still_fast_forwards(store):
    ws, Author, Page = store
    main = ws.branch.name
    ws.create_branch("clean")
    ws.set_branch("clean")
    Page(id="home", author="bob").save()
    ws.commit("a page")
    target = ws.branch.commit.id
    ws.set_branch(main)
    result = ws.merge("clean")
    assert result.fast_forward and ws.branch.commit.id == target


def test_a_pull_fast_forwarding_onto_a_dangling_reference_reports_it(tmp_path):
    origin = Workspace.init(tmp_path / "origin.git")
    Author, Page = build(origin)
    Author(id="ada", name="Ada").save()
    origin.commit("start")
    clone = Workspace.clone(str(tmp_path / "origin.git"), tmp_path / "clone.git")
    CAuthor, CPage = build(clone)
    Page(id="ghost", author="ada").save(commit=True)
    origin.remove("author/ada")
    origin.commit("another tool drops the author")
    head = clone.branch.commit.id
    result = clone.pull()
    conflicts = result.conflicts or result.merge.conflicts
    assert [(c.model.__name__, c.id, c.field) for c in conflicts] == [("Page", "ghost", "author")]
    assert clone.branch.commit.id == head
    clone.abort_merge()
    assert CAuthor.get("ada").name == "Ada"


def test_an_unborn_branch_refuses_to_take_a_dangling_commit(tmp_path, store):
    ws, Author, Page = store
    dangling_branch(ws, Author, Page)
    empty = Workspace.init(tmp_path / "empty.git")
    build(empty)
    subprocess.run(["git", f"--git-dir={empty.repo.path}", "fetch", "-q", ws.repo.path,
                    "refs/heads/other:refs/heads/other"], check=True)
    with pytest.raises(IntegrityError, match="Page 'ghost'"):
        empty.merge("other")
    assert empty.repo.head_is_unborn


def test_another_process_taking_up_an_open_merge_sees_its_integrity_conflicts(store):
    ws, Author, Page = store
    main = ws.branch.name
    ws.create_branch("other")
    Author.delete("bob")
    Author(id="cy", name="Cy", email="same@x").save()
    ws.commit("ours")
    ws.set_branch("other")
    Page(id="new", author="bob").save()
    Author(id="dee", name="Dee", email="same@x").save()
    ws.commit("theirs")
    ws.set_branch(main)
    result = ws.merge("other")
    first = sorted(c.describe() for c in result.conflicts)
    assert len(first) == 3  # the page, and each author holding the value
    for conflict in result.conflicts:
        if conflict.field == "email":
            ws.resolve(conflict, "ours")
    # another workspace on the same repository takes the merge up
    other = Workspace(ws.repo.path)
    OAuthor, OPage = build(other)
    assert other.merging
    seen = sorted(c.describe() for c in other.conflicts)
    assert seen == ["Page 'new' field 'author' (dangling reference): refers to Author 'bob', "
                    "deleted on one side"]
    with pytest.raises(Exception):
        other.commit("too early")  # an integrity conflict is still open
    other.resolve(other.conflicts[0], "ours")
    other.commit("merged")
    assert "new" not in OPage.all().ids() and sorted(OAuthor.all().ids()) == ["ada", "cy"]


def test_restore_that_would_break_a_unique_value_or_a_reference_stages_nothing(store):
    ws, Author, Page = store
    Author(id="cy", name="Cy", email="cy@example.org").save()
    Page(id="home", author="cy").save()
    old = ws.commit("cy and home")
    Page.delete("home")
    Author.delete("cy")
    Author(id="dee", name="Dee", email="cy@example.org").save()  # the address, reused
    ws.commit("cy leaves; dee takes the address")
    tree_before = ws.index.id
    with pytest.raises(IntegrityError, match="email"):
        Author.restore("cy", old)  # a second holder of the address
    with pytest.raises(IntegrityError, match="Author 'cy'.*does not exist"):
        Page.restore("home", old)  # its author is gone
    assert ws.index.id == tree_before and not ws.has_changes()
    Author.delete("dee")  # once the address is free, both come back
    Author.restore("cy", old)
    assert Page.restore("home", old).author.name == "Cy"
    ws.commit("cy and home back")
    assert subprocess.run(["git", "-C", str(ws.path), "fsck", "--strict"]).returncode == 0


def test_revert_that_would_break_a_unique_value_or_a_reference_stages_nothing(store):
    ws, Author, Page = store
    Author(id="cy", name="Cy", email="cy@example.org").save()
    ws.commit("cy")
    Author.delete("cy")
    dropped = ws.commit("cy leaves")
    Author(id="dee", name="Dee", email="cy@example.org").save()
    ws.commit("dee takes the address")
    added_bob_page = Page(id="bobs", author="bob")
    added_bob_page.save()
    ws.commit("a page by bob")
    bob_added = list(ws.walk())[-1].id  # the first commit: it added ada and bob
    tree_before = ws.index.id
    with pytest.raises(MergeConflict, match="unique") as caught:
        ws.revert(dropped)  # cy would come back holding dee's address
    assert {c.id for c in caught.value.conflicts} == {"cy", "dee"}
    with pytest.raises(MergeConflict, match="Page 'bobs' field 'author'"):
        ws.revert(bob_added)  # bob would go while his page stays
    assert ws.index.id == tree_before and not ws.has_changes()
    Author.delete("dee")
    ws.revert(dropped)
    assert Author.get("cy").email == "cy@example.org"


def git_head(ws):
    return subprocess.run(["git", "-C", str(ws.path), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_a_commit_that_lost_the_race_is_checked_as_a_merge(store):
    """Two writers, each valid alone: one gives a unique email and deletes
    ada, the other gives the same email to bob and a page to ada. The loser
    is rebased onto the winner; that rebase is a merge and reports both."""
    ws, Author, Page = store
    other = Workspace(ws.path)
    OtherAuthor, OtherPage = build(other)
    bob = Author.get("bob")
    bob.email = "same@example.org"
    bob.save()
    Author.delete("ada")
    pending = OtherAuthor(id="cy", name="Cy", email="same@example.org")
    pending.save()
    OtherPage(id="by-ada", author="ada").save()
    ws.commit("bob's email; ada leaves")
    head = git_head(ws)
    with pytest.raises(MergeConflict) as caught:
        other.commit("cy, and a page by ada")
    kinds = sorted((c.id, c.field, c.kind) for c in caught.value.conflicts)
    assert kinds == [("bob", "email", "unique"), ("by-ada", "author", "dangling reference"),
                     ("cy", "email", "unique")]
    assert git_head(ws) == head  # nothing was committed
    assert sorted((c.id, c.kind) for c in other.conflicts) == [
        ("bob", "unique"), ("by-ada", "dangling reference"), ("cy", "unique")]
    other.abort_merge()  # the edits are pending again, on the commit they were made on
    assert OtherAuthor.get("cy").email == "same@example.org" and OtherPage.get("by-ada").author_id == "ada"
    subprocess.run(["git", "-C", str(ws.path), "fsck", "--strict"], check=True, capture_output=True)


def test_a_resolution_that_breaks_a_rule_is_not_committed(store):
    """Values chosen in resolve(), or a side taken, are checked again when the
    merge is committed: a missing author or a unique email held twice is
    refused, the merge stays open, and fixing the data lets it commit."""
    ws, Author, Page = store
    Page(id="p1", author="ada").save()
    bob = Author.get("bob")
    bob.email = "bob@example.org"
    bob.save()
    ws.commit("a page")
    ws.create_branch("other")
    ada = Author.get("ada")
    ada.email = "ada@one.org"
    ada.save()
    page = Page.get("p1")
    page.author = "bob"
    page.save()
    ws.commit("ours")
    ws.set_branch("other")
    ada = Author.get("ada")
    ada.email = "ada@two.org"
    ada.save()
    Page.get("p1").delete()
    Page(id="p1", author="ada").save()
    ws.commit("theirs")
    ws.set_branch("master")
    head = git_head(ws)
    result = ws.merge("other")
    by_field = {c.field: c for c in result.conflicts}
    assert set(by_field) == {"email"}
    ws.resolve(by_field["email"], value="bob@example.org")  # held by bob
    index = ws.index.id
    with pytest.raises(MergeConflict) as caught:
        ws.commit("merged")
    assert [(c.id, c.field, c.kind) for c in caught.value.conflicts] == [("ada", "email", "unique")]
    assert "bob@example.org" in str(caught.value) and "nothing was committed" in str(caught.value)
    assert git_head(ws) == head and ws.index.id == index and ws.conflicts == []
    ada = Author.get("ada")  # fixed with save() during the merge
    ada.email = "ada@three.org"
    ada.save()
    merged = ws.commit("merged")
    assert git_head(ws) == str(merged) and Author.get("ada").email == "ada@three.org"
    subprocess.run(["git", "-C", str(ws.path), "fsck", "--strict"], check=True, capture_output=True)


def test_resolving_to_a_deleted_or_missing_author_is_not_committed(store):
    """'base' brings back a reference to the author our side deleted, a value
    names an author that never existed: both refused at commit, with the
    merge still open to choose again."""
    ws, Author, Page = store
    Page(id="p1", author="ada").save()
    ws.commit("a page")
    ws.create_branch("other")
    page = Page.get("p1")
    page.author = "bob"
    page.save()
    Author.delete("ada")
    ws.commit("ours: bob, and ada leaves")
    ws.set_branch("other")
    Author(id="cy", name="Cy").save()
    page = Page.get("p1")
    page.author = "cy"
    page.save()
    ws.commit("theirs: cy")
    ws.set_branch("master")
    head = git_head(ws)
    (conflict,) = ws.merge("other").conflicts
    ws.resolve(conflict, "base")
    with pytest.raises(MergeConflict, match="refers to Author 'ada'"):
        ws.commit("merged")
    ws.resolve(conflict, value="ghost")
    with pytest.raises(MergeConflict, match="Author 'ghost', which does not exist"):
        ws.commit("merged")
    assert git_head(ws) == head
    ws.resolve(conflict, "theirs")
    ws.commit("merged")
    assert Page.get("p1").author.name == "Cy" and not Author.filter(pk="ada").exists()
    subprocess.run(["git", "-C", str(ws.path), "fsck", "--strict"], check=True, capture_output=True)
