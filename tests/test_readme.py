"""The Python blocks of the README (and of the tutorial) run as written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n((?:[ \t]*\n)*(?:(?:[ \t]+\S.*)?\n)+)", re.M)


def code_blocks(document: Path, language: str = "python") -> list[tuple[int, str]]:
    """``(line number, dedented source)`` of every ``code-block`` in ``language``."""
    text = document.read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text + "\n"):
        if match.group(1) != language:
            continue
        lines = match.group(2).splitlines()
        indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
        source = "\n".join(l[indent:] for l in lines).strip("\n") + "\n"
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append((line, source))
    return blocks


def run_blocks(document: Path) -> dict[str, object]:
    """Run every Python block of ``document`` in order, in one namespace."""
    namespace: dict[str, object] = {"__name__": "__readme__"}
    blocks = code_blocks(document)
    assert blocks, f"no python code blocks found in {document.name}"
    for line, source in blocks:
        code = compile("\n" * (line - 1) + source, str(document), "exec")
        exec(code, namespace)
    return namespace


def test_readme_blocks_are_found():
    blocks = code_blocks(ROOT / "README.rst")
    assert len(blocks) >= 6
    assert any("page.save(commit=True, message='Added an example page')" in src for _, src in blocks)
    assert any("Page.get(page.id)" in src for _, src in blocks)


def test_readme_quickstart_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = run_blocks(ROOT / "README.rst")
    out = capsys.readouterr().out

    page = ns["page"]
    assert re.fullmatch(r"[0-9a-f]{32}", page.id)
    assert page.id in out
    assert "Added an example page" in out
    assert "<h2>Here is an Example</h2><p>Lorem Ipsum</p>" in out
    assert '-    "title": "Example Page"' in out  # the diff between the two commits

    repo = tmp_path / "path" / "to" / "my-repo"
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    assert log[:3] == ["First post", "Retitled the example page", "Added an example page"]
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:page/{page.id}/data.json"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert '"title": "An Example Page"' in shown
    # after sync_repo_index() plain git sees a clean work tree with the files
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], check=True, capture_output=True, text=True
    ).stdout
    assert status == ""
    assert (repo / "page" / page.id / "data.json").is_file()


def test_readme_tells_a_newcomer_how_to_run_the_example_and_the_tests():
    # .ci/run reads these two commands from the README and runs them verbatim
    commands = [
        line.strip()[2:]
        for line in (ROOT / "README.rst").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("$ ")
    ]
    example = [c for c in commands if "examples/cms.py" in c]
    tests = [c for c in commands if "-m pytest" in c]
    assert len(example) == 1 and len(tests) == 1
    assert example[0].startswith("python3 -m venv .venv && .venv/bin/pip install . &&")
    # the test extra, and the cli and web extras their tests need
    assert tests[0].startswith("python3 -m venv .venv && .venv/bin/pip install '.[test,")
    extras = tests[0].split("'")[1]
    assert "cli" in extras and "web" in extras
    assert (ROOT / "examples" / "cms.py").is_file()


# Documents whose Python blocks run in order, as a reader would type them.
# A guide with runnable examples adds itself here.
DOCUMENTS = ["docs/tutorial.rst", "docs/guides/storage.rst", "docs/guides/performance.rst"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documentation_blocks_run(document, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run_blocks(ROOT / document)
