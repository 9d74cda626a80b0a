"""Merge properties checked with Hypothesis against real repositories."""

from __future__ import annotations

import tempfile

import pygit2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel import Workspace, fields

IDS = ["a", "b", "c"]
FIELDS = ["x", "y", "z"]

values = st.integers(min_value=0, max_value=3)
# per object: field -> new value (missing: untouched); None as a whole: delete
edits = st.dictionaries(
    st.sampled_from(IDS),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(FIELDS), values, min_size=1)),
    max_size=3,
)
base_values = st.fixed_dictionaries({i: st.fixed_dictionaries({f: values for f in FIELDS}) for i in IDS})

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


_ROOT = tempfile.TemporaryDirectory(prefix="gitmodel-merge-properties-")  # removed at exit


def make_store():
    path = tempfile.mkdtemp(dir=_ROOT.name)
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("Prop", "prop@example.com"))

    class Obj(ws.GitModel):
        x = fields.IntegerField()
        y = fields.IntegerField()
        z = fields.IntegerField()

    return ws, Obj


def apply(ws, Obj, branch, changes):
    ws.set_branch(branch)
    for ident, change in changes.items():
        if change is None:
            if Obj.all().ids().count(ident):
                Obj.delete(ident)
            continue
        try:
            obj = Obj.get(ident)
        except Obj.DoesNotExist:
            obj = Obj(id=ident, x=0, y=0, z=0)
        for name, value in change.items():
            setattr(obj, name, value)
        obj.save()
    ws.commit(f"{branch} edits")


def build(base, ours, theirs):
    ws, Obj = make_store()
    for ident, vals in base.items():
        Obj(id=ident, **vals).save()
    ws.commit("base")
    ws.create_branch("theirs")
    apply(ws, Obj, "master", ours)
    apply(ws, Obj, "theirs", theirs)
    ws.set_branch("master")
    return ws, Obj


def snapshot(Obj, treeish=None):
    return {o.id: {f: getattr(o, f) for f in FIELDS} for o in Obj.all(treeish)}


def state_after(base, edits_):
    out = {k: dict(v) for k, v in base.items()}
    for ident, change in edits_.items():
        if change is None:
            out.pop(ident, None)
        else:
            out.setdefault(ident, {f: 0 for f in FIELDS}).update(change)
    return out


@SETTINGS
@given(base_values, edits, edits)
def test_nothing_is_lost(base, ours, theirs):
    ws, Obj = build(base, ours, theirs)
    head = ws.branch.commit.id
    result = ws.merge("theirs", fast_forward=False)
    merged = snapshot(Obj)
    mine, other = state_after(base, ours), state_after(base, theirs)
    conflicted = {(c.id, c.field) for c in result.conflicts}
    whole = {c.id for c in result.conflicts if c.field is None}
    for ident in IDS:
        if ident in whole:
            continue
        b, o, t = base.get(ident), mine.get(ident), other.get(ident)
        if o is None or t is None:  # deleted on one side, untouched on the other
            assert (o or t) in (None, b) and ident not in merged
            continue
        for f in FIELDS:
            if (ident, f) in conflicted:
                continue
            if o[f] != b[f]:
                assert merged[ident][f] == o[f]
            if t[f] != b[f]:
                assert merged[ident][f] == t[f]
            if o[f] == b[f] and t[f] == b[f]:
                assert merged[ident][f] == b[f]
    for c in result.conflicts:
        if c.field is not None:
            assert c.ours == mine[c.id][c.field] and c.theirs == other[c.id][c.field]
            assert c.ours != c.theirs
    if result.conflicts:
        # a conflicted merge leaves the branch where it was until the user commits
        assert ws.branch.commit.id == head and result.commit is None
        ws.abort_merge()
        assert ws.branch.commit.id == head and snapshot(Obj) == state_after(base, ours)
    elif result.up_to_date:
        assert not ours and not theirs or state_after(base, theirs) == base
    else:
        assert len(ws.repo[result.commit].parents) == 2


disjoint = st.permutations(FIELDS).map(lambda p: (p[:1], p[1:]))


@SETTINGS
@given(base_values, disjoint, st.lists(values, min_size=3, max_size=3), st.sampled_from(IDS))
def test_disjoint_field_edits_commute(base, split, new_values, ident):
    mine_fields, their_fields = split
    ours = {ident: {f: new_values[i] for i, f in enumerate(FIELDS) if f in mine_fields}}
    theirs = {ident: {f: new_values[i] for i, f in enumerate(FIELDS) if f in their_fields}}
    ws, Obj = build(base, ours, theirs)
    ws.create_branch("ours-copy")
    one = ws.merge("theirs")
    assert one.conflicts == []
    into_master = snapshot(Obj)
    ws.set_branch("theirs")
    other = ws.merge("ours-copy")
    assert other.conflicts == []
    assert snapshot(Obj) == into_master
    expected = dict(base[ident])
    expected.update(ours[ident])
    expected.update(theirs[ident])
    assert into_master[ident] == expected


@SETTINGS
@given(base_values, edits)
def test_merging_self_or_ancestor_changes_nothing(base, ours):
    ws, Obj = build(base, ours, {})
    head = ws.branch.commit.id
    before = snapshot(Obj)
    for other in ["master", "theirs", head, *ws.repo[head].parent_ids]:
        result = ws.merge(other)
        assert result.up_to_date and result.commit is None
        assert ws.branch.commit.id == head and not ws.has_changes()
    assert snapshot(Obj) == before


@SETTINGS
@given(base_values, disjoint, st.lists(values, min_size=3, max_size=3), st.sampled_from(IDS))
def test_concurrent_writers_on_disjoint_fields_both_land(base, split, new_values, ident):
    """Two workspaces on one branch: the second commit is rebased, nothing is lost."""
    ws, Obj = make_store()
    for i, vals in base.items():
        Obj(id=i, **vals).save()
    ws.commit("base")
    other = Workspace(ws.path, author=("Other", "other@example.com"))
    OtherObj = other.register_model(Obj)
    mine_fields, their_fields = split
    a = Obj.get(ident)
    b = OtherObj.get(ident)
    for i, f in enumerate(FIELDS):
        if f in mine_fields:
            setattr(a, f, new_values[i])
        else:
            setattr(b, f, new_values[i])
    a.save()
    b.save()
    first = ws.commit("one")
    second = other.commit("two")
    expected = dict(base[ident])
    expected.update({f: new_values[i] for i, f in enumerate(FIELDS)})
    got = OtherObj.get(ident, treeish="master")
    assert {f: getattr(got, f) for f in FIELDS} == expected
    if first is not None and second is not None:
        assert [p.id for p in other.repo[second].parents] == [first]
