"""Blob fields read from a repository are untrusted: damage is CorruptObject
naming the path, another tool's folders survive saves, and merges refuse
files that name missing or mistyped objects."""

from __future__ import annotations

import json

import pygit2
import pytest

from conftest import git
from gitmodel import CorruptObject, GitModelError, ValidationError, Workspace, fields
from gitmodel.blobs import BlobFile, blob_info, open_blob
from gitmodel.schema import model_from_schema

BLOB, EXEC, LINK, TREE, GITLINK = 0o100644, 0o100755, 0o120000, 0o040000, 0o160000
MISSING = pygit2.Oid(hex="2" * 40)
SIG = pygit2.Signature("Other Tool", "tool@example.com")


def declare(ws: Workspace) -> type:
    class Doc(ws.GitModel):
        title = fields.CharField()
        n = fields.IntegerField(default=0)
        file = fields.BlobField()

    return Doc


def raw_tree(repo: pygit2.Repository, entries: dict[str, tuple[pygit2.Oid, int]]) -> pygit2.Oid:
    """A tree written byte by byte, so any mode may name any id (as another tool may)."""
    order = sorted(entries, key=lambda n: n + ("/" if entries[n][1] == TREE else ""))
    body = b"".join(b"%o %s\0" % (entries[n][1], n.encode()) + entries[n][0].raw for n in order)
    return repo.odb.write(pygit2.enums.ObjectType.TREE, body)


def data_json(repo: pygit2.Repository, title: str = "t") -> pygit2.Oid:
    return repo.create_blob(json.dumps({"model": "Doc", "fields": {"title": title, "n": 0}}).encode())


def commit_objects(repo: pygit2.Repository, objects: dict[str, dict[str, tuple[pygit2.Oid, int]]],
                   ref: str = "refs/heads/master") -> pygit2.Oid:
    """Commit on ``ref`` the object folders ``objects`` (id -> entries) into ``doc/``."""
    parent = repo.references[ref].target
    tree = repo[parent].tree
    doc = {e.name: (e.id, e.filemode) for e in tree / "doc"}
    doc.update({name: (raw_tree(repo, entries), TREE) for name, entries in objects.items()})
    root = {e.name: (e.id, e.filemode) for e in tree}
    root["doc"] = (raw_tree(repo, doc), TREE)
    return repo.create_commit(ref, SIG, SIG, "another tool", raw_tree(repo, root), [parent])


