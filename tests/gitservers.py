"""Real git servers on 127.0.0.1 for tests and benchmarks.

- :class:`GitDaemon`: ``git daemon`` (git://) with push (receive-pack) enabled.
- :class:`GitHttpServer`: git's smart HTTP (``git http-backend``, a CGI
  program) behind a small threaded HTTP/1.1 server with basic
  authentication; run as its own process (``python gitservers.py http ...``).
- :class:`SshServer`: ``sshd`` with its own config and host keys on a high
  port, accepting one generated key for the current user.
- :class:`GitoliteServer`: gitolite's per-branch rules behind that ``sshd``.

Every server listens on a free port of the loopback address, runs in its own
process group and is stopped (or killed, to simulate a crash) by the caller.
"""

from __future__ import annotations

import argparse
import base64
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import unquote

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server did not listen on {HOST}:{port} within {timeout}s")


class _Server:
    proc: Optional[subprocess.Popen] = None
    port: int = 0

    def _spawn(self, argv: list[str], **kwargs) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=kwargs.pop("stderr", subprocess.DEVNULL),
            start_new_session=True,
            **kwargs,
        )
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        """Stop the server and everything it started."""
        self._signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)

    def kill(self) -> None:
        """Kill the server and its children at once, as a crash would."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(5)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        elif self.proc is not None:
            try:  # the leader is gone; children may remain in its group
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class GitDaemon(_Server):
    """``git daemon`` serving every repository below ``root``, push enabled."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = free_port()
        self._spawn(
            [
                "git", "daemon", "--reuseaddr", f"--listen={HOST}", f"--port={self.port}",
                f"--base-path={self.root}", "--export-all", "--enable=receive-pack",
                "--informative-errors", str(self.root),
            ]
        )

    def url(self, name: str) -> str:
        return f"git://{HOST}:{self.port}/{name}"


class GitHttpServer(_Server):
    """Smart HTTP for the repositories below ``root``, behind basic auth."""

    def __init__(
        self, root: Path, user: str = "alice", password: str = "s3cret", cut_after: int = 0
    ) -> None:
        self.root = Path(root)
        self.user, self.password = user, password
        port = self.port = free_port()
        argv = [
            sys.executable, os.path.abspath(__file__), "http", "--root", str(self.root),
            "--port", str(port), "--user", user, "--password", password,
        ]
        if cut_after:
            argv += ["--cut-after", str(cut_after)]
        self._spawn(argv)

    def url(self, name: str, with_user: bool = False) -> str:
        auth = f"{self.user}@" if with_user else ""
        return f"http://{auth}{HOST}:{self.port}/{name}"


class SshServer(_Server):
    """``sshd`` on a high port, as the current user, with its own keys.

    ``client_key`` is the private key it accepts (``client_key.pub`` beside it).
    """

    SSHD = "/usr/sbin/sshd"

    @classmethod
    def available(cls) -> bool:
        return os.path.exists(cls.SSHD) and shutil.which("ssh-keygen") is not None

    def __init__(self, workdir: Path, authorized_keys: Optional[str] = None) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key = self.dir / "host_ecdsa"
        self.client_key = self.dir / "client_ecdsa"
        for key in (self.host_key, self.client_key):
            make_key(key)
        if authorized_keys is None:
            authorized_keys = self.client_key.with_suffix(".pub").read_text()
        (self.dir / "authorized_keys").write_text(authorized_keys)
        port = self.port = free_port()
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    f"ListenAddress {HOST}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    f"AllowUsers {self.user}",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        if os.getuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
        self.log = self.dir / "sshd.log"
        self._spawn([self.SSHD, "-D", "-e", "-f", str(config)], stderr=open(self.log, "wb"))

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@{HOST}:{self.port}{Path(path).resolve()}"


