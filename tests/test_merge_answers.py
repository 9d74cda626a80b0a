"""What a merge answers in the corners: a field new to the class, choices
that name the staged state, null JSON keys, ids changed on a side, no-op diffs."""

from __future__ import annotations

import json

import pytest

from gitmodel import Workspace, fields
from gitmodel.exceptions import MergeConflict, RepositoryError
from gitmodel.migrations import AlterField, Migration
from gitmodel.versions.schemas import SchemaConflict


def stored(run_git, ws: Workspace, spec: str) -> dict:
    return json.loads(run_git(ws.path, "show", spec))["fields"]


def page_v1(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField()})


def page_v2(ws: Workspace, **extra) -> type:
    """The next version of the application: an optional field added, no migration."""
    return type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "subtitle": fields.CharField(required=False), **extra})


# -- A: a key the stored data lacks is the value a save writes for it by default ---------------
def test_a_field_new_to_the_class_set_on_one_branch_merges_cleanly(ws: Workspace, run_git) -> None:
    Page = page_v1(ws)
    Page(id="p", title="T").save()
    ws.commit("base")
    ws.create_branch("f")
    app = Workspace(ws.path)
    Page = page_v2(app)
    p = Page.get("p"); p.title = "T edited"; p.save(); app.commit("master: title (writes subtitle: null)")
    app.set_branch("f")
    p = Page.get("p"); p.subtitle = "Sub"; p.save(); app.commit("f: subtitle")
    app.set_branch("master")
    result = app.merge("f")
    assert result.conflicts == [] and result.commit is not None
    assert stored(run_git, app, "master:page/p/data.json") == {"id": "p", "title": "T edited", "subtitle": "Sub"}
    assert len(run_git(app.path, "log", "-1", "--format=%P", "master").split()) == 2
    run_git(app.path, "fsck", "--strict")


def test_a_new_field_with_a_default_counts_its_default_as_unset(ws: Workspace, run_git) -> None:
    Page = page_v1(ws)
    Page(id="p", title="T").save()
    ws.commit("base")
    ws.create_branch("f")
    app = Workspace(ws.path)
    Page = page_v2(app, rank=fields.IntegerField(default=3))
    p = Page.get("p"); p.title = "T2"; p.save(); app.commit("master: writes rank 3")
    app.set_branch("f")
    p = Page.get("p"); p.rank = 7; p.save(); app.commit("f: rank 7")
    app.set_branch("master")
    assert app.merge("f").conflicts == []
    assert (Page.get("p").title, Page.get("p").rank) == ("T2", 7)


def test_a_new_field_set_by_a_writer_that_lost_the_race_is_committed(ws: Workspace, run_git) -> None:
    Page = page_v1(ws)
    Page(id="p", title="T").save()
    ws.commit("base")
    a, b = Workspace(ws.path), Workspace(ws.path)
    PageA = page_v2(a)
    PageB = b.register_model(PageA)
    pa, pb = PageA.get("p"), PageB.get("p")
    pb.subtitle = "Sub"; pb.save()
    pa.title = "T edited"; pa.save(); a.commit("A: title")
    b.commit("B: subtitle")  # rebased onto A's commit, no conflict
    assert stored(run_git, ws, "master:page/p/data.json") == {"id": "p", "title": "T edited", "subtitle": "Sub"}
    assert run_git(ws.path, "log", "--format=%s", "master").split("\n")[:2] == ["B: subtitle", "A: title"]
    pa, pb = PageA.get("p"), PageB.get("p")  # a real clash of the new field is still one
    pb.subtitle = "B"; pb.save()
    pa.subtitle = "A"; pa.save(); a.commit("A: subtitle")
    with pytest.raises(MergeConflict, match="subtitle"):
        b.commit("B: subtitle again")


def test_a_new_field_pulled_from_a_clone_merges_cleanly(tmp_path) -> None:
    hub = Workspace.init(str(tmp_path / "hub.git"), bare=True)
    Page = page_v1(hub)
    Page(id="p", title="T").save()
    hub.commit("base")
    one = Workspace.clone(hub.path, str(tmp_path / "one.git"))
    two = Workspace.clone(hub.path, str(tmp_path / "two.git"))
    P1, P2 = page_v2(one), page_v2(two)
    p = P1.get("p"); p.title = "T edited"; p.save(); one.commit("one: title"); one.push()
    p = P2.get("p"); p.subtitle = "Sub"; p.save(); two.commit("two: subtitle")
    assert two.pull().conflicts == []
    assert (P2.get("p").title, P2.get("p").subtitle) == ("T edited", "Sub")


