"""Object history, field-level diffs, restore, revert, tags and reset."""

from __future__ import annotations

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import GitModelError, MergeConflict, ReferenceNotFound, RepositoryError


@pytest.fixture
def Page(ws):
    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)
        meta = fields.JSONField(default=dict, required=False)
        body = fields.BlobField()

    return Page


def save(ws, obj, message):
    obj.save()
    return ws.commit(message)


# -- history ----------------------------------------------------------------------
def test_history_lists_versions_newest_first(ws, Page):
    page = Page(id="home", title="Home")
    c1 = save(ws, page, "create")
    Page(id="other", title="Other").save()
    ws.commit("unrelated")
    page.title = "Welcome"
    c3 = save(ws, page, "rename title")
    page.views = 3
    c4 = save(ws, page, "views")

    versions = Page.history("home")
    assert [v.commit.id for v in versions] == [c4, c3, c1]
    assert [v.change for v in versions] == ["modified", "modified", "added"]
    assert versions[0].changes == {"views": (0, 3)}
    assert versions[1].changes == {"title": ("Home", "Welcome")}
    assert versions[2].changes["title"] == (None, "Home")
    assert versions[1].instance.title == "Welcome" and versions[1].instance.views == 0
    assert [v.commit.id for v in page.history()] == [c4, c3, c1]


def test_history_matches_plain_git_log(ws, Page, run_git):
    page = Page(id="p", title="a")
    save(ws, page, "1")
    for i in range(5):
        Page(id=f"x{i}", title="x").save()
        ws.commit(f"noise {i}")
        if i % 2:
            page.views = i
            save(ws, page, f"edit {i}")
    git_ids = run_git(ws.path, "log", "--format=%H", "--", "page/p").split()
    assert [str(v.commit.id) for v in Page.history("p")] == git_ids


def test_history_of_never_existing_id_is_empty(ws, Page):
    assert Page.history("nobody") == []
    Page(id="a", title="A").save()
    ws.commit("one")
    assert Page.history("nobody") == []


def test_history_deletion_and_recreation(ws, Page):
    c1 = save(ws, Page(id="p", title="first"), "create")
    Page.delete("p")
    c2 = ws.commit("delete")
    c3 = save(ws, Page(id="p", title="second"), "recreate")
    versions = Page.history("p")
    assert [(v.commit.id, v.change) for v in versions] == [
        (c3, "added"), (c2, "deleted"), (c1, "added")
    ]
    assert versions[1].instance is None
    assert versions[1].changes["title"] == ("first", None)
    assert versions[0].instance.title == "second"


def test_history_follows_merges_each_version_once(ws, Page, run_git):
    page = Page(id="p", title="base")
    save(ws, page, "base")
    ws.create_branch("feature")
    page.views = 1
    c_main = save(ws, page, "main edits views")
    ws.set_branch("feature")
    feature_page = Page.get("p")
    feature_page.title = "feature title"
    c_feat = save(ws, feature_page, "feature edits title")
    ws.set_branch("master")
    result = ws.merge("feature")
    assert result.commit is not None and not result.conflicts
    versions = Page.history("p")
    ids = [v.commit.id for v in versions]
    assert len(ids) == len(set(ids))
    # each change is listed at the commit that made it, not again at the merge
    assert result.commit not in ids
    assert {c_main, c_feat} <= set(ids)
    by_commit = {v.commit.id: v.changes for v in versions}
    assert set(by_commit[c_feat]) == {"title"} and set(by_commit[c_main]) == {"views"}
    assert Page.get("p").title == "feature title" and Page.get("p").views == 1
    assert run_git(ws.path, "rev-list", "--parents", "-n1", "master").split()[1:] == [
        str(c_main), str(c_feat)
    ]


