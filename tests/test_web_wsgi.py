"""The admin mounted in a WSGI application (Flask, under ``/admin``) and
served by a real WSGI server: links, redirects, uploads, the size limit and
credentials all hold under the mount point."""

from __future__ import annotations

import socketserver
import threading
from pathlib import Path
from typing import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

pytest.importorskip("starlette")
flask = pytest.importorskip("flask")
import httpx  # noqa: E402
from werkzeug.middleware.dispatcher import DispatcherMiddleware  # noqa: E402

from gitmodel.web import create_wsgi_app, hash_password  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from webapp import PNG, Site, git, make_store  # noqa: E402


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(app: object) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingServer, handler_class=QuietHandler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def flask_site(store: Path, **admin: object) -> flask.Flask:
    app = flask.Flask("site")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"site": "flask"}

    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/admin": create_wsgi_app(Workspace(store), **admin)})  # type: ignore[arg-type]
    return app


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_store(tmp_path / "store.git")
    return tmp_path / "store.git"


@pytest.fixture
def url(store: Path) -> Iterator[str]:
    yield from serve(flask_site(store, upload_limit=64 * 1024))


def test_the_mounted_admin_edits_under_its_prefix(url: str, store: Path) -> None:
    site = Site(httpx.Client(base_url=url + "/admin", timeout=30))
    assert httpx.get(url + "/hello").json() == {"site": "flask"}
    home = site.get("/")
    assert 'href="/admin/m/Article"' in home and 'src="/admin/static/htmx.min.js"' in home
    assert httpx.get(url + "/admin/static/htmx.min.js").headers["content-type"] == "application/javascript"
    form = site.edit_form("Article", "a001")
    response = site.post("/m/Article/o/a001/edit", {**form, "title": "Through Flask"},
                         files={"image": ("pic.png", PNG, "image/png")})
    assert response.headers["location"] == "/admin/m/Article/o/a001"
    page = site.get("/m/Article/o/a001")
    assert "Through Flask" in page and 'src="/admin/m/Article/o/a001/blob/image"' in page
    assert site.client.get("/m/Article/o/a001/blob/image").content == PNG
    assert '"title": "Through Flask"' in git(store, "show", "HEAD:article/a001/data.json")
    assert git(store, "log", "-1", "--format=%an%n%ae").split() == ["Editor", "editor@example.com"]
    assert site.get("/m/Nothing", status=404)


def test_the_mounted_admin_keeps_its_limits_and_tokens(url: str, store: Path) -> None:
    before = git(store, "rev-parse", "HEAD")
    site = Site(httpx.Client(base_url=url + "/admin", timeout=30))
    form = site.edit_form("Article", "a000")
    too_big = site.post("/m/Article/o/a000/edit", {**form, "title": "Big"}, status=413,
                        files={"image": ("big.png", PNG + b"\x00" * 100_000, "image/png")})
    assert "larger than the limit" in too_big.text
    site.client.cookies.clear()
    forged = site.client.post("/m/Article/o/a000/edit", data={**form, "title": "Forged", "csrf_token": "x"})
    assert forged.status_code == 403
    assert httpx.get(url + "/admin/", headers={"Host": "evil.example"}).status_code == 421
    assert git(store, "rev-parse", "HEAD") == before


def test_a_mounted_admin_with_a_password_asks_for_it(store: Path) -> None:
    for url in serve(flask_site(store, password_hash=hash_password("s3cret"))):
        assert httpx.get(url + "/admin/").status_code == 401
        assert httpx.get(url + "/admin/", auth=("any", "wrong")).status_code == 401
        assert httpx.get(url + "/admin/", auth=("any", "s3cret"), headers={"Host": "cms.example"}).status_code == 200
        assert httpx.get(url + "/hello").status_code == 200


def test_editors_at_once_through_the_mount(url: str, store: Path) -> None:
    before = int(git(store, "rev-list", "--count", "HEAD"))
    sites = [Site(httpx.Client(base_url=url + "/admin", timeout=60)) for _ in range(3)]
    forms = [site.edit_form("Article", f"a00{i}") for i, site in enumerate(sites)]
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            sites[i].post(f"/m/Article/o/a00{i}/edit", {**forms[i], "title": f"Parallel {i}"})
        except BaseException as exc:  # shown below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert int(git(store, "rev-list", "--count", "HEAD")) == before + 3
    for i in range(3):
        assert f'"title": "Parallel {i}"' in git(store, "show", f"HEAD:article/a00{i}/data.json")
