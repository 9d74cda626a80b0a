"""Querysets combined as Django's: ``qs1 | qs2``, ``qs1 & qs2``,
``union()``, ``intersection()``, ``difference()`` and ``contains()``, with
and without an index, committed and pending."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gitmodel import FieldError, Workspace, fields

from conftest import git


@pytest.fixture(scope="module", params=[True, False], ids=["indexed", "scanned"])
def items(tmp_path_factory, request):
    ws = Workspace.init(tmp_path_factory.mktemp("combine") / "store.git")

    class Item(ws.GitModel):
        n = fields.IntegerField(index=request.param)
        colour = fields.CharField(required=False, index=request.param)

    class Other(ws.GitModel):
        n = fields.IntegerField()

    for i in range(40):
        Item(id=f"i{i:02d}", n=i, colour=("red", "blue", None)[i % 3]).save()
    Other(id="o", n=1).save()
    ws.commit("items")
    return Item, Other


def ids_where(test):
    return {f"i{i:02d}" for i in range(40) if test(i, ("red", "blue", None)[i % 3])}


BOUNDS = st.integers(min_value=-1, max_value=41)


@settings(max_examples=40, deadline=None)
@given(low=BOUNDS, high=BOUNDS, colour=st.sampled_from(["red", "blue"]))
def test_combined_queries_match_the_set_operations(items, low, high, colour):
    Item, _ = items
    below, above, tinted = Item.filter(n__lt=low), Item.filter(n__gt=high), Item.filter(colour=colour)
    want_below = ids_where(lambda n, c: n < low)
    want_above = ids_where(lambda n, c: n > high)
    want_tinted = ids_where(lambda n, c: c == colour)
    assert set((below | above).ids()) == want_below | want_above
    assert set((below & tinted).ids()) == want_below & want_tinted
    assert set(below.union(above, tinted).ids()) == want_below | want_above | want_tinted
    assert set(below.intersection(tinted, above).ids()) == want_below & want_tinted & want_above
    assert set(Item.all().difference(below, tinted).ids()) == ids_where(lambda n, c: True) - want_below - want_tinted
    assert set((below | Item.exclude(n__lt=low)).ids()) == ids_where(lambda n, c: True)
    assert len((below | above).ids()) == len(want_below | want_above)  # each object once


def test_a_query_without_condition_and_the_order(items):
    Item, _ = items
    everything, few = Item.all(), Item.filter(n__lt=3)
    assert (few | everything).count() == 40 and (few & everything).count() == 3
    assert few.difference(everything).count() == 0 and everything.difference(everything).count() == 0
    assert [i.id for i in few.order_by("-n") | Item.filter(n=39)] == ["i39", "i02", "i01", "i00"]
    assert [i.id for i in few | Item.filter(n=39).order_by("-n")] == ["i39", "i02", "i01", "i00"]
    assert [i.n for i in (few | Item.filter(n=39)).order_by("n")[1:3]] == [1, 2]


def test_contains(items):
    Item, Other = items
    few = Item.filter(n__lt=3)
    assert few.contains(Item.get("i01")) and not few.contains(Item.get("i05"))
    assert few.order_by("-n")[:1].contains(Item.get("i02"))
    assert not few.order_by("-n")[:1].contains(Item.get("i01"))
    with pytest.raises(TypeError, match="Item instance"):
        few.contains(Other.get("o"))


def test_queries_that_cannot_be_combined(items):
    Item, Other = items
    few = Item.filter(n__lt=3)
    for combine in (lambda: few | Other.all(), lambda: few & Other.all(), lambda: few.union(Other.all())):
        with pytest.raises(TypeError, match="cannot combine a Item query with a Other query"):
            combine()
    with pytest.raises(TypeError, match="slice"):
        few[:2] | Item.all()
    with pytest.raises(TypeError, match="slice"):
        Item.all() & few[1:]
    with pytest.raises(TypeError, match="different revisions"):
        few | Item.all(treeish="HEAD")
    with pytest.raises(TypeError):
        few | 5
    with pytest.raises(FieldError, match="all=True"):  # Django's repeats: refused, not a raw TypeError
        few.union(Item.all(), all=True)
    assert set(few.union(Item.filter(n__gt=5), all=False).ids()) == set((few | Item.filter(n__gt=5)).ids())
    with pytest.raises(TypeError, match="takes querysets"):
        few.intersection([1])
    assert few.count() == 3  # the queries themselves are unchanged


def test_pending_changes_and_an_old_commit(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")

    class Note(ws.GitModel):
        n = fields.IntegerField(index=True)

    for i in range(6):
        Note(id=f"n{i}", n=i).save()
    ws.commit("notes")
    first = git(ws.path, "rev-parse", "HEAD").strip()
    Note.get("n0").delete()
    Note(id="n9", n=9).save()
    assert sorted((Note.filter(n__lt=2) | Note.filter(n__gt=4)).ids()) == ["n1", "n5", "n9"]
    old = Note.all(treeish=first)
    assert sorted((old.filter(n__lt=2) | old.filter(n__gt=4)).ids()) == ["n0", "n1", "n5"]
