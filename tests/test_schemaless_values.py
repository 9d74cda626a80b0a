"""Numbers another tool stored, in fields the class does not declare or in a
JSONField, are written back exactly as they were stored."""

from __future__ import annotations

import pickle

from gitmodel import Workspace, fields

STORED = (b'{"model": "Item", "fields": {"id": "i1", "title": "x", '
          b'"amount": 12345678901234567890.25, "ratio": 0.10000000000000000001, "big": 1E+2, '
          b'"meta": {"price": 19.990000000000000000001, "list": [1e5, 2.5]}}}')


def test_numbers_no_float_writes_back_survive_an_unrelated_save(ws: Workspace, run_git) -> None:
    class Item(ws.GitModel):
        title = fields.CharField()
        meta = fields.JSONField(default=dict)

    ws.add_blob("item/i1/data.json", STORED)
    ws.commit("written by another tool")
    item = Item.get("i1")
    assert item.meta["price"] == 19.99 and item.meta["list"] == [100000.0, 2.5]
    item.title = "y"
    item.save(commit=True, message="edit title")
    shown = run_git(ws.path, "show", "HEAD:item/i1/data.json")
    for text in ('"amount": 12345678901234567890.25', '"ratio": 0.10000000000000000001',
                 '"big": 1E+2', '"price": 19.990000000000000000001', "1e5,"):
        assert text in shown, text
    assert '"title": "y"' in shown
    assert pickle.loads(pickle.dumps(Item.get("i1").meta))["list"][0] == 1e5
    run_git(ws.path, "fsck", "--strict")


def test_a_number_changed_is_written_as_python_writes_it(ws: Workspace, run_git) -> None:
    class Item(ws.GitModel):
        title = fields.CharField()
        meta = fields.JSONField(default=dict)

    ws.add_blob("item/i1/data.json", STORED)
    ws.commit("written by another tool")
    item = Item.get("i1")
    item.meta = {**item.meta, "price": item.meta["price"] + 1}
    item.save(commit=True)
    shown = run_git(ws.path, "show", "HEAD:item/i1/data.json")
    assert '"price": 20.99' in shown and "19.99000" not in shown
    assert '"ratio": 0.10000000000000000001' in shown  # the unknown field still as stored
