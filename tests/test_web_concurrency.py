"""Editors at once against a real uvicorn server: requests proceed in
parallel, each its own unit of work; a save that loses the race is merged
field by field or shown as a conflict, never lost."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
import httpx  # noqa: E402

from gitmodel.web import create_app  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402
from webapp import MODELS, Site, git, make_store  # noqa: E402

#: the application's models; the first submitted day of 1999-12-31 stops its
#: request (while the form is read, holding no lock) until the test releases it
SLOW_MODELS = MODELS + """
import threading

entered = threading.Event()
release = threading.Event()
_day = Article._meta.get_field("day")
_parse = _day.to_python


def _slow_parse(value):
    if value == "1999-12-31" and not entered.is_set():
        entered.set()
        release.wait(30)
    return _parse(value)


_day.to_python = _slow_parse
"""
WAIT = "1999-12-31"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_store(tmp_path / "store.git", articles=8)
    (tmp_path / "slow_models.py").write_text(SLOW_MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_models", raising=False)
    return tmp_path / "store.git"


@pytest.fixture
def server(store: Path) -> Iterator[str]:
    app = create_app(Workspace(store), models="slow_models")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        threading.Event().wait(0.025)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        sys.modules["slow_models"].release.set()
        server.should_exit = True
        thread.join(10)


def editor(url: str) -> Site:
    return Site(httpx.Client(base_url=url, timeout=60))


def in_parallel(*jobs: object) -> list[object]:
    """Run each job in its own thread, all released at once; their results."""
    results: list[object] = [None] * len(jobs)
    gate = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = jobs[i]()  # type: ignore[operator]
        except BaseException as exc:  # shown by the test's assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results


def commits(store: Path) -> int:
    return int(git(store, "rev-list", "--count", "HEAD"))


def test_a_slow_save_does_not_hold_up_another_editor(server: str, store: Path) -> None:
    slow = sys.modules["slow_models"]
    first, second = editor(server), editor(server)
    form = {**first.edit_form("Article", "a000"), "title": "Slow", "day": WAIT}
    waiting = threading.Thread(target=first.post, args=("/m/Article/o/a000/edit", form))
    waiting.start()
    assert slow.entered.wait(30)  # the first request is at work, in its own unit of work
    second.post("/m/Article/o/a001/edit", {**second.edit_form("Article", "a001"), "title": "Quick"})
    assert '"title": "Quick"' in git(store, "show", "HEAD:article/a001/data.json")
    assert '"title": "Article 0"' in git(store, "show", "HEAD:article/a000/data.json")
    slow.release.set()
    waiting.join(60)
    assert '"title": "Slow"' in git(store, "show", "HEAD:article/a000/data.json")
    assert '"title": "Quick"' in git(store, "show", "HEAD:article/a001/data.json")
    git(store, "fsck", "--strict")


def test_many_editors_saving_at_once_all_land(server: str, store: Path) -> None:
    before = commits(store)
    sites = [editor(server) for _ in range(8)]
    forms = [site.edit_form("Article", f"a00{i}") for i, site in enumerate(sites)]
    results = in_parallel(*(
        (lambda site=site, i=i, form=form: site.post(f"/m/Article/o/a00{i}/edit", {**form, "title": f"By {i}"}))
        for i, (site, form) in enumerate(zip(sites, forms))))
    assert all(isinstance(r, httpx.Response) and r.status_code == 303 for r in results), results
    assert commits(store) == before + 8
    for i in range(8):
        assert f'"title": "By {i}"' in git(store, "show", f"HEAD:article/a00{i}/data.json")
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""
    git(store, "fsck", "--strict")


def test_a_save_that_loses_the_race_on_other_fields_is_merged(server: str, store: Path) -> None:
    slow = sys.modules["slow_models"]
    first, second = editor(server), editor(server)
    mine, theirs = first.edit_form("Article", "a002"), second.edit_form("Article", "a002")
    waiting = threading.Thread(target=first.post, args=(
        "/m/Article/o/a002/edit", {**mine, "body": "My body", "day": WAIT}))
    waiting.start()
    assert slow.entered.wait(30)  # its unit of work stands on the commit before the other's
    second.post("/m/Article/o/a002/edit", {**theirs, "title": "Their title"})
    slow.release.set()
    waiting.join(60)
    data = git(store, "show", "HEAD:article/a002/data.json")
    assert '"title": "Their title"' in data and '"body": "My body"' in data and '"day": "1999-12-31"' in data
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""


def test_a_save_that_loses_the_race_on_the_same_field_sees_the_conflict(server: str, store: Path) -> None:
    slow = sys.modules["slow_models"]
    first, second = editor(server), editor(server)
    mine, theirs = first.edit_form("Article", "a003"), second.edit_form("Article", "a003")
    before = commits(store)
    outcome: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: outcome.append(first.post(
        "/m/Article/o/a003/edit", {**mine, "title": "Mine", "day": WAIT}, status=409)))
    waiting.start()
    assert slow.entered.wait(30)
    second.post("/m/Article/o/a003/edit", {**theirs, "title": "Theirs"})
    slow.release.set()
    waiting.join(60)
    assert outcome, "the losing save did not answer 409"
    page = outcome[0].text
    assert 'id="conflict"' in page and "Theirs" in page and 'value="Mine"' in page  # nothing lost
    assert '"title": "Theirs"' in git(store, "show", "HEAD:article/a003/data.json")
    assert commits(store) == before + 1
    assert git(store, "for-each-ref", "refs/gitmodel/merge") == ""  # no merge left open
    assert "A merge is open" not in first.get("/")
