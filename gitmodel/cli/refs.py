"""``branch``, ``tag``, ``merge``, ``conflicts``, ``resolve``."""

from __future__ import annotations

import json
from typing import Any, Optional

import click

from ..exceptions import RepositoryError
from ..versions.merge import Conflict
from ..workspace import Workspace
from .context import CliState, get_model
from .errors import CONFLICT, parsing
from .output import JSON_OPTION, jsonable, print_json, say, table

pass_state = click.make_pass_decorator(CliState)


@click.command()
@click.argument("name", required=False)
@click.argument("start", required=False)
@click.option("-d", "--delete", "delete", metavar="NAME", help="Delete branch NAME.")
@JSON_OPTION
@pass_state
def branch(state: CliState, name: Optional[str], start: Optional[str], delete: Optional[str],
           as_json: bool) -> None:
    """List branches, create NAME (at START, default: the current commit) or delete one."""
    ws = state.workspace()
    if delete:
        ws.delete_branch(delete)
        _done(as_json, {"deleted": delete}, f"deleted branch {delete}")
    elif name:
        made = ws.create_branch(name, start)
        _done(as_json, {"branch": name, "commit": str(made.commit.id)},
              f"created branch {name} at {str(made.commit.id)[:10]}")
    else:
        current = ws.head.removeprefix("refs/heads/")
        rows: list[dict[str, Any]] = [{"branch": n, "commit": str(b.commit.id), "current": n == current}
                for n, b in sorted(ws.branches.items())]
        if as_json:
            print_json(rows)
        else:
            table(["", "branch", "commit"], [("*" if r["current"] else "", r["branch"], r["commit"][:10])
                                            for r in rows])


@click.command()
@click.argument("name", required=False)
@click.argument("rev", required=False)
@click.option("-d", "--delete", "delete", metavar="NAME", help="Delete tag NAME.")
@click.option("-m", "--message", metavar="MSG", help="An annotated tag with this message.")
@JSON_OPTION
@pass_state
def tag(state: CliState, name: Optional[str], rev: Optional[str], delete: Optional[str],
        message: Optional[str], as_json: bool) -> None:
    """List tags, create NAME (at REV, default: the current commit) or delete one."""
    ws = state.workspace()
    if delete:
        ws.delete_tag(delete)
        _done(as_json, {"deleted": delete}, f"deleted tag {delete}")
    elif name:
        kwargs: dict[str, Any] = {"message": message} if message else {}
        ws.create_tag(name, rev, **kwargs) if rev else ws.create_tag(name, **kwargs)
        commit = ws.tags[name]
        _done(as_json, {"tag": name, "commit": str(commit.id)}, f"tagged {str(commit.id)[:10]} as {name}")
    else:
        rows = [{"tag": n, "commit": str(c.id)} for n, c in sorted(ws.tags.items())]
        if as_json:
            print_json(rows)
        else:
            table(["tag", "commit"], [(r["tag"], r["commit"][:10]) for r in rows])


def _done(as_json: bool, data: dict[str, Any], message: str) -> None:
    if as_json:
        print_json(data)
    else:
        say(message, "green")


def _conflict_record(conflict: Conflict) -> dict[str, Any]:
    model = conflict.model
    return {"model": model.__name__ if model is not None else None, "id": conflict.id,
            "field": conflict.field, "kind": conflict.kind, "base": jsonable(conflict.base), "ours": jsonable(conflict.ours),
            "theirs": jsonable(conflict.theirs)}


def _report_conflicts(conflicts: list[Conflict], as_json: bool, extra: dict[str, Any]) -> None:
    records = [_conflict_record(c) for c in conflicts]
    if as_json:
        print_json({**extra, "conflicts": records})
        return
    table(["model", "id", "field", "base", "ours", "theirs"],
          [(r["model"] or "", r["id"], r["field"] or "", r["base"], r["ours"], r["theirs"]) for r in records])


@click.command()
@click.argument("other", required=False, metavar="BRANCH")
@click.option("--into", metavar="BRANCH", help="Merge into BRANCH (default: the current one).")
@click.option("--strategy", type=click.Choice(["ours", "theirs"]),
              help="Settle every conflict for one side.")
