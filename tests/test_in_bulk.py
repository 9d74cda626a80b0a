"""``in_bulk`` reads one commit for the whole batch: it follows the branch
once, sees the pending edits of its unit of work, and a commit landing
while it reads does not mix two versions into one answer."""

from __future__ import annotations

import pytest

from gitmodel import Workspace, fields

from attacker import fsck


def declare(ws: Workspace):
    class Author(ws.GitModel):
        name = fields.CharField()

    return Author


@pytest.fixture
def two(tmp_path):
    path = str(tmp_path / "store.git")
    ws = Workspace.init(path)
    Author = declare(ws)
    Author.bulk_save([Author(id=f"a{i}", name=f"v1 {i}") for i in range(5)], commit=True)
    other = Workspace(path)
    return ws, Author, other, declare(other)


def rename(model, object_id: str, name: str) -> None:
    obj = model.get(object_id)
    obj.name = name
    obj.save(commit=True, message=f"rename {object_id}")


def test_in_bulk_follows_the_branch_once_before_reading(two):
    ws, Author, other, OtherAuthor = two
    assert Author.get("a1").name == "v1 1"
    rename(OtherAuthor, "a1", "v2 1")  # another workspace moves the branch
    found = Author.all().in_bulk(["a1", "a2", "nope"])
    assert sorted(found) == ["a1", "a2"]
    assert found["a1"].name == "v2 1"


def test_in_bulk_sees_the_pending_edits_of_its_unit(two):
    ws, Author, _other, _OtherAuthor = two
    obj = Author.get("a3")
    obj.name = "pending"
    obj.save()
    Author(id="a9", name="new").save()
    found = Author.all().in_bulk(["a3", "a9"])
    assert (found["a3"].name, found["a9"].name) == ("pending", "new")


def test_a_commit_landing_during_in_bulk_is_not_mixed_in(two):
    ws, Author, other, OtherAuthor = two
    Author.get("a0")  # this workspace stands on the first commit

    def ids():
        yield "a0"
        rename(OtherAuthor, "a4", "v2 4")  # lands while in_bulk reads
        yield "a4"

    found = Author.all().in_bulk(ids())
    assert found["a4"].name == "v1 4"  # the commit in_bulk started on
    assert Author.get("a4").name == "v2 4"  # later reads follow the branch again
    fsck(ws.path)


def test_following_resumes_after_in_bulk_fails(two):
    ws, Author, other, OtherAuthor = two

    def ids():
        yield "a0"
        raise RuntimeError("the caller's iterable failed")

    with pytest.raises(RuntimeError, match="iterable failed"):
        Author.all().in_bulk(ids())
    rename(OtherAuthor, "a2", "v2 2")
    assert Author.get("a2").name == "v2 2"
    assert Author.all().in_bulk(["a2"])["a2"].name == "v2 2"


def test_in_bulk_at_a_revision_reads_that_revision(two):
    ws, Author, other, OtherAuthor = two
    first = ws.repo.head.target
    rename(OtherAuthor, "a1", "v2 1")
    assert Author.all(treeish=str(first)).in_bulk(["a1"])["a1"].name == "v1 1"
    assert Author.all().in_bulk(["a1"])["a1"].name == "v2 1"
