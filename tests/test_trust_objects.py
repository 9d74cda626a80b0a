"""Damaged objects of every type (a data blob, an object's folder, a model
folder, the root tree, a commit, its parent, an annotated tag), each damaged
every way a disk or an attacker leaves a loose object (a zlib stream cut in
its middle or at its end, a flipped byte, an empty file, a bad header, a
wrong length, other bytes that do not hash to the object's id): every read path ends within a bound (run in a child process
with a timeout) with a gitmodel error that names the path and the commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pygit2
import pytest

from attacker import ATTACKER, commit_files, git, page_json

HERE = Path(__file__).parent
#: seconds the child may take for all its reads (a hang would take forever)
BOUND = 120


def store(tmp_path: Path) -> tuple[pygit2.Repository, dict[str, pygit2.Oid], pygit2.Oid, pygit2.Oid]:
    """Two commits of plain loose objects; ``page/ok`` changes in the second."""
    repo = pygit2.init_repository(str(tmp_path / "store.git"), bare=True)
    other = page_json("other", title="other", n=1)
    first = commit_files(repo, {"page/ok/data.json": page_json("ok", title="old", n=1), "page/other/data.json": other})
    second = commit_files(repo, {"page/ok/data.json": page_json("ok", title="fine", n=2), "page/other/data.json": other})
    tag = repo.create_tag("v1", second, pygit2.enums.ObjectType.COMMIT, ATTACKER, "release\n")
    tree = repo[second].tree
    targets = {
        "data blob": tree["page/ok/data.json"].id,
        "object folder": tree["page/ok"].id,
        "model folder": tree["page"].id,
        "root tree": tree.id,
        "commit": second,
        "parent commit": first,
        "tag": tag,
    }
    return repo, targets, first, second


def damage(data: bytes, how: str) -> bytes:
    raw = zlib.decompress(data)
    return {
        "cut in the middle": data[: max(2, len(data) // 2)],
        "cut at the end": data[:-4],
        "flipped byte": data[:10] + bytes([data[10] ^ 0x55]) + data[11:],
        "empty file": b"",
        "bad header": zlib.compress(b"trea" + raw[4:]),
        "wrong length": zlib.compress(raw.replace(b" ", b" 1", 1)),
        "not zlib": b"\x00" * 64,
        # valid zlib, header and length, other bytes: only the id tells
        "swapped bytes": zlib.compress(raw[:-1] + (b" " if raw[-1:] != b" " else b"\n")),
    }[how]


REFUSED_AT_OPEN = {"cut in the middle", "cut at the end", "empty file"}
HOW = ["cut in the middle", "cut at the end", "flipped byte", "empty file", "bad header", "wrong length", "not zlib",
       "swapped bytes"]
DATA_TARGETS = ["data blob", "object folder", "model folder", "root tree"]
#: the reads that must meet the damaged data object (others may answer from paths alone)
MUST_MEET = {
    "data blob": {"get", "first", "last", "iterate", "values", "values_list", "filter indexed",
                  "filter scanned", "order_by", "in_bulk", "aggregate", "get at treeish", "history",
                  "blame", "diff", "changes", "restore"},
}
MUST_MEET["object folder"] = MUST_MEET["data blob"] | {"count", "ids", "exists"}
MUST_MEET["model folder"] = MUST_MEET["object folder"]
MUST_MEET["root tree"] = MUST_MEET["object folder"]
TARGET_PATH = {"data blob": "page/ok/data.json", "object folder": "page/ok", "model folder": "page", "root tree": ""}


def sweep(repo_path: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    done = subprocess.run([sys.executable, str(HERE / "trust_sweep.py"), repo_path], capture_output=True,
                          text=True, timeout=BOUND, env=env)
    assert done.returncode == 0, done.stderr[-2000:]  # no crash (a segfault or a raw traceback)
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("target", [*DATA_TARGETS, "commit", "parent commit", "tag"])
def test_every_read_of_a_damaged_loose_object_is_a_bounded_gitmodel_error(tmp_path, target, how):
    repo, targets, first, second = store(tmp_path)
    oid = targets[target]
    path = Path(repo.path, "objects", str(oid)[:2], str(oid)[2:])
    os.chmod(path, 0o644)
    path.write_bytes(damage(path.read_bytes(), how))
    if target == "tag":
        # a tag is read when it is named: as the branch to read, and by git
        (Path(repo.path) / "refs" / "heads" / "master").write_text(f"{second}\n")
    results = sweep(repo.path)  # a hang fails here (subprocess.TimeoutExpired)
    errors = [r for r in results if r["error"]]
    assert all(r["gitmodel"] for r in errors), [r for r in errors if not r["gitmodel"]]
    named = str(second)[:12] if target != "parent commit" else str(first)[:12]
    if how in REFUSED_AT_OPEN:
        # libgit2 would loop on it: refused when the store is opened, before any read
        assert [r["call"] for r in results] == ["open"] and results[0]["corrupt"]
        assert str(oid) in results[0]["message"] and str(second)[:12] in results[0]["message"]
        if target in DATA_TARGETS and target != "root tree":
            assert results[0]["path"] == TARGET_PATH[target]
        assert results[0]["commit"] == str(second)
    elif target == "root tree" and results[0]["call"] == "open":  # the store's own tree: refused at once
        assert results[0]["corrupt"] and results[0]["commit"] == str(second)
    elif target in DATA_TARGETS:
        by_call = {r["call"]: r for r in results}
        met = [by_call[call] for call in MUST_MEET[target]]
        assert all(r["corrupt"] for r in met), [r for r in met if not r["corrupt"]]
        for r in met:
            assert r["commit"] == str(second) and named in r["message"], r
            assert r["path"].startswith(TARGET_PATH[target]) or TARGET_PATH[target].startswith(r["path"]), r
    elif target == "commit":
        assert [r["call"] for r in results] == ["open"] and named in results[0]["message"]
    elif target == "parent commit":
        met = [r for r in results if r["call"] in ("history", "blame", "walk")]
        assert all(r["corrupt"] and r["commit"] == str(first) and named in r["message"] for r in met), met
        # "master~1" is that commit: it exists, so the error names it, as damaged
        walked_through = [r for r in results if r["call"] in ("diff", "changes")]
        assert walked_through and all(r["corrupt"] and r["commit"] == str(first) for r in walked_through), walked_through
    assert git(repo.path, "fsck", check=False).returncode != 0  # plain git sees the damage too


@pytest.mark.parametrize("how", ["cut in the middle", "flipped byte"])
def test_a_damaged_tag_is_a_gitmodel_error_when_named(tmp_path, how):
    from gitmodel import CorruptObject, GitModelError, fields
    from gitmodel.workspace import Workspace

    repo, targets, _first, second = store(tmp_path)
    oid = targets["tag"]
    path = Path(repo.path, "objects", str(oid)[:2], str(oid)[2:])
    os.chmod(path, 0o644)
    path.write_bytes(damage(path.read_bytes(), how))
    if how in REFUSED_AT_OPEN:
        with pytest.raises(CorruptObject, match=str(oid)):
            Workspace(repo.path)
        return
    ws = Workspace(repo.path)

    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    for call in (lambda: Page.get("ok", treeish="v1"), lambda: ws.tags, lambda: ws.changes("v1"),
                 lambda: Page.history("ok", treeish="v1")):
        with pytest.raises(GitModelError, match=str(oid)[:12] + "|v1"):
            call()
    assert Page.get("ok").title == "fine"  # the branch itself reads on
