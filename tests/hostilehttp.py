"""A smart-HTTP git server on 127.0.0.1 that misbehaves on purpose.

It is :class:`gitservers.GitHttpHandler` (``git http-backend`` behind basic
authentication) with one misbehaviour per ``mode``:

- ``pack``: answers every upload-pack request with the pack in ``--pack``
  (for instance one that lacks objects the advertised refs need);
- ``redirect``: sends every request to ``--target`` + the same path;
- ``loop``: redirects every request to itself;
- ``status``: answers every request with HTTP ``--status``;
- ``log``: serves normally, writing each request's ``Authorization``
  header (or ``-``) to ``--log``.

Only ``log`` asks for credentials (``alice`` / ``s3cret``). Run as its own
process through :class:`HostileHttp`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from gitservers import HOST, GitHttpHandler, _Server, free_port

USER, PASSWORD = "alice", "s3cret"


def pkt_line(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


class HostileHandler(GitHttpHandler):
    mode = "log"
    pack = b""
    target = ""
    status = 500
    log = ""

    def _authorized(self) -> bool:
        return super()._authorized() if self.mode == "log" else True

    def _git(self) -> None:
        if self.mode == "log":
            with open(self.log, "a", encoding="utf-8") as fh:
                fh.write(f"{self.command} {self.path} {self.headers.get('Authorization') or '-'}\n")
        elif self.mode in ("redirect", "loop"):
            location = self.target + self.path if self.mode == "redirect" else self.path
            return self._answer(302, b"", [("Location", location)])
        elif self.mode == "status":
            return self._answer(self.status, b"no\n", [("Content-Type", "text/plain")])
        elif self.mode == "pack" and self.command == "POST" and "upload-pack" in self.path:
            body = pkt_line(b"NAK\n")
            for i in range(0, len(self.pack), 65000):
                body += pkt_line(b"\x01" + self.pack[i : i + 65000])  # side band 1: pack data
            return self._answer(200, body + b"0000", [("Content-Type", "application/x-git-upload-pack-result")])
        super()._git()

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.close_connection = True
        self._drain()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class HostileHttp(_Server):
    """The misbehaving server for the repositories below ``root``."""

    def __init__(
        self, root: Path, mode: str, *, pack: Optional[Path] = None, target: str = "",
        status: int = 500, log: Optional[Path] = None,
    ) -> None:
        self.port = free_port()
        argv = [sys.executable, os.path.abspath(__file__), "--root", str(root), "--port", str(self.port),
                "--mode", mode, "--target", target, "--status", str(status)]
        if pack is not None:
            argv += ["--pack", str(pack)]
        if log is not None:
            argv += ["--log", str(log)]
        self._spawn(argv)

    def url(self, name: str = "data.git", host: str = HOST) -> str:
        return f"http://{host}:{self.port}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", required=True, choices=["pack", "redirect", "loop", "status", "log"])
    parser.add_argument("--pack", default="")
    parser.add_argument("--target", default="")
    parser.add_argument("--status", type=int, default=500)
    parser.add_argument("--log", default=os.devnull)
    args = parser.parse_args()
    HostileHandler.root = os.path.abspath(args.root)
    HostileHandler.credentials = f"{USER}:{PASSWORD}".encode()
    HostileHandler.mode, HostileHandler.target, HostileHandler.status = args.mode, args.target, args.status
    HostileHandler.log = args.log
    HostileHandler.pack = Path(args.pack).read_bytes() if args.pack else b""
    server = ThreadingHTTPServer((HOST, args.port), HostileHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
