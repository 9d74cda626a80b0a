"""``python -m gitmodel``: the command line (needs the ``cli`` extra)."""

import sys
from importlib.util import find_spec

try:
    import click  # noqa: F401
except ImportError:
    click = None  # type: ignore[assignment]
if click is None or find_spec("rich") is None:  # rich is imported only to draw tables
    sys.exit("gitmodel: the command line needs its extra: pip install 'gitmodel[cli]'")

from gitmodel.cli import main

main(prog_name="gitmodel")
