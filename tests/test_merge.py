"""Three-way, field-level merges of branches; conflicts and their resolution."""

from __future__ import annotations

import pytest

from gitmodel import fields
from gitmodel.exceptions import MergeConflict, RepositoryError


def counter_merge(base, ours, theirs):
    return (ours or 0) + (theirs or 0) - (base or 0)


@pytest.fixture
def Page(ws):
    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)
        hits = fields.IntegerField(default=0, merge=counter_merge)
        meta = fields.JSONField(default=dict, required=False)
        body = fields.BlobField()

    return Page


def edit(ws, Page, branch, object_id, message, **values):
    ws.set_branch(branch)
    try:
        obj = Page.get(object_id)
        for k, v in values.items():
            setattr(obj, k, v)
    except Page.DoesNotExist:
        obj = Page(id=object_id, **values)
    obj.save()
    return ws.commit(message)


@pytest.fixture
def forked(ws, Page):
    """master and feature both start from one commit with page 'p'."""
    Page(id="p", title="base", meta={"a": 1, "b": 1}, body=b"blob").save()
    Page(id="q", title="other").save()
    ws.commit("base")
    ws.create_branch("feature")
    return ws


def test_fast_forward(forked, Page, run_git):
    ws = forked
    c = edit(ws, Page, "feature", "p", "feature work", title="ff")
    ws.set_branch("master")
    result = ws.merge("feature")
    assert result.fast_forward and result.commit == c and result.conflicts == []
    assert ws.branch.commit.id == c and Page.get("p").title == "ff"
    assert run_git(ws.path, "rev-parse", "master").strip() == str(c)


def test_no_fast_forward_makes_merge_commit(forked, Page, run_git):
    ws = forked
    c = edit(ws, Page, "feature", "p", "feature work", title="ff")
    ws.set_branch("master")
    result = ws.merge("feature", fast_forward=False, message="merge it")
    assert not result.fast_forward
    commit = ws.repo[result.commit]
    assert [p.id for p in commit.parents][1] == c and commit.message == "merge it"
    assert Page.get("p").title == "ff"


def test_already_merged_changes_nothing(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "main work", title="m")
    head = ws.branch.commit.id
    for other in ("master", "feature", head):
        result = ws.merge(other)
        assert result.up_to_date and result.commit is None
        assert ws.branch.commit.id == head and not ws.has_changes()


def test_disjoint_field_edits_merge(forked, Page, run_git):
    ws = forked
    c_main = edit(ws, Page, "master", "p", "main title", title="main")
    c_feat = edit(ws, Page, "feature", "p", "feature views", views=7)
    ws.set_branch("master")
    result = ws.merge("feature")
    assert result.conflicts == [] and not result.fast_forward
    page = Page.get("p")
    assert (page.title, page.views) == ("main", 7)
    commit = ws.repo[result.commit]
    assert [p.id for p in commit.parents] == [c_main, c_feat]
    graph = run_git(ws.path, "log", "--graph", "--format=%s", "master")
    assert "Merge 'feature' into master" in graph and "|\\" in graph
    run_git(ws.path, "fsck", "--strict")


def test_one_sided_changes_and_raw_files(forked, Page):
    ws = forked
    edit(ws, Page, "master", "new-main", "main adds", title="nm")
    ws.set_branch("feature")
    Page.delete("q")
    ws.add_blob("assets/readme.txt", "hello")
    ws.commit("feature deletes q, adds a file")
    edit(ws, Page, "feature", "new-feat", "feature adds", title="nf")
    ws.set_branch("master")
    result = ws.merge("feature")
    assert result.conflicts == []
    assert sorted(Page.all().ids()) == ["new-feat", "new-main", "p"]
    assert ws.repo[ws.lookup("assets/readme.txt")[0]].data == b"hello"


