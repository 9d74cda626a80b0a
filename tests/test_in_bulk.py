"""``in_bulk`` reads one commit for the whole batch: it follows the branch
once, sees the pending edits of its unit of work, and a commit landing
while it reads does not mix two versions into one answer."""

from __future__ import annotations

import pytest

from gitmodel import ValidationError, Workspace, fields

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


# -- many ids: their files are found through the index, not by walking trees to each ----------
MANY = 40


@pytest.fixture
def indexed(tmp_path):
    ws = Workspace.init(str(tmp_path / "indexed.git"))

    class Writer(ws.GitModel):
        name = fields.CharField(index=True)

        class Meta:
            shard = 2

    Writer.bulk_save([Writer(id=f"w{i:03d}", name=f"v1 {i}") for i in range(120)], commit=True)
    return ws, Writer


def count_gets(monkeypatch, model):
    calls = []
    original = model.get.__func__

    def counted(cls, *args, **kwargs):
        calls.append(args[0] if args else None)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(model, "get", classmethod(counted))
    return calls


def test_many_ids_are_found_through_the_index_as_get_finds_them(indexed, monkeypatch):
    ws, Writer = indexed
    wanted = [f"w{i:03d}" for i in range(0, 120, 2)] + ["w999", "nope", "w000"]
    expected = {i: Writer.get(i).name for i in wanted if Writer.filter(pk=i).exists()}
    calls = count_gets(monkeypatch, Writer)
    found = Writer.all().in_bulk(wanted)
    assert calls == []  # no object was looked up by walking the trees to it
    assert list(found) == [i for i in dict.fromkeys(wanted) if i in expected]  # in the order asked
    assert {i: obj.name for i, obj in found.items()} == expected


def test_many_ids_with_a_bad_one_raise_as_get_does_and_nothing_is_read(indexed):
    ws, Writer = indexed
    for bad in ("a/b", "", "..", None):
        ids = [f"w{i:03d}" for i in range(MANY)] + [bad]
        with pytest.raises(ValidationError):
            Writer.all().in_bulk(ids)


def test_many_ids_with_pending_edits_read_them(indexed):
    ws, Writer = indexed
    obj = Writer.get("w005")
    obj.name = "pending"
    obj.save()
    Writer(id="w500", name="new").save()
    Writer.delete("w006")
    found = Writer.all().in_bulk([f"w{i:03d}" for i in range(MANY)] + ["w500"])
    assert found["w005"].name == "pending" and found["w500"].name == "new" and "w006" not in found
    assert len(found) == MANY


def test_many_ids_at_an_old_commit_read_that_commit(indexed):
    ws, Writer = indexed
    first = ws.branch.commit.id
    Writer.all().update(name="v2", commit=True)
    Writer.delete("w003")
    ws.commit("gone")
    ids = [f"w{i:03d}" for i in range(MANY)]
    old = Writer.all(treeish=str(first)).in_bulk(ids)
    assert len(old) == MANY and old["w003"].name == "v1 3"
    now = Writer.all().in_bulk(ids)
    assert "w003" not in now and {o.name for o in now.values()} == {"v2"}


def test_select_related_of_many_targets_reads_them_at_the_listing_commit(tmp_path):
    ws = Workspace.init(str(tmp_path / "rel.git"))

    class Writer(ws.GitModel):
        name = fields.CharField(index=True)

    class Story(ws.GitModel):
        writer = fields.RelatedField(Writer)

    Writer.bulk_save([Writer(id=f"w{i:03d}", name=f"n{i}") for i in range(60)], commit=True)
    Story.bulk_save([Story(id=f"s{i:03d}", writer=f"w{i % 60:03d}") for i in range(180)], commit=True)
    first = ws.branch.commit.id
    Writer.all().update(name="renamed", commit=True)
    stories = list(Story.all(treeish=str(first)).select_related("writer"))
    assert len(stories) == 180
    assert {s.id: s.writer.name for s in stories} == {f"s{i:03d}": f"n{i % 60}" for i in range(180)}
    assert {s.writer.name for s in Story.all().select_related("writer")} == {"renamed"}


@pytest.mark.parametrize("asked", [20, 300])  # looked up by path; picked from the listing
def test_a_few_or_most_of_a_large_folder_read_as_get_reads_them(tmp_path, monkeypatch, asked):
    ws = Workspace.init(str(tmp_path / "large.git"))

    class Writer(ws.GitModel):
        name = fields.CharField(index=True)

    Writer.bulk_save([Writer(id=f"w{i:03d}", name=f"n{i}") for i in range(400)], commit=True)
    wanted = [f"w{(i * 7) % 400:03d}" for i in range(asked)] + ["w999"]
    calls = count_gets(monkeypatch, Writer)
    found = Writer.all().in_bulk(wanted)
    assert calls == []
    assert list(found) == wanted[:-1]
    assert all(found[i].name == f"n{int(i[1:])}" for i in found)
