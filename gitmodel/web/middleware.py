"""The admin's guard, around every request: credentials, the size limit on
bodies, the CSRF cookie and security headers."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import security

#: host names a loopback-only admin answers to (guards against DNS rebinding)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class Guard:
    """An ASGI wrapper that refuses what the admin must never serve."""

    def __init__(self, app: ASGIApp, admin: Any) -> None:
        self.app = app
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        admin = self.admin
        if admin.credentials is None:
            host = headers.get("host", "").rsplit(":", 1)[0] if not headers.get("host", "").endswith("]") \
                else headers.get("host", "")
            if host not in LOCAL_HOSTS:
                await PlainTextResponse("this admin answers only on 127.0.0.1", 421)(scope, receive, send)
                return
            if not local_client(scope.get("client")):
                await PlainTextResponse("without a password this admin answers only this machine", 403)(
                    scope, receive, send)
                return
        elif not admin.credentials.check(security.secret_from_header(headers.get("authorization"))):
            await PlainTextResponse("credentials required", 401, headers={
                "WWW-Authenticate": 'Basic realm="gitmodel admin", charset="UTF-8"'})(scope, receive, send)
            return
        limit = admin.upload_limit
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await PlainTextResponse(f"the request is larger than the limit of {limit} bytes", 413)(
                scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise TooLarge()
            return message

        cookie_missing = not cookie_parser(headers.get("cookie") or "").get(security.CSRF_COOKIE)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                from .app import CSP

                out.setdefault("Content-Security-Policy", CSP)
                out.setdefault("X-Content-Type-Options", "nosniff")
                out.setdefault("X-Frame-Options", "DENY")
                out.setdefault("Referrer-Policy", "same-origin")
                token = scope.get("state", {}).get("csrf")
                if cookie_missing and token:
                    out.append("set-cookie", f"{security.CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
            await send(message)

        await self.app(scope, counted, secured)


def local_client(client: Any) -> bool:
    """True unless the server says the request came from an IP address of
    another machine. A client the server does not name by an IP address (a
    Unix socket, an in-process test client) is this machine; behind a
    reverse proxy on this machine every request comes from the proxy."""
    if not client or not client[0]:
        return True
    host = str(client[0])
    try:
        security.ip_address(host)
    except ValueError:
        return True  # not a network address
    return security.is_loopback(host)


class TooLarge(Exception):
    """A request body past the upload limit."""