@pytest.fixture
def store(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")
    Doc = declare(ws)
    Doc(id="ok", title="ok", file=BlobFile(b"v1", name="a.txt")).save(commit=True, message="start")
    return ws, Doc


def reopen(ws: Workspace) -> tuple[Workspace, type]:
    fresh = Workspace(ws.repo.path)
    return fresh, declare(fresh)


def ls(ws: Workspace, path: str) -> str:
    """The entry at ``path`` (its id names everything below it) and the files under it."""
    return git(ws.repo.path, "ls-tree", "HEAD", path) + git(ws.repo.path, "ls-tree", "-r", "HEAD", path)


def all_reads(obj, path: str) -> None:
    """Every way of reading ``obj.file`` is CorruptObject naming ``path``."""
    for read in (lambda: obj.file.read(), lambda: blob_info(obj, "file").size,
                 lambda: open_blob(obj, "file").read()):
        with pytest.raises(CorruptObject) as caught:
            read()
        assert caught.value.path == path


# -- damaged blobs: CorruptObject naming the path, wherever bytes, size or info are read -----------


def test_a_missing_or_mistyped_blob_is_a_corrupt_object_naming_its_path(store):
    ws, Doc = store
    repo = ws.repo
    a_tree = repo[repo.head.target].tree.id
    small_tree = raw_tree(repo, {"x": (repo.create_blob(b"x"), BLOB)})
    commit_objects(repo, {
        "named-missing": {"data.json": (data_json(repo), BLOB), "file": (raw_tree(repo, {"a.txt": (MISSING, BLOB)}), TREE)},
        "named-tree": {"data.json": (data_json(repo), BLOB), "file": (raw_tree(repo, {"a.txt": (a_tree, BLOB)}), TREE)},
        "plain-missing": {"data.json": (data_json(repo), BLOB), "file.data": (MISSING, BLOB)},
        "plain-tree": {"data.json": (data_json(repo), BLOB), "file.data": (a_tree, BLOB)},
        "type-tree": {"data.json": (data_json(repo), BLOB), "file": (raw_tree(repo, {
            "a.txt": (repo.create_blob(b"hi"), BLOB), ".content-type": (small_tree, BLOB)}), TREE)},
    })
    ws, Doc = reopen(ws)
    all_reads(Doc.get("named-missing"), "doc/named-missing/file/a.txt")
    all_reads(Doc.get("named-tree"), "doc/named-tree/file/a.txt")
    all_reads(Doc.get("plain-missing"), "doc/plain-missing/file.data")
    all_reads(Doc.get("plain-tree"), "doc/plain-tree/file.data")
    typed = Doc.get("type-tree")  # a .content-type that is not a file: the name's guess stands
    assert (typed.file.read(), typed.file.content_type) == (b"hi", "text/plain")
    assert blob_info(typed, "file").size == 2 and open_blob(typed, "file").read() == b"hi"


# -- folders gitmodel does not write: CorruptObject on read, untouched by saves --------------------


def foreign_entries(repo: pygit2.Repository) -> dict[str, tuple[pygit2.Oid, int]]:
    """``<field>`` entries another tool may write (each fsck-clean)."""
    one, two = repo.create_blob(b"important 1"), repo.create_blob(b"important 2")
    sub = raw_tree(repo, {"deep.txt": (two, BLOB)})
    return {
        "two-files": (raw_tree(repo, {"part1.txt": (one, BLOB), "part2.txt": (two, BLOB)}), TREE),
        "file-and-folder": (raw_tree(repo, {"a.txt": (one, BLOB), "more": (sub, TREE)}), TREE),
        "gitlink-inside": (raw_tree(repo, {"a.txt": (one, BLOB), "sub": (MISSING, GITLINK)}), TREE),
        "bad-name": (raw_tree(repo, {"notes.": (one, BLOB)}), TREE),
        "reserved-name": (raw_tree(repo, {"data": (one, BLOB)}), TREE),
        "empty": (raw_tree(repo, {}), TREE),
        "type-only": (raw_tree(repo, {".content-type": (repo.create_blob(b"text/plain"), BLOB)}), TREE),
        "executable": (raw_tree(repo, {"run.sh": (one, EXEC)}), TREE),
        "symlink": (raw_tree(repo, {"link.txt": (one, LINK)}), TREE),
        "a-file": (one, BLOB),
        "a-gitlink": (MISSING, GITLINK),
    }


@pytest.fixture
def foreign(store):
    ws, _ = store
    repo = ws.repo
    cases = foreign_entries(repo)
    commit_objects(repo, {case: {"data.json": (data_json(repo, case), BLOB), "file": entry}
                          for case, entry in cases.items()})
    ws, Doc = reopen(ws)
    return ws, Doc, sorted(cases)


def test_a_folder_gitmodel_does_not_write_is_a_corrupt_object_and_the_object_still_reads(foreign):
    ws, Doc, cases = foreign
    for case in cases:
        obj = Doc.get(case)
        assert obj.title == case
        all_reads(obj, f"doc/{case}/file")


def test_a_save_that_does_not_touch_the_field_leaves_the_folder_exactly_as_it_is(foreign):
    ws, Doc, cases = foreign
    before = {case: ls(ws, f"doc/{case}/file") for case in cases}
    for case in cases:
        obj = Doc.get(case)
        obj.title = "only the title changed"
        obj.save()
    ws.commit("titles")
    assert {case: ls(ws, f"doc/{case}/file") for case in cases} == before
    assert all(before.values())
    assert Doc.get("two-files").title == "only the title changed"
    git(ws.repo.path, "fsck", "--strict")


def test_a_save_merged_after_another_writer_and_a_bulk_save_keep_the_folder(foreign):
    ws, Doc, _ = foreign
    before = ls(ws, "doc/two-files/file") + ls(ws, "doc/empty/file")
    stale = Doc.get("two-files")
    other = Doc.get("two-files")
    other.title = "changed meanwhile"
    other.save(commit=True)
    stale.n = 5
    stale.save(commit=True)  # merged onto the other writer's change
    obj = Doc.get("empty")
    obj.n = 7
    Doc.bulk_save([obj], commit=True)
    assert ls(ws, "doc/two-files/file") + ls(ws, "doc/empty/file") == before
    fresh = Doc.get("two-files")
    assert (fresh.title, fresh.n, Doc.get("empty").n) == ("changed meanwhile", 5, 7)
    git(ws.repo.path, "fsck", "--strict")


def test_moving_an_object_whose_folder_cannot_be_read_is_refused_with_nothing_staged(foreign):
    ws, Doc, _ = foreign
    obj = Doc.get("two-files")
    obj.id = "moved"
    with pytest.raises(CorruptObject) as caught:
        obj.save()
    assert caught.value.path == "doc/two-files/file"
    assert not ws.has_changes()
    git(ws.repo.path, "fsck", "--strict")


def test_an_untouched_named_file_keeps_its_folder_byte_for_byte(store):
    ws, Doc = store
    repo = ws.repo
    a = repo.create_blob(b"hello")
    commit_objects(repo, {
        "redundant": {"data.json": (data_json(repo), BLOB), "file": (raw_tree(repo, {
            "a.txt": (a, BLOB), ".content-type": (repo.create_blob(b"text/plain\n"), BLOB)}), TREE)},
        "malformed": {"data.json": (data_json(repo), BLOB), "file": (raw_tree(repo, {
            "a.txt": (a, BLOB), ".content-type": (repo.create_blob(b"text/html\r\n;x=1"), BLOB)}), TREE)},
    })
    ws, Doc = reopen(ws)
    before = ls(ws, "doc/redundant/file") + ls(ws, "doc/malformed/file")
    for name in ("redundant", "malformed"):
        obj = Doc.get(name)
        assert (obj.file.read(), obj.file.content_type) == (b"hello", "text/plain")
        obj.title = "edited"
        obj.save()
    ws.commit("titles")
    assert ls(ws, "doc/redundant/file") + ls(ws, "doc/malformed/file") == before
    obj = Doc.get("redundant")
    obj.file = BlobFile(b"new", name="b.txt")  # changed: written as gitmodel writes it
    obj.save(commit=True)
    assert git(ws.repo.path, "ls-tree", "-r", "HEAD", "doc/redundant/file").split() == [
        "100644", "blob", str(repo.create_blob(b"new")), "doc/redundant/file/b.txt"]
    git(ws.repo.path, "fsck", "--strict")


# -- content types: no control characters, in or out ----------------------------------------------


def test_a_content_type_with_a_control_character_or_not_ascii_is_refused(store):
    ws, Doc = store
    for bad in ("text/html\r\n;Set-Cookie: x=1", "text/html\r\n", "text/plain ;\nx", "text/\tplain",
                "text/plain;\x00", "text/plain; x=\x7f", "tëxt/plain", "text/plain; charset=ü"):
        with pytest.raises(ValidationError):
            Doc(id="x", title="t", file=BlobFile(b"x", name="x.bin", content_type=bad)).save()
    assert not ws.has_changes()
    ok = BlobFile(b"x", name="x.bin", content_type="text/plain ; charset=utf-8")
    assert ok.content_type == "text/plain ; charset=utf-8"


def test_a_hostile_stored_content_type_is_ignored_for_the_guess(store):
    ws, Doc = store
    repo = ws.repo
    for n, stored in enumerate([b"text/html\r\n;Set-Cookie: session=x", b"text/html\n\nx",
                                b"text/\x00html", b"t\xc3\xabxt/html", b"text/html; a=\x1b"]):
        commit_objects(repo, {f"ct{n}": {"data.json": (data_json(repo), BLOB), "file": (raw_tree(repo, {
            "a.txt": (repo.create_blob(b"hi"), BLOB), ".content-type": (repo.create_blob(stored), BLOB)}), TREE)}})
    ws, Doc = reopen(ws)
    for n in range(5):
        obj = Doc.get(f"ct{n}")
        assert obj.file.content_type == "text/plain"
        assert blob_info(obj, "file").content_type == "text/plain"
        assert open_blob(obj, "file").content_type == "text/plain"


# -- merges and pulls refuse a named file naming a missing or mistyped object ----------------------


def hostile_file(repo: pygit2.Repository, kind: str) -> dict[str, tuple[pygit2.Oid, int]]:
    if kind == "named-tree":
        target = repo[repo.head.target].tree.id
        return {"file": (raw_tree(repo, {"a.txt": (target, BLOB)}), TREE)}
    if kind == "named-missing":
        return {"file": (raw_tree(repo, {"a.txt": (MISSING, BLOB)}), TREE)}
    if kind == "deep-missing":
        return {"file": (raw_tree(repo, {"x.txt": (repo.create_blob(b"x"), BLOB),
                                         "sub": (raw_tree(repo, {"y": (MISSING, BLOB)}), TREE)}), TREE)}
    return {"file.data": (MISSING, BLOB)}


def forget(ws: Workspace, *refs: str) -> None:
    """Drop ``refs`` and every object only they reached, so fsck looks at what is kept."""
    for ref in refs:
        git(ws.repo.path, "update-ref", "-d", ref)
    git(ws.repo.path, "reflog", "expire", "--expire=now", "--all")
    git(ws.repo.path, "gc", "-q", "--prune=now")


BAD_PATHS = {"named-tree": "doc/ok/file/a.txt", "named-missing": "doc/ok/file/a.txt",
             "deep-missing": "doc/ok/file/sub/y", "plain-missing": "doc/ok/file.data"}


@pytest.mark.parametrize("kind", sorted(BAD_PATHS))
def test_a_merge_refuses_a_blob_field_file_naming_a_missing_or_mistyped_object(store, kind):
    ws, Doc = store
    repo = ws.repo
    ws.create_branch("theirs")
    repo.references.create("refs/heads/theirs", repo.head.target, force=True)
    commit_objects(repo, {"ok": {"data.json": (data_json(repo, "ok"), BLOB), **hostile_file(repo, kind)}},
                   ref="refs/heads/theirs")
    ws, Doc = reopen(ws)
    obj = Doc.get("ok")
    obj.title = "ours"
    obj.save(commit=True)
    state = (ws.branch.commit.id, ws.index.id)
    with pytest.raises(CorruptObject) as caught:
        ws.merge("theirs")
    assert caught.value.path == BAD_PATHS[kind]
    assert (ws.branch.commit.id, ws.index.id) == state
    assert not ws.merging and not ws.has_changes()
    assert Doc.get("ok").file.read() == b"v1"
    forget(ws, "refs/heads/theirs")
    git(ws.repo.path, "fsck", "--strict")


def test_a_pull_refuses_a_named_file_naming_a_tree(tmp_path):
    hub = Workspace.init(tmp_path / "hub.git")
    declare(hub)(id="ok", title="ok", file=BlobFile(b"v1", name="a.txt")).save(commit=True)
    local = Workspace.clone(str(tmp_path / "hub.git"), str(tmp_path / "local.git"))
    Local = declare(local)
    obj = Local.get("ok")
    obj.title = "local edit"
    obj.save(commit=True)
    tracking = local.repo.references["refs/remotes/origin/master"].target
    commit_objects(hub.repo, {"ok": {"data.json": (data_json(hub.repo, "ok"), BLOB),
                                     **hostile_file(hub.repo, "named-tree")}})
    state = (local.branch.commit.id, local.index.id)
    with pytest.raises(CorruptObject) as caught:
        local.pull()
    assert caught.value.path == "doc/ok/file/a.txt"
    assert (local.branch.commit.id, local.index.id) == state and not local.merging
    git(local.repo.path, "update-ref", "refs/remotes/origin/master", str(tracking))
    forget(local)
    git(local.repo.path, "fsck", "--strict")


def test_resolving_a_conflict_with_a_damaged_side_is_refused_and_the_merge_stays_open(store):
    ws, Doc = store
    repo = ws.repo
    repo.references.create("refs/heads/theirs", repo.head.target)
    commit_objects(repo, {"ok": {"data.json": (data_json(repo, "ok"), BLOB), **hostile_file(repo, "named-tree")}},
                   ref="refs/heads/theirs")
    ws, Doc = reopen(ws)
    obj = Doc.get("ok")
    obj.file = BlobFile(b"ours", name="ours.txt")
    obj.save(commit=True)
    [conflict] = ws.merge("theirs").conflicts
    staged = ws.index.id
    with pytest.raises(CorruptObject) as caught:
        ws.resolve(conflict, "theirs")
    assert caught.value.path == "doc/ok/file/a.txt"
    assert ws.index.id == staged and [c.field for c in ws.conflicts] == ["file"]
    head = ws.branch.commit.id
    ws.abort_merge()  # committing would make their damaged commit a parent
    assert ws.branch.commit.id == head and not ws.merging
    assert Doc.get("ok").file.read() == b"ours"
    forget(ws, "refs/heads/theirs")
    git(ws.repo.path, "fsck", "--strict")


# -- stored schema records: numbers are numbers --------------------------------------------------


def stored_schema(ws: Workspace, edit) -> None:
    repo = ws.repo
    tree = repo[repo.head.target].tree
    doc = json.loads((tree / ".gitmodel/schema/Doc.json").data)
    edit(doc)
    schema = repo.TreeBuilder(tree / ".gitmodel/schema")
    schema.insert("Doc.json", repo.create_blob(json.dumps(doc).encode()), BLOB)
    meta = repo.TreeBuilder(tree / ".gitmodel")
    meta.insert("schema", schema.write(), TREE)
    root = repo.TreeBuilder(tree)
    root.insert(".gitmodel", meta.write(), TREE)
    repo.create_commit("refs/heads/master", SIG, SIG, "schema", root.write(), [repo.head.target])


@pytest.mark.parametrize("layout", [
    {"shard": 1e999}, {"shard": -1e999}, {"shard": 2.5}, {"shard": "2"}, {"shard": True},
    {"shard": 0, "custom_path": "false"},
])
def test_a_stored_layout_that_is_not_a_whole_number_is_a_corrupt_schema(store, layout):
    ws, _ = store
    stored_schema(ws, lambda doc: doc["layout"].update(layout))
    fresh = Workspace(ws.repo.path)
    with pytest.raises(CorruptObject) as caught:
        fresh.schemas()
    assert caught.value.path == ".gitmodel/schema/Doc.json"
    with pytest.raises(CorruptObject):
        declare(fresh)


def test_a_stored_field_size_that_is_not_a_whole_number_never_breaks_validation(store):
    ws, _ = store
    stored_schema(ws, lambda doc: doc["fields"]["title"].update(max_length="12"))
    fresh = Workspace(ws.repo.path)
    Doc = model_from_schema(fresh, fresh.schemas()["Doc"])
    obj = Doc.get("ok")
    obj.title = "edited without the application's code"
    try:
        obj.save(commit=True)
    except GitModelError:  # refusing is fine; a raw TypeError from comparing sizes is not
        pass
    assert Doc.get("ok").title in ("ok", "edited without the application's code")
    git(ws.repo.path, "fsck", "--strict")
