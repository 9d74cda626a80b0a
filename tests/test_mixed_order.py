"""Ordering values of mixed kinds (a JSONField holding numbers, text,
booleans, lists, objects and nulls): one order everywhere, as PostgreSQL
orders jsonb, never a raw TypeError."""

from __future__ import annotations

from gitmodel import KeysetPaginator, Paginator, Workspace, fields
from test_keyset_pages import walk

VALUES = {"n3": 3, "s": "three", "t": True, "f": False, "n25": 2.5, "l": [1, "a"], "o": {"k": 1},
          "none": None, "s2": "abc", "n0": 0}
#: null, then text, numbers, booleans, lists, objects
ASCENDING = ["none", "s2", "s", "n0", "n25", "n3", "f", "t", "l", "o"]


def items(ws: Workspace) -> type:
    Item = type("Item", (ws.GitModel,), {"__module__": __name__, "data": fields.JSONField(required=False)})
    for ident, value in VALUES.items():
        Item(id=ident, data=value).save()
    ws.commit("items")
    return Item


def test_order_by_slices_and_pages_agree_on_mixed_kinds(ws: Workspace) -> None:
    Item = items(ws)
    assert Item.all().order_by("data").ids() == ASCENDING
    assert Item.all().order_by("-data").ids() == ASCENDING[::-1]
    assert [i.id for i in Item.all().order_by("data")[2:5]] == ASCENDING[2:5]
    numbered = Paginator(Item.all().order_by("data"), 3)
    assert [i.id for n in numbered.page_range for i in numbered.page(n)] == ASCENDING
    assert walk(KeysetPaginator(Item.all(), 3, order_by=("data",))) == ASCENDING
    assert walk(KeysetPaginator(Item.all(), 4, order_by=("-data",))) == ASCENDING[::-1]
    rows = Item.all().values("id", "data").order_by("data")
    assert [r["id"] for r in rows] == ASCENDING


def test_values_of_one_kind_keep_their_order(ws: Workspace) -> None:
    Item = type("Item", (ws.GitModel,), {"__module__": __name__, "n": fields.IntegerField(required=False),
                                         "on": fields.BooleanField(default=False)})
    for ident, n, on in (("a", 10, True), ("b", -5, False), ("c", None, True), ("d", 7, False)):
        Item(id=ident, n=n, on=on).save()
    ws.commit("items")
    assert Item.all().order_by("n").ids() == ["c", "b", "d", "a"]
    assert Item.all().order_by("on", "n").ids() == ["b", "d", "c", "a"]
