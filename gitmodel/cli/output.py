"""How the command line prints: tables and colour on a terminal, plain
tab-separated text when piped, JSON with ``--json``; progress bars for long
work on a terminal only. Everything printed goes through :func:`clean`:
data from a repository never writes a control sequence to the terminal."""

from __future__ import annotations

import datetime
import json
import re
import sys
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Callable, Iterator, Optional, Sequence

import click
import pygit2

from ..git.signatures import readable, signed_at, who
from ..models import GitModel

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
AT_OPTION = click.option("--at", "at", metavar="REV", help="Read at this branch, tag or commit.")


#: bidirectional controls (embeddings, overrides, isolates, marks) and the
#: line and paragraph separators: they reorder or break what follows them on
#: screen, so that a printed value reads as something else ("Trojan Source")
_INVISIBLE = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
#: C0 controls, DEL and C1 controls: ESC (and C1's CSI, OSC) starts the
#: sequences that retitle a terminal, clear it or write its clipboard
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE}]")
_JSON_RAW = re.compile(f"[\\x7f-\\x9f{_INVISIBLE}]")  # json.dumps escapes C0 itself


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(value: str, keep: str = "") -> str:
    """``value`` safe to print: each control character not in ``keep``
    (``"\\n"`` where a format has line breaks) shown as ``\\xNN``, and each
    bidirectional control or line separator as ``\\uNNNN``."""
    if not _CONTROL.search(value):
        return value
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escaped(m.group()), value)


def echo(line: str = "", keep: str = "", err: bool = False) -> None:
    """Print ``line`` (:func:`clean`, keeping the controls in ``keep``)."""
    click.echo(clean(line, keep), err=err)


def on_terminal() -> bool:
    return sys.stdout.isatty()


def _console() -> Any:
    from rich.console import Console

    return Console()


#: how deep a value is shown: a list or dict nested deeper (which no field
#: accepts, but a data file another tool wrote may hold, and history shows
#: values as stored) is shown as :data:`TOO_DEEP`, so that printing it
#: never exhausts Python's recursion limit
SHOWN_DEPTH = 200
TOO_DEEP = f"<nested deeper than {SHOWN_DEPTH} levels>"


def jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON value for any value a field holds (dates in ISO 8601, Decimals
    as strings; lists and dicts past :data:`SHOWN_DEPTH` levels as :data:`TOO_DEEP`)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, pygit2.Oid):
        return str(value)
    if isinstance(value, GitModel):
        return jsonable(value.get_id())
    if isinstance(value, (dict, list, tuple, set, frozenset)) and _depth >= SHOWN_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, _depth + 1) for v in value]
    return str(value)


def text(value: Any) -> str:
    """How a value is shown in a table cell."""
    value = jsonable(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def print_json(data: Any) -> None:
    """``data`` as JSON; DEL, C1 and bidirectional controls written as
    ``\\uNNNN`` escapes (equal JSON)."""
    out = json.dumps(jsonable(data), ensure_ascii=False, indent=2, sort_keys=False)
    click.echo(_JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", out))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: Optional[str] = None) -> None:
    """Aligned columns on a terminal, tab-separated lines (with a header) when piped."""
    if on_terminal():
        from rich.table import Table
        from rich.text import Text

        t = Table(title=title, show_lines=False, header_style="bold cyan")
        for column in columns:
            t.add_column(Text(clean(column)), overflow="fold")
        for row in rows:  # Text: no [markup] or :emoji: of the data is interpreted
            t.add_row(*(Text(clean(text(v), keep="\t\n")) for v in row))
        _console().print(t)
        return
    click.echo("\t".join(clean(c) for c in columns))
    for row in rows:  # one line per row, tab-separated: a tab or line break of a value is a space
        click.echo("\t".join(clean(text(v).replace("\t", " ").replace("\n", " ")) for v in row))


def fields_list(pairs: Sequence[tuple[str, Any]]) -> None:
    """``name: value`` lines, names aligned (bold on a terminal)."""
    width = max((len(name) for name, _ in pairs), default=0)
    for name, value in pairs:
        label = clean(f"{name}:".ljust(width + 1))
        value_text = clean(text(value), keep="\t\n")
        click.echo(f"{click.style(label, bold=True) if on_terminal() else label} {value_text}")


def say(message: str, colour: Optional[str] = None) -> None:
    """One line (:func:`clean`), in ``colour`` on a terminal."""
    message = clean(message)
    click.echo(click.style(message, fg=colour) if colour and on_terminal() else message)


@contextmanager
def progress(label: str, enabled: bool = True) -> Iterator[Callable[[int, Optional[int]], None]]:
    """``update(done, total)`` for a progress bar on stderr's terminal (a no-op elsewhere)."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: Optional[int]) -> None:
            bar.update(task, completed=done, total=total)

        yield update


#: what a commit whose date no calendar holds shows (``null`` in ``--json``)
NO_DATE = "(no valid date)"


def first_line(commit: pygit2.Commit) -> str:
    """The first line of a commit's message (readable whatever its encoding)."""
    message = readable(lambda: commit.message, commit.raw_message)
    return message.splitlines()[0] if message else ""


def commit_info(commit: pygit2.Commit) -> dict[str, Any]:
    """A commit as the JSON output shows it."""
    when = signed_at(commit.author)  # None: a date no calendar holds (a hostile commit)
    return {"commit": str(commit.id), "author": who(commit.author),
            "date": when.isoformat() if when is not None else None,
            "message": readable(lambda: commit.message, commit.raw_message).rstrip("\n")}


def object_fields(obj: GitModel) -> dict[str, Any]:
    """Field name -> JSON value of one object, in field order."""
    return {f.name: jsonable(getattr(obj, f.name)) for f in obj._meta.fields if f.serialize}
