"""The web admin: browse, edit, history, branches and merges in a browser.

Needs the ``web`` extra (``pip install 'gitmodel[web]'``); ``import
gitmodel`` never imports it. :func:`create_app` gives an ASGI application
to serve with any ASGI server or mount in an application::

    from gitmodel.web import create_app
    app = create_app(ws)                 # or create_app(ws, models="myapp.models")

:func:`create_wsgi_app` gives the same admin as a WSGI application (Flask,
Django, any WSGI server).
"""

from __future__ import annotations

from typing import Any, Optional

from ..workspace import Workspace
from .security import hash_password, is_loopback

#: the largest request body (uploads included) the admin accepts, in bytes
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def create_app(
    ws: Workspace,
    models: Optional[str] = None,
    *,
    password_hash: Optional[str] = None,
    upload_limit: int = DEFAULT_UPLOAD_LIMIT,
) -> Any:
    """The admin for ``ws`` as an ASGI application.

    ``models`` is the dotted name of the application's models module; models
    stored in the repository without a class there are read through their
    stored schema. With ``password_hash`` (from :func:`hash_password`) every
    request needs that password (HTTP Basic, any user name) or token
    (``Authorization: Bearer``); without it, only requests addressed to
    127.0.0.1/localhost from a loopback client address are answered (behind
    a reverse proxy, every request comes from the proxy: set a password).
    """
    from .app import build

    return build(ws, models, upload_limit, password_hash)


def create_wsgi_app(
    ws: Workspace,
    models: Optional[str] = None,
    *,
    password_hash: Optional[str] = None,
    upload_limit: int = DEFAULT_UPLOAD_LIMIT,
) -> Any:
    """The admin of :func:`create_app` as a WSGI application: mount it in a
    WSGI application under a prefix (``SCRIPT_NAME`` is its root path), for
    example with werkzeug's ``DispatcherMiddleware`` in Flask."""
    from .wsgi import WSGIBridge

    return WSGIBridge(create_app(ws, models, password_hash=password_hash, upload_limit=upload_limit))


__all__ = ["create_app", "create_wsgi_app", "hash_password", "is_loopback", "DEFAULT_UPLOAD_LIMIT"]