def test_an_object_only_rewritten_with_defaults_gives_way_to_a_deletion(ws: Workspace, run_git) -> None:
    Page = page_v1(ws)
    Page(id="p", title="T").save()
    Page(id="q", title="Q").save()
    ws.commit("base")
    ws.create_branch("f")
    app = Workspace(ws.path)
    Page = page_v2(app)
    Page.get("p").save(); app.commit("master: p saved again by the new version")
    app.set_branch("f")
    Page.delete("p"); app.commit("f: delete p")
    app.set_branch("master")
    assert app.merge("f").conflicts == []
    assert sorted(Page.all().ids()) == ["q"]


# -- B: "staged" keeps what is staged; a choice name is never stored as a value ------------------
def diverged_pages(ws: Workspace, extra: dict | None = None) -> type:
    """``p`` retitled differently on master and on ``f``; master checked out, merging."""
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "title": fields.CharField(),
                                         "n": fields.IntegerField(default=0),
                                         "meta": fields.JSONField(default=dict),
                                         "tags": fields.ListField(fields.CharField()), **(extra or {})})
    Page(id="p", title="base", meta={"k": "base"}, tags=["a", "b", "c"]).save()
    ws.commit("base")
    ws.create_branch("f")
    p = Page.get("p"); p.title = "ours"; p.meta = {"k": "ours"}; p.tags = ["c", "a", "b"]; p.save()
    ws.commit("master")
    ws.set_branch("f")
    p = Page.get("p"); p.title = "theirs"; p.meta = {"k": "theirs"}; p.tags = ["b", "c", "a"]; p.save()
    ws.commit("f")
    ws.set_branch("master")
    return Page


def test_resolving_with_staged_keeps_the_hand_merged_values(ws: Workspace, run_git) -> None:
    Page = diverged_pages(ws)
    result = ws.merge("f")
    assert sorted((c.field, c.key) for c in result.conflicts) == [("meta", ("k",)), ("tags", ()), ("title", ())]
    p = Page.get("p"); p.title = "hand"; p.meta = {"k": "hand"}; p.tags = ["z"]; p.save()
    for conflict in list(ws.conflicts):
        ws.resolve(conflict, "staged")
    ws.commit("merge by hand")
    assert stored(run_git, ws, "master:page/p/data.json") == {
        "id": "p", "title": "hand", "n": 0, "meta": {"k": "hand"}, "tags": ["z"]}
    run_git(ws.path, "fsck", "--strict")


def test_resolving_one_field_keeps_other_fields_saved_during_the_merge(ws: Workspace, run_git) -> None:
    Page = diverged_pages(ws)
    ws.merge("f")
    p = Page.get("p"); p.n = 5; p.save()  # a fix made while the merge is open
    for conflict in list(ws.conflicts):
        ws.resolve(conflict, "theirs")
    ws.commit("merge")
    assert stored(run_git, ws, "master:page/p/data.json") == {
        "id": "p", "title": "theirs", "n": 5, "meta": {"k": "theirs"}, "tags": ["b", "c", "a"]}


def test_staged_settles_whole_object_conflicts_as_fixed(ws: Workspace, run_git) -> None:
    Page = page_v1(ws)
    Page(id="p", title="v1").save()
    ws.commit("base")
    ws.create_branch("f")
    Page.delete("p"); Page(id="n", title="ours").save(); ws.commit("master: delete p, add n")
    ws.set_branch("f")
    p = Page.get("p"); p.title = "v2"; p.save(); Page(id="n", title="theirs").save(); ws.commit("f")
    ws.set_branch("master")
    result = ws.merge("f")
    assert sorted((c.id, c.kind) for c in result.conflicts) == [("n", "add/add"), ("p", "delete/modify")]
    n = Page.get("n"); n.title = "both"; n.save()
    for conflict in list(ws.conflicts):
        ws.resolve(conflict, "staged")  # p stays deleted, n as saved
    ws.commit("merge")
    assert sorted(Page.all().ids()) == ["n"] and Page.get("n").title == "both"


