"""How the command line prints: tables and colour on a terminal, plain
tab-separated text when piped, JSON with ``--json``; progress bars for long
work on a terminal only."""

from __future__ import annotations

import datetime
import json
import sys
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Callable, Iterator, Optional, Sequence

import click
import pygit2

from ..models import GitModel

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
AT_OPTION = click.option("--at", "at", metavar="REV", help="Read at this branch, tag or commit.")


def on_terminal() -> bool:
    return sys.stdout.isatty()


def _console() -> Any:
    from rich.console import Console

    return Console()


def jsonable(value: Any) -> Any:
    """A JSON value for any value a field holds (dates in ISO 8601, Decimals as strings)."""
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
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def text(value: Any) -> str:
    """How a value is shown in a table cell."""
    value = jsonable(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def print_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), ensure_ascii=False, indent=2, sort_keys=False))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: Optional[str] = None) -> None:
    """Aligned columns on a terminal, tab-separated lines (with a header) when piped."""
    if on_terminal():
        from rich.table import Table

        t = Table(title=title, show_lines=False, header_style="bold cyan")
        for column in columns:
            t.add_column(column, overflow="fold")
        for row in rows:
            t.add_row(*(_escape(text(v)) for v in row))
        _console().print(t)
        return
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join(text(v).replace("\t", " ").replace("\n", " ") for v in row))


def fields_list(pairs: Sequence[tuple[str, Any]]) -> None:
    """``name: value`` lines, names aligned (bold on a terminal)."""
    width = max((len(name) for name, _ in pairs), default=0)
    for name, value in pairs:
        label = f"{name}:".ljust(width + 1)
        click.echo(f"{click.style(label, bold=True) if on_terminal() else label} {text(value)}")


def say(message: str, colour: Optional[str] = None) -> None:
    click.echo(click.style(message, fg=colour) if colour and on_terminal() else message)


def _escape(value: str) -> str:
    from rich.markup import escape

    return str(escape(value))


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


def commit_info(commit: pygit2.Commit) -> dict[str, Any]:
    """A commit as the JSON output shows it."""
    author = commit.author
    when = datetime.datetime.fromtimestamp(
        author.time, datetime.timezone(datetime.timedelta(minutes=author.offset)))
    return {"commit": str(commit.id), "author": f"{author.name} <{author.email}>",
            "date": when.isoformat(), "message": commit.message.rstrip("\n")}


def object_fields(obj: GitModel) -> dict[str, Any]:
    """Field name -> JSON value of one object, in field order."""
    return {f.name: jsonable(getattr(obj, f.name)) for f in obj._meta.fields if f.serialize}
