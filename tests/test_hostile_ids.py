"""Ids typed by strangers: refused with a ValidationError, or kept in their folder."""

from __future__ import annotations

import unicodedata

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel import IntegrityError, ValidationError, fields
from gitmodel.workspace import Workspace

BAD_IDS = [
    "a/b",
    "/",
    "/etc/passwd",
    "../x",
    "x/..",
    "a\\b",
    "..\\..\\x",
    "a\x00b",
    "\x00",
    "",
    " ",
    "\t\n ",
    "\u3000",  # ideographic space: whitespace only
    ".",
    "..",
    ".git",
    ".GIT",
    ".Git",
    "line\nbreak",
    "tab\there",
    "del\x7f",
    "\ud800",
    "a\udfffb",
    "x" * 256,
    "é" * 128,  # 256 bytes in UTF-8
    "😀" * 64,  # 256 bytes
    b"bytes",
    ["list"],
    {"a": 1},
    True,
    object(),
    ("a", "b"),
    None,
]


def page_model(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    return Page


@pytest.fixture
def Page(bare_repo_path):
    ws = Workspace(bare_repo_path)
    model = page_model(ws)
    model(id="ok", title="fine").save(commit=True, message="ok")
    return model


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda v: repr(v)[:30])
def test_bad_ids_are_refused_everywhere(Page, bad, run_git):
    ws = Page._meta.workspace
    before = ws.branch.oid
    with pytest.raises(ValidationError) as exc:
        Page(id=bad, title="x").save(commit=True)
    assert exc.value.field == "id"
    assert '"id"' in str(exc.value)
    for call in (lambda: Page.get(bad), lambda: Page.delete(bad)):
        with pytest.raises(ValidationError) as exc:
            call()
        assert exc.value.field == "id"
    # nothing was written or staged
    assert not ws.has_changes()
    assert ws.branch.oid == before
    assert run_git(ws.path, "ls-tree", "-r", "--name-only", "master").split() == [
        ".gitmodel/schema/Page.json",
        "page/ok/data.json"
    ]


def test_longest_allowed_id(Page):
    for good in ("x" * 255, "é" * 127 + "x", "😀" * 63 + "abc"):
        assert len(good.encode()) == 255
        Page(id=good).save()
        assert Page.get(good).id == good


def test_numbers_become_their_string_form(Page):
    Page(id=42).save()
    assert Page.get("42").id == "42"
    assert Page.get(42).id == "42"


def test_an_id_is_checked_even_when_declared_not_required(bare_repo_path):
    ws = Workspace(bare_repo_path)

    class Tag(ws.GitModel):
        slug = fields.CharField(required=False)

        class Meta:
            id_attr = "slug"

    for bad in ("", " ", ".."):
        with pytest.raises(ValidationError) as exc:
            Tag(slug=bad).save()
        assert exc.value.field == "slug"
    assert not ws.has_changes()


# -- Unicode normalization: ids are NFC -------------------------------------------------
NFD = unicodedata.normalize("NFD", "café-Å")
NFC = unicodedata.normalize("NFC", "café-Å")


def test_ids_are_normalized_to_nfc(Page, run_git):
    assert NFD != NFC
    page = Page(id=NFD, title="decomposed")
    page.save(commit=True)
    assert page.id == NFC
    assert Page.get(NFC).title == "decomposed"
    assert Page.get(NFD).title == "decomposed"
    with pytest.raises(IntegrityError):  # the same id, not a second object
        Page(id=NFC).save()
    paths = run_git(Page._meta.workspace.path, "ls-tree", "-r", "-z", "--name-only", "master")
    assert f"page/{NFC}/data.json" in paths.split("\0")
    assert f"page/{NFD}/data.json" not in paths.split("\0")
    Page.delete(NFD, commit=True)
    assert Page.all().ids() == ["ok"]


def test_foreign_non_nfc_folder_is_reported_not_misread(Page):
    """A folder named in NFD by another tool: get() by id misses, listing reports it."""
    from gitmodel import CorruptObject
    from gitmodel.serializers import json as json_format

    ws = Page._meta.workspace
    blob = json_format.dumps("Page", {"id": NFD, "title": "foreign"})
    ws.add_blob(f"page/{NFD}/data.json", blob)
    ws.commit("foreign")
    with pytest.raises(Page.DoesNotExist):
        Page.get(NFD)  # looked up at the NFC path
    with pytest.raises(CorruptObject) as exc:
        list(Page.all())
    assert exc.value.path == f"page/{NFD}/data.json"


# -- property: no id leaves its model's folder -------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(), st.text(alphabet="./\\\x00 \t.gitGIT"), st.binary().map(repr)))
def test_no_id_places_data_outside_its_folder(Page, object_id):
    ws = Page._meta.workspace
    try:
        page = Page(id=object_id)
        page.save()
    except ValidationError as exc:
        assert exc.field == "id"
        assert not ws.has_changes()
        return
    try:
        changed = {d.new_file.path for d in ws.diff().deltas}
        assert changed == {f"page/{page.id}/data.json"}
        assert "/" not in page.id and page.id not in (".", "..")
        assert Page.get(object_id).id == page.id
    finally:
        ws.reset()
