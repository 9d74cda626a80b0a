"""What the web admin trusts, through the real application: who may reach it
without a password (the Host header and the client's address), the cookies
it reads, the secrets in remote URLs, and commits written by others (dates
no calendar holds, encodings no codec reads): never a leak, a lock-out or a
server error."""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pygit2
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from gitmodel.transport import redact  # noqa: E402
from gitmodel.web import create_app, create_wsgi_app, hash_password  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from attacker import HOSTILE_SIGNATURES as HOSTILE, hostile_commit  # noqa: E402
from webapp import Site, git, hidden, make_store  # noqa: E402

TOKEN = "ghp_SECRETTOKEN123"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_store(tmp_path / "store.git")
    return tmp_path / "store.git"


def client_for(store: Path, client: tuple[str, int] = ("127.0.0.1", 50000), **kwargs: Any) -> TestClient:
    return TestClient(create_app(Workspace(store), **kwargs), base_url="http://127.0.0.1", client=client)


def flashes(page: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'class="flash \w+">([^<]*)<', page)]


# -- who may reach it without a password ------------------------------------------------
@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.2", "2001:db8::1", "::ffff:203.0.113.9"])
def test_without_a_password_a_client_of_another_machine_is_refused_whatever_its_host_header(
        store: Path, address: str) -> None:
    client = client_for(store, (address, 4321))
    for url in ("/", "/m/Article/o/a000/edit", "/log"):
        response = client.get(url)
        assert response.status_code == 403 and "only this machine" in response.text, url
    assert client.post("/branches/create", data={"name": "x"}).status_code == 403
    assert "refs/heads/x" not in git(store, "for-each-ref")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_a_password_a_client_of_this_machine_is_served(store: Path, address: str) -> None:
    assert client_for(store, (address, 4321)).get("/").status_code == 200


def test_with_a_password_a_client_of_another_machine_is_served_with_the_password(store: Path) -> None:
    client = client_for(store, ("203.0.113.9", 4321), password_hash=hash_password("correct horse"))
    assert client.get("/").status_code == 401
    assert client.get("/", auth=("editor", "correct horse")).status_code == 200


def wsgi_call(app: Any, remote: str, host: str = "127.0.0.1") -> str:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/m/Article/o/a000/edit", "QUERY_STRING": "",
               "SERVER_NAME": "cms.example", "SERVER_PORT": "80", "REMOTE_ADDR": remote, "HTTP_HOST": host,
               "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1"}
    answer: dict[str, Any] = {}
    b"".join(app(environ, lambda status, headers: answer.update(status=status)))
    return str(answer["status"])


def test_mounted_as_wsgi_a_remote_client_claiming_host_127_0_0_1_is_refused(store: Path) -> None:
    app = create_wsgi_app(Workspace(store))
    assert wsgi_call(app, "203.0.113.9").startswith("403")
    assert wsgi_call(app, "203.0.113.9", host="cms.example").startswith("421")
    assert wsgi_call(app, "127.0.0.1").startswith("200")


def test_served_by_the_command_a_client_a_local_proxy_forwards_is_refused(store: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "gitmodel.web", "-C", str(store), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip().rstrip("/")
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        forwarded = urllib.request.Request(url + "/", headers={"X-Forwarded-For": "203.0.113.9"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forwarded, timeout=5)
        assert refused.value.code == 403
        local = urllib.request.Request(url + "/", headers={"X-Forwarded-For": "127.0.0.1"})
        assert urllib.request.urlopen(local, timeout=5).status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- cookies ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [("old_gitmodel_csrf_hint", "1"), ("gitmodel_csrf_x", "y"),
                                         ("gitmodel_csrf", "")])
def test_a_cookie_that_only_looks_like_the_csrf_cookie_does_not_lock_the_editor_out(
        store: Path, name: str, value: str) -> None:
    client = client_for(store)
    client.cookies.set(name, value, domain="127.0.0.1", path="/")
    page = client.get("/m/Article/o/a000/edit")
    assert "gitmodel_csrf=" in page.headers.get("set-cookie", "")
    site = Site(client)
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "Saved"})
    assert '"title": "Saved"' in git(store, "show", "HEAD:article/a000/data.json")


