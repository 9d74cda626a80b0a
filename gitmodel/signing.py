"""Signed commits: sign with SSH or GPG keys, verify against trusted keys.

Signing and verifying call out to the real programs, as git does:
``ssh-keygen -Y sign`` / ``-Y verify`` for SSH signatures and ``gpg`` for
OpenPGP ones. The signature goes into the commit's ``gpgsig`` header, so
``git log --show-signature`` and ``git verify-commit`` read it too. A
signing failure raises :class:`SigningError` before anything is written.
"""

from __future__ import annotations

import enum
import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence, Union, cast

import pygit2
from pygit2.enums import SortMode

from .exceptions import ConfigurationError, SignatureError, SigningError
from .git.odb import writing

if TYPE_CHECKING:
    from .refs import Treeish
    from .workspace import Workspace

__all__ = [
    "CommitSignature",
    "GpgSigner",
    "SignatureStatus",
    "Signer",
    "SshSigner",
    "TrustedKeys",
]

PathLike = Union[str, "os.PathLike[str]"]
SSH_ARMOR = "-----BEGIN SSH SIGNATURE-----"
PGP_ARMOR = "-----BEGIN PGP SIGNATURE-----"
#: seconds a signing or verifying program may take (a passphrase prompt would hang)
PROGRAM_TIMEOUT = 30.0


class Signer(Protocol):
    """Anything that turns commit bytes into an armored detached signature."""

    def sign(self, data: bytes) -> str: ...


