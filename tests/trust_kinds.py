"""The kind of trust-boundary case each test of ``tests/test_trust_*.py``
tries, for the "cases tried per kind" table of the reliability guide.
``python tests/trust_kinds.py`` prints the table from pytest's collection."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
KINDS = [
    "writes outside", "fsck-failing commits", "refs", "index database", "ids", "hangs",
    "wrong answers (index vs scan)", "histories that loop", "raw errors", "locks",
]
_CUT = re.compile(r"\[.*(cut in the middle|cut at the end|empty file)\]")


def kind_of(test_id: str) -> str:
    """The kind of the collected test ``test_id`` (``path::name[params]``)."""
    path, name = test_id.split("::", 1)
    module = Path(path).name
    if module == "test_trust_escape.py":
        if "head" in name.lower():
            return "refs"
        if "index_file_is_never" in name or "index_path" in name:
            return "index database"
        return "writes outside"
    if module == "test_trust_errors.py":
        return "hangs" if "never_answers" in name else "raw errors"
    if module == "test_trust_objects.py":
        return "hangs" if _CUT.search(name) else "raw errors"
    return {
        "test_trust_clone.py": "writes outside",
        "test_trust_commits.py": "fsck-failing commits",
        "test_trust_refs.py": "refs",
        "test_trust_ids.py": "ids",
        "test_trust_index.py": "wrong answers (index vs scan)",
        "test_trust_custom_paths.py": "wrong answers (index vs scan)",
        "test_trust_revisions.py": "raw errors",
        "test_trust_cut_later.py": "hangs",
        "test_trust_hangs.py": "hangs",
        "test_trust_locks.py": "locks",
        "test_trust_grafts.py": "histories that loop",
        "test_trust_merge_record.py": "raw errors",
        "test_trust_schema_records.py": "raw errors",
    }[module]


def counts() -> dict[str, int]:
    """Cases per kind, from ``pytest --collect-only`` of the trust tests."""
    files = sorted(str(p) for p in HERE.glob("test_trust_*.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", *files],
        capture_output=True, text=True, env=env, cwd=HERE.parent, timeout=300,
    )
    found = collections.Counter(kind_of(line.strip()) for line in done.stdout.splitlines() if "::" in line)
    return {kind: found.get(kind, 0) for kind in KINDS}


if __name__ == "__main__":
    for kind, number in counts().items():
        print(f"{kind:32} {number}")
