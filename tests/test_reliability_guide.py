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


def test_the_cases_tried_per_kind_table_is_up_to_date():
    import re

    from trust_kinds import counts

    text = GUIDE.read_text()
    table = text[text.index("Cases tried per kind"):text.index("How it is tested")]
    documented = dict(re.findall(r"\* - (.+)\n\s+- (\d+)", table))
    assert {kind: int(n) for kind, n in documented.items()} == counts()
