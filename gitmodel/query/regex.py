"""``__regex`` and ``__iregex``: Python's regular expressions, matched in
time linear in the text, as RE2 does.

Python's ``re`` backtracks: a pattern such as ``(a+)+$`` takes time
exponential in the text it reads, and the text of a query comes from the
repository, which may come from anyone. So a pattern is parsed by Python's
own parser (same syntax, same meaning as ``re.search``), compiled to a
Thompson automaton and run as a lazily built DFA: each character of the
text costs a dictionary lookup once the states it reaches are known, and
never more than one step over every state of the automaton.

What cannot be matched that way is refused with a ``FieldError``:
backreferences, lookahead and lookbehind, conditionals, atomic groups and
possessive repeats. Case-insensitive matching compares a character, its
lower case and its upper case.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # the case mapping re's compiler uses
import functools
import re
from re import _casefix  # type: ignore[attr-defined]
from typing import Any, Callable, Optional

from ..exceptions import FieldError

try:  # the parser ``re`` itself uses
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

__all__ = ["Pattern", "compile_pattern"]

#: the most automaton states a pattern may take (``a{1000}`` takes 1,000)
MAX_STATES = 20_000
#: DFA states kept per pattern before the cache starts again
MAX_DFA_STATES = 10_000
#: transitions kept per pattern (texts of many different characters): past
#: this, new ones are computed each time until the cache starts again
MAX_TRANSITIONS = 200_000

_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)
# what sits before or at a position, for the assertions ``^ $ \A \Z \b \B``
_EDGE, _NEWLINE, _LAST_NEWLINE, _WORD, _OTHER = range(5)

_REFUSED = {
    "GROUPREF": "a backreference",
    "GROUPREF_EXISTS": "a conditional group",
    "ASSERT": "a lookahead or lookbehind",
    "ASSERT_NOT": "a negative lookahead or lookbehind",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive repeat",
}


class Pattern:
    """A compiled pattern: :meth:`search` says whether it matches somewhere in a text."""

    def __init__(self, source: str, flags: int) -> None:
        self.source = source
        self.flags = flags
        self._kind: list[int] = []
        self._arg: list[Any] = []
        self._outs: list[tuple[int, ...]] = []
        self.uses_context = False  # whether an assertion looks at the neighbours
        parsed = _parse(source, flags)
        self.flags = parsed.state.flags  # with the pattern's own (?aimsx)
        self._ascii = bool(self.flags & re.ASCII)
        try:
            self._start = self._sequence(list(parsed), self._state(_MATCH), self.flags)
        except RecursionError:
            raise FieldError(f"regular expression {source!r} nests too deeply") from None
        first = parsed[0] if len(parsed) else None
        # ``^`` or ``\A`` first: a match can only start at the beginning
        self._anchored = first is not None and first[0] is _c.AT and (
            first[1] is _c.AT_BEGINNING_STRING or (first[1] is _c.AT_BEGINNING
                                                   and not self.flags & re.MULTILINE))
        #: a text that every match contains, checked first (``in`` runs in C)
        self._required = "" if self.flags & re.IGNORECASE else _required_text(list(parsed))
        self._dfa: dict[Any, list[Any]] = {}
        self._ids: dict[frozenset[int], int] = {}
        self._sets: list[frozenset[int]] = []
        self._transitions = 0
        self._initial = self._set_id(frozenset((self._start,)))  # always 0

    def __repr__(self) -> str:
        return f"<regex {self.source!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and (self.source, self.flags) == (other.source, other.flags)

    def __hash__(self) -> int:
        return hash((self.source, self.flags))

    # -- matching -----------------------------------------------------------------
    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text`` (as ``re.search``)."""
        if self._required and self._required not in text:
            return False
        dfa = self._dfa
        state = self._initial
        # two loops: this one, for patterns without ^ $ \b..., reads no neighbours
        if not self.uses_context:
            for char in text:
                node = dfa.get(state) or self._node(state, None)
                if node[0]:
                    return True
                state = node[2].get(char)
                if state is None:
                    state = self._step(node, char)
                if state < 0:
                    return False
            return (dfa.get(state) or self._node(state, None))[0]  # type: ignore[no-any-return]
        last = len(text) - 1
        before = _EDGE
        for at, char in enumerate(text):
            here = self._char_kind(char, at == last)
            key = (state, before, here)
            node = dfa.get(key) or self._node(state, (before, here))
            if node[0]:
                return True
            state = node[2].get(char)
            if state is None:
                state = self._step(node, char)
            if state < 0:
                return False
            before = _NEWLINE if here == _LAST_NEWLINE else here
        return (dfa.get((state, before, _EDGE)) or self._node(state, (before, _EDGE)))[0]  # type: ignore[no-any-return]

    def _char_kind(self, char: str, last: bool) -> int:
        if char == "\n":
            return _LAST_NEWLINE if last else _NEWLINE
        return _WORD if self._is_word(char) else _OTHER

    def _is_word(self, char: str) -> bool:
        if self._ascii:
            return char.isascii() and (char.isalnum() or char == "_")
        return char.isalnum() or char == "_"

    def _set_id(self, states: frozenset[int]) -> int:
        found = self._ids.get(states)
        if found is None:
            found = self._ids[states] = len(self._sets)
            self._sets.append(states)
        return found

    def _node(self, state: int, context: Optional[tuple[int, int]]) -> list[Any]:
        """``[matched, the states reached without reading, next state by character]``."""
        states = self._sets[state]
        if (len(self._dfa) >= MAX_DFA_STATES or len(self._sets) >= 2 * MAX_DFA_STATES
                or self._transitions >= MAX_TRANSITIONS):
            # start again (still one step over the automaton per character)
            self._dfa.clear()
            self._ids.clear()
            del self._sets[:]
            self._transitions = 0
            self._set_id(frozenset((self._start,)))
            state = self._set_id(states)
        closure = self._closure(states, context)
        node = [any(self._kind[s] == _MATCH for s in closure), closure, {}]
        self._dfa[state if context is None else (state, *context)] = node
        return node

    def _closure(self, states: frozenset[int], context: Optional[tuple[int, int]]) -> tuple[int, ...]:
        seen: set[int] = set()
        out = []
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            kind = self._kind[s]
            if kind == _SPLIT:
                stack.extend(reversed(self._outs[s]))
            elif kind == _ASSERT:
                assert context is not None
                if _holds(self._arg[s], context):
                    stack.append(self._outs[s][0])
            else:
                out.append(s)
        return tuple(out)

    def _step(self, node: list[Any], char: str) -> int:
        """The state after reading ``char`` from ``node`` (-1: no match can follow)."""
        reached = {self._outs[s][0] for s in node[1] if self._kind[s] == _CHAR and self._arg[s](char)}
        if not self._anchored:
            reached.add(self._start)  # a match may start at the next character
        nxt = self._set_id(frozenset(reached)) if reached else -1
        if self._transitions < MAX_TRANSITIONS:
            node[2][char] = nxt
            self._transitions += 1
        return nxt

    # -- building the automaton ---------------------------------------------------
    def _state(self, kind: int, arg: Any = None, outs: tuple[int, ...] = ()) -> int:
        if len(self._kind) >= MAX_STATES:
            raise FieldError(f"regular expression {self.source!r} is too large to match "
                             f"(more than {MAX_STATES:,} states)")
        self._kind.append(kind)
        self._arg.append(arg)
        self._outs.append(outs)
        return len(self._kind) - 1

    def _sequence(self, items: list[Any], nxt: int, flags: int) -> int:
        for op, av in reversed(items):
            nxt = self._item(op, av, nxt, flags)
        return nxt

    def _item(self, op: Any, av: Any, nxt: int, flags: int) -> int:
        name = op.name
        if name in _REFUSED:
            raise FieldError(f"regular expression {self.source!r} uses {_REFUSED[name]}, which "
                             "cannot be matched in time linear in the text")
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):  # lazy or greedy: the same texts match
            low, high, body = av
            return self._repeat(list(body), low, None if high is _c.MAXREPEAT else high, nxt, flags)
        if op is _c.SUBPATTERN:
            _group, add, remove, body = av
            return self._sequence(list(body), nxt, (flags | add) & ~remove)
        if op is _c.BRANCH:
            return self._state(_SPLIT, outs=tuple(self._sequence(list(b), nxt, flags) for b in av[1]))
        if op is _c.AT:
            if av in (_c.AT_BOUNDARY, _c.AT_NON_BOUNDARY, _c.AT_BEGINNING, _c.AT_END,
                      _c.AT_BEGINNING_STRING, _c.AT_END_STRING):
                self.uses_context = True
                return self._state(_ASSERT, (av, bool(flags & re.MULTILINE)), (nxt,))
        test = _char_test(op, av, flags)
        if test is None:
            raise FieldError(f"regular expression {self.source!r}: {name} is not supported here")
        return self._state(_CHAR, test, (nxt,))

    def _repeat(self, body: list[Any], low: int, high: Optional[int], nxt: int, flags: int) -> int:
        if high is None:  # body*: a loop through one split
            loop = self._state(_SPLIT)
            self._outs[loop] = (self._sequence(body, loop, flags), nxt)
            current = loop
        else:  # (body(body(...)?)?)? for the optional copies
            current = nxt
            for _ in range(high - low):
                current = self._state(_SPLIT, outs=(self._sequence(body, current, flags), nxt))
        for _ in range(low):
            current = self._sequence(body, current, flags)
        return current


