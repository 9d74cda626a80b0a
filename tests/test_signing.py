"""Signed commits: SSH (``ssh-keygen -Y``) and GPG signatures, checked against trusted keys.

Keys are generated in each test; plain ``git verify-commit`` checks that git
reads the signatures the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitmodel import SignatureError, SigningError, fields
from gitmodel.signing import GpgSigner, SignatureStatus, SshSigner, TrustedKeys
from gitmodel.workspace import Workspace

from gitservers import GitDaemon


def need(program: str) -> None:
    if shutil.which(program) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing; .ci/install-servers.sh installs it")
        pytest.skip(f"{program} is not installed")


def ssh_key(folder: Path, name: str) -> Path:
    need("ssh-keygen")
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def allowed(principal: str, key: Path) -> str:
    """An allowed-signers line: the principal, then the key's type and data."""
    return " ".join([principal, *key.with_suffix(".pub").read_text().split()[:2]])


def define_page(ws: Workspace) -> Any:
    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()

    return Page


def git(repo: str | Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return {name: ssh_key(tmp_path, name) for name in ("alice", "mallory")}


def test_ssh_signed_commits_verify_and_others_do_not(tmp_path: Path, keys: dict[str, Path]):
    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    unsigned = Page(slug="a", title="unsigned").save(commit=True, message="unsigned")
    ws.signer = SshSigner(keys["alice"])
    good = Page(slug="b", title="by alice").save(commit=True, message="signed by alice")
    ws.signer = SshSigner(keys["mallory"])
    stranger = Page(slug="c", title="by mallory").save(commit=True, message="signed by mallory")

    trusted = TrustedKeys([allowed("alice@example.com", keys["alice"])])
    checked = ws.signatures(trusted)
    assert [c.commit.id for c in checked] == [stranger, good, unsigned]
    assert [c.status for c in checked] == [
        SignatureStatus.UNTRUSTED, SignatureStatus.VALID, SignatureStatus.UNSIGNED,
    ]
    assert checked[1].signer == "alice@example.com" and checked[1].valid
    assert ws.require_signed(trusted, good, since=unsigned)[0].valid
    with pytest.raises(SignatureError, match=str(stranger)) as info:
        ws.require_signed(trusted)
    assert [c.commit.id for c in info.value.commits] == [stranger, unsigned]

    # plain git reads the same signature
    signers = tmp_path / "allowed_signers"
    signers.write_text(allowed("alice@example.com", keys["alice"]) + "\n")
    verify = ["-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit"]
    assert git(ws.path, *verify, str(good)).returncode == 0
    assert git(ws.path, *verify, str(stranger), check=False).returncode != 0
    assert git(ws.path, *verify, str(unsigned), check=False).returncode != 0
    git(ws.path, "fsck", "--strict")

    # the allowed-signers file itself works as well as its lines
    assert TrustedKeys(signers).check(ws.repo[good]).valid


def test_a_key_trusted_for_another_namespace_signs_untrusted_not_bad(tmp_path: Path, keys: dict[str, Path]):
    """A good signature by a listed key that the allowed-signers line limits
    to another namespace (``namespaces="file"``) is untrusted, as git says,
    not bad: it matches the commit."""
    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    ws.signer = SshSigner(keys["alice"])
    Page(slug="a", title="A").save(commit=True)
    line = allowed("alice@example.com", keys["alice"]).replace(" ", ' namespaces="file" ', 1)
    checked = TrustedKeys([line]).check(ws.repo[ws.branch.oid])
    assert checked.status is SignatureStatus.UNTRUSTED and not checked.valid
    assert "namespace 'git'" in checked.reason


def test_a_signature_that_does_not_match_the_commit_is_bad(tmp_path: Path, keys: dict[str, Path]):
    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    Page(slug="a", title="A").save(commit=True)
    head = ws.repo[ws.branch.oid]
    signer = SshSigner(keys["alice"])
    honest = ws.repo.create_commit_string(head.author, head.committer, "honest", head.tree_id, [head.id])
    forged = ws.repo.create_commit_string(head.author, head.committer, "forged", head.tree_id, [head.id])
    oid = ws.repo.create_commit_with_signature(forged, signer.sign(honest.encode()).rstrip("\n"))
    trusted = TrustedKeys([allowed("alice@example.com", keys["alice"])])
    result = trusted.check(ws.repo[oid])
    assert result.status is SignatureStatus.BAD and not result.valid


def test_a_signing_failure_commits_nothing(tmp_path: Path, keys: dict[str, Path]):
    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    first = Page(slug="a", title="A").save(commit=True)
    broken = tmp_path / "broken_key"
    broken.write_text("this is not a key\n")
    for signer, match in (
        (SshSigner(tmp_path / "missing"), "no SSH key"),
        (SshSigner(broken), "cannot sign"),
        (SshSigner(keys["alice"], program="no-such-ssh-keygen"), "not installed"),
    ):
        ws.signer = signer
        Page(slug="b", title="B").save()
        with pytest.raises(SigningError, match=match):
            ws.commit("never")
        assert ws.branch.oid == first and ws.has_changes()
        assert Page.get("b").title == "B"
        ws.reset()
    assert git(ws.path, "rev-list", "--all").stdout.split() == [str(first)]


class OddSigner:
    """A signer (any object with ``sign``) whose output is not one armored block."""

    def __init__(self, output: str) -> None:
        self.output = output

    def sign(self, data: bytes) -> str:
        return self.output


ARMORED = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"


@pytest.mark.parametrize("output", [
    ARMORED.replace("U1NIU0lH", "U1NI\0U0lH"),  # a NUL: pygit2 refused it with a raw ValueError
    "junk\n\n" + ARMORED,  # git log then fails on the repository: bad/incompatible signature
    ARMORED + "trailing words\n",
    ARMORED.replace("U1NIU0lH", "U1NI\ufffdU0lH"),  # what a non-ASCII byte decodes to
    "no armor at all",
])
def test_a_signature_that_is_not_one_armored_block_commits_nothing(tmp_path: Path, output: str):
    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    first = Page(slug="a", title="A").save(commit=True)
    ws.signer = OddSigner(output)
    Page(slug="b", title="B").save()
    with pytest.raises(SigningError, match="nothing was committed"):
        ws.commit("never")
    assert ws.branch.oid == first and ws.has_changes()
    assert git(ws.path, "rev-list", "--all").stdout.split() == [str(first)]


def test_merge_commits_are_signed_and_sync_refuses_unsigned_data(tmp_path: Path, keys: dict[str, Path]):
    root = tmp_path / "srv"
    root.mkdir()
    seed = Workspace.init(root / "hub.git", initial_branch="master")
    seed.signer = SshSigner(keys["alice"])
    define_page(seed)(slug="home", title="Home").save(commit=True, message="seed")
    trusted = TrustedKeys([allowed("alice@example.com", keys["alice"])])
    with GitDaemon(root) as hub:
        a = Workspace.clone(hub.url("hub.git"), tmp_path / "a.git")
        b = Workspace.clone(hub.url("hub.git"), tmp_path / "b.git")
        a.signer = b.signer = SshSigner(keys["alice"])
        define_page(a)(slug="from-a", title="A").save(commit=True, message="A")
        define_page(b)(slug="from-b", title="B").save(commit=True, message="B")
        a.sync(require_signed=trusted)
        result = b.sync(require_signed=trusted)
        assert result.merges == 1
        assert len(b.repo[b.branch.oid].parents) == 2
        assert all(c.valid for c in b.require_signed(trusted))

        b.signer = None
        define_page(b)(slug="unsigned", title="not signed").save(commit=True, message="unsigned")
        b.sync()
        before = a.branch.oid
        with pytest.raises(SignatureError, match="unsigned"):
            a.sync(require_signed=trusted)
        assert a.branch.oid == before and not a.merging
        assert define_page(a).filter(slug="unsigned").count() == 0


@pytest.fixture
def gpg_home() -> Iterator[Path]:
    need("gpg")
    # a short path: gpg-agent's socket lives in the home folder
    home = Path(tempfile.mkdtemp(prefix="gpg-"))
    home.chmod(0o700)
    try:
        subprocess.run(
            ["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key",
             "Alice <alice@example.com>", "ed25519", "sign", "never"],
            check=True, capture_output=True, timeout=60,
        )
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_gpg_signed_commits_verify(tmp_path: Path, gpg_home: Path):
    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    unsigned = Page(slug="a", title="A").save(commit=True)
    ws.signer = GpgSigner("alice@example.com", homedir=gpg_home)
    signed = Page(slug="b", title="B").save(commit=True)
    checked = ws.signatures(TrustedKeys(gpg_home=gpg_home))
    assert [(c.commit.id, c.status) for c in checked] == [
        (signed, SignatureStatus.VALID), (unsigned, SignatureStatus.UNSIGNED),
    ]
    assert "alice@example.com" in (checked[0].signer or "")
    # no GPG keys trusted: a good signature by an unknown key
    assert TrustedKeys([]).check(ws.repo[signed]).status is SignatureStatus.UNTRUSTED
    env = {**os.environ, "GNUPGHOME": str(gpg_home)}
    proc = subprocess.run(["git", f"--git-dir={ws.path}", "verify-commit", str(signed)], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    ws.signer = GpgSigner("nobody@example.com", homedir=gpg_home)
    Page(slug="c", title="C").save()
    with pytest.raises(SigningError, match="nobody@example.com"):
        ws.commit("never")
    assert ws.branch.oid == signed


def test_a_migration_commit_is_signed_like_any_other(tmp_path: Path, keys: dict[str, Path]):
    from gitmodel.migrations import AddField, Migration

    ws = Workspace.init(tmp_path / "repo.git")
    Page = define_page(ws)
    unsigned = Page(slug="a", title="A").save(commit=True)
    ws.signer = SshSigner(keys["alice"])
    migrated = ws.migrate(Migration("0001_add_summary", [
        AddField("Page", "summary", fields.CharField(required=False, default="none"))]))
    assert migrated is not None
    trusted = TrustedKeys([allowed("alice@example.com", keys["alice"])])
    assert ws.require_signed(trusted, migrated, since=unsigned)[0].valid
    signers = tmp_path / "allowed_signers"
    signers.write_text(allowed("alice@example.com", keys["alice"]) + "\n")
    verify = ["-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit"]
    assert git(ws.path, *verify, str(migrated)).returncode == 0
