"""One remote operation's plumbing: credentials, progress and libgit2's errors.

:class:`Callbacks` holds what the user gives (passwords, tokens, keys,
certificate checks). Each clone, fetch or push wraps it in a
:class:`Session` that reports progress, records which refs moved, gives
credentials only to the host the operation was started with (never to the
host a redirect leads to) and turns libgit2's errors into gitmodel's
exceptions. Every message shows URLs with their password as ``***``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from .exceptions import AuthenticationError, CertificateError, ConfigurationError, GitModelError, RemoteError

ZERO_OID = pygit2.Oid(raw=b"\0" * 20)

#: ``{ref: (old, new)}``; ``None`` stands for "did not exist".
RefUpdates = dict[str, tuple[Optional[pygit2.Oid], Optional[pygit2.Oid]]]

# the password of a URL's userinfo: scheme://user:PASSWORD@host (up to its last "@")
_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:]*):[^\s/]*@")  # a user may hold an @
_SCP = re.compile(r"^(?:[^@/\s]+@)?(\[[^\]]+\]|[^:/\s]+):(?!//)")
_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}
# libgit2's words for an HTTP status that refuses access
_DENIED = re.compile(r"unexpected http status code: (401|403)")
_REPLAYS = "too many redirects or authentication replays"


#: the user name of an HTTP(S) URL with no password (the last ``@`` of its host part)
_TOKEN_USER = re.compile(r"(?i)\b((?:[a-z][a-z0-9+.\-]*\+)?https?://)[^\s/:@]+@(?![^\s/]*@)")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``, and
    the user name of an HTTP(S) URL without one (``https://TOKEN@host``: how
    tokens are usually given) too."""
    text = _PASSWORD.sub(r"\1:***@", text)
    return _TOKEN_USER.sub(r"\1***@", text)


def origin(url: Optional[str]) -> Optional[tuple[str, str, int]]:
    """``(scheme, host, port)`` of a network URL (``user@host:path`` is SSH); ``None`` otherwise."""
    if not url:
        return None
    if "://" not in url:
        scp = _SCP.match(url)
        return ("ssh", scp.group(1).strip("[]").lower(), 22) if scp and not os.path.exists(url) else None
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or _PORTS.get(scheme, 0)
    except ValueError:
        return None
    return (scheme, host, port) if host else None


def _has_password(url: Optional[str]) -> bool:
    return bool(url) and _PASSWORD.search(url or "") is not None


def _where(key: Optional[tuple[str, str, int]]) -> str:
    return f"{key[0]}://{key[1]}:{key[2]}" if key else "?"