def test_history_skips_merge_that_took_one_side(ws, Page):
    page = Page(id="p", title="base")
    save(ws, page, "base")
    ws.create_branch("feature")
    save(ws, Page(id="q", title="main only"), "main adds q")
    ws.set_branch("feature")
    page = Page.get("p")
    page.title = "feature"
    c_feat = save(ws, page, "feature edits p")
    ws.set_branch("master")
    merged = ws.merge("feature").commit
    ids = [v.commit.id for v in Page.history("p")]
    assert merged not in ids and ids[0] == c_feat


def test_history_follows_a_changed_id(ws, Page):
    page = Page(id="old", title="T")
    c1 = save(ws, page, "create")
    page.id = "new"
    c2 = save(ws, page, "move")
    versions = Page.history("new")
    assert [v.commit.id for v in versions] == [c2, c1]
    assert versions[0].change == "modified"
    assert versions[0].changes == {"id": ("old", "new")}
    assert versions[1].instance.id == "old"
    assert [v.change for v in Page.history("new", follow=False)] == ["added"]
    assert [v.change for v in Page.history("old")] == ["deleted", "added"]


def test_history_blob_field_and_treeish(ws, Page):
    page = Page(id="p", title="t", body=b"one")
    c1 = save(ws, page, "1")
    ws.create_tag("v1")
    page.body = b"two"
    c2 = save(ws, page, "2")
    versions = Page.history("p")
    assert [v.commit.id for v in versions] == [c2, c1]
    old, new = versions[0].changes["body"]
    assert ws.repo[old].data == b"one" and ws.repo[new].data == b"two"
    assert versions[1].instance.body.read() == b"one"
    assert [v.commit.id for v in Page.history("p", treeish="v1")] == [c1]


def test_history_sharded_layout(ws):
    class Doc(ws.GitModel):
        text = fields.CharField()

        class Meta:
            shard = 2

    doc = Doc(id="d", text="1")
    c1 = save(ws, doc, "1")
    doc.text = "2"
    c2 = save(ws, doc, "2")
    assert [v.commit.id for v in Doc.history("d")] == [c2, c1]
    (change,) = ws.changes(c1, c2)
    assert (change.model, change.id, change.kind, change.changes) == (Doc, "d", "modified", {"text": ("1", "2")})


# -- changes and diff -----------------------------------------------------------------
def test_changes_between_states(ws, Page):
    a = Page(id="a", title="A", meta={"k": 1})
    b = Page(id="b", title="B")
    a.save(); b.save()
    c1 = ws.commit("one")
    a.meta = {"k": 2}
    a.save()
    Page.delete("b")
    Page(id="c", title="C").save()
    ws.add_blob("assets/logo.txt", "logo")
    staged = {(ch.model, ch.id): ch for ch in ws.changes(c1)}
    assert staged[(Page, "a")].kind == "modified"
    assert staged[(Page, "a")].changes == {"meta": ({"k": 1}, {"k": 2})}
    assert staged[(Page, "b")].kind == "deleted"
    assert staged[(Page, "c")].kind == "added"
    raw = staged[(None, "assets/logo.txt")]
    assert raw.kind == "added" and raw.path == "assets/logo.txt"
    c2 = ws.commit("two")
    assert {(c.id, c.kind) for c in ws.changes(c1, c2)} == {
        ("a", "modified"), ("b", "deleted"), ("c", "added"), ("assets/logo.txt", "added")
    }
    assert ws.changes(c2) == []


def test_changes_report_python_values(ws):
    import datetime as dt
    import decimal

    class Invoice(ws.GitModel):
        total = fields.DecimalField()
        due = fields.DateField()

    inv = Invoice(id="i", total="1.50", due="2024-01-01")
    c1 = save(ws, inv, "1")
    inv.total = decimal.Decimal("2.25")
    inv.save()
    (change,) = ws.changes(c1)
    assert change.changes == {"total": (decimal.Decimal("1.50"), decimal.Decimal("2.25"))}
    assert isinstance(change.new.due, dt.date)