def test_a_whole_object_conflict_refuses_a_value_that_is_not_an_object(ws: Workspace) -> None:
    Page = page_v1(ws)
    Page(id="p", title="v1").save()
    ws.commit("base")
    ws.create_branch("f")
    Page.delete("p"); ws.commit("master: delete")
    ws.set_branch("f")
    p = Page.get("p"); p.title = "v2"; p.save(); ws.commit("f: edit")
    ws.set_branch("master")
    (conflict,) = ws.merge("f").conflicts
    before = (ws.index.id, list(ws.conflicts))
    with pytest.raises(RepositoryError, match="delete/modify"):
        ws.resolve(conflict, "their")
    assert (ws.index.id, list(ws.conflicts)) == before


def test_staged_keeps_a_raw_file_as_staged(ws: Workspace, run_git) -> None:
    ws.add_blob("notes/readme.txt", b"base\n")
    ws.commit("base")
    ws.create_branch("f")
    ws.add_blob("notes/readme.txt", b"ours\n"); ws.commit("master")
    ws.set_branch("f")
    ws.add_blob("notes/readme.txt", b"theirs\n"); ws.commit("f")
    ws.set_branch("master")
    (conflict,) = ws.merge("f").conflicts
    ws.add_blob("notes/readme.txt", b"by hand\n")
    ws.resolve(conflict, "staged")
    ws.commit("merge")
    assert run_git(ws.path, "show", "master:notes/readme.txt") == "by hand\n"


def test_staged_keeps_a_schema_field_conflict_as_staged(ws: Workspace) -> None:
    from test_schema_merge import page_as, two_branches

    merger = two_branches(
        ws, [AlterField("Page", "views", fields.IntegerField(default=1))],
        [AlterField("Page", "views", fields.FloatField(default=0.0))],
        views=fields.IntegerField(default=1))
    result = merger.merge("right")
    [conflict] = [c for c in result.conflicts if isinstance(c, SchemaConflict)]
    merger.resolve(conflict, "staged")
    for rest in list(merger.conflicts):
        merger.resolve(rest, "ours")
    merger.commit("keep ours")
    assert merger.schemas()["Page"].fields["views"].type == "IntegerField"
    page_as(Workspace(merger.path, "left"), views=fields.IntegerField(default=1))


# -- C: a null JSON key is not a missing one ----------------------------------------------------------
def expiring(ws: Workspace) -> type:
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "meta": fields.JSONField(default=dict)})
    Page(id="p", meta={"expires": "2025-01-01", "owner": "ann"}).save()
    ws.commit("base")
    ws.create_branch("f")
    p = Page.get("p"); p.meta = {"expires": None, "owner": "bob"}; p.save(); ws.commit("master: never expires")
    ws.set_branch("f")
    p = Page.get("p"); p.meta = {"expires": "2030-01-01"}; p.save(); ws.commit("f: extend, no owner")
    ws.set_branch("master")
    return Page


def test_a_null_json_key_taken_from_its_side_stays_null(ws: Workspace, run_git) -> None:
    Page = expiring(ws)
    conflicts = {c.key: c for c in ws.merge("f").conflicts}
    assert (conflicts[("expires",)].ours, conflicts[("expires",)].missing) == (None, ())
    assert (conflicts[("owner",)].theirs, conflicts[("owner",)].missing) == (None, ("theirs",))
    ws.resolve(conflicts[("expires",)], "ours")   # null: kept as null
    ws.resolve(conflicts[("owner",)], "theirs")   # absent: removed
    ws.commit("merge")
    assert stored(run_git, ws, "master:page/p/data.json")["meta"] == {"expires": None}
    assert Page.get("p").meta == {"expires": None}


def test_strategy_ours_keeps_a_null_json_key(ws: Workspace) -> None:
    Page = expiring(ws)
    result = ws.merge("f", strategy="ours")
    assert result.commit is not None
    assert Page.get("p").meta == {"expires": None, "owner": "bob"}