@dataclass(frozen=True)
class Progress:
    """How far a transfer is, for a progress bar.

    ``phase`` is ``"receiving"`` (objects arriving), ``"resolving"`` (deltas
    being resolved after a fetch) or ``"sending"`` (a push). ``done`` and
    ``total`` count objects (deltas while resolving); ``bytes`` is the data
    moved so far.
    """

    phase: str
    done: int
    total: int
    bytes: int

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 while the total is unknown)."""
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], Any]


class Callbacks(pygit2.RemoteCallbacks):
    """Credentials and certificate checks for remote operations.

    - ``username`` / ``password``: HTTP basic authentication.
    - ``token``: an access token, sent as the password of ``username``
      (``"x-access-token"`` when no username is given).
    - ``ssh_key``: a private key file (``ssh_pubkey`` defaults to
      ``ssh_key + ".pub"`` when that file exists), unlocked with ``passphrase``; or
      ``ssh_agent=True`` to ask the running SSH agent.
    - ``certificate_check(host, valid) -> bool`` decides on a TLS
      certificate or SSH host key; ``insecure=True`` accepts any. By default
      libgit2 decides (TLS: the system's CAs; SSH: ``known_hosts``, then
      accept).

    gitmodel hands these credentials only to the host (scheme, host and
    port) of the URL an operation was started with.
    """

    def __init__(
        self,
        username: Optional[str] = None,
        password: Optional[str] = None,
        *,
        token: Optional[str] = None,
        ssh_key: Optional[Union[str, os.PathLike[str]]] = None,
        ssh_pubkey: Optional[Union[str, os.PathLike[str]]] = None,
        passphrase: str = "",
        ssh_agent: bool = False,
        certificate_check: Optional[Callable[[str, bool], bool]] = None,
        insecure: bool = False,
    ) -> None:
        super().__init__()
        self.username = username
        self.password = token if token is not None and password is None else password
        if token is not None and username is None:
            self.username = "x-access-token"
        self.ssh_key = os.fspath(ssh_key) if ssh_key is not None else None
        pub = ssh_pubkey
        if pub is None and self.ssh_key and os.path.exists(f"{self.ssh_key}.pub"):
            pub = f"{self.ssh_key}.pub"  # else libssh2 derives it from the private key
        self.ssh_pubkey = os.fspath(pub) if pub is not None else None
        self.passphrase = passphrase
        self.ssh_agent = ssh_agent
        self._check = certificate_check
        self.insecure = insecure

    def credentials(  # type: ignore[override]
        self, url: str, username_from_url: Optional[str], allowed_types: CredentialType
    ) -> Any:
        user = self.username or username_from_url
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and self.password is not None:
            return pygit2.UserPass(user or "", self.password)
        if allowed_types & CredentialType.SSH_KEY:
            if self.ssh_key:
                return pygit2.Keypair(user or "git", self.ssh_pubkey, self.ssh_key, self.passphrase)
            if self.ssh_agent:
                return pygit2.KeypairFromAgent(user or "git")
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(user or "git")
        raise pygit2.Passthrough  # pygit2's "no credentials from me"

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:  # type: ignore[override]
        if self.insecure:
            return True
        if self._check is not None:
            name = host.decode("utf-8", "replace") if isinstance(host, bytes) else str(host)
            return bool(self._check(name, valid))
        raise pygit2.Passthrough


class Session(pygit2.RemoteCallbacks):
    """One remote operation started at ``url``: the user's callbacks plus bookkeeping.

    Credentials are asked of ``inner`` only for ``url``'s host; a request
    from another one (after a redirect) stops with
    :class:`AuthenticationError`. A second request for the same kind of
    credential on the same URL means the first was refused, so it stops
    too instead of letting libgit2 retry.
    """

    def __init__(
        self,
        inner: Optional[pygit2.RemoteCallbacks],
        progress: Optional[ProgressCallback],
        listen: bool = False,
        url: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.progress = progress
        self.start_at(url)
        self.tips: RefUpdates = {}
        self.negotiated: RefUpdates = {}
        self.statuses: dict[str, Optional[str]] = {}
        self.server_said: list[str] = []  # what the server's hooks printed (when listening)
        self.auth_asked = False
        self.declined = False  # the user's callbacks had nothing to give
        self.cert_refused = False
        self._answered: set[tuple[str, int]] = set()
        # pygit2 calls into Python for every object received unless the
        # attribute is None; a 200,000-object clone spends a second there.
        for name, wanted in (
            ("transfer_progress", progress is not None),
            ("push_transfer_progress", progress is not None),
            ("sideband_progress", listen),
        ):
            if not wanted and not _overrides(inner, name):
                setattr(self, name, None)

    def start_at(self, url: Optional[str]) -> None:
        """The URL the operation starts at: only its host is given credentials."""
        self.url = url
        self.origin = origin(url)

    def credentials(  # type: ignore[override]
        self, url: str, username_from_url: Optional[str], allowed_types: CredentialType
    ) -> Any:
        self.auth_asked = True
        shown = redact(url)
        asking = origin(url)
        if self.origin is not None and asking is not None and asking != self.origin:
            raise AuthenticationError(
                f"{shown} asks for credentials: it is not the host the operation started at "
                f"({_where(self.origin)}; a redirect?), and credentials are given only to that one"
            )
        if self.inner is None and _has_password(url):  # libgit2 asks once the URL's own were refused
            raise AuthenticationError(f"{shown} refused the credentials given in the URL (wrong user or password?)")
        if self.inner is None:
            raise AuthenticationError(f"{shown} asks for credentials and none were given")
        try:
            cred = self.inner.credentials(url, username_from_url, allowed_types)
        except pygit2.Passthrough:
            self.declined = True
            raise
        key = (url, int(getattr(cred, "credential_type", 0)))
        if key in self._answered:
            raise AuthenticationError(f"{shown} refused the credentials (wrong user, password, token or key?)")
        self._answered.add(key)
        return cred

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:  # type: ignore[override]
        if self.inner is None:
            raise pygit2.Passthrough
        ok = self.inner.certificate_check(certificate, valid, host)
        if not ok:
            self.cert_refused = True
        return ok

    def transfer_progress(self, stats: Any) -> None:
        if self.inner is not None:
            self.inner.transfer_progress(stats)
        if self.progress is not None:
            if stats.total_deltas and stats.received_objects == stats.total_objects:
                done, total, phase = stats.indexed_deltas, stats.total_deltas, "resolving"
            else:
                done, total, phase = stats.received_objects, stats.total_objects, "receiving"
            self.progress(Progress(phase, done, total, stats.received_bytes))

    def push_transfer_progress(self, objects_pushed: int, total_objects: int, bytes_pushed: int) -> None:
        if self.inner is not None:
            self.inner.push_transfer_progress(objects_pushed, total_objects, bytes_pushed)
        if self.progress is not None:
            self.progress(Progress("sending", objects_pushed, total_objects, bytes_pushed))

    def sideband_progress(self, string: str) -> None:
        if self.inner is not None:
            self.inner.sideband_progress(string)
        self.server_said.append(string)

    def update_tips(self, refname: str, old: pygit2.Oid, new: pygit2.Oid) -> None:
        if self.inner is not None:
            self.inner.update_tips(refname, old, new)
        first = self.tips.get(refname, (_none(old), None))[0]
        self.tips[refname] = (first, _none(new))

    def push_negotiation(self, updates: list[Any]) -> None:
        if self.inner is not None:
            self.inner.push_negotiation(updates)
        for update in updates:
            self.negotiated[update.dst_refname] = (_none(update.src), _none(update.dst))

    def push_update_reference(self, refname: str, message: Optional[str]) -> None:
        if self.inner is not None:
            self.inner.push_update_reference(refname, message)  # type: ignore[arg-type]
        self.statuses[refname] = message

    def custom_headers(self) -> Optional[list[str]]:
        return self.inner.custom_headers() if self.inner is not None else None

    def error(self, exc: Exception, action: str, url: Optional[str]) -> GitModelError:
        """The gitmodel exception for libgit2's ``exc`` (URLs redacted).

        :class:`AuthenticationError` only for what says so for certain: an
        HTTP 401 or 403, libgit2's authentication error, or credentials
        that were asked for and replayed; anything else is a
        :class:`RemoteError` with libgit2's words.
        """
        text = str(exc)
        where = f"{action} {url}" if url else action
        key = origin(url)
        secure = key is not None and key[0] in ("https", "ssh", "ssh+git", "git+ssh")
        low = text.lower()
        if self.cert_refused or isinstance(exc, pygit2.CertificateError) or (
            secure and ("certificate" in low or "hostkey" in low or "host key" in low)
        ):
            return CertificateError(redact(f"{where}: the server's certificate or host key was refused ({text})"))
        if isinstance(exc, pygit2.AuthError):
            if self.declined and _has_password(url):
                why = "the credentials given in the URL were refused"
            elif self.declined or not self.auth_asked:
                why = "the server asks for credentials and none were given"
            else:
                why = "the credentials were refused"
            return AuthenticationError(redact(f"{where}: authentication failed: {why} ({text})"))
        denied = _DENIED.fullmatch(text.strip())
        if denied:
            return AuthenticationError(redact(f"{where}: the server refused access (HTTP {denied.group(1)})"))
        if self.auth_asked and text.strip() == _REPLAYS:
            return AuthenticationError(redact(f"{where}: the server refused the credentials ({text})"))
        return RemoteError(redact(f"{where} failed: {text}"))


def _overrides(callbacks: Optional[pygit2.RemoteCallbacks], name: str) -> bool:
    """True when ``callbacks`` does something of its own in callback ``name``."""
    if callbacks is None:
        return False
    own = getattr(callbacks, name, None)
    return own is not None and getattr(own, "__func__", None) is not getattr(pygit2.RemoteCallbacks, name)


def _none(oid: Optional[pygit2.Oid]) -> Optional[pygit2.Oid]:
    return None if oid is None or oid == ZERO_OID else oid


#: a server that stops answering fails the transfer after this long (ms);
#: applied when the process has set no timeout of its own (libgit2 has none)
SERVER_TIMEOUT_MS = 120_000
SERVER_CONNECT_TIMEOUT_MS = 30_000


def _bound_waits() -> None:
    """Give libgit2's network reads and connects a bound, unless set already."""
    settings = pygit2.settings
    if not settings.server_timeout:
        settings.server_timeout = SERVER_TIMEOUT_MS
    if not settings.server_connect_timeout:
        settings.server_connect_timeout = SERVER_CONNECT_TIMEOUT_MS


def session(
    callbacks: Any, progress: Optional[ProgressCallback], url: Optional[str], listen: bool = False
) -> Session:
    """A :class:`Session` for an operation started at ``url`` with the user's ``callbacks``."""
    _bound_waits()
    if callbacks is not None and not isinstance(callbacks, pygit2.RemoteCallbacks):
        kind = type(callbacks).__name__
        raise ConfigurationError(f"callbacks must be a pygit2.RemoteCallbacks, not {kind}")
    return Session(callbacks, progress, listen, url)
