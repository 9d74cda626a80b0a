"""``python -m gitmodel.web [-C REPO] [--host] [--port] [--models]``."""

from .command import serve

serve(prog_name="python -m gitmodel.web")