# -- D: an id changed on a side is followed, as git follows a rename ----------------------------------
def slug_pages(ws: Workspace) -> type:
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "slug": fields.SlugField(id=True),
                                         "title": fields.CharField(), "body": fields.CharField(required=False)})
    Page(slug="about", title="About us", body="We make tea.").save()
    Page(slug="other", title="Other", body="x").save()
    ws.commit("base")
    ws.create_branch("f")
    return Page


def move(Page: type, old: str, new: str, **changes) -> None:
    p = Page.get(old)
    p.slug = new
    for name, value in changes.items():
        setattr(p, name, value)
    p.save()


def test_two_different_moves_of_one_object_conflict_naming_both_ids(ws: Workspace, run_git) -> None:
    Page = slug_pages(ws)
    move(Page, "about", "about-us"); ws.commit("master: about-us")
    ws.set_branch("f")
    move(Page, "about", "company"); ws.commit("f: company")
    ws.set_branch("master")
    head = ws.branch.oid
    result = ws.merge("f")
    (conflict,) = result.conflicts
    from gitmodel.versions.renames import RenameConflict

    assert isinstance(conflict, RenameConflict) and (conflict.id, conflict.kind) == ("about", "rename/rename")
    assert conflict.ids == ("about", "about-us", "company")
    assert "'about-us'" in conflict.describe() and "'company'" in conflict.describe()
    assert ws.branch.oid == head and sorted(Page.all().ids()) == ["about-us", "other"]  # ours staged
    other = Workspace(ws.path)  # the open merge is in the repository
    Page2 = other.register_model(Page)
    (again,) = other.conflicts
    assert again.describe() == conflict.describe()
    other.resolve(again, "theirs")
    merge = other.commit("take company")
    assert sorted(Page2.all().ids()) == ["company", "other"]
    assert run_git(other.path, "ls-tree", "-r", "--name-only", str(merge)).split() == [
        ".gitmodel/schema/Page.json", "page/company/data.json", "page/other/data.json"]
    run_git(other.path, "fsck", "--strict")


def test_an_edit_under_the_old_id_follows_the_move(ws: Workspace, run_git) -> None:
    Page = slug_pages(ws)
    move(Page, "about", "about-us"); ws.commit("master: move")
    ws.set_branch("f")
    p = Page.get("about"); p.body = "We make coffee."; p.save(); ws.commit("f: edit")
    ws.set_branch("master")
    result = ws.merge("f")
    assert result.conflicts == []
    assert sorted(Page.all().ids()) == ["about-us", "other"]
    assert stored(run_git, ws, "master:page/about-us/data.json") == {
        "slug": "about-us", "title": "About us", "body": "We make coffee."}


def test_a_move_on_their_side_carries_our_edit(ws: Workspace, run_git) -> None:
    Page = slug_pages(ws)
    p = Page.get("about"); p.body = "We make coffee."; p.save(); ws.commit("master: edit")
    ws.set_branch("f")
    move(Page, "about", "company", title="Company"); ws.commit("f: move and retitle")
    ws.set_branch("master")
    assert ws.merge("f").conflicts == []
    assert sorted(Page.all().ids()) == ["company", "other"]
    assert stored(run_git, ws, "master:page/company/data.json") == {
        "slug": "company", "title": "Company", "body": "We make coffee."}
    run_git(ws.path, "fsck", "--strict")


def test_the_same_move_on_both_sides_merges_the_edits(ws: Workspace) -> None:
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "slug": fields.SlugField(id=True),
                                         "title": fields.CharField(), "body": fields.CharField(required=False),
                                         "note": fields.CharField(required=False)})
    Page(slug="about", title="About us", body="We make tea, and have since 1921.", note="n").save()
    ws.commit("base")
    ws.create_branch("f")
    move(Page, "about", "about-us", title="About"); ws.commit("master")
    ws.set_branch("f")
    move(Page, "about", "about-us", note="checked"); ws.commit("f")
    ws.set_branch("master")
    assert ws.merge("f").conflicts == []
    p = Page.get("about-us")
    assert (p.title, p.note, sorted(Page.all().ids())) == ("About", "checked", ["about-us"])


