"""The admin mounted inside a web application, behind a real server, as the
web applications guide shows it: the Django project of ``examples/`` (its
WSGI application, served by the standard library's WSGI server in a process
of its own) and the guide's FastAPI application (``api.mount``, served by
uvicorn). Each edit goes through the mounted admin's form, CSRF token
included, is checked with plain git, and is read back through the site."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("starlette")
import httpx  # noqa: E402

from gitmodel import fields  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from test_guides import guide_code  # noqa: E402
from webapp import Site, git  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DJANGO_SITE = ROOT / "examples" / "django_site.py"


@pytest.fixture
def django_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    pytest.importorskip("django")
    store = tmp_path / "site.git"
    ws = Workspace.init(store)

    class Page(ws.GitModel):
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        body = fields.CharField(required=False)

    Page(slug="home", title="Welcome").save(commit=True, message="First page", author=("Ann", "ann@example.com"))
    env = {**os.environ, "GITMODEL_REPOSITORY": str(store),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, str(DJANGO_SITE), "0"], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, (tmp_path / "server.log").read_text())
        yield url.rstrip("/"), store
    finally:
        server.terminate()
        server.wait(10)


def test_the_django_project_serves_its_view_and_the_mounted_admin(django_site: tuple[str, Path]) -> None:
    url, store = django_site
    assert httpx.get(f"{url}/pages/home").json() == {"slug": "home", "title": "Welcome"}
    assert httpx.get(f"{url}/pages/nowhere").status_code == 404
    site = Site(httpx.Client(base_url=f"{url}/cms", timeout=30))
    home = site.get("/")
    assert 'href="/cms/m/Page"' in home
    form = site.edit_form("Page", "home")
    saved = site.post("/m/Page/o/home/edit", {**form, "title": "Edited in the admin", "message": "Retitle home"})
    assert saved.headers["location"] == "/cms/m/Page/o/home"
    assert git(store, "log", "--format=%s|%an", "-2").splitlines() == ["Retitle home|Editor", "First page|Ann"]
    assert json.loads(git(store, "show", "HEAD:page/home/data.json"))["fields"]["title"] == "Edited in the admin"
    assert httpx.get(f"{url}/pages/home").json() == {"slug": "home", "title": "Edited in the admin"}
    head = git(store, "rev-parse", "HEAD")
    site.client.cookies.clear()
    forged = site.client.post("/m/Page/o/home/edit", data={**form, "title": "Forged", "csrf_token": "x"})
    assert forged.status_code == 403 and git(store, "rev-parse", "HEAD") == head
    assert httpx.get(f"{url}/pages/home").json()["title"] == "Edited in the admin"
    git(store, "fsck", "--strict")


@pytest.fixture
def guide_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, object]]]:
    """The web applications guide run to its end, its FastAPI application
    (the admin mounted at /admin) then served by uvicorn."""
    for package in ("flask", "fastapi", "uvicorn"):
        pytest.importorskip(package)
    import tempfile

    import uvicorn

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the guide's folder lands here
    namespace: dict[str, object] = {"__name__": "guide"}
    exec(compile(guide_code("web-applications.rst"), "web-applications.rst", "exec"), namespace)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(namespace["api"], host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        threading.Event().wait(0.025)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", namespace
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_guides_fastapi_mount_behind_uvicorn(guide_api: tuple[str, dict[str, object]]) -> None:
    url, guide = guide_api
    store = Path(str(guide["folder"])) / "site.git"
    assert httpx.get(f"{url}/admin/").status_code == 401  # the guide gave it a password
    site = Site(httpx.Client(base_url=f"{url}/admin", auth=("editor", "correct horse"), timeout=30))
    assert 'href="/admin/m/Page"' in site.get("/")
    form = site.edit_form("Page", "about")
    saved = site.post("/m/Page/o/about/edit", {**form, "title": "About the site", "message": "Retitle about"})
    assert saved.headers["location"] == "/admin/m/Page/o/about"
    assert git(store, "log", "-1", "--format=%s|%an") == "Retitle about|Editor\n"
    assert json.loads(git(store, "show", "HEAD:page/about/data.json"))["fields"]["title"] == "About the site"
    assert httpx.get(f"{url}/pages/about").json() == {"title": "About us"}  # the published snapshot
    ws = guide["ws"]
    ws.delete_tag("published")  # type: ignore[attr-defined]
    ws.create_tag("published")  # type: ignore[attr-defined]
    assert httpx.get(f"{url}/pages/about").json() == {"title": "About the site"}
    put = httpx.put(f"{url}/pages/contact", json={"title": "Contact"})
    assert put.json() == {"saved": "contact"}
    assert git(store, "log", "-1", "--format=%s|%an") == "Put contact|API\n"
    git(store, "fsck", "--strict")
