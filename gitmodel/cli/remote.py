"""``clone``, ``fetch``, ``pull``, ``push``, with progress bars on a terminal."""

from __future__ import annotations

from typing import Any, Callable, Optional

import click

from ..remotes import Progress, RefUpdates
from ..transport import redact
from ..workspace import Workspace
from .context import CliState
from .errors import CONFLICT
from .output import JSON_OPTION, print_json, progress, say
from .refs import _report_conflicts

pass_state = click.make_pass_decorator(CliState)


def _transfer(update: Callable[[int, Optional[int]], None]) -> Callable[[Progress], None]:
    return lambda p: update(p.done, p.total or None)


def _updates(moved: RefUpdates) -> dict[str, list[Optional[str]]]:
    return {ref: [str(a) if a else None, str(b) if b else None] for ref, (a, b) in moved.items()}


def _report(as_json: bool, data: dict[str, Any], message: str) -> None:
    if as_json:
        print_json(data)
    else:
        say(message, "green")


@click.command()
@click.argument("url")
@click.argument("directory", metavar="DIR")
@click.option("--branch", metavar="NAME", help="Check out NAME (default: the remote's HEAD).")
@click.option("--depth", type=click.IntRange(min=0), default=0, help="Only the last N commits.")
@click.option("--bare/--no-bare", default=True, show_default=True, help="A bare repository, or one with files.")
@JSON_OPTION
@pass_state
def clone(state: CliState, url: str, directory: str, branch: Optional[str], depth: int, bare: bool,
          as_json: bool) -> None:
    """Clone the repository at URL into DIR."""
    with progress("cloning", not as_json) as update:
        ws = Workspace.clone(url, directory, branch, bare=bare, progress=_transfer(update), depth=depth)
    head = ws.branch.commit.id if ws.branch else None
    _report(as_json, {"path": ws.path, "branch": ws.head, "commit": str(head) if head else None},
            f"cloned {redact(url)} into {directory}")


@click.command()
@click.argument("remote", default="origin")
@click.option("--prune", is_flag=True, help="Drop remote branches gone from the remote.")
@JSON_OPTION
@pass_state
def fetch(state: CliState, remote: str, prune: bool, as_json: bool) -> None:
    """Fetch REMOTE (default: origin)."""
    ws = state.workspace()
    with progress(f"fetching {remote}", not as_json) as update:
        moved = ws.fetch(remote, progress=_transfer(update), prune=prune)
    _report(as_json, {"updated": _updates(moved)}, f"fetched {remote}: {len(moved)} ref(s) moved")


@click.command()
@click.argument("remote", required=False)
@click.argument("branch", required=False)
@JSON_OPTION
@pass_state
def pull(state: CliState, remote: Optional[str], branch: Optional[str], as_json: bool) -> int:
    """Fetch, then fast-forward or merge field by field (conflicts stop it, as ``merge``)."""
    ws = state.workspace()
    with progress("pulling", not as_json) as update:
        result = ws.pull(remote, branch, progress=_transfer(update))
    data = {"updated": _updates(result.fetched), "commit": str(result.commit) if result.commit else None,
            "fast_forward": result.fast_forward, "up_to_date": result.up_to_date}
    if result.conflicts:
        _report_conflicts(result.conflicts, as_json, data)
        return CONFLICT
    _report(as_json, data, "already up to date" if result.up_to_date else
            f"pulled: now at {str(result.commit)[:10]}")
    return 0


@click.command()
@click.argument("remote", default="origin")
@click.argument("branches", nargs=-1, metavar="[BRANCH]...")
@click.option("--force", is_flag=True, help="Move the remote branch even if it is not an ancestor.")
@click.option("-u", "--set-upstream", "set_upstream", is_flag=True, help="Remember REMOTE as the upstream.")
@JSON_OPTION
@pass_state
def push(state: CliState, remote: str, branches: tuple[str, ...], force: bool, set_upstream: bool,
         as_json: bool) -> None:
    """Push the current branch (or BRANCH...) to REMOTE (default: origin)."""
    ws = state.workspace()
    with progress(f"pushing to {remote}", not as_json) as update:
        moved = ws.push(remote, list(branches) or None, force, progress=_transfer(update),
                        set_upstream=set_upstream)
    _report(as_json, {"updated": _updates(moved)}, f"pushed to {remote}: {len(moved)} ref(s) moved")


