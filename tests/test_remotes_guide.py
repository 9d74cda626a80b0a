"""The code blocks of docs/guides/remotes.rst run as written, in order."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guides" / "remotes.rst"
_BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n((?:[ \t]*\n)*(?:(?:[ \t]+\S.*)?\n)+)", re.M)


def python_blocks(document: Path) -> list[tuple[int, str]]:
    text = document.read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text + "\n"):
        if match.group(1) != "python":
            continue
        lines = match.group(2).splitlines()
        indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
        source = "\n".join(l[indent:] for l in lines).strip("\n") + "\n"
        blocks.append((text.count("\n", 0, match.start(2)) + 1, source))
    return blocks


def test_the_remotes_guide_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__guide__"}
    blocks = python_blocks(GUIDE)
    assert len(blocks) >= 8
    for line, source in blocks:
        exec(compile("\n" * (line - 1) + source, str(GUIDE), "exec"), namespace)
    out = capsys.readouterr().out
    assert "pull first" in out
    assert "Start / Welcome, visitor" in out
    assert "title Home (Bob) Home (Alice)" in out
    assert "['backup', 'origin']" in out
    alice, bob = namespace["alice"], namespace["bob"]
    assert alice.branch.oid == bob.branch.oid  # type: ignore[attr-defined]
    hub = tmp_path / "hub.git"
    log = subprocess.run(
        ["git", f"--git-dir={hub}", "log", "--format=%s", "master"],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    assert log[0] == "Alice: contact page" and "Agree on the title" in log
    subprocess.run(["git", f"--git-dir={hub}", "fsck", "--strict"], check=True, capture_output=True)
