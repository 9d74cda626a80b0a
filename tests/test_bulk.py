"""``bulk_save`` for every model: blob fields, unique fields and custom paths
take the pack path and give what saving each object would; a refused bulk
stages nothing."""

from __future__ import annotations

import io

import pytest

from gitmodel import fields
from gitmodel.blobs import BlobFile
from gitmodel.exceptions import IntegrityError
from gitmodel.git.packs import loose_object_ids
from gitmodel.schema import layout
from gitmodel.workspace import Workspace


def declare(ws: Workspace, kind: str) -> type:
    attrs: dict = {"__module__": __name__, "id": fields.CharField(id=True), "title": fields.CharField()}
    if kind == "blob":
        attrs["body"] = fields.BlobField(required=False)
    elif kind == "unique":
        attrs["slug"] = fields.CharField(unique=True)
    elif kind == "custom":
        attrs["body"] = fields.BlobField(required=False)
        attrs["Meta"] = type("Meta", (), {"get_data_path": lambda self, i: f"docs/{i}.json"})
    return type("Doc", (ws.GitModel,), attrs)


def records(kind: str, n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        rec: dict = {"id": f"d{i:03d}", "title": f"Doc {i}"}
        if kind in ("blob", "custom"):
            rec["body"] = (b"raw bytes %d" % i) if i % 3 else BlobFile(b"named %d" % i, name=f"f{i}.txt")
            if kind == "custom" and not i % 3:
                rec["body"] = io.BytesIO(b"streamed %d" % i)
        if kind == "unique":
            rec["slug"] = f"slug-{i}"
        out.append(rec)
    return out


@pytest.mark.parametrize("kind", ["blob", "unique", "custom"])
def test_bulk_save_gives_the_tree_of_saving_each_from_one_pack(tmp_path, run_git, kind) -> None:
    one = Workspace.init(tmp_path / "one.git", bare=True)
    bulk = Workspace.init(tmp_path / "bulk.git", bare=True)
    One, Bulk = declare(one, kind), declare(bulk, kind)
    for rec in records(kind, 30):
        One(**rec).save()
    one_commit = one.commit("one by one")
    before = len(loose_object_ids(bulk.repo))
    bulk_commit = Bulk.bulk_save([Bulk(**r) for r in records(kind, 30)], commit=True)
    assert one.repo[one_commit].tree_id == bulk.repo[bulk_commit].tree_id
    # the objects went into a pack: a few loose ones (commit, top trees, streamed files)
    assert len(loose_object_ids(bulk.repo)) - before < 16
    run_git(bulk.path, "fsck", "--strict")
    doc = Bulk.get("d004")
    assert doc.title == "Doc 4"
    if kind != "unique":
        assert doc.body.read() == b"raw bytes 4"
    # saved objects are up to date: an edit after the bulk is a plain save
    doc.title = "edited"
    doc.save(commit=True)
    assert Bulk.get("d004").title == "edited"


def test_bulk_save_updates_blob_values_and_moves_objects(tmp_path, run_git) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Doc = declare(ws, "blob")
    Doc.bulk_save([Doc(**r) for r in records("blob", 6)], commit=True)
    docs = [Doc.get(f"d{i:03d}") for i in range(6)]
    docs[1].body = b"new body"
    docs[0].body = None  # a named file goes
    docs[2].id = "moved"
    Doc.bulk_save(docs, commit=True)
    assert Doc.get("d001").body.read() == b"new body"
    assert Doc.get("d000").body is None
    assert Doc.get("moved").body.read() == b"raw bytes 2"
    listing = run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert not any(p.startswith("doc/d002/") for p in listing)
    assert not any(p.startswith("doc/d000/body") for p in listing)
    run_git(ws.path, "fsck", "--strict")


def test_a_unique_clash_inside_the_bulk_stages_nothing(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Doc = declare(ws, "unique")
    objs = [Doc(**r) for r in records("unique", 5)]
    objs[3].slug = objs[1].slug
    with pytest.raises(IntegrityError, match="slug"):
        Doc.bulk_save(objs)
    assert not ws.has_changes()


def test_a_unique_clash_with_the_store_stages_nothing(tmp_path) -> None:
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Doc = declare(ws, "unique")
    Doc.bulk_save([Doc(**r) for r in records("unique", 5)], commit=True)
    head = ws.repo.head.target
    clash = [Doc(**r) for r in records("unique", 3, start=10)]
    clash[2].slug = "slug-1"  # held by d001
    with pytest.raises(IntegrityError, match="slug-1"):
        Doc.bulk_save(clash, commit=True)
    assert not ws.has_changes() and ws.repo.head.target == head
    # values passed around among the objects of one bulk are no clash
    a, b = Doc.get("d000"), Doc.get("d001")
    a.slug, b.slug = "slug-1", "slug-0"
    Doc.bulk_save([a, b], commit=True)
    assert Doc.get("d000").slug == "slug-1" and Doc.all().filter(slug="slug-0").ids() == ["d001"]


def test_a_bulk_past_the_bound_is_staged_fanned_out(tmp_path, run_git, monkeypatch) -> None:
    monkeypatch.setattr(layout, "FAN_OUT_AT", 10)
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Doc = declare(ws, "blob")
    Doc.bulk_save([Doc(**r) for r in records("blob", 4)], commit=True)
    Doc.bulk_save([Doc(**r) for r in records("blob", 8, start=4)], commit=True)
    listing = [p for p in run_git(ws.path, "ls-tree", "-r", "--name-only", "HEAD").split()
               if p.startswith("doc/")]
    assert all(p.count("/") >= 4 for p in listing)
    assert len([p for p in listing if p.endswith("/data.json")]) == 12
    assert Doc.get("d001").body.read() == b"raw bytes 1" and len(Doc.all()) == 12
    run_git(ws.path, "fsck", "--strict")


def test_a_generator_is_staged_in_chunks_and_a_late_refusal_stages_nothing(tmp_path, run_git,
                                                                          monkeypatch) -> None:
    import gitmodel.bulk

    monkeypatch.setattr(gitmodel.bulk, "CHUNK", 4)
    ws = Workspace.init(tmp_path / "s.git", bare=True)
    Doc = declare(ws, "unique")
    Doc.bulk_save((Doc(**r) for r in records("unique", 10)), commit=True)
    assert len(Doc.all()) == 10 and Doc.get("d007").slug == "slug-7"
    run_git(ws.path, "fsck", "--strict")
    late = [Doc(**r) for r in records("unique", 9, start=20)]
    late[8].slug = late[1].slug  # two chunks later than the value it repeats
    with pytest.raises(IntegrityError, match="slug-21"):
        Doc.bulk_save(iter(late))
    assert not ws.has_changes() and len(Doc.all()) == 10
