"""The attacker's side of the trust tests: repositories written the way a
hostile remote or another tool would write them, with raw pygit2 objects
(trees built byte by byte, so any entry name or mode can be stored) and
plain ``git``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Optional, Union

import pygit2

BLOB = 0o100644
TREE = 0o040000
LINK = 0o120000
GITLINK = 0o160000
ATTACKER = pygit2.Signature("Mallory", "mallory@example.com", 1_700_000_000, 0)

#: path (bytes or str) -> blob content, or (mode, content or oid)
Files = dict[Union[str, bytes], Any]


def page_json(object_id: Optional[str], model: str = "Page", **values: Any) -> bytes:
    """A data file as gitmodel writes it (fields chosen by the attacker)."""
    fields_ = dict(values)
    if object_id is not None:
        fields_ = {"id": object_id, **fields_}
    return (json.dumps({"model": model, "fields": fields_}, indent=1) + "\n").encode()


def raw_tree(repo: pygit2.Repository, entries: list[tuple[bytes, int, pygit2.Oid]]) -> pygit2.Oid:
    """Write a tree object with exactly these entries (no name is checked)."""

    def key(entry: tuple[bytes, int, pygit2.Oid]) -> bytes:
        return entry[0] + (b"/" if entry[1] == TREE else b"")

    data = b"".join(
        b"%o %s\x00" % (mode, name) + oid.raw for name, mode, oid in sorted(entries, key=key)
    )
    return repo.odb.write(pygit2.enums.ObjectType.TREE, data)


def build_tree(repo: pygit2.Repository, files: Files) -> pygit2.Oid:
    """A tree holding ``files``; folders are made from the ``/`` in paths."""
    nested: dict[bytes, Any] = {}
    for path, value in files.items():
        raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else path
        mode, content = value if isinstance(value, tuple) else (BLOB, value)
        parts = raw.split(b"/")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(content, pygit2.Oid):
            oid = content
        else:
            oid = repo.create_blob(content if isinstance(content, bytes) else content.encode())
        node[parts[-1]] = (mode, oid)
    return _write(repo, nested)


def _write(repo: pygit2.Repository, node: dict[bytes, Any]) -> pygit2.Oid:
    entries = []
    for name, child in node.items():
        if isinstance(child, dict):
            entries.append((name, TREE, _write(repo, child)))
        else:
            entries.append((name, child[0], child[1]))
    return raw_tree(repo, entries)


def commit_files(
    repo: pygit2.Repository,
    files: Files,
    ref: str = "refs/heads/master",
    message: str = "from someone else\n",
    base: bool = True,
) -> pygit2.Oid:
    """Commit a tree of ``files`` on ``ref`` (on top of its commit if ``base``)."""
    current = repo.references.get(ref)
    parents = [current.target] if (base and current is not None) else []
    tree = build_tree(repo, files)
    commit = repo.create_commit(None, ATTACKER, ATTACKER, message, tree, parents)
    repo.references.create(ref, commit, force=True)
    return commit


def git(repo: Union[str, Path], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Plain git on repository ``repo`` (a git folder)."""
    return subprocess.run(
        ["git", f"--git-dir={repo}", *args], check=check, capture_output=True, text=True
    )


def fsck(repo: Union[str, Path]) -> subprocess.CompletedProcess:
    """``git fsck --strict`` (its return code and report)."""
    return git(repo, "fsck", "--strict", "--no-dangling", check=False)


def files_below(folder: Path) -> list[str]:
    """Every path below ``folder`` (symlinks not followed), sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


#: who-and-when lines and extra headers git shows but no calendar or codec reads
HOSTILE_SIGNATURES = {
    "date": (b"Mallory <m@x> 99999999999999 +0000", b""),
    "negative date": (b"Mallory <m@x> -99999999999999 +0000", b""),
    "encoding": (b"Mallory <m@x> 1700000000 +0000", b"encoding no-such-codec\n"),
    "not a text codec": (b"Mallory <m@x> 1700000000 +0000", b"encoding base64\n"),
    "surrogates": (b"Mall\\ud800ory <m@x> 1700000000 +0000", b"encoding unicode_escape\n"),
}


def hostile_commit(store: Path, who: bytes, extra: bytes, branch: str = "master",
                   title: str = "Changed by Mallory", path: str = "article/a000/data.json") -> str:
    """A commit as another tool may write it, changing the title at ``path``, on ``branch``."""
    repo = pygit2.Repository(str(store))
    tip = repo.revparse_single(branch)
    data = json.loads(repo.revparse_single(f"{branch}:{path}").data)
    data["fields"]["title"] = title
    index = pygit2.Index()
    index.read_tree(tip.tree)
    blob = repo.create_blob((json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    index.add(pygit2.IndexEntry(path, blob, pygit2.enums.FileMode.BLOB))
    raw = (b"tree %s\nparent %s\nauthor %s\ncommitter %s\n%s\nhostile \\ud800 \xff message\n"
           % (str(index.write_tree(repo)).encode(), str(tip.id).encode(), who, who, extra))
    oid = repo.odb.write(pygit2.enums.ObjectType.COMMIT, raw)
    repo.references[f"refs/heads/{branch}"].set_target(oid)
    return str(oid)
