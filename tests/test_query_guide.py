"""The querying guide's examples run, and say what they claim."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "querying.rst"


def test_guide_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = GUIDE.read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert len(blocks) >= 8
    namespace: dict = {}
    for block in blocks:
        code = "\n".join(line[4:] for line in block.splitlines())
        exec(compile(code, str(GUIDE), "exec"), namespace)
    Page = namespace["Page"]
    assert Page.filter(title="Setup").get().slug == "setup"
    assert Page.filter(title="Questions").count() == 1
    assert Page.all(treeish="v1.0").filter(title="FAQ").count() == 1
    assert 'Page with "slug" = \'faq\' already exists' in capsys.readouterr().out
