"""The code in the guides runs (each guide is one script, top to bottom)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

GUIDES = Path(__file__).resolve().parent.parent / "docs" / "guides"
BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:^(?:    .*)?\n)+)", re.MULTILINE)


def guide_code(name: str) -> str:
    text = (GUIDES / name).read_text()
    blocks = [textwrap.dedent(b) for b in BLOCK.findall(text)]
    assert blocks, f"no python code in {name}"
    return "\n".join(blocks)


@pytest.mark.parametrize("name", ["history.rst", "merging.rst", "schema.rst", "coming-from-0.1.rst"])
def test_guide_runs(name, capsys):
    exec(compile(guide_code(name), name, "exec"), {"__name__": "guide"})