def make_key(path: Path) -> Path:
    """A passphrase-less ECDSA key in PEM form (what libssh2 reads everywhere)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "", "-f", str(path)], check=True
    )
    return path


class GitoliteServer:
    """Gitolite (Debian's ``gitolite3``) behind :class:`SshServer`, set up inside ``workdir``.

    ``users`` get a key each (``keys[name]``); ``conf`` is the text of
    ``gitolite.conf`` (repositories and per-branch rules). Gitolite runs as
    the current user with its own home folder: the keys' forced commands
    point ``HOME`` there, so nothing outside ``workdir`` is touched.
    """

    SHELL = "/usr/share/gitolite3/gitolite-shell"

    @classmethod
    def available(cls) -> bool:
        return SshServer.available() and shutil.which("gitolite") is not None and os.path.exists(cls.SHELL)

    def __init__(self, workdir: Path, users: list[str], conf: str) -> None:
        self.dir = Path(workdir)
        self.home = self.dir / "home"
        self.home.mkdir(parents=True)
        keys = self.dir / "keys"
        keys.mkdir()
        self.keys = {name: make_key(keys / name) for name in ["admin", *users]}
        self._gitolite("setup", "-pk", str(self.keys["admin"].with_suffix(".pub")))
        keydir = self.home / ".gitolite" / "keydir"
        for name in users:
            shutil.copy(self.keys[name].with_suffix(".pub"), keydir / f"{name}.pub")
        (self.home / ".gitolite" / "conf" / "gitolite.conf").write_text(
            "repo gitolite-admin\n    RW+ = admin\n\n" + conf
        )
        self._gitolite("compile")
        self._gitolite("trigger", "POST_COMPILE")
        generated = (self.home / ".ssh" / "authorized_keys").read_text()
        forced = generated.replace(f'command="{self.SHELL} ', f'command="env HOME={self.home} {self.SHELL} ')
        self.ssh = SshServer(self.dir / "ssh", authorized_keys=forced)

    def _gitolite(self, *args: str) -> None:
        subprocess.run(
            ["gitolite", *args], check=True, capture_output=True, env={**os.environ, "HOME": str(self.home)}
        )

    def repository(self, name: str) -> Path:
        """The bare repository gitolite keeps for ``name``, as plain git sees it."""
        return self.home / "repositories" / f"{name}.git"

    def url(self, name: str) -> str:
        return f"ssh://{self.ssh.user}@{HOST}:{self.ssh.port}/{name}"

    def stop(self) -> None:
        self.ssh.stop()

    def __enter__(self) -> "GitoliteServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the smart HTTP server (runs in its own process) ------------------------------------


class GitHttpHandler(BaseHTTPRequestHandler):
    """Basic auth, then hand the request to ``git http-backend`` (CGI)."""

    protocol_version = "HTTP/1.1"
    server_version = "git-test-http/1.0"
    root = ""
    credentials = b""
    cut_after = 0

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._git()

    def do_POST(self) -> None:  # noqa: N802
        self._git()

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            return base64.b64decode(header[6:]) == self.credentials
        except ValueError:
            return False

    def _git(self) -> None:
        self.close_connection = True
        if not self._authorized():
            self._drain()
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "GIT_CONFIG_NOSYSTEM", "LANG")}
        env.update(
            GIT_PROJECT_ROOT=self.root,
            GIT_HTTP_EXPORT_ALL="1",
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.1",
            REQUEST_METHOD=self.command,
            PATH_INFO=unquote(path),
            QUERY_STRING=query,
            REMOTE_USER=self.credentials.split(b":")[0].decode(),
            REMOTE_ADDR=self.client_address[0],
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
        )
        if self.headers.get("Content-Length") is not None:
            env["CONTENT_LENGTH"] = self.headers["Content-Length"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.Popen(
            ["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        feeder = threading.Thread(target=self._feed, args=(proc,), daemon=True)
        feeder.start()
        try:
            self._respond(proc)
        finally:
            feeder.join(30)
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def _body_chunks(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def _drain(self) -> None:
        for _ in self._body_chunks():
            pass

    def _feed(self, proc: subprocess.Popen) -> None:
        try:
            for chunk in self._body_chunks():
                proc.stdin.write(chunk)
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def _respond(self, proc: subprocess.Popen) -> None:
        status, headers = 200, []
        while True:
            line = proc.stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        cut = self.cut_after if self.command == "POST" and "upload-pack" in self.path else 0
        while chunk := proc.stdout.read1(65536):
            if cut and sent + len(chunk) > cut:
                part = chunk[: max(1, cut - sent)]
                self.wfile.write(b"%x\r\n%s" % (len(chunk), part))  # promise more than is sent
                self.wfile.flush()
                proc.kill()
                # the server "goes away": drop the connection mid-response
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def serve_http(root: str, port: int, user: str, password: str, cut_after: int = 0) -> None:
    GitHttpHandler.root = os.path.abspath(root)
    GitHttpHandler.credentials = f"{user}:{password}".encode()
    GitHttpHandler.cut_after = cut_after
    server = ThreadingHTTPServer((HOST, port), GitHttpHandler)
    server.daemon_threads = True

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="git servers for tests")
    sub = parser.add_subparsers(dest="kind", required=True)
    http = sub.add_parser("http", help="smart HTTP with basic auth")
    http.add_argument("--root", required=True)
    http.add_argument("--port", type=int, required=True)
    http.add_argument("--user", default="alice")
    http.add_argument("--password", default="s3cret")
    http.add_argument("--cut-after", type=int, default=0, help="drop upload-pack responses after N bytes")
    args = parser.parse_args(argv)
    serve_http(args.root, args.port, args.user, args.password, args.cut_after)


if __name__ == "__main__":
    main()
