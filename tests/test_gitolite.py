"""A real forge's rules: gitolite over SSH on 127.0.0.1, with per-branch write rules.

``master`` is protected: only ``admin`` may write it; ``alice`` may write
every other branch; ``bob`` may only read. Plain ``git`` checks what the
server holds.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitmodel import PushRaceLost, PushRejected, RemoteError, fields
from gitmodel.remotes import Callbacks
from gitmodel.workspace import Workspace

from gitservers import GitoliteServer

REPOS = [f"data{i}" for i in range(3)]  # one per test, under the same rules
FREE_REPOS = iter(REPOS)
CONF = f"""\
repo {' '.join(REPOS)}
    RW+             = admin
    -   master$     = alice
    RW              = alice
    R               = bob
"""


def git(repo: str | Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True, text=True).stdout


def refs_of(repo: str | Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def define_page(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()

    return Page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    if not GitoliteServer.available():
        if os.environ.get("CI"):
            pytest.fail("gitolite or sshd is missing; .ci/install-servers.sh installs gitolite3")
        pytest.skip("gitolite3 is not installed (bash .ci/install-servers.sh installs it)")
    with GitoliteServer(tmp_path_factory.mktemp("gitolite"), ["alice", "bob"], CONF) as running:
        yield running


@pytest.fixture
def forge(server: GitoliteServer, tmp_path: Path) -> Forge:
    """The test's own repository on the server, with a first commit pushed by the admin."""
    name = next(FREE_REPOS)
    seed = Workspace.init(tmp_path / "seed.git", initial_branch="master")
    define_page(seed)(slug="home", title="Home").save(commit=True, message="seed")
    seed.add_remote("origin", server.url(name))
    seed.push(callbacks=as_user(server, "admin"))
    return Forge(server, name)


@dataclass
class Forge:
    server: GitoliteServer
    name: str

    @property
    def repository(self) -> Path:
        return self.server.repository(self.name)


def as_user(server: GitoliteServer, name: str) -> Callbacks:
    return Callbacks(ssh_key=server.keys[name], insecure=True)


def clone_as(forge: Forge, name: str, tmp_path: Path) -> Workspace:
    url = forge.server.url(forge.name)
    return Workspace.clone(url, tmp_path / f"{name}.git", callbacks=as_user(forge.server, name))


def test_a_push_to_a_protected_branch_is_refused_and_the_other_refs_go_through(forge: Forge, tmp_path: Path):
    alice = clone_as(forge, "alice", tmp_path)
    Page = define_page(alice)
    Page(slug="by-alice", title="Alice's").save(commit=True, message="alice")
    alice.create_branch("feature")
    mine = alice.branch.oid
    server_before = refs_of(forge.repository)

    with pytest.raises(PushRejected) as info:
        alice.push(branch=["master", "feature"])
    err = info.value
    assert set(err.rejected) == {"refs/heads/master"}
    reason = err.rejected["refs/heads/master"]
    assert "DENIED" in reason and "refs/heads/master" in reason and "alice" in reason
    assert "refs/heads/master" in str(err) and "DENIED" in str(err)
    assert set(err.pushed) == {"refs/heads/feature"} and err.pushed["refs/heads/feature"][1] == mine

    server = refs_of(forge.repository)
    assert server["refs/heads/master"] == server_before["refs/heads/master"]
    assert server["refs/heads/feature"] == str(mine)
    # nothing local is lost
    assert alice.branch.oid == mine and not alice.has_changes()
    assert Page.get("by-alice").title == "Alice's"
    git(forge.repository, "fsck", "--strict")

    # the admin may write master
    admin = clone_as(forge, "admin", tmp_path)
    define_page(admin)(slug="by-admin", title="Admin's").save(commit=True, message="admin")
    admin.push()
    assert refs_of(forge.repository)["refs/heads/master"] == str(admin.branch.oid)


def test_sync_does_not_retry_a_refusal_by_rule(forge: Forge, tmp_path: Path):
    alice = clone_as(forge, "alice", tmp_path)
    Page = define_page(alice)
    Page(slug="draft", title="Draft").save(commit=True, message="draft")
    mine = alice.branch.oid
    with pytest.raises(PushRejected, match="DENIED") as info:
        alice.sync()
    assert not isinstance(info.value, PushRaceLost)  # refused by a rule: not a lost race, not retried
    assert alice.branch.oid == mine and not alice.merging

    # on a branch she may write, the same clone syncs
    alice.create_branch("alice-work")
    alice.set_branch("alice-work")
    result = alice.sync()
    assert result.pushed["refs/heads/alice-work"][1] == mine
    assert refs_of(forge.repository)["refs/heads/alice-work"] == str(mine)


def test_a_reader_may_fetch_but_not_push(forge: Forge, tmp_path: Path):
    bob = clone_as(forge, "bob", tmp_path)
    Page = define_page(bob)
    assert Page.get("home").title == "Home"
    Page(slug="by-bob", title="Bob's").save(commit=True, message="bob")
    mine = bob.branch.oid
    before = refs_of(forge.repository)
    with pytest.raises(RemoteError, match="DENIED"):
        bob.push()
    assert refs_of(forge.repository) == before
    assert bob.branch.oid == mine and Page.get("by-bob").title == "Bob's"