def test_object_diff(ws, Page):
    page = Page(id="p", title="one")
    c1 = save(ws, page, "1")
    page.title = "two"
    c2 = save(ws, page, "2")
    change = Page.diff("p", c1, c2)
    assert change.kind == "modified" and change.changes == {"title": ("one", "two")}
    assert Page.diff("p", c2, c2) is None
    page.views = 9
    page.save()
    assert page.diff(c1).changes == {"title": ("one", "two"), "views": (0, 9)}
    assert Page.diff("p", c2).changes == {"views": (0, 9)}


# -- treeish arguments -------------------------------------------------------------------
def test_every_treeish_form(ws, Page):
    page = Page(id="p", title="one")
    c1 = save(ws, page, "1")
    ws.create_tag("light")
    ws.create_tag("annotated", message="release 1")
    ws.create_branch("stable")
    page.title = "two"
    save(ws, page, "2")
    for treeish in ("light", "annotated", "stable", str(c1), str(c1)[:7], c1, ws.repo[c1]):
        assert Page.get("p", treeish=treeish).title == "one", treeish
        assert Page.diff("p", treeish).changes == {"title": ("one", "two")}
    tag = ws.repo.references["refs/tags/annotated"]
    assert isinstance(ws.repo[tag.target], pygit2.Tag)
    assert ws.repo[tag.target].message == "release 1"


def test_unknown_treeish_names_it(ws, Page):
    save(ws, Page(id="p", title="x"), "1")
    for call in (
        lambda: ws.changes("no-such-thing"),
        lambda: Page.history("p", treeish="no-such-thing"),
        lambda: Page.restore("p", "no-such-thing"),
        lambda: Page.diff("p", "no-such-thing"),
    ):
        with pytest.raises(ReferenceNotFound) as info:
            call()
        assert isinstance(info.value, GitModelError) and isinstance(info.value, KeyError)
        assert "no-such-thing" in str(info.value)


# -- restore and revert --------------------------------------------------------------------
def test_restore_old_version_and_deleted_object(ws, Page, run_git):
    page = Page(id="p", title="v1", body=b"data1")
    c1 = save(ws, page, "1")
    page.title = "v2"
    page.body = b"data2"
    save(ws, page, "2")
    restored = Page.restore("p", c1)
    assert restored.title == "v1" and restored.body.read() == b"data1"
    assert ws.branch.commit.id != c1  # not committed by itself
    assert Page.get("p", treeish="master").title == "v2"
    ws.commit("restore")
    assert Page.get("p").title == "v1"

    Page.delete("p")
    ws.commit("gone")
    with pytest.raises(Page.DoesNotExist):
        Page.get("p")
    Page.restore("p", c1)
    ws.commit("back")
    assert Page.get("p").title == "v1"
    run_git(ws.path, "fsck", "--strict")


def test_restore_absent_raises_does_not_exist(ws, Page):
    c1 = save(ws, Page(id="a", title="A"), "1")
    with pytest.raises(Page.DoesNotExist):
        Page.restore("zzz", c1)
    assert not ws.has_changes()


def test_revert_is_field_level(ws, Page):
    page = Page(id="p", title="one", views=1)
    save(ws, page, "1")
    page.title = "two"
    bad = save(ws, page, "bad title")
    page.views = 5
    save(ws, page, "later views")
    ws.revert(bad)
    assert ws.branch.commit.message == "later views"  # nothing committed
    reverted = Page.get("p")
    assert (reverted.title, reverted.views) == ("one", 5)


def test_revert_conflict_names_fields_and_stages_nothing(ws, Page):
    page = Page(id="p", title="one")
    save(ws, page, "1")
    page.title = "two"
    bad = save(ws, page, "2")
    page.title = "three"
    save(ws, page, "3")
    with pytest.raises(MergeConflict) as info:
        ws.revert(bad)
    assert "title" in str(info.value) and "'p'" in str(info.value)
    assert info.value.conflicts[0].field == "title"
    assert not ws.has_changes()


