"""An index answers for one layout: the same folder read with another
``Meta.shard`` never reuses its rows, so a listed file is always where its
id belongs, and a file out of place is refused as a scan refuses it."""

from __future__ import annotations

import pytest

from gitmodel import Workspace, fields
from gitmodel.exceptions import CorruptObject
from gitmodel.query.indexes import update_index

from attacker import fsck


def declare(ws: Workspace, shard: int):
    class Page(ws.GitModel):
        title = fields.CharField(index=True)
        rank = fields.IntegerField(index=True, default=0)

        class Meta:
            pass

    Page._meta.shard = shard
    return Page


@pytest.mark.parametrize("first, second", [(0, 2), (2, 0), (2, 1)])
def test_index_of_one_layout_is_not_used_for_another(tmp_path, first, second):
    path = str(tmp_path / "store.git")
    ws = Workspace.init(path)
    Page = declare(ws, first)
    for i in range(30):
        Page(id=f"p{i:02d}", title=f"t{i % 3}", rank=i).save()
    ws.commit("pages")
    update_index(Page)
    assert sorted(Page.filter(title="t1").ids()) == [f"p{i:02d}" for i in range(1, 30, 3)]
    assert [p.rank for p in Page.all().order_by("rank")[:3]] == [0, 1, 2]

    other = Workspace(path)
    Moved = declare(other, second)  # the same folder tree, read in another layout
    for run in (
        lambda: list(Moved.filter(title="t1")),
        lambda: Moved.filter(title="t1").ids(),
        lambda: list(Moved.all().order_by("rank")[:3]),
        lambda: Moved.all().count(),
    ):
        with pytest.raises(CorruptObject, match="not a valid Page id|belongs at"):
            run()
    skipping = Moved.all(errors="skip").filter(title="t1")
    assert list(skipping) == []  # every file is out of place: the scan reports each
    assert len(skipping.skipped) == 30
    # the first layout still answers from its own rows, and nothing was written
    assert sorted(Page.filter(title="t1").ids()) == [f"p{i:02d}" for i in range(1, 30, 3)]
    fsck(path)
