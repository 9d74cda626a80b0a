"""The fast paths give the same results as the plain ones.

Bulk saves, packs, the sharded layout and the object cache are checked for
behaviour (what git sees, what reads return), never for speed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import IntegrityError, RepositoryError, ValidationError
from gitmodel.git.packs import PackWriter, loose_object_ids
from gitmodel.serializers import json as json_format
from gitmodel.workspace import Workspace


def make_page(ws, shard=0, **extra):
    attrs = {
        "title": fields.CharField(max_length=50),
        "views": fields.IntegerField(default=0),
        "tags": fields.JSONField(default=list),
        **extra,
    }
    if shard:
        attrs["Meta"] = type("Meta", (), {"shard": shard})
    return type("Page", (ws.GitModel,), attrs)


def new_ws(tmp_path, name):
    return Workspace.init(tmp_path / name, bare=True)


def records(n, start=0):
    return [{"id": f"p{i:04d}", "title": f"Page {i}", "views": i, "tags": [i, "x"]}
            for i in range(start, start + n)]


# -- bulk_save ----------------------------------------------------------------------


@pytest.mark.parametrize("shard", [0, 2])
def test_bulk_save_gives_the_same_tree_as_saving_each(tmp_path, run_git, shard):
    one, bulk = new_ws(tmp_path, "one.git"), new_ws(tmp_path, "bulk.git")
    PageOne, PageBulk = make_page(one, shard), make_page(bulk, shard)
    for rec in records(30):
        PageOne(**rec).save()
    one_commit = one.commit("one by one")
    bulk_commit = PageBulk.bulk_save([PageBulk(**r) for r in records(30)], commit=True,
                                     message="bulk")
    assert one.repo[one_commit].tree_id == bulk.repo[bulk_commit].tree_id
    assert str(bulk_commit) == run_git(bulk.path, "rev-parse", "master").strip()
    run_git(bulk.path, "fsck", "--strict")
    path = PageBulk._meta.get_data_path("p0007")
    shown = run_git(bulk.path, "show", f"master:{path}")
    assert json_format.loads(shown.encode())[1]["title"] == "Page 7"


def test_bulk_saved_objects_read_back_before_and_after_commit(tmp_path):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    pages = [Page(**r) for r in records(5)]
    assert Page.bulk_save(pages) is None
    assert ws.has_changes()
    for page in pages:
        assert page.oid is not None
        again = Page.get(page.id)
        assert (again.title, again.views, again.tags) == (page.title, page.views, page.tags)
        assert again.oid == page.oid
    assert Page.all().ids() == [p.id for p in pages]  # listed from the staged folders
    assert Page.bulk_save([]) is None
    ws.commit("bulk")
    fresh = Workspace(ws.path)
    FreshPage = make_page(fresh)
    assert sorted(FreshPage.all().ids()) == [p.id for p in pages]
    assert FreshPage.get("p0003").tags == [3, "x"]


def test_bulk_save_updates_and_moves_like_save(tmp_path):
    one, bulk = new_ws(tmp_path, "one.git"), new_ws(tmp_path, "bulk.git")
    trees = []
    for ws, use_bulk in ((one, False), (bulk, True)):
        Page = make_page(ws)
        Page.bulk_save([Page(**r) for r in records(4)], commit=True)
        changed = [Page.get("p0001"), Page.get("p0002")]
        changed[0].views = 99
        changed[1].id = "renamed"
        if use_bulk:
            Page.bulk_save(changed)
        else:
            for page in changed:
                page.save()
        trees.append(ws.repo[ws.commit("change")].tree_id)
        assert Page.get("p0001").views == 99
        assert Page.get("renamed").title == "Page 2"
        with pytest.raises(Page.DoesNotExist):
            Page.get("p0002")
    assert trees[0] == trees[1]


def test_bulk_save_with_an_invalid_object_stages_nothing(tmp_path):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    pages = [Page(**r) for r in records(3)]
    pages[2].title = "x" * 51
    with pytest.raises(ValidationError) as info:
        Page.bulk_save(pages)
    assert info.value.error_list[0].field == "title"
    assert not ws.has_changes()
    assert all(p.oid is None for p in pages)
    with pytest.raises(Page.DoesNotExist):
        Page.get("p0000")


def test_bulk_save_refuses_taken_and_repeated_ids(tmp_path):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    Page(id="p0001", title="first").save(commit=True)
    head = ws.repo.references["refs/heads/master"].target
    with pytest.raises(IntegrityError, match="already exists"):
        Page.bulk_save([Page(id="p0000", title="a"), Page(id="p0001", title="b")])
    with pytest.raises(IntegrityError, match="twice"):
        Page.bulk_save([Page(id="p0005", title="a"), Page(id="p0005", title="b")])
    assert not ws.has_changes()
    assert ws.repo.references["refs/heads/master"].target == head
    assert Page.get("p0001").title == "first"


def test_bulk_save_commit_refuses_other_pending_changes(tmp_path):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    Page(id="other", title="pending").save()
    with pytest.raises(RepositoryError, match="other changes are pending"):
        Page.bulk_save([Page(**r) for r in records(2)], commit=True)
    assert ws.repo.references.get("refs/heads/master") is None


def test_bulk_save_keeps_unique_checks(tmp_path):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws, slug=fields.CharField(unique=True, required=False))
    Page(id="a", title="A", slug="same").save()
    with pytest.raises(IntegrityError, match="slug"):
        Page.bulk_save([Page(id="b", title="B", slug="same")])
    Page.bulk_save([Page(id="c", title="C", slug="other")])
    assert Page.get("c").slug == "other"


def test_bulk_save_rejects_objects_of_another_model(tmp_path):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    Other = type("Other", (ws.GitModel,), {"name": fields.CharField()})
    with pytest.raises(TypeError):
        Page.bulk_save([Other(name="x")])
    assert not ws.has_changes()


def test_bulk_save_writes_one_pack_not_loose_files(tmp_path, run_git):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    Page.bulk_save([Page(**r) for r in records(50)])
    assert loose_object_ids(ws.repo) == []
    stats = run_git(ws.path, "count-objects", "-v")
    assert "in-pack: 100" in stats  # 50 blobs and 50 object folders


# -- commit with save(commit=True) -------------------------------------------------------


def test_save_commit_still_refuses_pending_changes_elsewhere(ws):
    Page = make_page(ws)
    Page(id="a", title="A").save(commit=True)
    Page(id="b", title="B").save(commit=True)
    Page.delete("a")  # a folder removal is pending
    with pytest.raises(RepositoryError, match="other changes are pending"):
        Page(id="c", title="C").save(commit=True)
    ws.reset()
    ws.remove("page")  # the whole model folder dropped, then one object staged again
    with pytest.raises(RepositoryError):
        Page(id="b", title="B2").save(commit=True)
    ws.reset()
    assert Page(id="c", title="C").save(commit=True) is not None
    assert sorted(Page.all().ids()) == ["a", "b", "c"]


# -- the sharded layout ---------------------------------------------------------------------


def test_sharded_paths_fan_out_on_a_hash_of_the_id(ws, run_git):
    Page = make_page(ws, shard=2)
    page = Page(id="hello", title="Hi")
    page.save(commit=True)
    digest = hashlib.sha1(b"hello").hexdigest()
    expected = f"page/{digest[:2]}/{digest[2:4]}/hello/data.json"
    assert page.get_data_path() == expected
    listed = run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    assert listed == [".gitmodel/schema/Page.json", expected]


@pytest.mark.parametrize("shard", [1, 3])
def test_other_shard_levels_fan_out_the_same_way(ws, run_git, shard):
    Page = make_page(ws, shard=shard)
    Page(id="hello", title="Hi").save(commit=True)
    digest = hashlib.sha1(b"hello").hexdigest()
    levels = "/".join(digest[i * 2 : i * 2 + 2] for i in range(shard))
    expected = f"page/{levels}/hello/data.json"
    assert Page._meta.get_data_path("hello") == expected
    assert expected in run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split()
    assert Page.get("hello").title == "Hi"
    assert [p.title for p in Page.all()] == ["Hi"]


def test_remembered_entries_stay_out_of_the_garbage_collectors_passes(ws):
    import gc

    Page = make_page(ws)
    Page(id="p1", title="One").save(commit=True)
    path = Page._meta.get_data_path("p1")
    first = ws.lookup(path)
    gc.collect()  # a pass untracks a tuple of untracked parts
    entry = ws.lookup(path)
    assert entry is first  # served from the memo
    assert entry[1] == pygit2.enums.FileMode.BLOB and type(entry[1]) is int
    assert not gc.is_tracked(entry)
    assert entry[0] == ws.repo.revparse_single(f"master:{path}").id


def test_sharded_get_all_save_delete_agree(ws, run_git):
    Page = make_page(ws, shard=2)
    Page.bulk_save([Page(**r) for r in records(40)], commit=True)
    Page(id="single", title="One").save(commit=True)
    ids = sorted(Page.all().ids())
    assert ids == sorted([r["id"] for r in records(40)] + ["single"])
    assert Page.get("p0039").views == 39
    page = Page.get("single")
    page.views = 5
    page.save(commit=True)
    assert Page.get("single", treeish="master").views == 5
    Page.delete("p0010", commit=True)
    with pytest.raises(Page.DoesNotExist):
        Page.get("p0010")
    assert len(Page.all()) == 40
    paths = run_git(ws.path, "ls-tree", "-r", "--name-only", "master:page").split()
    assert Page._meta.get_data_path("p0010").removeprefix("page/") not in paths
    assert len(paths) == 40
    assert all(p.count("/") == 3 for p in paths)  # page/ab/cd/<id>/data.json
    run_git(ws.path, "fsck", "--strict")


# -- the object cache ----------------------------------------------------------------------


def test_cached_objects_are_copies(ws):
    Page = make_page(ws)
    page = Page(id="a", title="A", tags=["one"])
    page.save(commit=True)
    page.tags.append("changed after save")
    first = Page.get("a")
    assert first.tags == ["one"]
    first.tags.append("changed after get")
    first.title = "changed"
    second = Page.get("a")
    assert (second.title, second.tags) == ("A", ["one"])
    assert second is not first


@pytest.mark.parametrize("cache_size", [0, 100])
def test_a_change_in_place_to_a_first_read_is_saved_and_not_cached(tmp_path, cache_size):
    path = tmp_path / "s.git"
    Workspace.init(path)
    Page = make_page(Workspace(path))
    Page(id="a", title="A", tags=["one"]).save(commit=True)
    ws = Workspace(path, object_cache_size=cache_size)
    Page = make_page(ws)
    first = Page.get("a")  # a first read: decoded here, then cached
    first.tags.append("two")  # changed in place, not assigned
    first.title = "B"
    again = Page.get("a")
    assert (again.title, again.tags) == ("A", ["one"])  # neither the cache nor another read sees it
    first.save(commit=True)
    assert (Page.get("a").title, Page.get("a").tags) == ("B", ["one", "two"])
    fresh = make_page(Workspace(path))
    assert fresh.get("a").tags == ["one", "two"]  # the change was stored, not lost


def test_a_full_pass_over_more_objects_than_the_old_cache_is_served_from_it(tmp_path):
    path = tmp_path / "s.git"
    Workspace.init(path)
    ws = Workspace(path, object_cache_size=300)
    Page = make_page(ws)
    Page.bulk_save([Page(**r) for r in records(250)], commit=True)
    first = [Page.get(r["id"]) for r in records(250)]
    assert len(ws._objects) == 250
    again = [Page.get(r["id"]) for r in records(250)]
    assert [p.views for p in again] == [p.views for p in first] == [r["views"] for r in records(250)]
    assert all(a is not b and a.tags is not b.tags for a, b in zip(first, again))


def test_object_cache_is_bounded_and_keyed_by_blob_id(tmp_path):
    path = tmp_path / "s.git"
    Workspace.init(path)
    ws = Workspace(path, object_cache_size=3)
    Page = make_page(ws)
    Page.bulk_save([Page(**r) for r in records(10)], commit=True)
    for rec in records(10):
        assert Page.get(rec["id"]).views == rec["views"]
    assert len(ws._objects) == 3
    # equal data, equal blob id: two objects with equal content share an entry
    twin_a = Page(id="t", title="Twin")
    twin_a.save()
    twin_b = Page.get("t")
    assert twin_b.oid == twin_a.oid
    assert ws.cached_object(twin_a.oid) is not None
    none = Workspace(path, object_cache_size=0)
    NoCache = make_page(none)
    assert NoCache.get("p0001").views == 1
    assert none._objects == {}


# -- packs ------------------------------------------------------------------------------------


def test_pack_writer_objects_are_what_git_would_write(tmp_path, run_git):
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    writer = PackWriter(repo)
    datas = [b"blob %d\n" % i * (i + 1) for i in range(20)] + [b"", b"x" * 70000]
    oids = [writer.add(int(pygit2.enums.ObjectType.BLOB), d) for d in datas]
    writer.add(int(pygit2.enums.ObjectType.BLOB), datas[0])  # stored once
    assert len(writer) == len(datas)
    pack = writer.write()
    assert pack is not None and os.path.exists(pack)
    for oid, data in zip(oids, datas):
        assert oid == pygit2.hash(data)
        assert repo[oid].data == data
    out = subprocess.run(["git", f"--git-dir={repo.path}", "verify-pack", "-v",
                          pack[: -len(".pack")] + ".idx"], check=True, capture_output=True,
                         text=True).stdout
    assert f"non delta: {len(datas)} objects" in out
    assert writer.write() is None  # nothing left to write


def test_workspace_pack_moves_loose_objects(tmp_path, run_git):
    ws = new_ws(tmp_path, "s.git")
    Page = make_page(ws)
    for rec in records(20):
        Page(**rec).save()
    ws.commit("loose")
    loose = len(loose_object_ids(ws.repo))
    assert loose > 20
    assert ws.pack() == loose
    assert loose_object_ids(ws.repo) == []
    assert ws.pack() == 0
    stats = run_git(ws.path, "count-objects", "-v")
    assert "count: 0" in stats and f"in-pack: {loose}" in stats
    run_git(ws.path, "fsck", "--strict")
    fresh = Workspace(ws.path)
    assert make_page(fresh).get("p0019").title == "Page 19"


# -- the JSON reader ------------------------------------------------------------------------


def test_json_reader_still_accepts_a_byte_order_mark():
    data = json_format.dumps("Page", {"title": "é"})
    assert json_format.loads(b"\xef\xbb\xbf" + data) == json_format.loads(data) == (
        "Page", {"title": "é"})
    with pytest.raises(ValueError):
        json_format.loads(b"\xff\xfe not json")


def test_remembered_lookups_follow_commits_and_branches(ws):
    Page = make_page(ws)
    Page(id="a", title="one").save(commit=True)
    assert Page.get("a").title == "one"  # remembered for this base tree
    ws.create_branch("other")
    page = Page.get("a")
    page.title = "two"
    page.save(commit=True)
    assert Page.get("a").title == "two"
    Page.delete("a", commit=True)
    with pytest.raises(Page.DoesNotExist):
        Page.get("a")
    ws.set_branch("other")
    assert Page.get("a").title == "one"
    Page(id="b", title="staged").save()
    assert Page.get("b").title == "staged"
    ws.reset()
    with pytest.raises(Page.DoesNotExist):
        Page.get("b")


def test_bulk_save_of_a_model_with_a_custom_path_matches_save(tmp_path):
    trees = []
    for name, use_bulk in (("one.git", False), ("bulk.git", True)):
        ws = new_ws(tmp_path, name)

        def get_data_path(opts, object_id):
            return f"notes/{object_id}.json"

        Note = type("Note", (ws.GitModel,), {
            "text": fields.CharField(),
            "Meta": type("Meta", (), {"get_data_path": get_data_path}),
        })
        notes = [Note(id=f"n{i}", text=f"note {i}") for i in range(5)]
        if use_bulk:
            commit = Note.bulk_save(notes, commit=True)
        else:
            for note in notes:
                note.save()
            commit = ws.commit("one by one")
        trees.append(ws.repo[commit].tree_id)
        assert Note.get("n3").text == "note 3"
    assert trees[0] == trees[1]


def test_listing_everything_does_not_flush_the_cache(tmp_path):
    path = tmp_path / "s.git"
    Workspace.init(path)
    ws = Workspace(path, object_cache_size=3)
    Page = make_page(ws)
    Page.bulk_save([Page(**r) for r in records(10)], commit=True)
    ws = Workspace(path, object_cache_size=3)
    Page = make_page(ws)
    hot = [Page.get(i) for i in ("p0007", "p0008", "p0009")]
    listed = list(Page.all())
    assert [p.id for p in listed] == [r["id"] for r in records(10)]
    assert set(ws._objects) == {p.oid for p in hot}
    listed[0].tags.append("changed")
    listed[9].tags.append("changed")
    again = list(Page.all())
    assert again[0].tags == [0, "x"] and again[9].tags == [9, "x"]


def test_remembered_ids_are_still_checked_and_the_memory_is_bounded(tmp_path, monkeypatch):
    ws = new_ws(tmp_path, "ids.git")
    Page = make_page(ws)
    Page(id="a", title="A").save()
    assert Page.get("a").title == "A"
    assert Page.get("a").title == "A"  # the id is remembered as valid now
    for _ in range(2):  # a bad id is refused every time, never remembered
        with pytest.raises(ValidationError, match='"id"'):
            Page.get("../a")
    monkeypatch.setattr(fields, "_CLEAN_ID_MEMO", 4)
    for i in range(10):
        with pytest.raises(Page.DoesNotExist):
            Page.get(f"missing-{i}")
    assert len(Page._meta.id_field.__dict__["_clean_ids"]) <= 4
    assert Page.get("a").title == "A"


def test_lookups_after_a_commit_agree_with_the_written_tree(tmp_path):
    """Right after a commit, lookups go through the tree builders the commit
    left in memory; every kind of path must answer as git's own tree does."""
    ws = new_ws(tmp_path, "fresh.git")
    for path in ("a/b/one", "a/b/two", "a/c/three", "d/four", "top"):
        ws.add_blob(path, path)
    ws.commit("base")
    ws.add_blob("a/b/one", "changed")  # one folder chain rewritten, a/c and d not
    ws.remove("a/b/two")
    ws.add_blob("a/new/five", "new")
    ws.commit("edit")
    tree = ws.repo.revparse_single("master").tree
    paths = [
        "a/b/one", "a/b/two", "a/c/three", "d/four", "top", "a/new/five",
        "a/b", "a/c", "a", "missing", "a/missing", "a/b/missing", "top/below", "a/b/one/below",
    ]
    for path in paths:
        try:
            obj = tree[path]
            expected = (obj.id, obj.filemode)
        except KeyError:
            expected = None
        assert ws.lookup(path) == expected, path
    assert ws.repo[ws.lookup("a/b/one")[0]].data == b"changed"
    for i in range(100):  # a large write keeps no builders: plain tree reads
        ws.add_blob(f"many/{i}/file", str(i))
    ws.commit("many")
    assert ws.repo[ws.lookup("many/42/file")[0]].data == b"42"
    assert ws.lookup("many/42/missing") is None
    assert ws.lookup("a/b/one") == (tree["a/b/one"].id, tree["a/b/one"].filemode)
