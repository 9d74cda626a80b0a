"""What keeps the admin safe as a web server: credentials hashed at rest,
CSRF tokens on every write, a limit on request bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from typing import Optional

from ..exceptions import ConfigurationError

#: scrypt cost: about 50 ms per check, once per credential (then remembered)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
CSRF_COOKIE = "gitmodel_csrf"
CSRF_FIELD = "csrf_token"


def hash_password(password: str) -> str:
    """``scrypt$<salt>$<hash>``: what :func:`create_app` takes as ``password_hash``."""
    if not password:
        raise ConfigurationError("the admin password must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_hash_format(password_hash: str) -> None:
    """``ConfigurationError`` unless ``password_hash`` came from :func:`hash_password`."""
    parts = password_hash.split("$")
    try:
        ok = (len(parts) == 3 and parts[0] == "scrypt" and len(base64.b64decode(parts[2], validate=True)) == 32
              and len(base64.b64decode(parts[1], validate=True)) == 16)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigurationError("the admin password hash is not one made by hash_password()")


def ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``host`` as an IP address (``[::1]`` too); ``ValueError`` if it is none."""
    return ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (``::ffff:127.0.0.1`` too)."""
    if host == "localhost":
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class Credentials:
    """Checks a password or token against its hash; remembers good ones by
    a keyed digest only, so the plain secret is never kept."""

    def __init__(self, password_hash: str) -> None:
        check_hash_format(password_hash)
        _, salt, digest = password_hash.split("$")
        self._salt = base64.b64decode(salt)
        self._digest = base64.b64decode(digest)
        self._key = secrets.token_bytes(32)
        self._known: set[bytes] = set()

    def check(self, secret: Optional[str]) -> bool:
        if not secret:
            return False
        mark = hmac.new(self._key, secret.encode(), "sha256").digest()
        if mark in self._known:
            return True
        digest = hashlib.scrypt(secret.encode(), salt=self._salt, dklen=32, **_SCRYPT)
        if hmac.compare_digest(digest, self._digest):
            if len(self._known) < 64:
                self._known.add(mark)
            return True
        return False


def secret_from_header(header: Optional[str]) -> Optional[str]:
    """The password of ``Basic`` credentials or a ``Bearer`` token."""
    if not header:
        return None
    kind, _, value = header.partition(" ")
    if kind.lower() == "bearer":
        return value.strip() or None
    if kind.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(cookie: Optional[str], submitted: Optional[str]) -> bool:
    """The double-submit check: the form's token equals the cookie's."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(str(cookie), str(submitted))