def compile_pattern(pattern: Any, ignore_case: bool = False, lookup: str = "__regex") -> Pattern:
    """The :class:`Pattern` for a ``__regex`` argument; ``FieldError`` if it is not one."""
    if not isinstance(pattern, str):
        raise FieldError(f'"{lookup}" takes a regular expression as a string, not {pattern!r}')
    return Pattern(pattern, re.IGNORECASE if ignore_case else 0)


def _parse(source: str, flags: int) -> Any:
    try:
        re.compile(source, flags)  # the errors ``re`` reports, in its words
        return _parser.parse(source, flags)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise FieldError(f"not a regular expression: {source!r} ({exc})") from None


def _required_text(items: list[Any]) -> str:
    """The longest run of plain characters every match of ``items`` holds."""
    best, run = "", ""
    for op, av in items:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        best, run = max(best, run, key=len), ""
        if op is _c.SUBPATTERN and not av[1] & re.IGNORECASE:
            best = max(best, _required_text(list(av[3])), key=len)
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            best = max(best, _required_text(list(av[2])), key=len)
    return max(best, run, key=len)


def _holds(assertion: tuple[Any, bool], context: tuple[int, int]) -> bool:
    """Whether ``^ $ \\A \\Z \\b \\B`` holds between the characters of kinds ``context``."""
    code, multiline = assertion
    before, here = context
    if code is _c.AT_BEGINNING_STRING:
        return before == _EDGE
    if code is _c.AT_BEGINNING:
        return before == _EDGE or (multiline and before == _NEWLINE)
    if code is _c.AT_END_STRING:
        return here == _EDGE
    if code is _c.AT_END:  # at the end, or before a last newline (any newline if multiline)
        return here in (_EDGE, _LAST_NEWLINE) or (multiline and here == _NEWLINE)
    if before == here == _EDGE:  # an empty text: as ``re``, neither \b nor \B holds
        return False
    word_before, word_here = before == _WORD, here == _WORD
    return (word_before != word_here) == (code is _c.AT_BOUNDARY)