# -- secrets in remote URLs -------------------------------------------------------------
def test_a_token_given_as_the_user_name_of_a_remote_url_is_never_shown(store: Path) -> None:
    base = ["git", "--git-dir", str(store)]
    subprocess.run(base + ["remote", "add", "origin", f"https://{TOKEN}@127.0.0.1:9/hub.git"], check=True)
    subprocess.run(base + ["config", "branch.master.remote", "origin"], check=True)
    subprocess.run(base + ["config", "branch.master.merge", "refs/heads/master"], check=True)
    site = Site(client_for(store))
    page = site.get("/remotes")
    assert TOKEN not in page and "https://***@127.0.0.1:9/hub.git" in page
    site.post("/remotes/push")
    site.post("/remotes/pull")
    shown = site.get("/remotes")
    assert TOKEN not in shown and "***@127.0.0.1" in shown


def test_redact_hides_passwords_and_the_user_name_of_http_urls() -> None:
    assert redact(f"push to https://{TOKEN}@host/x failed") == "push to https://***@host/x failed"
    assert redact(f"HTTP://{TOKEN}@host and git+https://{TOKEN}@h/") == "HTTP://***@host and git+https://***@h/"
    assert redact("https://user:pw@host/x") == "https://user:***@host/x"
    assert redact("http://alice@example.com:s3cret@host/x") == "http://alice@example.com:***@host/x"
    assert redact("ssh://git@host/x and git@host:x and https://host/a@b") == \
        "ssh://git@host/x and git@host:x and https://host/a@b"


# -- names that are not Latin-1 ---------------------------------------------------------
def test_an_editor_named_outside_latin_1_saves_merges_and_pulls_and_is_remembered(
        tmp_path: Path, store: Path) -> None:
    hub = tmp_path / "hub.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(store), str(hub)], check=True)
    ws = Workspace(store)
    ws.add_remote("origin", str(hub))
    ws.fetch()
    ws.set_upstream("origin/master")
    ws.create_branch("other")
    client = TestClient(create_app(Workspace(store)), base_url="http://127.0.0.1", raise_server_exceptions=False)
    site = Site(client)
    who = {"author_name": "王芳 Ωmega", "author_email": "wang@example.com"}
    site.post("/m/Article/o/a000/edit", {**site.edit_form("Article", "a000"), "title": "新", **who})
    assert git(store, "log", "-1", "--format=%an").strip() == "王芳 Ωmega"
    assert 'value="王芳 Ωmega"' in site.get("/m/Article/o/a001/edit")  # remembered for the next form
    site.post("/branches/merge", {"name": "other", **who})
    site.post("/remotes/pull", who)
    assert "Pulled:" in " ".join(flashes(site.get("/remotes")))
    assert 'value="王芳 Ωmega"' in site.get("/branches")


# -- commits written by others ----------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_commit_with_a_date_or_encoding_no_one_can_read_is_shown_on_every_page(store: Path, kind: str) -> None:
    who, extra = HOSTILE[kind]
    git(store, "branch", "side")
    hostile = hostile_commit(store, who, extra)
    pygit2.Repository(str(store)).references.create("refs/tags/mallory", hostile)
    site = Site(TestClient(create_app(Workspace(store)), base_url="http://127.0.0.1",
                           raise_server_exceptions=False))
    for url in ("/", "/compare?other=side", "/m/Article/o/a000/edit", f"/m/Article/o/a000?at={hostile}"):
        site.get(url)
    for url, table in (("/log", "log"), ("/branches", "branches"), ("/tags", "tags"),
                       ("/m/Article/o/a000", "history")):
        rows = site.get(url).split(f'id="{table}"')[1].split("</table>")[0]
        assert "hostile" in rows, url  # the message, decoded with replacement characters if need be
        if "date" in kind and table in ("log", "history"):
            assert "(no valid date)" in rows, url
    blame = site.get("/m/Article/o/a000").split("<th>title</th>")[1].split("</tr>")[0]
    assert "Changed by Mallory" in blame and "Mall" in blame


def test_a_stale_form_and_a_merge_against_a_hostile_commit_are_shown(store: Path) -> None:
    site = Site(TestClient(create_app(Workspace(store)), base_url="http://127.0.0.1",
                           raise_server_exceptions=False))
    stale = site.edit_form("Article", "a000")
    git(store, "branch", "side")
    hostile_commit(store, *HOSTILE["date"])
    hostile_commit(store, *HOSTILE["encoding"], branch="side", title="Mallory's other title")
    conflict = site.post("/m/Article/o/a000/edit", {**stale, "title": "Mine"}, status=409)
    assert "Someone else changed this object" in conflict.text and "(no valid date)" in conflict.text
    site.post("/branches/merge", {"name": "side"})
    page = site.get("/merge")
    assert "left 1 conflict(s)" in " ".join(flashes(page)) and 'id="resolve-form"' in page
    assert "Mallory&#39;s other title" in page
