"""The ``gitmodel`` click group: global options, commands imported on first use."""

from __future__ import annotations

import importlib
from typing import Any, Optional

import click

from .. import __version__
from . import COMMANDS
from .context import CliState

__all__ = ["cli", "LazyGroup"]

#: commands whose module comes with another extra
_EXTRAS = {"serve": "web"}


class LazyGroup(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            extra = _EXTRAS.get(cmd_name)
            if extra is None:
                raise
            return _missing_extra(cmd_name, extra)
        command: click.Command = getattr(module, attribute)
        return command


def _missing_extra(name: str, extra: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True},
                   help=f"(needs the {extra} extra)")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def missing(args: Any) -> None:
        raise click.UsageError(f"'gitmodel {name}' needs the {extra} extra: "
                               f"pip install 'gitmodel[{extra}]'")

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "path", default=".", metavar="PATH", show_default=True,
              help="The repository (bare, its .git folder or its work tree).")
@click.option("--models", "models", metavar="MODULE",
              help="Import the application's models from MODULE (package.module) "
                   "instead of building them from the stored schema.")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.version_option(__version__, "--version", prog_name="gitmodel", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, path: str, models: Optional[str], debug: bool) -> None:
    """Browse, change and merge the objects of a gitmodel repository."""
    if not isinstance(ctx.obj, CliState):  # a caller may hand in its own (and its open workspace)
        ctx.obj = CliState(path=path, models=models, debug=debug)