def test_revert_of_addition_and_deletion(ws, Page):
    save(ws, Page(id="a", title="A"), "1")
    add = save(ws, Page(id="b", title="B"), "add b")
    ws.revert(add)
    assert Page.all().ids() == ["a"]
    ws.commit("revert add")
    Page.delete("a")
    rm = ws.commit("rm a")
    ws.revert(rm)
    assert Page.get("a").title == "A"


# -- tags, branches ---------------------------------------------------------------------------
def test_tags_and_branches(ws, Page, run_git):
    c1 = save(ws, Page(id="p", title="x"), "1")
    assert ws.create_tag("v1", message="first release") == c1
    ws.create_tag("v1-light", c1)
    assert set(ws.tags) == {"v1", "v1-light"}
    assert ws.tags["v1"].id == c1
    assert run_git(ws.path, "cat-file", "-t", "v1").strip() == "tag"
    assert run_git(ws.path, "cat-file", "-t", "v1-light").strip() == "commit"
    with pytest.raises(RepositoryError):
        ws.create_tag("v1")
    ws.create_branch("tmp")
    assert set(ws.branches) == {"master", "tmp"}
    assert ws.branches["tmp"].commit.id == c1
    ws.delete_branch("tmp")
    assert set(ws.branches) == {"master"}
    with pytest.raises(RepositoryError):
        ws.delete_branch("master")
    with pytest.raises(KeyError):
        ws.delete_branch("tmp")
    ws.delete_tag("v1-light")
    assert set(ws.tags) == {"v1"}


# -- reset ------------------------------------------------------------------------------------
def test_reset_all_and_some(ws, Page):
    a, b = Page(id="a", title="A"), Page(id="b", title="B")
    a.save(); b.save()
    ws.commit("1")
    a.title = "A2"; a.save()
    b.title = "B2"; b.save()
    Page(id="c", title="C").save()
    ws.add_blob("raw/file.txt", "x")
    ws.reset([a, "raw/file.txt"])
    assert Page.get("a").title == "A"
    assert Page.get("b").title == "B2"
    assert ws.lookup("raw/file.txt") is None
    ws.reset(Page.get("c"))
    assert Page.all().ids() == ["a", "b"]
    ws.reset()
    assert not ws.has_changes()
    assert Page.get("b").title == "B"


def test_history_and_restore_with_a_custom_data_path(ws, run_git):
    def flat_path(opts, object_id):
        return f"flat/{opts.model_name}-{object_id}.json"

    class Doc(ws.GitModel):
        body = fields.CharField()
        attachment = fields.BlobField()

        class Meta:
            get_data_path = flat_path

    doc = Doc(id="a", body="one", attachment=b"file")
    c1 = save(ws, doc, "1")
    save(ws, Doc(id="b", body="other"), "2")
    doc.body = "two"
    c3 = save(ws, doc, "3")
    versions = Doc.history("a")
    assert [v.commit.id for v in versions] == [c3, c1]
    assert versions[0].changes == {"body": ("one", "two")}
    assert versions[1].instance.attachment.read() == b"file"
    git_ids = run_git(ws.path, "log", "--format=%H", "--", "flat/doc-a.json").split()
    assert [str(v.commit.id) for v in versions] == git_ids
    assert Doc.restore("a", c1).body == "one"
    assert Doc.diff("a", c3).changes == {"body": ("two", "one")}


def test_unsafe_ids_are_refused_with_a_validation_error(ws, Page):
    from gitmodel.exceptions import ValidationError

    c1 = save(ws, Page(id="p", title="x"), "1")
    for bad in ("..", "a/b", "", ".git"):
        for call in (lambda: Page.history(bad), lambda: Page.restore(bad, c1),
                     lambda: Page.diff(bad, c1)):
            with pytest.raises(ValidationError) as info:
                call()
            assert info.value.field == "id"
    assert not ws.has_changes()
