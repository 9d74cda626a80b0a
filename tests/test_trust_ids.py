"""Ids are file names that every git client can store and check out: all
that git's fsck and its ``core.protectNTFS`` / ``core.protectHFS`` checkout
protection refuse is refused, case-insensitively, with Unicode-ignorable
tricks and NTFS short names; a refused id never reaches a tree, so no id
can wedge a workspace."""

from __future__ import annotations

import random
import subprocess

import pytest

from attacker import commit_files, fsck, page_json
from gitmodel import CorruptObject, ValidationError, fields
from gitmodel.pathsafety import name_problem
from gitmodel.workspace import Workspace

GIT_ALIASES = [
    ".git", ".GIT", ".Git", ".git.", ".git ", ".git...", ".git . .", "git~1", "GIT~1",
    ".g\u200cit", "\u200c.git", ".git\ufeff", ".GIT\u200d", ".\u200egi\u202at", ".git\u206f",
]
DOTFILE_ALIASES = [
    ".gitmodules", ".GITMODULES", ".gitmodules.", ".gitmodules ", ".gitmodules\u200c",
    "gitmod~1", "GITMOD~4", "gi7eba~1", "GI7EBA~9", "gi7eb~12",
    ".gitattributes", ".GitAttributes ", "gitatt~1", "gi7d29~1",
    ".gitignore", "gitign~2", "gi250a~1", ".mailmap", ".MailMap.", "mailma~1", "maba30~3",
]
WINDOWS = [
    "CON", "con", "Con.txt", "PRN", "AUX", "aux.tar.gz", "NUL", "nul.x", "COM1", "com9.log",
    "LPT1", "lpt9", "COM\u00b9", "LPT\u00b3", "CONIN$", "conout$", "CON .txt",
    "a.", "a..", "a ", "x. ", "a:b", "a<b", "a>b", 'a"b', "a|b", "a?b", "a*b", "c:", "::$DATA",
]
REFUSED = GIT_ALIASES + DOTFILE_ALIASES + WINDOWS
#: close to a refused name, yet fine everywhere
ACCEPTED = [
    ".gitfoo", "git~2", "x.git", "a~b", "gitmod~5", "gitmod~1x", "gi7eba~0", ".gitmodulesx",
    "CONSOLE", "con2", "COM0", "nul-ish", "LPT", "gitmodules", "mailmap", "git", "a.b", "-x",
    "\u200c", "é", "日本語", "x" * 255,
]


@pytest.fixture
def Page(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")

    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    Page(id="ok", title="fine").save(commit=True)
    return Page


@pytest.mark.parametrize("bad", REFUSED, ids=repr)
def test_names_git_or_windows_refuse_are_refused_as_ids(Page, bad):
    ws = Page._meta.workspace
    head = ws.branch.oid
    for call in (
        lambda: Page(id=bad).save(),
        lambda: Page.get(bad),
        lambda: Page.delete(bad),
        lambda: Page.filter(id=bad).ids(),
    ):
        try:
            result = call()
        except ValidationError as exc:
            assert exc.field == "id"
        else:  # a query may answer "nothing" instead, but never finds or stores it
            assert result == []
    assert not ws.has_changes() and ws.branch.oid == head
    assert name_problem(bad) is not None


@pytest.mark.parametrize("name", ACCEPTED, ids=repr)
def test_names_close_to_refused_ones_are_accepted(Page, name):
    Page(id=name, title="x").save(commit=True)
    assert Page.get(name).title == "x"
    assert fsck(Page._meta.workspace.path).returncode == 0


def test_a_hostile_id_cannot_wedge_the_workspace(Page):
    """Refused before staging: every later commit still works."""
    ws = Page._meta.workspace
    for bad in GIT_ALIASES + DOTFILE_ALIASES:
        with pytest.raises(ValidationError):
            Page(id=bad).save(commit=True)
    Page(id="after", title="still works").save(commit=True)
    assert Page.get("after").title == "still works"
    assert fsck(ws.path).returncode == 0


def test_foreign_entries_with_refused_names_are_reported_and_do_not_wedge(Page):
    """Written by another tool with raw trees: listed as corrupt, never
    served, and later commits by gitmodel still succeed."""
    ws = Page._meta.workspace
    files = {f"page/{bad}/data.json": page_json(bad) for bad in ["git~1", ".gitmodules", "CON", "a:b"]}
    files["page/ok/data.json"] = page_json("ok", title="fine")
    commit_files(ws.repo, files)
    ws.refresh()
    with pytest.raises(CorruptObject):
        list(Page.all())
    listed = Page.all(errors="skip")
    assert [p.id for p in listed] == ["ok"]
    assert sorted(e.path for e in listed.skipped) == sorted(f for f in files if "/ok/" not in f)
    Page(id="mine", title="x").save(commit=True)  # the workspace is not wedged
    assert Page.get("mine").title == "x"


def test_random_names_accepted_are_checked_out_by_protected_git(Page, tmp_path):
    """Plain git with NTFS and HFS protection on is the oracle: every id
    gitmodel accepts from 1,500 random nasty names can be checked out."""
    ws = Page._meta.workspace
    rng = random.Random(12)
    alphabet = list(".gitGITmodules~1234 :<>|?*\\\"$\u200c\u200d\ufeff\u202e\u00b9eé") + ["CON", "NUL", "COM1"]
    accepted = refused = 0
    names = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(1500)}
    for name in sorted(names):
        try:
            Page(id=name).save()
        except ValidationError:
            refused += 1
        else:
            accepted += 1
    assert accepted > 100 and refused > 100
    ws.commit("random names")
    assert fsck(ws.path).returncode == 0
    checkout = subprocess.run(
        ["git", "-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "clone", "-q",
         ws.path, str(tmp_path / "checkout")],
        capture_output=True, text=True,
    )
    assert checkout.returncode == 0, checkout.stderr
    assert len(list((tmp_path / "checkout" / "page").iterdir())) == accepted + 1


@pytest.mark.parametrize(
    "path",
    ["page/git~1/data.json", "page/.git./x", "page/GIT~1", ".g\u200cit/config", "a/./b", "a/../b", "",
     ".gitmodules/x", "page/gitmod~1/x", "a/.GITATTRIBUTES/b"],
)
def test_raw_paths_git_refuses_are_refused_before_staging(Page, path):
    """``add_blob()`` and ``add()`` check every component: a path libgit2
    would refuse to write can never wedge later commits."""
    ws = Page._meta.workspace
    oid = ws.repo.create_blob(b"x")
    with pytest.raises(ValidationError) as exc:
        ws.add_blob(path, b"x")
    assert exc.value.field == "path"
    folder, _, name = path.rpartition("/")
    with pytest.raises(ValidationError):
        ws.add(folder, [("fine", oid), (name, oid)])
    assert not ws.has_changes()
    Page(id="later", title="x").save(commit=True)
    assert fsck(ws.path).returncode == 0


def test_git_dot_files_may_be_staged_as_files(Page):
    ws = Page._meta.workspace
    ws.add_blob(".gitattributes", b"*.json text\n")
    ws.commit("attributes")
    assert fsck(ws.path).returncode == 0
    with pytest.raises(ValidationError):
        ws.add_blob(".gitmodules", b"../x", mode=0o120000)  # a symlink: git fsck refuses it
