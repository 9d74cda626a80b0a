"""``gitmodel serve``: the admin as a command."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, Optional

import click

from ..exceptions import GitModelError
from ..workspace import Workspace
from . import DEFAULT_UPLOAD_LIMIT, create_app
from .security import hash_password, is_loopback

#: the environment variable that may hold the password hash instead of an option
HASH_VARIABLE = "GITMODEL_ADMIN_PASSWORD_HASH"


def _root_params(ctx: click.Context) -> dict[str, Any]:
    """The options given to the command line itself (``-C``, ``--models``), if any."""
    params = dict(ctx.find_root().params) if ctx.parent is not None else {}
    obj = ctx.find_root().obj
    if isinstance(obj, dict):
        params.update({k: v for k, v in obj.items() if v is not None})
    else:
        for key in ("repo", "path", "directory", "models"):
            value = getattr(obj, key, None)
            if value is not None:
                params.setdefault(key, value)
    return params


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@click.command("serve")
@click.option("-C", "repo", default=None, help="The repository (default: the current folder).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="The port (0: any free one).")
@click.option("--models", default=None, help="The application's models module (default: the stored schema).")
@click.option("--password-hash", default=None, envvar=HASH_VARIABLE,
              help=f"Require this password (a hash from --hash-password; or ${HASH_VARIABLE}).")
@click.option("--hash-password", "make_hash", is_flag=True,
              help="Read a password on standard input, print its hash and exit.")
@click.option("--upload-limit", type=int, default=DEFAULT_UPLOAD_LIMIT, show_default=True,
              help="The largest request body accepted, in bytes.")
@click.pass_context
def serve(ctx: click.Context, repo: Optional[str], host: str, port: int, models: Optional[str],
          password_hash: Optional[str], make_hash: bool, upload_limit: int) -> None:
    """Serve the web admin for a repository; prints its URL first."""
    if make_hash:
        click.echo(hash_password(sys.stdin.readline().rstrip("\n")))
        return
    root = _root_params(ctx)
    repo = repo or root.get("repo") or root.get("path") or root.get("directory") or os.getcwd()
    models = models or root.get("models")
    if not is_loopback(host) and not password_hash:
        raise click.UsageError(
            f"serving {host} (not this machine only) needs a password: pass --password-hash "
            f"(made with --hash-password) or set {HASH_VARIABLE}")
    import uvicorn

    if models:
        sys.path.insert(0, os.getcwd())
    try:
        ws = Workspace(repo)
        app = create_app(ws, models, password_hash=password_hash, upload_limit=upload_limit)
    except (GitModelError, ImportError) as exc:
        raise click.ClickException(str(exc)) from None
    if port == 0:
        port = _free_port(host)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"http://{shown}:{port}/", nl=True)
    sys.stdout.flush()
    uvicorn.run(app, host=host, port=port, log_level="warning")