def _char_test(op: Any, av: Any, flags: int) -> Optional[Callable[[str], bool]]:
    """A test of one character for ``op``, or ``None`` if ``op`` is not a character's."""
    if op is _c.ANY:
        return (lambda c: True) if flags & re.DOTALL else (lambda c: c != "\n")
    if op is _c.LITERAL or op is _c.NOT_LITERAL:
        items = [(_c.LITERAL, av)]
        negate = op is _c.NOT_LITERAL
    elif op is _c.IN:
        items = list(av)
        negate = bool(items) and items[0][0] is _c.NEGATE
        if negate:
            items = items[1:]
    elif op is _c.CATEGORY:
        items, negate = [(op, av)], False
    else:
        return None
    tests = [_class_item(o, a, flags) for o, a in items]
    if any(t is None for t in tests):
        return None

    def plain(c: str) -> bool:
        return any(t(c) for t in tests)  # type: ignore[misc]

    matches = plain
    if flags & re.IGNORECASE and flags & re.ASCII:  # only ASCII letters fold, as in ``re``
        def matches(c: str) -> bool:
            return plain(c) or (c.isascii() and (plain(c.lower()) or plain(c.upper())))
    elif flags & re.IGNORECASE:
        def matches(c: str) -> bool:
            return any(plain(v) for v in _cases(c))

    return (lambda c: not matches(c)) if negate else matches


