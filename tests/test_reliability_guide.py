"""The code blocks of docs/guides/reliability.rst run as written, in order."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).parent.parent / "docs" / "guides" / "reliability.rst"


def test_reliability_guide_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", GUIDE.read_text())
    assert len(blocks) >= 5
    code = "\n".join("\n".join(line[4:] for line in block.splitlines()) for block in blocks)
    exec(compile(code, str(GUIDE), "exec"), {"__name__": "guide"})
    out = capsys.readouterr().out
    assert "'home'" in out and "title" in out  # the conflict was printed
    assert "lock wait timeout exceeded" in out
