"""``log``, ``diff``, ``blame``, ``revert``, ``restore``: history of the data."""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Optional

import click
import pygit2
from pygit2.enums import SortMode

from ..versions.changes import ObjectChange
from ..exceptions import ReferenceNotFound
from ..workspace import Workspace
from .context import CliState, get_model
from .output import (AT_OPTION, JSON_OPTION, NO_DATE, commit_info, echo, first_line, jsonable, print_json, say,
                     table, text)

pass_state = click.make_pass_decorator(CliState)
MESSAGE_OPTION = click.option("-m", "--message", metavar="MSG", help="The commit message.")


def _commit(ws: Workspace, rev: str) -> pygit2.Commit:
    target = ws.resolve_treeish(rev)
    if not isinstance(target, pygit2.Commit):
        raise ReferenceNotFound(rev, f"{rev!r} does not name a commit")
    return target


def _commits(ws: Workspace, at: Optional[str]) -> Iterator[pygit2.Commit]:
    if at is None:
        return ws.walk()
    from ..objects import walking  # a history that loops is an error, not a cut log

    return walking(ws.repo, _commit(ws, at).id, SortMode.TOPOLOGICAL | SortMode.TIME)


def _touches(commit: pygit2.Commit, folder: str) -> bool:
    """Whether ``commit`` changed ``folder`` against each of its parents (``git log -- folder``)."""
    def entry(c: pygit2.Commit) -> Optional[pygit2.Oid]:
        try:
            return c.tree[folder].id
        except KeyError:
            return None

    now = entry(commit)
    parents = commit.parents
    return all(entry(p) != now for p in parents) if parents else now is not None


@click.command()
@click.argument("model_name", required=False, metavar="[MODEL")
@click.argument("object_id", required=False, metavar="[ID]]")
@click.option("-n", "limit", type=click.IntRange(min=0), metavar="N", help="At most N commits.")
@AT_OPTION
@JSON_OPTION
@pass_state
def log(state: CliState, model_name: Optional[str], object_id: Optional[str], limit: Optional[int],
        at: Optional[str], as_json: bool) -> None:
    """Commits, newest first; for an object, those that changed it and the fields each changed."""
    ws = state.workspace(treeish=at if object_id else None)  # the object read in REV's schema
    entries: list[dict[str, Any]] = []
    if object_id is not None:
        model = get_model(ws, model_name)  # type: ignore[arg-type]
        for version in itertools.islice(model.history(object_id, treeish=at), limit):
            entries.append({**commit_info(version.commit), "change": version.change,
                            "fields": {k: [jsonable(a), jsonable(b)] for k, (a, b) in version.changes.items()}})
    else:
        commits = _commits(ws, at)
        if model_name is not None:
            folder = get_model(ws, model_name)._meta.folder
            commits = (c for c in commits if _touches(c, folder))
        entries = [commit_info(c) for c in itertools.islice(commits, limit)]
    if as_json:
        print_json(entries)
        return
    for entry in entries:
        say(f"commit {entry['commit']}", "yellow")
        echo(f"Author: {entry['author']}")
        echo(f"Date:   {entry['date'] or NO_DATE}")
        echo()
        for line in entry["message"].splitlines() or [""]:
            echo(f"    {line}", keep="\t")
        if "change" in entry:
            echo()
            echo(f"    {entry['change']}")
            for name, (old, new) in entry["fields"].items():
                echo(f"    {name}: {text(old)} -> {text(new)}")
        echo()


def _split_diff_args(ws: Workspace, args: tuple[str, ...]) -> tuple[list[str], Optional[str], Optional[str]]:
    """``[REV [REV]] [MODEL [ID]]``: a word naming a model starts the object part."""
    revs: list[str] = []
    for index, arg in enumerate(args):
        if arg in ws.models and arg != "GitModel":
            rest = args[index + 1:]
            if len(rest) > 1:
                raise click.UsageError(f"unexpected argument {rest[1]!r} after MODEL ID")
            return revs, arg, rest[0] if rest else None
        revs.append(arg)
    return revs, None, None


def _change_record(change: Any) -> dict[str, Any]:
    if isinstance(change, ObjectChange):
        return {"model": change.model.__name__, "id": change.id, "change": change.kind,
                "fields": {k: [jsonable(a), jsonable(b)] for k, (a, b) in change.changes.items()}}
    return {"path": change.path, "change": change.kind}