def test_a_deletion_and_an_unrelated_addition_alike_in_small_fields_are_not_a_move(ws: Workspace) -> None:
    """Objects share short values (a status, a flag) by chance: the edit of the
    deleted one must not land on the new one, whose long text differs."""
    Task = type("Task", (ws.GitModel,), {"__module__": __name__, "slug": fields.SlugField(id=True),
                                         "status": fields.CharField(), "owner": fields.CharField(),
                                         "text": fields.CharField()})
    Task(slug="t1", status="open", owner="ann", text="Write the quarterly report for the board").save()
    ws.commit("base")
    ws.create_branch("f")
    Task.delete("t1")
    Task(slug="t2", status="open", owner="ann", text="Book the meeting room for Friday").save()
    ws.commit("master: t1 dropped, t2 added")
    ws.set_branch("f")
    t1 = Task.get("t1")
    t1.text = "Write the quarterly report for the board, with figures"
    t1.save()
    ws.commit("f: t1 edited")
    ws.set_branch("master")
    (conflict,) = ws.merge("f").conflicts
    assert conflict.kind == "delete/modify" and conflict.id == "t1"
    assert Task.get("t2").text == "Book the meeting room for Friday"


@pytest.mark.parametrize("mover", ["ours", "theirs"])
def test_a_move_against_a_deletion_conflicts(ws: Workspace, mover: str) -> None:
    Page = slug_pages(ws)
    for side in ("ours", "theirs"):
        ws.set_branch("master" if side == "ours" else "f")
        if side == mover:
            move(Page, "about", "about-us")
        else:
            Page.delete("about")
        ws.commit(side)
    ws.set_branch("master")
    (conflict,) = ws.merge("f").conflicts
    assert conflict.kind == ("rename/delete" if mover == "ours" else "delete/rename")
    assert conflict.ids == (("about", "about-us", None) if mover == "ours" else ("about", None, "about-us"))
    assert sorted(Page.all().ids()) == (["about-us", "other"] if mover == "ours" else ["other"])
    ws.resolve(conflict, "base")
    ws.commit("keep it where it was")
    assert sorted(Page.all().ids()) == ["about", "other"]


def test_a_move_resolved_with_an_object_puts_it_at_its_id(ws: Workspace) -> None:
    Page = slug_pages(ws)
    move(Page, "about", "about-us"); ws.commit("master")
    ws.set_branch("f")
    move(Page, "about", "company"); ws.commit("f")
    ws.set_branch("master")
    (conflict,) = ws.merge("f").conflicts
    with pytest.raises(RepositoryError, match="one of the ids"):
        ws.resolve(conflict, Page(slug="elsewhere", title="x"))
    ws.resolve(conflict, Page(slug="company", title="Both", body="We make tea."))
    ws.commit("merge")
    assert sorted(Page.all().ids()) == ["company", "other"] and Page.get("company").title == "Both"


def test_a_writer_that_lost_the_race_to_a_move_lands_its_edit_on_the_new_id(ws: Workspace, run_git) -> None:
    Page = slug_pages(ws)
    a, b = Workspace(ws.path), Workspace(ws.path)
    PA, PB = a.register_model(Page), b.register_model(Page)
    p = PB.get("about"); p.body = "We make coffee."; p.save()  # pending in b
    move(PA, "about", "about-us"); a.commit("a: move")
    b.commit("b: edit")  # rebased: the edit follows the move
    assert sorted(PB.all().ids()) == ["about-us", "other"]
    assert stored(run_git, ws, "master:page/about-us/data.json")["body"] == "We make coffee."


# -- E: no entry for a value that did not change ----------------------------------------------------
def test_diff_and_history_leave_out_values_that_did_not_change(ws: Workspace) -> None:
    Page = type("Page", (ws.GitModel,), {"__module__": __name__, "rating": fields.CharField(required=False),
                                         "note": fields.CharField(required=False)})
    Page(id="p", rating="5").save()
    first = ws.commit("c1")
    ws.migrate(Migration("0001", [AlterField("Page", "rating", fields.IntegerField(required=False),
                                             convert=int)]))
    app = Workspace(ws.path)
    Page = type("Page", (app.GitModel,), {"__module__": __name__, "rating": fields.IntegerField(required=False),
                                          "note": fields.CharField(required=False)})
    assert Page.diff("p", first, "master").changes == {}
    assert Page.history("p")[-1].changes == {"id": (None, "p"), "rating": (None, 5)}