def _run(argv: list[str], data: bytes, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv, input=data, capture_output=True, timeout=PROGRAM_TIMEOUT,
            env={**os.environ, "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise SigningError(f"{what}: {argv[0]!r} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SigningError(f"{what}: {argv[0]} did not answer within {PROGRAM_TIMEOUT:g}s") from None
    except OSError as exc:
        raise SigningError(f"{what}: cannot run {argv[0]}: {exc}") from None


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"


class SshSigner:
    """Sign with an SSH private key through ``ssh-keygen -Y sign`` (namespace ``git``).

    The key must not need a passphrase, or be loaded in the SSH agent (then
    ``key`` is the public key file, as with git's ``user.signingKey``).
    """

    def __init__(self, key: PathLike, *, program: str = "ssh-keygen", namespace: str = "git") -> None:
        self.key = os.fspath(key)
        self.program = program
        self.namespace = namespace

    def sign(self, data: bytes) -> str:
        if not os.path.exists(self.key):
            raise SigningError(f"cannot sign: no SSH key at {self.key!r}")
        proc = _run(
            [self.program, "-Y", "sign", "-n", self.namespace, "-f", self.key, "-q"],
            data, "cannot sign",
        )
        text = proc.stdout.decode("ascii", "replace")
        if proc.returncode != 0 or SSH_ARMOR not in text:
            raise SigningError(f"cannot sign with {self.key!r}: {_stderr(proc)}")
        return text

    def __repr__(self) -> str:
        return f"<SshSigner {self.key!r}>"


class GpgSigner:
    """Sign with an OpenPGP key through ``gpg --detach-sign`` (``homedir``: its keyring)."""

    def __init__(self, key_id: str, *, homedir: Optional[PathLike] = None, program: str = "gpg") -> None:
        self.key_id = key_id
        self.homedir = os.fspath(homedir) if homedir is not None else None
        self.program = program

    def sign(self, data: bytes) -> str:
        argv = [self.program, "--batch", "--no-tty", "--pinentry-mode", "error"]
        if self.homedir:
            argv += ["--homedir", self.homedir]
        argv += ["--local-user", self.key_id, "--detach-sign", "--armor"]
        proc = _run(argv, data, "cannot sign")
        text = proc.stdout.decode("ascii", "replace")
        if proc.returncode != 0 or PGP_ARMOR not in text:
            raise SigningError(f"cannot sign with GPG key {self.key_id!r}: {_stderr(proc)}")
        return text

    def __repr__(self) -> str:
        return f"<GpgSigner {self.key_id!r}>"


def create_commit(
    ws: Workspace,
    author: pygit2.Signature,
    committer: pygit2.Signature,
    message: str,
    tree: pygit2.Oid,
    parents: list[pygit2.Oid],
) -> pygit2.Oid:
    """Write a commit object, signed with ``ws.signer`` when one is set (no ref moves)."""
    signer: Optional[Signer] = ws.signer
    if signer is None:
        with writing(ws.repo):
            return ws.repo.create_commit(None, author, committer, message, tree, parents)
    # pygit2's type stubs say Oid; create_commit_string returns the commit's text
    content = cast(str, ws.repo.create_commit_string(author, committer, message, tree, list[Any](parents)))
    signature = signer.sign(content.encode("utf-8"))
    if not isinstance(signature, str) or not signature.strip():
        raise SigningError(f"{signer!r} returned no signature")
    problem = armor_problem(signature)
    if problem:  # git would refuse to read such a commit's signature, or the commit itself
        raise SigningError(f"{signer!r} returned a signature that {problem}; nothing was committed")
    with writing(ws.repo):
        return ws.repo.create_commit_with_signature(content, signature.rstrip("\n"))


def armor_problem(signature: str) -> Optional[str]:
    """Why ``signature`` is not one ASCII-armored block (``-----BEGIN ...-----``
    to ``-----END ...-----``, printable ASCII lines), or ``None``."""
    body = signature.strip()
    if not body.isascii() or any(c < " " and c not in "\r\n" for c in body) or "\x7f" in body:
        return "holds characters an armored signature cannot (control or non-ASCII)"
    lines = body.splitlines()
    first, last = lines[0].strip(), lines[-1].strip()
    if not (first.startswith("-----BEGIN ") and first.endswith("-----")
            and last.startswith("-----END ") and last.endswith("-----")):
        return "is not one armored block (-----BEGIN ...----- to -----END ...-----)"
    return None


# -- verifying ------------------------------------------------------------------------


class SignatureStatus(enum.Enum):
    """How a commit's signature stands against the trusted keys."""

    VALID = "valid"  #: signed by a trusted key, and the signature matches
    UNSIGNED = "unsigned"  #: no signature at all
    UNTRUSTED = "untrusted"  #: a correct signature, by a key not in the trusted set
    BAD = "bad"  #: the signature does not match the commit (or cannot be read)


@dataclass(frozen=True)
class CommitSignature:
    """One commit's signature check: ``status``, the ``signer`` (principal or key) and why."""

    commit: pygit2.Commit
    status: SignatureStatus
    signer: Optional[str] = None
    reason: str = ""

    @property
    def valid(self) -> bool:
        return self.status is SignatureStatus.VALID

    def __repr__(self) -> str:
        who = f" by {self.signer}" if self.signer else ""
        return f"<CommitSignature {str(self.commit.id)[:10]} {self.status.value}{who}>"


class TrustedKeys:
    """The keys whose signatures a reader accepts.

    ``allowed_signers`` is an SSH allowed-signers file (``principal key``
    per line, as for ``gpg.ssh.allowedSignersFile``), given as a path or as
    its lines; ``gpg_home`` a GPG home folder whose public keys are trusted.
    """

    def __init__(
        self,
        allowed_signers: Union[None, PathLike, Sequence[str]] = None,
        *,
        gpg_home: Optional[PathLike] = None,
        ssh_program: str = "ssh-keygen",
        gpg_program: str = "gpg",
        namespace: str = "git",
    ) -> None:
        if allowed_signers is None:
            self._signers_text: Optional[str] = None
        elif isinstance(allowed_signers, (str, os.PathLike)):
            path = os.fspath(allowed_signers)
            try:
                with open(path, encoding="utf-8") as fh:
                    self._signers_text = fh.read()
            except OSError as exc:
                raise ConfigurationError(f"cannot read allowed signers {path!r}: {exc}") from None
        else:
            self._signers_text = "".join(f"{line.strip()}\n" for line in allowed_signers)
        self.gpg_home = os.fspath(gpg_home) if gpg_home is not None else None
        self.ssh_program = ssh_program
        self.gpg_program = gpg_program
        self.namespace = namespace

    def check(self, commit: pygit2.Commit) -> CommitSignature:
        """Verify ``commit``'s signature; never raises for a bad one (see ``status``)."""
        signature, payload = commit.gpg_signature
        if not signature:
            return CommitSignature(commit, SignatureStatus.UNSIGNED, reason="the commit is not signed")
        text = signature.decode("ascii", "replace")
        if SSH_ARMOR in text:
            status, who, why = self._check_ssh(text, payload)
        elif PGP_ARMOR in text:
            status, who, why = self._check_gpg(text, payload)
        else:
            status, who, why = SignatureStatus.BAD, None, "the signature is of an unknown kind"
        return CommitSignature(commit, status, who, why)

    def _check_ssh(self, signature: str, payload: bytes) -> tuple[SignatureStatus, Optional[str], str]:
        if self._signers_text is None:
            return SignatureStatus.UNTRUSTED, None, "an SSH signature, and no SSH keys are trusted"
        with tempfile.TemporaryDirectory(prefix="gitmodel-verify-") as tmp:
            sig_path, signers_path = os.path.join(tmp, "sig"), os.path.join(tmp, "allowed_signers")
            with open(sig_path, "w", encoding="ascii") as fh:
                fh.write(signature if signature.endswith("\n") else signature + "\n")
            with open(signers_path, "w", encoding="utf-8") as fh:
                fh.write(self._signers_text)
            found = self._ssh(["-Y", "find-principals", "-f", signers_path, "-s", sig_path], b"")
            principals = found.stdout.decode("utf-8", "replace").split() if found.returncode == 0 else []
            for principal in principals:
                proc = self._ssh(
                    ["-Y", "verify", "-f", signers_path, "-I", principal, "-n", self.namespace, "-s", sig_path],
                    payload,
                )
                if proc.returncode == 0:
                    return SignatureStatus.VALID, principal, "good signature"
            proc = self._ssh(["-Y", "check-novalidate", "-n", self.namespace, "-s", sig_path], payload)
            if proc.returncode != 0:
                return SignatureStatus.BAD, principals[0] if principals else None, _stderr(proc)
            if principals:  # the key is listed, but not for this namespace or at this time
                return (SignatureStatus.UNTRUSTED, principals[0], f"a good signature by {principals[0]}'s key, "
                        f"which the trusted keys do not allow for namespace {self.namespace!r} (or now)")
            return SignatureStatus.UNTRUSTED, None, "a good signature by a key that is not trusted"

    def _ssh(self, args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
        try:
            return _run([self.ssh_program, *args], data, "cannot verify")
        except SigningError as exc:
            raise SignatureError(str(exc)) from None

    def _check_gpg(self, signature: str, payload: bytes) -> tuple[SignatureStatus, Optional[str], str]:
        if self.gpg_home is None:
            return SignatureStatus.UNTRUSTED, None, "a GPG signature, and no GPG keys are trusted"
        with tempfile.TemporaryDirectory(prefix="gitmodel-verify-") as tmp:
            sig_path = os.path.join(tmp, "sig.asc")
            with open(sig_path, "w", encoding="ascii") as fh:
                fh.write(signature)
            argv = [self.gpg_program, "--batch", "--no-tty", "--homedir", self.gpg_home,
                    "--status-fd", "1", "--verify", sig_path, "-"]
            try:
                proc = _run(argv, payload, "cannot verify")
            except SigningError as exc:
                raise SignatureError(str(exc)) from None
        # gpg's machine-readable lines: "[GNUPG:] KEYWORD args..."
        status = [line.split() for line in proc.stdout.decode("utf-8", "replace").splitlines()]
        words = {parts[1]: parts[2:] for parts in status if len(parts) > 1 and parts[0] == "[GNUPG:]"}
        if "GOODSIG" in words and "VALIDSIG" in words:
            who = " ".join(words["GOODSIG"][1:]) or words["VALIDSIG"][0]
            return SignatureStatus.VALID, who, "good signature"
        if "BADSIG" in words:
            return SignatureStatus.BAD, " ".join(words["BADSIG"][1:]) or None, "the signature does not match"
        if "NO_PUBKEY" in words or "ERRSIG" in words:
            return SignatureStatus.UNTRUSTED, None, "signed by a key that is not trusted"
        return SignatureStatus.BAD, None, _stderr(proc)

    def __repr__(self) -> str:
        kinds = [k for k, v in (("ssh", self._signers_text), ("gpg", self.gpg_home)) if v is not None]
        return f"<TrustedKeys {'+'.join(kinds) or 'none'}>"


def signatures(
    ws: Workspace, trusted: TrustedKeys, treeish: Optional[Treeish] = None, since: Optional[Treeish] = None
) -> list[CommitSignature]:
    """Each commit of ``treeish`` (default: the branch) not in ``since``, newest first, checked."""
    start = _commit_id(ws, treeish) if treeish is not None else ws._start
    if start is None:
        return []
    from .objects import walking  # a history that loops is refused, not checked in part

    hide = _commit_id(ws, since) if since is not None else None
    return [trusted.check(commit) for commit in walking(ws.repo, start, SortMode.TOPOLOGICAL | SortMode.TIME, hide)]


def require_signed(
    ws: Workspace, trusted: TrustedKeys, treeish: Optional[Treeish] = None, since: Optional[Treeish] = None
) -> list[CommitSignature]:
    """Like :func:`signatures`, but raise :class:`SignatureError` unless every commit is VALID."""
    checked = signatures(ws, trusted, treeish, since)
    failed = [c for c in checked if not c.valid]
    if failed:
        first = failed[0]
        raise SignatureError(
            f"{len(failed)} of {len(checked)} commit(s) lack a trusted signature, e.g. "
            f"{first.commit.id} ({first.status.value}: {first.reason})",
            failed,
        )
    return checked


def _commit_id(ws: Workspace, treeish: Treeish) -> pygit2.Oid:
    target = ws.resolve_treeish(treeish)
    if not isinstance(target, pygit2.Commit):
        raise ConfigurationError(f"{treeish!r} does not name a commit")
    return target.id