@click.command()
@click.argument("args", nargs=-1, metavar="[REV [REV]] [MODEL [ID]]")
@JSON_OPTION
@pass_state
def diff(state: CliState, args: tuple[str, ...], as_json: bool) -> None:
    """Added, removed and changed objects, with the old and new value of each changed field.

    No REV: what the last commit changed; one: from REV to the branch; two: from the first to the second."""
    ws = state.workspace()
    revs, model_name, object_id = _split_diff_args(ws, args)
    if len(revs) > 2:
        raise click.UsageError(f"at most two revisions, not {len(revs)}")
    if not revs:
        head = _commit(ws, "HEAD") if ws.branch is None else ws.branch.commit
        old, new = (head.parents[0] if head.parents else None), head
    else:
        old = _commit(ws, revs[0])
        new = _commit(ws, revs[1]) if len(revs) == 2 else _commit(ws, ws.head)
    before = old if old is not None else ws.repo[ws.repo.TreeBuilder().write()]
    if object_id is not None:
        model = get_model(ws, model_name)  # type: ignore[arg-type]
        found = [c for c in [model.diff(object_id, before, new)] if c is not None]
    else:
        found = ws.changes(before, new)  # type: ignore[arg-type]
        if model_name is not None:
            model = get_model(ws, model_name)
            found = [c for c in found if isinstance(c, ObjectChange) and c.model is model]
        else:
            found = [c for c in found if isinstance(c, ObjectChange) or not c.path.startswith(".gitmodel/")]
    records = [_change_record(c) for c in found]
    if as_json:
        print_json(records)
        return
    colours = {"added": "green", "deleted": "red", "modified": "yellow"}
    for record in records:
        label = f"{record['model']} {record['id']}" if "model" in record else record["path"]
        say(f"{record['change']} {label}", colours.get(record["change"]))
        for name, (a, b) in record.get("fields", {}).items():
            echo(f"    {name}: {text(a)} -> {text(b)}")


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.argument("object_id", metavar="ID")
@AT_OPTION
@JSON_OPTION
@pass_state
def blame(state: CliState, model_name: str, object_id: str, at: Optional[str], as_json: bool) -> None:
    """For each field: its value, and the commit, author and date that last set it."""
    ws = state.workspace(treeish=at)  # the model as REV's schema declares it
    entries = get_model(ws, model_name).blame(object_id, treeish=at)
    records = [{"field": e.field, "value": jsonable(e.value), "commit": str(e.commit.id),
                "author": e.author, "date": e.date.isoformat() if e.date is not None else None,
                "message": first_line(e.commit)}
               for e in entries.values()]
    if as_json:
        print_json(records)
    else:
        table(["field", "value", "commit", "author", "date"],
              [(r["field"], r["value"], r["commit"][:10], r["author"], r["date"] or NO_DATE) for r in records])


@click.command()
@click.argument("rev", metavar="REV")
@MESSAGE_OPTION
@JSON_OPTION
@pass_state
def revert(state: CliState, rev: str, message: Optional[str], as_json: bool) -> None:
    """Undo the changes of commit REV, field by field, as a new commit."""
    ws = state.workspace()
    target = _commit(ws, rev)
    changes = ws.revert(target.id)
    commit = ws.commit(message or f"Revert {str(target.id)[:10]}: {first_line(target)}")
    result = {"commit": str(commit) if commit else None, "changes": [_change_record(c) for c in changes]}
    if as_json:
        print_json(result)
    else:
        say(f"reverted {str(target.id)[:10]} in {str(commit)[:10]} ({len(changes)} change(s))"
            if commit else "nothing to revert", "green")


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.argument("object_id", metavar="ID")
@click.option("--at", "at", metavar="REV", required=True, help="The version to bring back.")
@MESSAGE_OPTION
@JSON_OPTION
@pass_state
def restore(state: CliState, model_name: str, object_id: str, at: str, message: Optional[str],
            as_json: bool) -> None:
    """Bring one object back as it was at REV (also a deleted one), as a new commit."""
    ws = state.workspace()
    model = get_model(ws, model_name)
    obj = model.restore(object_id, at)
    commit = ws.commit(message or f"Restore {model_name} {obj.get_id()!r} as of {at}")
    if as_json:
        print_json({"model": model_name, "id": obj.get_id(), "commit": str(commit) if commit else None})
    else:
        say(f"restored {model_name} {obj.get_id()} " + (f"in {str(commit)[:10]}" if commit else "(unchanged)"),
            "green")
