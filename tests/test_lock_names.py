"""Every object that can be saved can be locked; lock timeouts are numbers."""

from __future__ import annotations

import pytest

from gitmodel import LockWaitTimeoutExceeded, ValidationError, fields
from gitmodel.workspace import Workspace
from test_locks import start_holder

#: ids that save and read back, but that git refuses as (part of) a ref name
REFUSED_IN_REFS = ["hello world", "v1..v2", "notes.lock", "x~1", "a^b", "[draft]", "a@{b", "dot..dot"]


def pages(ws: Workspace) -> type:
    return type("Page", (ws.GitModel,), {"__module__": __name__, "slug": fields.CharField(id=True)})


def lock_refs(run_git, path) -> list[str]:
    return run_git(path, "for-each-ref", "--format=%(refname)", "refs/locks/").split()


@pytest.mark.parametrize("ident", REFUSED_IN_REFS)
def test_an_object_whose_id_git_refuses_in_a_ref_can_be_locked(bare_repo_path, run_git, ident) -> None:
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    page = Page(slug=ident)
    page.save(commit=True)
    with Page.get(ident).lock(timeout=1):
        held = lock_refs(run_git, bare_repo_path)
        assert len(held) == 1 and held[0].startswith("refs/locks/page-/")
        with pytest.raises(LockWaitTimeoutExceeded):  # the same object, another instance: excluded
            with page.lock(timeout=0.1):
                pass
    assert lock_refs(run_git, bare_repo_path) == []
    run_git(bare_repo_path, "fsck", "--strict")


def test_ordinary_ids_keep_their_lock_names_and_distinct_ids_never_share_one(bare_repo_path, run_git) -> None:
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    for ident in ("intro", "a b", "a_b", "a-b"):
        Page(slug=ident).save()
    ws.commit("pages")
    with Page.get("intro").lock(timeout=1):  # the name earlier versions used: they still exclude each other
        assert lock_refs(run_git, bare_repo_path) == ["refs/locks/page-intro"]
    with Page.get("a b").lock(timeout=1), Page.get("a_b").lock(timeout=1), Page.get("a-b").lock(timeout=1):
        assert len(set(lock_refs(run_git, bare_repo_path))) == 3


def test_an_encoded_object_lock_excludes_another_process(bare_repo_path) -> None:
    ws = Workspace(bare_repo_path)
    Page = pages(ws)
    Page(slug="v1..v2").save(commit=True)
    name = "page-/" + "v1..v2".encode().hex()
    holder = start_holder(bare_repo_path, name)
    try:
        with pytest.raises(LockWaitTimeoutExceeded, match=str(holder.pid)):
            with Page.get("v1..v2").lock(timeout=0.2):
                pass
    finally:
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait(10)
    with Page.get("v1..v2").lock(timeout=1):
        assert ws.locked(name)


@pytest.mark.parametrize("timeout", [float("nan"), -1, "5", None.__class__, True])
def test_a_timeout_that_is_not_a_number_of_seconds_is_refused(bare_repo_path, timeout) -> None:
    ws = Workspace(bare_repo_path)
    with pytest.raises(ValidationError, match="timeout must be a number of seconds"):
        with ws.lock("job", timeout=timeout):
            pass
    assert not ws.locked("job")
    with pytest.raises(ValidationError, match="lock_timeout"):
        Workspace(bare_repo_path, lock_timeout=timeout)
    with pytest.raises(ValidationError, match="lock_timeout"):
        ws.lock_timeout = timeout
    with pytest.raises(ValidationError, match="stale_lock_age"):
        Workspace(bare_repo_path, stale_lock_age=timeout)
    with ws.lock("job", timeout=float("inf")):  # no limit: allowed
        assert ws.locked("job")
