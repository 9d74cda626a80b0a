"""``python -m gitmodel``: the command line (needs the ``cli`` extra)."""

from gitmodel.cli import main

main(prog_name="gitmodel")