@click.option("--no-ff", "no_ff", is_flag=True, help="Write a merge commit even when a fast-forward would do.")
@click.option("-m", "--message", metavar="MSG", help="The merge commit's message.")
@click.option("--continue", "continue_", is_flag=True, help="Commit the open merge once its conflicts are resolved.")
@click.option("--abort", is_flag=True, help="Drop the open merge.")
@click.option("--migrations", metavar="MODULE",
              help="The application's migrations (package.module), for a side that applied "
                   "some with functions.")
@JSON_OPTION
@pass_state
def merge(state: CliState, other: Optional[str], into: Optional[str], strategy: Optional[str], no_ff: bool,
          message: Optional[str], continue_: bool, abort: bool, migrations: Optional[str],
          as_json: bool) -> int:
    """Merge BRANCH field by field; on conflicts stop with the merge kept open
    (see ``conflicts``, ``resolve``, ``merge --continue`` and ``merge --abort``)."""
    if migrations:
        from ..migrations import load

        load(migrations)  # their functions replay on the other side's edits
    ws = state.workspace(branch=into)
    if continue_ or abort:
        if other:
            raise click.UsageError("--continue and --abort take no BRANCH")
        _require_merge(ws, look=not abort)  # a record that cannot be read can still be aborted
        if abort:
            ws.abort_merge()
            _done(as_json, {"aborted": True}, "merge aborted")
            return 0
        commit = ws.commit(message) if message else ws.commit()
        _done(as_json, {"commit": str(commit)}, f"merged in {str(commit)[:10]}")
        return 0
    if not other:
        raise click.UsageError("merge needs a BRANCH (or --continue / --abort)")
    result = ws.merge(other, message, strategy, fast_forward=not no_ff)
    data = {"commit": str(result.commit) if result.commit else None, "fast_forward": result.fast_forward,
            "up_to_date": result.up_to_date}
    if result.conflicts:
        if not as_json:
            say(f"merge of {other} stopped: {len(result.conflicts)} conflict(s)", "red")
        _report_conflicts(result.conflicts, as_json, data)
        return CONFLICT
    text = ("already up to date" if result.up_to_date else
            f"fast-forwarded to {str(result.commit)[:10]}" if result.fast_forward else
            f"merged {other} in {str(result.commit)[:10]}")
    _done(as_json, data, text)
    return 0


def _require_merge(ws: Workspace, look: bool = True) -> None:
    """Refuse when no merge is open; else (``look``) take it up (looking at
    its conflicts does: the merge was opened by another process)."""
    if not ws.merging:
        raise RepositoryError("no merge is in progress")
    if look:
        ws.conflicts  # looking at the open merge takes it up in this process


@click.command()
@JSON_OPTION
@pass_state
def conflicts(state: CliState, as_json: bool) -> int:
    """The open conflicts of the merge in progress."""
    ws = state.workspace()
    _require_merge(ws)
    _report_conflicts(ws.conflicts, as_json, {})
    return CONFLICT if ws.conflicts else 0


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.argument("object_id", metavar="ID")
@click.argument("field_name", metavar="FIELD")
@click.option("--ours", "choice", flag_value="ours", help="Keep our value.")
@click.option("--theirs", "choice", flag_value="theirs", help="Take their value.")
@click.option("--base", "choice", flag_value="base", help="Go back to the common ancestor's value.")
@click.option("--value", "value", metavar="JSON", help="Store this JSON value.")
@JSON_OPTION
@pass_state
def resolve(state: CliState, model_name: str, object_id: str, field_name: str, choice: Optional[str],
            value: Optional[str], as_json: bool) -> None:
    """Settle one conflict of the open merge."""
    if (choice is None) == (value is None):
        raise click.UsageError("give one of --ours, --theirs, --base or --value JSON")
    ws = state.workspace()
    _require_merge(ws)
    model = get_model(ws, model_name)
    wanted = model._meta.id_field.clean_id(object_id)
    found = [c for c in ws.conflicts if c.model is model and c.id == wanted and c.field == field_name]
    if not found:
        raise RepositoryError(f"no open conflict on {model_name} {object_id!r} field {field_name!r}")
    if value is not None:
        try:
            literal = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--value") from None
        with parsing("--value"):
            typed = model._meta.get_field(field_name).to_python(literal)
        ws.resolve(found[0], value=typed)
    else:
        ws.resolve(found[0], choice)
    _done(as_json, {"resolved": _conflict_record(found[0]), "open": len(ws.conflicts)},
          f"resolved {model_name} {object_id} {field_name}; {len(ws.conflicts)} conflict(s) open")
