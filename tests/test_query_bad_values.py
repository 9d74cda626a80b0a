"""Values a query or an assignment should refuse or answer plainly, never with
a raw Python or SQLite error: text no stored value can hold, slice bounds
past any integer SQLite takes, a single value where a list is wanted."""

from __future__ import annotations

import pytest

from gitmodel import ValidationError, Workspace

from test_relations import build


@pytest.fixture
def cms(tmp_path):
    ws = Workspace.init(tmp_path / "cms.git")
    Author, Tag, Page, Comment = build(ws)
    Author(slug="ada", name="Ada", email="ada@example.org").save()
    Tag(slug="python").save()
    Page(slug="home", author="ada", tags=["python"], rank=3).save()
    Page(slug="about", author="ada", rank=5).save()
    ws.commit("start")
    return ws, Author, Tag, Page


@pytest.mark.parametrize("lookup", ["author", "author__in", "tags__contains", "email", "email__gte"])
def test_text_with_a_lone_surrogate_matches_nothing(cms, lookup):
    ws, Author, Tag, Page = cms
    model = Author if lookup.startswith("email") else Page
    value = ["\ud800"] if lookup.endswith("__in") else "\ud800"
    assert list(model.filter(**{lookup: value})) == []
    assert model.filter(**{lookup: value}).count() == 0


@pytest.mark.parametrize("bounds", [(10**30, None), (0, 10**30), (5, 10**40), (2**63, 2**64)])
def test_slices_past_what_sqlite_holds_are_plain_slices(cms, bounds):
    ws, Author, Tag, Page = cms
    low, high = bounds
    for qs in (Page.all(), Page.all().order_by("rank"), Page.all().order_by("-rank", "pk")):
        expected = [p.slug for p in list(qs)][low:high]
        assert [p.slug for p in qs[low:high]] == expected


@pytest.mark.parametrize("value", [42, "python", b"python", 3.5, {"python": 1}])
def test_a_single_value_for_a_many_to_many_field_is_refused_on_save(cms, value):
    ws, Author, Tag, Page = cms
    with pytest.raises(ValidationError, match='"tags" must be a list'):
        Page(slug="new", author="ada", tags=value).save()
    with pytest.raises(ValidationError, match='"tags" must be a list'):
        Page.all().update(tags=value)
    assert not ws.has_changes()
    page = Page(slug="new", author="ada", tags=(t for t in ["python"]))  # any iterable of ids
    page.save()
    assert Page.get("new").tags[0].slug == "python"
