"""``__regex`` and ``__iregex``: the texts ``re.search`` finds, in time
linear in the text (a pattern that backtracks exponentially in ``re``
still answers at once), and what cannot be matched so refused."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel import FieldError, Q, Workspace, fields

TEXTS = ["", "a", "ab", "ba", "Ab", "aab", "abab", "a\n", "\na", "a\nb", "a b", "_a1", "1", "12b", "b_",
         "é", "É", "aÉb", "ſ", "s", "K", "k", "ß", "a\n\n", " ", "\n", "bbb", "aaaa",
         "\u0130", "\u0131", "i", "I", "\u212a", "\u00b5", "\u03bc"]  # İ ı, the Kelvin sign, µ μ

ATOMS = ["a", "b", "A", "s", "k", ".", "[ab]", "[^a]", r"\w", r"\W", r"\d", r"\s", r"\S", r"\b", r"\B", "^",
         "$", r"\A", r"\Z", "1", "_", r"\n", "[a-c]", "é", "ſ", r"[^\w]", "[_\\d]", "i", "[A-Z]", "[h-j]",
         "\u00b5", "[^i]"]


def patterns() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(ATOMS)

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}|{p[1]})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?", "+?", "{0,2}", "{2,}"]))
            .map(lambda p: f"(?:{p[0]}){p[1]}"),
            inner.map(lambda p: f"(?i:{p})"),
        )

    body = st.recursive(leaves, grow, max_leaves=8)
    return st.tuples(st.sampled_from(["", "(?m)", "(?s)", "(?i)", "(?a)", "(?ai)"]), body).map("".join)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("regex") / "s.git")

    class Note(ws.GitModel):
        text = fields.CharField(required=False)
        slug = fields.CharField(index=True, required=False)
        rank = fields.IntegerField(default=0)
        extra = fields.JSONField(default=dict)

    for i, text in enumerate(TEXTS):
        Note(id=f"n{i:02d}", text=text, slug=text, rank=i, extra={"k": text}).save()
    Note(id="none", text=None, slug=None).save()
    ws.commit("notes")
    return ws, Note


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=patterns())
def test_the_texts_re_search_finds(store, pattern):
    ws, Note = store
    try:
        compiled = re.compile(pattern)
    except re.error:
        return
    want = sorted(f"n{i:02d}" for i, text in enumerate(TEXTS) if compiled.search(text))
    assert sorted(Note.filter(text__regex=pattern).ids()) == want
    assert sorted(Note.filter(slug__regex=pattern).ids()) == want  # an indexed field: the rows are read
    assert sorted(Note.filter(extra__k__regex=pattern).ids()) == want  # a key of a JSON field
    folded = re.compile(pattern, re.IGNORECASE)
    assert sorted(Note.filter(text__iregex=pattern).ids()) == sorted(
        f"n{i:02d}" for i, text in enumerate(TEXTS) if folded.search(text))


def searched(pattern, flags=0, among=None):
    return sorted(f"n{i:02d}" for i, text in enumerate(TEXTS)
                  if re.search(pattern, text, flags) and (among is None or among(i)))


def test_with_other_conditions(store):
    ws, Note = store
    assert sorted(Note.filter(text__regex=r"^a.?b$").ids()) == searched(r"^a.?b$") == ["n02", "n05", "n10", "n17"]
    assert sorted(Note.filter(text__iregex=r"^a.?b$").ids()) == searched(r"^a.?b$", re.I)
    assert "n04" in searched(r"^a.?b$", re.I)
    assert "none" in Note.exclude(text__regex="a").ids()  # a missing text does not match
    assert sorted(Note.filter(Q(text__regex="^b") | Q(rank=1)).ids()) == sorted({*searched("^b"), "n01"})
    assert Note.filter(text__regex="b", rank__gt=20).ids() == searched("b", among=lambda i: i > 20)
    assert Note.filter(rank__regex="1").ids() == []  # a number is not a text
    assert Note.filter(text__regex=r"a\nb").ids() == ["n09"]


@pytest.mark.parametrize("bad", [r"(a)\1", r"(?P<x>a)(?P=x)", "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b",
                                 r"(a)?(?(1)b|c)", "(?>a)", "a++", "a*+", "(", "[a", "a{2,1}", "*",
                                 "(?L)a", 5, None, b"a", "a{100000}", "(" * 500 + ")" * 500])
def test_what_is_refused(store, bad):
    ws, Note = store
    index = ws.index.id
    with pytest.raises(FieldError):
        Note.filter(text__regex=bad).ids()
    assert ws.index.id == index and not ws.has_changes()


CATASTROPHIC = r"""
import sys
from gitmodel import Workspace, fields
ws = Workspace.init(sys.argv[1])
class Note(ws.GitModel):
    text = fields.CharField()
Note(id="long", text="a" * 20_000 + "!").save()
Note(id="hit", text="a" * 20_000).save()
ws.commit("texts")
found = [sorted(Note.filter(text__regex=p).ids()) for p in (r"(a+)+$", r"(a|aa)+$", r"^(a|a?)+$", r"(.*a){12}!")]
print(found)
"""


def test_patterns_that_backtrack_exponentially_in_re(tmp_path):
    """Each of these takes ``re`` longer than the age of the universe on
    these texts; here each reads each character once or a few times."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(CATASTROPHIC), str(tmp_path / "s.git")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([["hit"], ["hit"], ["hit"], ["long"]])
