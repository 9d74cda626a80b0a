"""Every commit and tag gitmodel writes passes ``git fsck --strict``: names,
e-mails, messages and ref names from strangers are checked before anything
is written, and a refusal names what is wrong."""

from __future__ import annotations

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attacker import fsck, git
from gitmodel import InvalidReferenceName, ValidationError, fields
from gitmodel.exceptions import ConfigurationError, RepositoryError
from gitmodel.validation import IDENTITY_TRIMMED
from gitmodel.workspace import Workspace

BAD_TEXT = ["a\nb", "a\rb", "x\x00y", "<x", "x>", "<>", "a\x1bb", "tab\there", "\x7f", "a\ud800"]
BAD_IDENTITIES = (
    [(bad, "e@example.com") for bad in BAD_TEXT]
    + [("Name", bad) for bad in BAD_TEXT]
    + [("", "e@example.com"), ("   ", "e@example.com"), ("n", ""), ("n", " "), (None, "e"), ("n", 5)]
    + [("Eve\nauthor Mallory <m@x> 0 +0000", "e@example.com")]
)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.init(tmp_path / "store.git")

    class Page(ws.GitModel):
        title = fields.CharField(required=False)

    Page(id="first", title="one").save(commit=True, message="first")
    Page(id="second", title="two").save()  # pending
    return ws


def unchanged(ws: Workspace, head: pygit2.Oid) -> bool:
    return ws.branch.oid == head and ws.has_changes() and fsck(ws.path).returncode == 0


@pytest.mark.parametrize("identity", BAD_IDENTITIES, ids=repr)
@pytest.mark.parametrize("role", ["author", "committer"])
def test_bad_identities_are_refused_before_anything_is_written(ws, identity, role):
    head = ws.branch.oid
    objects = git(ws.path, "count-objects", "-v").stdout
    with pytest.raises(ValidationError) as exc:
        ws.commit("x", **{role: identity})
    assert git(ws.path, "count-objects", "-v").stdout == objects  # not even a tree
    assert exc.value.field == role and role in str(exc.value)
    assert unchanged(ws, head)


@pytest.mark.parametrize("name", ["a\nb", "x<y"])
def test_a_hostile_user_name_in_the_repository_config_is_refused(ws, name):
    ws.repo.config["user.name"] = name
    ws.repo.config["user.email"] = "e@example.com"
    head = ws.branch.oid
    with pytest.raises(ValidationError, match="author"):
        ws.commit("x")
    assert unchanged(ws, head)
    assert Workspace(ws.path).branch.oid == head  # the repository still opens


def test_signature_objects_are_checked_too(ws):
    head = ws.branch.oid
    with pytest.raises(ValidationError, match="committer"):
        ws.commit("x", committer=pygit2.Signature("a\nb", "e@example.com"))
    assert unchanged(ws, head)


@pytest.mark.parametrize("message", ["a\x00b", "\x00", "x\ud800", b"bytes", 5])
def test_messages_git_cannot_store_are_refused(ws, message):
    head = ws.branch.oid
    with pytest.raises(ValidationError) as exc:
        ws.commit(message)
    assert exc.value.field == "message"
    assert unchanged(ws, head)


@pytest.mark.parametrize("message", ["", "one line", "sub\n\nbody\n", "cr\r\nlf", "é😀\u202e", "x" * 100_000])
def test_odd_but_valid_messages_pass_fsck(ws, message):
    assert ws.commit(message) is not None
    assert fsck(ws.path).returncode == 0
    assert Workspace(ws.path).branch.commit.message == message


BAD_REF_NAMES = ["", "a..b", "a b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", ".x", "x.",
                 "x.lock", "a//b", "/a", "a/", "a@{b", "a\x00b", "a\nb", "a\x7fb", "\ud800", 5, None]


@pytest.mark.parametrize("name", BAD_REF_NAMES, ids=repr)
def test_bad_ref_names_raise_one_error_class_everywhere(ws, name):
    ws.commit("second")
    refs_before = sorted(ws.repo.references)
    calls = [
        lambda: ws.create_branch(name),
        lambda: ws.set_branch(name),
        lambda: ws.delete_branch(name),
        lambda: ws.create_tag(name),
        lambda: ws.create_tag(name, message="annotated"),
        lambda: ws.delete_tag(name),
        lambda: ws.lock(name, timeout=0).__enter__(),
        lambda: ws.locked(name),
        lambda: ws.break_lock(name),
    ]
    if name:  # no initial branch means "the branch HEAD names"
        calls.append(lambda: Workspace(ws.path, initial_branch=name))
    for call in calls:
        with pytest.raises(InvalidReferenceName) as exc:
            call()
        assert isinstance(exc.value, (ConfigurationError, RepositoryError, ValidationError))
        assert repr(name)[:10].strip("'") in str(exc.value) or name in ("", None, 5)
    assert sorted(ws.repo.references) == refs_before


@pytest.mark.parametrize("tagger", [("a\nb", "e"), ("n", "e>"), ("", "e")])
def test_bad_taggers_and_tag_messages_are_refused(ws, tagger):
    from gitmodel import history

    with pytest.raises(ValidationError, match="tagger"):
        history.create_tag(ws, "v1", message="release", tagger=tagger)
    with pytest.raises(ValidationError, match="tag message"):
        ws.create_tag("v1", message="a\x00b")
    assert "refs/tags/v1" not in ws.repo.references


def test_merge_messages_are_checked(ws):
    ws.commit("second")
    ws.create_branch("other")
    with pytest.raises(ValidationError):
        ws.merge("other", message="a\x00b")
    assert fsck(ws.path).returncode == 0


# -- property: any identity and message either is refused or passes fsck -------------------
text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("<>\n\r\x00 "), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=text, email=text, message=text)
def test_any_identity_is_refused_or_passes_fsck(ws, name, email, message):
    head = ws.branch.oid
    try:
        commit = ws.commit(message, author=(name, email))
    except ValidationError as exc:
        assert exc.field in ("author", "message")
        assert ws.branch.oid == head and ws.has_changes()
        return
    try:
        assert commit is not None
        assert fsck(ws.path).returncode == 0, fsck(ws.path).stderr
        reopened = Workspace(ws.path).branch.commit
        # the identity is stored as libgit2 records it (it trims blanks and, in
        # names, some punctuation), and never left empty
        recorded = pygit2.Signature(name, email)
        assert (reopened.author.name, reopened.author.email) == (recorded.name, recorded.email)
        assert reopened.author.name.strip(IDENTITY_TRIMMED) and reopened.author.email.strip(IDENTITY_TRIMMED)
    finally:
        # back to one pending save for the next example
        ws.repo.references["refs/heads/master"].set_target(head)
        ws.refresh()
        ws.models["Page"](id="second", title="two").save()
