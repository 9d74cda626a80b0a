"""``python -m gitmodel``: the command line (needs the ``cli`` extra)."""

import sys

try:
    import click  # noqa: F401
    import rich  # noqa: F401
except ImportError:
    sys.exit("gitmodel: the command line needs its extra: pip install 'gitmodel[cli]'")

from gitmodel.cli import main

main(prog_name="gitmodel")
