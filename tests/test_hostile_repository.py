"""Data written by someone else, and repositories that are not what they seem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from gitmodel import (
    CorruptObject,
    GitModelError,
    RepositoryError,
    RepositoryNotFound,
    fields,
)
from gitmodel.exceptions import ConfigurationError
from gitmodel.workspace import Workspace

BLOB = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE


def page_model(ws: Workspace) -> type:
    class Page(ws.GitModel):
        title = fields.CharField()
        n = fields.IntegerField(default=0)
        data = fields.JSONField(required=False)

    return Page


def good(object_id: str, **values) -> bytes:
    doc = {"model": "Page", "fields": {"id": object_id, "title": "t", "n": 1, **values}}
    return json.dumps(doc).encode()


def _deep_json(levels: int) -> bytes:
    return b'{"model": "Page", "fields": {"id": "bad", "title": "t", "data": ' + (
        b"[" * levels + b"]" * levels
    ) + b"}}"


# (name, bytes stored at page/bad/data.json)
BAD_BLOBS = [
    ("not json", b"\xff\xfe this is not json"),
    ("empty", b""),
    ("truncated", good("bad")[:-5]),
    ("pickle", b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."),
    ("json list", b"[1, 2, 3]"),
    ("json string", b'"Page"'),
    ("no fields", b'{"model": "Page"}'),
    ("fields a list", b'{"model": "Page", "fields": [1]}'),
    ("model not a string", b'{"model": 5, "fields": {}}'),
    ("unknown model", json.dumps({"model": "Nope", "fields": {"id": "bad"}}).encode()),
    ("dotted model", json.dumps({"model": "os.system", "fields": {"id": "bad"}}).encode()),
    ("code as model", json.dumps({"model": "__import__('os').system('true')", "fields": {}}).encode()),
    ("wrong type int", good("bad", n="abc")),
    ("wrong type list", good("bad", n=[1])),
    ("wrong type title", good("bad", title={"a": 1})),
    ("float for int", good("bad", n=1.5)),
    ("NaN literal", b'{"model": "Page", "fields": {"id": "bad", "title": "t", "n": NaN}}'),
    ("NaN in json field", b'{"model": "Page", "fields": {"id": "bad", "title": "t", "data": [NaN]}}'),
    ("Infinity", b'{"model": "Page", "fields": {"id": "bad", "title": "t", "data": Infinity}}'),
    ("huge int", b'{"model": "Page", "fields": {"id": "bad", "title": "t", "n": 1' + b"0" * 5000 + b"}}"),
    ("deep json", _deep_json(100_000)),
    ("too deep json field", _deep_json(150)),
    ("id of another object", good("other")),
    ("id escaping", good("../../etc")),
    ("id not a string", json.dumps({"model": "Page", "fields": {"id": [1], "title": "t"}}).encode()),
    ("invalid utf-8", b'{"model": "Page", "fields": {"id": "bad", "title": "\xc3\x28"}}'),
    ("lone surrogate", b'{"model": "Page", "fields": {"id": "bad", "title": "\\ud800"}}'),
    ("surrogate in json field", b'{"model": "Page", "fields": {"id": "bad", "title": "t", "data": {"\\udc00": 1}}}'),
]


def _build(repo: pygit2.Repository, entries: dict[str, tuple[pygit2.Oid, int]]) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    folders: dict[str, dict] = {}
    for path, entry in entries.items():
        head, _, rest = path.partition("/")
        if rest:
            folders.setdefault(head, {})[rest] = entry
        else:
            builder.insert(head, entry[0], entry[1])
    for name, sub in folders.items():
        builder.insert(name, _build(repo, sub), TREE)
    return builder.write()


def commit_tree(repo: pygit2.Repository, entries: dict[str, tuple[pygit2.Oid, int]]) -> pygit2.Oid:
    """Commit ``path -> (oid, mode)`` entries on master with raw pygit2 (as another tool would)."""
    tree = _build(repo, entries)
    sig = pygit2.Signature("someone else", "else@example.com")
    parents = [repo.references["refs/heads/master"].target] if "refs/heads/master" in repo.references else []
    return repo.create_commit("refs/heads/master", sig, sig, "foreign", tree, parents)


@pytest.fixture
def repo(bare_repo_path) -> pygit2.Repository:
    return pygit2.Repository(str(bare_repo_path))


def _store(repo, bad_entry: tuple[pygit2.Oid, int]) -> None:
    commit_tree(repo, {
        "page/a/data.json": (repo.create_blob(good("a")), BLOB),
        "page/bad/data.json": bad_entry,
        "page/z/data.json": (repo.create_blob(good("z")), BLOB),
    })


def _check_reported(repo, path="page/bad/data.json") -> None:
    ws = Workspace(repo.path)
    Page = page_model(ws)
    if path == "page/bad/data.json":
        with pytest.raises(CorruptObject) as exc:
            Page.get("bad")
        assert exc.value.path == path and path in str(exc.value)
    with pytest.raises(CorruptObject) as exc:
        list(Page.all())
    assert exc.value.path == path
    listing = Page.all(errors="skip")
    assert listing.ids() == ["a", "z"]
    assert [e.path for e in listing.skipped] == [path]
    assert Page.get("a").title == "t"  # the good ones still read


@pytest.mark.parametrize("name,data", BAD_BLOBS, ids=[n for n, _ in BAD_BLOBS])
def test_bad_data_blob_is_reported_with_its_path(repo, name, data):
    _store(repo, (repo.create_blob(data), BLOB))
    _check_reported(repo)


def test_a_folder_where_the_data_file_should_be(repo):
    inner = _build(repo, {"data.json": (repo.create_blob(good("bad")), BLOB)})
    _store(repo, (inner, TREE))
    _check_reported(repo)


def test_a_symlink_where_the_data_file_should_be(repo):
    _store(repo, (repo.create_blob(b"../a/data.json"), pygit2.enums.FileMode.LINK))
    _check_reported(repo)


def test_missing_blob_object(repo, bare_repo_path, run_git):
    missing = "1" * 40
    good_a = repo.create_blob(good("a"))
    good_z = repo.create_blob(good("z"))
    # plain git can record a tree with a missing object; pygit2 refuses to
    page_tree = subprocess.run(
        ["git", f"--git-dir={bare_repo_path}", "mktree", "--missing"],
        input=(
            f"040000 tree {_folder(repo, good_a)}\ta\n"
            f"040000 tree {_missing_folder(bare_repo_path, missing)}\tbad\n"
            f"040000 tree {_folder(repo, good_z)}\tz\n"
        ),
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    root = subprocess.run(
        ["git", f"--git-dir={bare_repo_path}", "mktree", "--missing"],
        input=f"040000 tree {page_tree}\tpage\n", capture_output=True, text=True, check=True,
    ).stdout.strip()
    commit = run_git(bare_repo_path, "commit-tree", root, "-m", "missing blob").strip()
    run_git(bare_repo_path, "update-ref", "refs/heads/master", commit)
    _check_reported(repo)
    with pytest.raises(CorruptObject, match="missing"):
        page_model(Workspace(repo.path)).get("bad")


def _folder(repo, blob_id) -> str:
    index = pygit2.Index()
    index.add(pygit2.IndexEntry("data.json", blob_id, BLOB))
    return str(index.write_tree(repo))


def _missing_folder(repo_path, missing: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={repo_path}", "mktree", "--missing"],
        input=f"100644 blob {missing}\tdata.json\n", capture_output=True, text=True, check=True,
    ).stdout.strip()


def test_model_folder_that_is_a_file(repo):
    commit_tree(repo, {"page": (repo.create_blob(b"not a folder"), BLOB)})
    Page = page_model(Workspace(repo.path))
    with pytest.raises(CorruptObject) as exc:
        list(Page.all())
    assert exc.value.path == "page"
    with pytest.raises(Page.DoesNotExist):
        Page.get("a")


def test_corrupt_object_is_a_gitmodel_error_and_saving_over_it_works(repo):
    _store(repo, (repo.create_blob(b"garbage"), BLOB))
    ws = Workspace(repo.path)
    Page = page_model(ws)
    with pytest.raises(GitModelError):
        Page.get("bad")
    with pytest.raises(GitModelError):  # a new object cannot take its place unseen
        Page(id="bad", title="repaired").save()
    Page.delete("bad")  # but it can be deleted, then saved again
    Page(id="bad", title="repaired").save(commit=True)
    assert Page.get("bad").title == "repaired"
    assert Page.all().ids() == ["a", "bad", "z"]


def test_reading_never_imports_or_runs_what_the_data_names(repo, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "evil_gitmodel_payload.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "class Page:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    names = [
        "evil_gitmodel_payload.Page",
        "evil_gitmodel_payload",
        "__import__('evil_gitmodel_payload')",
        "builtins.eval",
    ]
    entries = {}
    for i, name in enumerate(names):
        doc = {"model": name, "fields": {"id": f"e{i}", "title": f"__import__('evil_gitmodel_payload')"}}
        entries[f"page/e{i}/data.json"] = (repo.create_blob(json.dumps(doc).encode()), BLOB)
    doc = {"model": "Page", "fields": {"id": "x", "title": "t", "py/object": "evil_gitmodel_payload.Page",
                                       "__class__": "evil_gitmodel_payload.Page",
                                       "data": {"py/reduce": [{"py/function": "os.system"}, ["true"]]}}}
    entries["page/x/data.json"] = (repo.create_blob(json.dumps(doc).encode()), BLOB)
    commit_tree(repo, entries)
    Page = page_model(Workspace(repo.path))
    listing = Page.all(errors="skip")
    assert listing.ids() == ["x"]
    assert len(listing.skipped) == len(names)
    assert Page.get("x").data == {"py/reduce": [{"py/function": "os.system"}, ["true"]]}  # just data
    assert "evil_gitmodel_payload" not in sys.modules
    assert not marker.exists()


def test_utf16_json_is_read(repo):
    """JSON text in UTF-16 (a BOM tells) is still JSON: it reads; gitmodel writes UTF-8."""
    commit_tree(repo, {"page/a/data.json": (repo.create_blob(good("a").decode().encode("utf-16")), BLOB)})
    assert page_model(Workspace(repo.path)).get("a").title == "t"


def test_errors_option_is_checked(repo):
    Page = page_model(Workspace(repo.path))
    with pytest.raises(ValueError):
        Page.all(errors="ignore")


# -- opening ------------------------------------------------------------------------------
def _copy_store(tmp_path: Path) -> Path:
    path = tmp_path / "orig.git"
    ws = Workspace.init(path)
    page_model(ws)(id="a", title="t").save(commit=True)
    return path


def _corrupt(kind: str, path: Path, tmp_path: Path) -> Path:
    target = tmp_path / f"{kind}.git"
    if kind == "missing":
        return tmp_path / "does-not-exist"
    if kind == "empty dir":
        target.mkdir()
        return target
    if kind == "a file":
        target.write_text("not a repository")
        return target
    shutil.copytree(path, target)
    repo_ref = target / "refs" / "heads" / "master"
    if kind == "no objects":
        shutil.rmtree(target / "objects")
    elif kind == "corrupt HEAD":
        (target / "HEAD").write_text("garbage\n")
    elif kind == "corrupt branch ref":
        repo_ref.write_text("garbage\n")
    elif kind == "ref to missing commit":
        repo_ref.write_text("1" * 40 + "\n")
    elif kind == "ref to a blob":
        repo_ref.write_text(str(pygit2.Repository(str(target)).create_blob(b"x")) + "\n")
    elif kind == "ref to a tree":
        repo_ref.write_text(str(pygit2.Repository(str(target)).TreeBuilder().write()) + "\n")
    elif kind == "broken config":
        (target / "config").write_text("[core\nbroken")
    return target


OPEN_CASES = [
    ("missing", RepositoryNotFound, "does not exist"),
    ("empty dir", RepositoryNotFound, "no git repository"),
    ("a file", RepositoryNotFound, "no git repository"),
    ("no objects", RepositoryNotFound, "no git repository"),
    ("corrupt HEAD", RepositoryError, "HEAD .*corrupt"),
    ("corrupt branch ref", RepositoryError, "refs/heads/master is corrupt"),
    ("ref to missing commit", RepositoryError, "missing object"),
    ("ref to a blob", RepositoryError, "points at a Blob"),
    ("ref to a tree", RepositoryError, "points at a Tree"),
    ("broken config", RepositoryError, "config"),
]


@pytest.mark.parametrize("kind,error,message", OPEN_CASES, ids=[c[0] for c in OPEN_CASES])
def test_broken_repositories_fail_clearly_at_open(tmp_path, kind, error, message):
    path = _corrupt(kind, _copy_store(tmp_path), tmp_path)
    with pytest.raises(error, match=message):
        Workspace(path)


@pytest.mark.parametrize("name", ["bad..name", "x\x00y", 5, "with space", "end.lock", "-x/../y"])
def test_invalid_branch_names_fail_at_open(bare_repo_path, name):
    with pytest.raises(ConfigurationError, match="invalid branch name"):
        Workspace(bare_repo_path, initial_branch=name)
