"""Models with no indexed field are listed, counted and sliced from the
index once their folder is large (it holds one row per data file, each file
read and checked once), with the answers of a walk of the folder: pending
edits, later commits, deletions, foreign and damaged files included."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gitmodel import Workspace, fields
from gitmodel.exceptions import CorruptObject
from gitmodel.query.answers import LISTING_FROM

from attacker import fsck

N = LISTING_FROM + 40


def make(path):
    ws = Workspace(path) if os.path.exists(path) else Workspace.init(path)

    class Page(ws.GitModel):
        title = fields.CharField()
        rank = fields.IntegerField(default=0)

    return ws, Page


def index_file(ws: Workspace) -> str:
    return os.path.join(ws.repo.path, "gitmodel", "index.sqlite")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("listing") / "big.git")
    ws, Page = make(path)
    Page.bulk_save([Page(id=f"p{i:05d}", title=f"t{i}", rank=i % 7) for i in range(N)], commit=True)
    return path


def expected_ids(Page, ws):
    """The ids a walk of the folder gives (read through the raw tree, in path order)."""
    tree = ws.repo[ws.branch.oid].tree
    paths = []
    stack = [("page/", tree["page"])]
    while stack:
        prefix, folder = stack.pop()
        for entry in folder:
            if entry.type_str == "tree":
                stack.append((f"{prefix}{entry.name}/", entry))
            elif entry.name == "data.json":
                paths.append(prefix.rstrip("/"))
    return [p.rsplit("/", 2)[-2] for p in sorted(p + "/data.json" for p in paths)]


def test_a_large_unindexed_folder_is_answered_by_the_index(big):
    ws, Page = make(big)
    want = expected_ids(Page, ws)
    assert len(want) == N
    assert Page.all().count() == N
    assert os.path.isfile(index_file(ws))  # the listing is now kept in the index
    assert Page.all().ids() == want
    assert [p.id for p in Page.all()[:50]] == want[:50]
    assert [p.id for p in Page.all()[N - 5:]] == want[N - 5:]
    assert [p.id for p in Page.all()[500:520]] == want[500:520]
    assert Page.all().order_by("-pk")[:3].ids() == sorted(want, reverse=True)[:3]
    assert Page.filter(rank=3).count() == len([i for i in range(N) if i % 7 == 3])
    assert Page.all().exists()


def test_pending_edits_and_later_commits_are_seen(tmp_path):
    ws, Page = make(str(tmp_path / "s.git"))
    Page.bulk_save([Page(id=f"p{i:05d}", title="t") for i in range(N)], commit=True)
    assert Page.all().count() == N
    Page(id="new", title="n").save()  # staged
    Page.get("p00001").delete()
    assert Page.all().count() == N
    assert "new" in Page.all().ids() and "p00001" not in Page.all().ids()
    assert len(Page.all()[:10]) == 10
    ws.commit("one in, one out")
    assert Page.all().count() == N and "new" in Page.all()[:N + 1].ids()
    other_ws, Other = make(ws.path)
    Other(id="zz", title="z").save(commit=True)  # another workspace commits
    assert Page.all().count() == N + 1
    assert Page.all().order_by("-pk")[:1].ids() == ["zz"]
    assert fsck(ws.path).returncode == 0


def test_a_damaged_or_foreign_file_is_reported_as_by_a_walk(tmp_path):
    ws, Page = make(str(tmp_path / "s.git"))
    Page.bulk_save([Page(id=f"p{i:05d}", title="t") for i in range(N)], commit=True)
    assert Page.all().count() == N  # the index holds the good tree
    folder = Page._meta.get_data_path("p00002")
    ws.add_blob(folder, b"{not json")  # raw bytes, as another tool writes them
    ws.commit("damaged by hand")
    fresh, Fresh = make(ws.path)
    with pytest.raises(CorruptObject) as exc:
        Fresh.all().count()
    assert exc.value.path == folder
    with pytest.raises(CorruptObject):
        Fresh.all()[:10].ids()
    qs = Fresh.all()
    qs.errors = "skip"
    assert len(list(qs)) == N - 1 and [e.path for e in qs.skipped] == [folder]


def test_a_small_folder_is_walked_without_an_index(tmp_path):
    ws, Page = make(str(tmp_path / "s.git"))
    for i in range(5):
        Page(id=f"p{i}", title="t").save()
    ws.commit("five")
    assert Page.all().count() == 5 and Page.all()[:2].ids() == ["p0", "p1"]
    assert not os.path.exists(index_file(ws))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_slices_of_the_index_equal_slices_of_the_full_listing(big, data):
    ws, Page = make(big)
    ids = Page.all().ids()
    low = data.draw(st.integers(0, N + 5))
    high = data.draw(st.one_of(st.none(), st.integers(0, N + 5)))
    assert Page.all()[low:high].ids() == ids[low:high]
    assert Page.all().order_by("pk")[low:high].ids() == sorted(ids)[low:high]
