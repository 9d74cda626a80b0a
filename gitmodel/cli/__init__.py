"""The ``gitmodel`` command: objects, fields and their history from a terminal.

A thin layer over the public API (as dulwich's ``cli`` over its porcelain).
Each command lives in a module of this package and is imported only when it
runs (:data:`COMMANDS`), so ``gitmodel --version`` starts fast. Errors are
one line and exit with the code of their class (:mod:`gitmodel.cli.errors`).
The command-line libraries (click, rich) come with the ``cli`` extra and are
imported only when the command runs: :mod:`gitmodel.cli.context` works
without them.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from typing import Optional

__all__ = ["COMMANDS", "main"]

#: command name -> "module:attribute" of its click command, imported when used
COMMANDS: dict[str, str] = {
    "models": "gitmodel.cli.data:models",
    "ls": "gitmodel.cli.data:ls",
    "show": "gitmodel.cli.data:show",
    "set": "gitmodel.cli.data:set_fields",
    "rm": "gitmodel.cli.data:rm",
    "import": "gitmodel.cli.data:import_file",
    "export": "gitmodel.cli.data:export",
    "check": "gitmodel.cli.data:check",
    "log": "gitmodel.cli.versions:log",
    "diff": "gitmodel.cli.versions:diff",
    "blame": "gitmodel.cli.versions:blame",
    "revert": "gitmodel.cli.versions:revert",
    "restore": "gitmodel.cli.versions:restore",
    "branch": "gitmodel.cli.refs:branch",
    "tag": "gitmodel.cli.refs:tag",
    "merge": "gitmodel.cli.refs:merge",
    "conflicts": "gitmodel.cli.refs:conflicts",
    "resolve": "gitmodel.cli.refs:resolve",
    "clone": "gitmodel.cli.remote:clone",
    "fetch": "gitmodel.cli.remote:fetch",
    "pull": "gitmodel.cli.remote:pull",
    "push": "gitmodel.cli.remote:push",
    "pack": "gitmodel.cli.maintenance:pack",
    "gc": "gitmodel.cli.maintenance:pack",
    "migrate": "gitmodel.cli.maintenance:migrate",
    "makemigrations": "gitmodel.cli.maintenance:makemigrations",
    "serve": "gitmodel.web.command:serve",
}

MISSING_EXTRA = "gitmodel: the command line needs its extra: pip install 'gitmodel[cli]'"


def main(args: Optional[list[str]] = None, prog_name: str = "gitmodel") -> None:
    """Run the command line (the ``gitmodel`` console script and ``python -m gitmodel``)."""
    try:
        import click  # noqa: F401
    except ImportError:
        sys.exit(MISSING_EXTRA)
    if find_spec("rich") is None:  # imported only to draw tables and progress bars
        sys.exit(MISSING_EXTRA)
    from .errors import run_guarded
    from .main import cli

    run_guarded(cli, args, prog_name)