def test_json_dict_merges_key_by_key(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", meta={"a": 2, "b": 1})
    edit(ws, Page, "feature", "p", "f", meta={"a": 1, "b": 3, "c": 4})
    ws.set_branch("master")
    assert ws.merge("feature").conflicts == []
    assert Page.get("p").meta == {"a": 2, "b": 3, "c": 4}


def test_json_key_conflict_has_key_path(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", meta={"a": 2, "b": 1})
    edit(ws, Page, "feature", "p", "f", meta={"a": 3, "b": 1})
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    assert (conflict.field, conflict.key, conflict.base, conflict.ours, conflict.theirs) == (
        "meta", ("a",), 1, 2, 3)
    ws.resolve(conflict, 5)
    ws.commit()
    assert Page.get("p").meta == {"a": 5, "b": 1}


def test_counter_field_rule_adds_deltas(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", hits=3)
    edit(ws, Page, "feature", "p", "f", hits=5)
    ws.set_branch("master")
    assert ws.merge("feature").conflicts == []
    assert Page.get("p").hits == 8


def test_model_merge_fields_rule(ws):
    class Doc(ws.GitModel):
        tags = fields.JSONField(default=list)

        @classmethod
        def merge_fields(cls, base, ours, theirs):
            ours.tags = sorted(set(ours.tags) | set(theirs.tags))
            return ours

    Doc(id="d", tags=["a"]).save()
    ws.commit("base")
    ws.create_branch("other")
    doc = Doc.get("d"); doc.tags = ["a", "b"]; doc.save(); ws.commit("b")
    ws.set_branch("other")
    doc = Doc.get("d"); doc.tags = ["a", "c"]; doc.save(); ws.commit("c")
    ws.set_branch("master")
    assert ws.merge("other").conflicts == []
    assert Doc.get("d").tags == ["a", "b", "c"]


def test_field_conflict_open_then_resolved(forked, Page, run_git):
    ws = forked
    edit(ws, Page, "master", "p", "m", title="mine", views=1)
    edit(ws, Page, "feature", "p", "f", title="yours")
    edit(ws, Page, "feature", "q", "f2", title="q from feature")
    ws.set_branch("master")
    head = ws.branch.commit.id
    result = ws.merge("feature")
    assert result.commit is None
    (conflict,) = result.conflicts
    assert (conflict.model, conflict.id, conflict.field, conflict.kind) == (Page, "p", "title", "modify/modify")
    assert (conflict.base, conflict.ours, conflict.theirs) == ("base", "mine", "yours")
    assert ws.conflicts == [conflict]
    # the branch is untouched; everything else is staged
    assert ws.branch.commit.id == head
    assert run_git(ws.path, "rev-parse", "master").strip() == str(head)
    assert Page.get("q").title == "q from feature"
    assert Page.get("p").views == 1
    with pytest.raises(MergeConflict) as info:
        ws.commit("too early")
    assert "title" in str(info.value)
    with pytest.raises(RepositoryError):
        ws.set_branch("feature")
    ws.resolve(conflict, "theirs")
    assert ws.conflicts == []
    merge_commit = ws.commit("merged")
    assert len(ws.repo[merge_commit].parents) == 2
    page = Page.get("p")
    assert (page.title, page.views) == ("yours", 1)
    run_git(ws.path, "fsck", "--strict")


@pytest.mark.parametrize("choice,expected", [("ours", "mine"), ("theirs", "yours"), ("base", "base")])
def test_resolve_choices(forked, Page, choice, expected):
    ws = forked
    edit(ws, Page, "master", "p", "m", title="mine")
    edit(ws, Page, "feature", "p", "f", title="yours")
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    ws.resolve(conflict, choice)
    ws.commit()
    assert Page.get("p").title == expected


def test_resolve_with_literal_value(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", title="mine")
    edit(ws, Page, "feature", "p", "f", title="yours")
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    ws.resolve(conflict, value="ours")  # the literal string, not the choice
    ws.commit()
    assert Page.get("p").title == "ours"


def test_resolve_value_is_validated(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", views=1)
    edit(ws, Page, "feature", "p", "f", views=2)
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    with pytest.raises(Exception) as info:
        ws.resolve(conflict, "not a number")
    assert getattr(info.value, "field", None) == "views"
    assert ws.conflicts == [conflict]


def test_abort_merge_restores(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", title="mine")
    edit(ws, Page, "feature", "p", "f", title="yours")
    edit(ws, Page, "feature", "q", "f2", title="changed")
    ws.set_branch("master")
    head = ws.branch.commit.id
    ws.merge("feature")
    ws.abort_merge()
    assert ws.conflicts == [] and not ws.has_changes() and not ws.merging
    assert ws.branch.commit.id == head
    assert Page.get("q").title == "other" and Page.get("p").title == "mine"
    ws.set_branch("feature")  # allowed again


def test_delete_modify_conflicts(forked, Page):
    ws = forked
    ws.set_branch("master")
    Page.delete("p")
    ws.commit("main deletes p")
    edit(ws, Page, "feature", "p", "feature edits p", title="edited")
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    assert (conflict.kind, conflict.field, conflict.ours) == ("delete/modify", None, None)
    assert conflict.theirs.title == "edited" and conflict.base.title == "base"
    ws.resolve(conflict, "theirs")
    ws.commit()
    assert Page.get("p").title == "edited"


def test_modify_delete_conflict_resolved_by_delete(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "main edits p", title="edited")
    ws.set_branch("feature")
    Page.delete("p")
    ws.commit("feature deletes p")
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    assert conflict.kind == "modify/delete" and conflict.theirs is None
    ws.resolve(conflict, "theirs")
    ws.commit()
    assert Page.all().ids() == ["q"]


def test_add_add(forked, Page):
    ws = forked
    edit(ws, Page, "master", "same", "m", title="equal")
    edit(ws, Page, "feature", "same", "f", title="equal")
    edit(ws, Page, "master", "diff", "m2", title="mine")
    edit(ws, Page, "feature", "diff", "f2", title="yours")
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    assert (conflict.id, conflict.kind, conflict.base) == ("diff", "add/add", None)
    assert conflict.ours.title == "mine" and conflict.theirs.title == "yours"
    replacement = Page(id="diff", title="both")
    ws.resolve(conflict, replacement)
    ws.commit()
    assert Page.get("diff").title == "both" and Page.get("same").title == "equal"


def test_blob_field_and_raw_file_conflicts(forked, Page):
    ws = forked
    edit(ws, Page, "master", "p", "m", body=b"mine")
    ws.add_blob("raw.txt", "main")
    ws.commit("raw main")
    edit(ws, Page, "feature", "p", "f", body=b"yours")
    ws.add_blob("raw.txt", "feature")
    ws.commit("raw feature")
    ws.set_branch("master")
    conflicts = {(c.model, c.field): c for c in ws.merge("feature").conflicts}
    blob = conflicts[(Page, "body")]
    assert ws.repo[blob.ours].data == b"mine" and ws.repo[blob.theirs].data == b"yours"
    raw = conflicts[(None, None)]
    assert raw.id == "raw.txt" and raw.kind == "add/add"
    ws.resolve(blob, "theirs")
    ws.resolve(raw, b"merged")
    ws.commit()
    assert Page.get("p").body.read() == b"yours"
    assert ws.repo[ws.lookup("raw.txt")[0]].data == b"merged"


@pytest.mark.parametrize("strategy,expected", [("ours", "mine"), ("theirs", "yours")])
def test_strategies(forked, Page, strategy, expected):
    ws = forked
    edit(ws, Page, "master", "p", "m", title="mine", views=1)
    edit(ws, Page, "feature", "p", "f", title="yours", meta={"a": 9, "b": 1})
    ws.set_branch("master")
    result = ws.merge("feature", strategy=strategy)
    assert result.conflicts == [] and result.commit is not None
    page = Page.get("p")
    assert (page.title, page.views, page.meta) == (expected, 1, {"a": 9, "b": 1})


def test_merge_refused_with_pending_changes(forked, Page):
    ws = forked
    edit(ws, Page, "feature", "p", "f", title="x")
    ws.set_branch("master")
    Page(id="z", title="pending").save()
    with pytest.raises(RepositoryError):
        ws.merge("feature")
    assert Page.get("z").title == "pending"


def test_merge_tag_and_commit_id(forked, Page):
    ws = forked
    c = edit(ws, Page, "feature", "p", "f", title="tagged")
    ws.create_tag("release", c, message="r")
    edit(ws, Page, "master", "q", "m", title="main")
    assert ws.merge("release").conflicts == []
    assert Page.get("p").title == "tagged"
    assert ws.merge(str(c)[:8]).up_to_date


def test_merge_sharded_model_field_by_field(ws, run_git):
    class Doc(ws.GitModel):
        a = fields.IntegerField(default=0)
        b = fields.IntegerField(default=0)

        class Meta:
            shard = 2

    for i in range(20):
        Doc(id=f"d{i}").save()
    ws.commit("base")
    ws.create_branch("other")
    d = Doc.get("d3"); d.a = 1; d.save(); ws.commit("a")
    ws.set_branch("other")
    d = Doc.get("d3"); d.b = 2; d.save()
    Doc(id="new").save()
    ws.commit("b")
    ws.set_branch("master")
    result = ws.merge("other")
    assert result.conflicts == []
    d = Doc.get("d3")
    assert (d.a, d.b) == (1, 2) and len(Doc.all()) == 21
    run_git(ws.path, "fsck", "--strict")


def test_merge_into_unborn_branch_and_unrelated_history(ws, Page):
    Page(id="p", title="on master").save()
    c = ws.commit("master")
    ws.repo.references.create("refs/heads/empty-start", c)
    other = type(ws)(ws.path, "fresh", orphan=True)  # a branch with no commits yet
    assert other.merge("master").fast_forward
    assert other.branch.commit.id == c
    # an unrelated history: no merge base, merged against nothing
    lone = ws.repo.create_commit(
        "refs/heads/lone", ws._signature(None), ws._signature(None), "lone",
        ws.repo.TreeBuilder().write(), [],
    )
    ws.add_blob("elsewhere.txt", "x")
    ws.commit("more on master")
    assert ws.merge(lone).conflicts == []
    assert Page.get("p").title == "on master" and ws.lookup("elsewhere.txt") is not None


def test_merge_finished_after_the_branch_moved_goes_on_top(forked, Page, run_git):
    """Another writer may commit while a merge is open; the merge commit then
    goes on top of its commit, keeping both (never a silent overwrite)."""
    ws = forked
    edit(ws, Page, "master", "p", "m", title="mine")
    feature = edit(ws, Page, "feature", "p", "f", title="yours")
    ws.set_branch("master")
    (conflict,) = ws.merge("feature").conflicts
    other = type(ws)(ws.path)
    Other = other.register_model(Page)
    Other(id="late", title="late").save()
    moved = other.commit("someone else")
    ws.resolve(conflict, "ours")
    merged = ws.commit("merge")
    assert ws.repo[merged].parent_ids == [moved, feature]
    assert Page.get("p").title == "mine" and Page.get("late").title == "late"
    assert not ws.merging
    run_git(ws.path, "fsck", "--strict")


def test_stray_files_in_an_object_folder_merge_at_blob_level(forked, Page):
    ws = forked
    folder = Page._meta.get_object_folder("p")
    ws.set_branch("master")
    page = Page.get("p"); page.title = "mine"; page.save()
    ws.add_blob(f"{folder}/notes.txt", "from master")
    ws.commit("m")
    ws.set_branch("feature")
    page = Page.get("p"); page.views = 4; page.save()
    ws.add_blob(f"{folder}/other.txt", "from feature")
    ws.commit("f")
    ws.set_branch("master")
    assert ws.merge("feature").conflicts == []
    page = Page.get("p")
    assert (page.title, page.views) == ("mine", 4)
    assert ws.repo[ws.lookup(f"{folder}/notes.txt")[0]].data == b"from master"
    assert ws.repo[ws.lookup(f"{folder}/other.txt")[0]].data == b"from feature"


def test_a_merge_commit_names_the_author_and_committer_given(forked, Page, run_git):
    ws = forked
    edit(ws, Page, "feature", "p", "feature work", title="theirs")
    edit(ws, Page, "master", "q", "master work", title="ours")
    before = ws.branch.commit.id
    with pytest.raises(ValueError):
        ws.merge("feature", author=("Bad <name>", "x@example.com"))
    assert ws.branch.commit.id == before and not ws.merging
    result = ws.merge("feature", author=("Mia", "mia@example.com"), committer=("Bot", "bot@example.com"))
    who = run_git(ws.path, "log", "-1", "--format=%an%n%ae%n%cn%n%ce", str(result.commit)).split()
    assert who == ["Mia", "mia@example.com", "Bot", "bot@example.com"]
