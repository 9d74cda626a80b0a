"""The admin as a WSGI application, to mount in Flask, Django or any WSGI server.

The ASGI application runs on an event loop of its own, in a background
thread; each WSGI request is handed to it and waited for. The request body
is read from ``wsgi.input`` as the admin asks for it (so the upload limit
refuses a large body before it is read), and ``SCRIPT_NAME`` (where the
admin is mounted) becomes its root path: its links and redirects stay under
the mount point.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Iterable, Optional

from starlette.types import ASGIApp, Message

#: bytes read from ``wsgi.input`` at a time
CHUNK = 64 * 1024

StartResponse = Callable[..., Any]


class WSGIBridge:
    """Serve the ASGI application ``app`` to a WSGI server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the admin runs on (started on first use)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="gitmodel-admin", daemon=True).start()
                self._loop = loop
            return self._loop

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scope = http_scope(environ)
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        left = int(length) if length.isdigit() else None  # None: read to the end
        loop = self.loop
        status: list[Any] = []
        body: list[bytes] = []

        async def receive() -> Message:
            nonlocal left
            size = CHUNK if left is None else min(CHUNK, left)
            data = await loop.run_in_executor(None, stream.read, size) if size else b""
            if left is not None:
                left -= len(data)
            more = bool(data) and (left is None or left > 0)
            return {"type": "http.request", "body": data, "more_body": more}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message)
            elif message["type"] == "http.response.body":
                body.append(bytes(message.get("body", b"")))

        async def answer() -> None:
            await self.app(scope, receive, send)

        asyncio.run_coroutine_threadsafe(answer(), loop).result()
        if not status:
            raise RuntimeError("the admin sent no response")
        start = status[0]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        start_response(f"{start['status']} {reason(start['status'])}", headers)
        return [b"".join(body)]


def http_scope(environ: dict[str, Any]) -> dict[str, Any]:
    """The ASGI scope of a WSGI request (``SCRIPT_NAME`` is the root path)."""
    def text(raw: str) -> str:  # WSGI gives the path's bytes as latin-1 text
        return raw.encode("latin-1").decode("utf-8", "replace")

    root = text(environ.get("SCRIPT_NAME", ""))
    path = root + text(environ.get("PATH_INFO", ""))
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-").lower()
        else:
            continue
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    port = environ.get("REMOTE_PORT") or "0"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").removeprefix("HTTP/"),
        "method": environ["REQUEST_METHOD"].upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": root,
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "client": (environ.get("REMOTE_ADDR", ""), int(port) if str(port).isdigit() else 0),
        "server": (environ.get("SERVER_NAME", ""), int(environ.get("SERVER_PORT") or 0)),
        "state": {},
    }


def reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