def _class_item(op: Any, av: Any, flags: int) -> Optional[Callable[[str], bool]]:
    if op is _c.LITERAL:
        char = chr(av)
        if flags & re.IGNORECASE and not flags & re.ASCII:  # "ſ" is an "s", "K" (kelvin) a "k"
            variants = _cases(char)
            return lambda c: c in variants
        return lambda c: c == char
    if op is _c.RANGE:
        low, high = chr(av[0]), chr(av[1])
        return lambda c: low <= c <= high
    if op is _c.CATEGORY:
        return _category(av.name, bool(flags & re.ASCII))
    return None


@functools.lru_cache(maxsize=4096)
def _cases(char: str) -> frozenset[str]:
    """The characters ``re`` takes for ``char`` under IGNORECASE: those of the
    same simple lower case (``İ`` and ``i``, the Kelvin sign and ``k``) and
    the pairs it folds besides (``ı`` and ``i``, ``ſ`` and ``s``), exactly as
    its compiler builds them (``_sre.unicode_tolower``, ``re._casefix``)."""
    lower = _sre.unicode_tolower(ord(char))
    keys = {lower, *_casefix._EXTRA_CASES.get(lower, ())}
    found = {k for k in keys if _sre.unicode_tolower(k) == k}
    for key in keys:
        found.update(_lowered_from().get(key, ()))
    return frozenset(map(chr, found | {ord(char)}))


@functools.lru_cache(maxsize=1)
def _lowered_from() -> dict[int, tuple[int, ...]]:
    """Lower case -> the code points whose simple lower case it is (built once,
    in about 0.1 s, the first time a case-insensitive pattern needs it)."""
    found: dict[int, list[int]] = {}
    for code in range(0x110000):
        lower = _sre.unicode_tolower(code)
        if lower != code:
            found.setdefault(lower, []).append(code)
    return {k: tuple(v) for k, v in found.items()}


def _category(name: str, ascii_only: bool) -> Optional[Callable[[str], bool]]:
    def digit(c: str) -> bool:
        return "0" <= c <= "9" if ascii_only else c.isdecimal()

    def space(c: str) -> bool:
        return c in " \t\n\r\f\v" if ascii_only else c.isspace()

    def word(c: str) -> bool:
        return (c.isascii() or not ascii_only) and (c.isalnum() or c == "_")

    base = {"DIGIT": digit, "SPACE": space, "WORD": word, "LINEBREAK": lambda c: c == "\n"}
    kind = name.removeprefix("CATEGORY_")
    negate = kind.startswith("NOT_")
    test = base.get(kind.removeprefix("NOT_").removeprefix("UNI_"))
    if test is None:
        return None
    return (lambda c: not test(c)) if negate else test  # type: ignore[misc]
