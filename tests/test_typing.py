"""Type checkers understand models: mypy accepts a typed models module and
reports each deliberate mistake in another one."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gitmodel.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
TYPING = Path(__file__).resolve().parent / "typing"
OK = TYPING / "models_ok.py"
BAD = TYPING / "models_bad.py"

pytest.importorskip("mypy", reason="mypy is part of the test extra")

_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<msg>.*?)\s+\[(?P<code>[a-z-]+)\]$")


@pytest.fixture(scope="module")
def mypy_errors() -> dict[str, set[tuple[int, str]]]:
    """Run mypy once over both modules (from the project root, so the
    ``gitmodel`` sources are what it checks) and group errors by file."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--show-error-codes", "--no-pretty", str(OK), str(BAD)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "error: " in result.stdout or result.returncode == 0, result.stdout + result.stderr
    errors: dict[str, set[tuple[int, str]]] = {}
    for line in result.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            name = Path(match["file"]).name
            errors.setdefault(name, set()).add((int(match["line"]), match["code"]))
    assert set(errors) <= {OK.name, BAD.name}, result.stdout  # gitmodel itself is clean
    return errors


def expected_errors(path: Path) -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        marker = re.search(r"# E: ([a-z-]+)\s*$", line)
        if marker:
            expected.add((number, marker.group(1)))
    return expected


def test_typed_models_module_is_clean(mypy_errors) -> None:
    assert mypy_errors.get(OK.name, set()) == set()


def test_deliberate_mistakes_are_reported(mypy_errors) -> None:
    expected = expected_errors(BAD)
    assert len(expected) >= 8
    assert mypy_errors.get(BAD.name, set()) == expected


def test_typed_models_module_also_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("typed_models_ok", OK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ws = Workspace.init(tmp_path / "typed.git")
    commit_id = module.use(ws)
    assert commit_id is not None
    assert ws.repo[commit_id].message == "typed"
    page = ws.models.Page.get(next(iter(ws.models.Page.all())).id)
    assert page.author.name == "Ann"


def test_model_metaclass_carries_dataclass_transform() -> None:
    from gitmodel.models import GitModel, ModelBase

    if sys.version_info < (3, 11):
        pytest.importorskip("typing_extensions")
    spec = ModelBase.__dataclass_transform__  # type: ignore[attr-defined]
    assert spec["kw_only_default"] is True
    assert type(GitModel) is ModelBase
