"""``pack`` (also ``gc``), ``migrate``, ``makemigrations``."""

from __future__ import annotations

from typing import Optional

import click

from ..exceptions import ConfigurationError
from ..migrations import make_migration
from ..workspace import Workspace
from .context import CliState, declared_models
from .output import JSON_OPTION, print_json, say

pass_state = click.make_pass_decorator(CliState)


@click.command()
@JSON_OPTION
@pass_state
def pack(state: CliState, as_json: bool) -> None:
    """Pack loose objects into one pack file."""
    ws = state.workspace()
    count = ws.pack()
    if as_json:
        print_json({"packed": count})
    else:
        say(f"packed {count} loose object(s)", "green")


@click.command()
@click.argument("migrations", metavar="MODULE")
@click.option("--branch", metavar="NAME", help="Apply on NAME (default: the current branch).")
@click.option("-m", "--message", metavar="MSG", help="The commit message.")
@JSON_OPTION
@pass_state
def migrate(state: CliState, migrations: str, branch: Optional[str], message: Optional[str],
            as_json: bool) -> None:
    """Apply the migrations of MODULE (package.module) not yet applied, as one commit."""
    ws = state.workspace()
    commit = ws.migrate(migrations, branch, **({"message": message} if message else {}))
    if as_json:
        print_json({"commit": str(commit) if commit else None})
    else:
        say(f"migrated in {str(commit)[:10]}" if commit else "no migration to apply", "green")


@click.command()
@click.argument("model_names", nargs=-1, metavar="[MODEL]...")
@click.option("--name", default="auto", show_default=True, help="The migration's name.")
@pass_state
def makemigrations(state: CliState, model_names: tuple[str, ...], name: str) -> None:
    """Print a migration module taking the stored schema to what --models declares."""
    if not state.models:
        raise ConfigurationError("makemigrations compares the application's models: pass --models MODULE")
    # the classes as the module declares them, not bound: binding refuses the very
    # differences (a retyped or removed field) a migration is written for
    targets = declared_models(state.models, model_names)
    ws = Workspace(state.path)
    click.echo(make_migration(ws, *targets, name=name), nl=False)
