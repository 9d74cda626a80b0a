"""The benchmark script runs end to end at a small N (so it never rots).

Only the shape of the report is checked: every scenario has a row with a
number for gitmodel, for its baseline and their ratio. Timings are not.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"

SCENARIOS = [
    ("bulk: N saves + 1 commit", "raw pygit2 TreeBuilder"),
    ("bulk: N saves + 1 commit", "git fast-import"),
    ("bulk: Model.bulk_save(N) + 1 commit", "raw pygit2 TreeBuilder"),
    ("bulk: Model.bulk_save(N) + 1 commit", "git fast-import"),
    ("peak memory, bulk run", "raw pygit2"),
    ("peak memory, bulk_save run", "raw pygit2"),
    ("get by id, each object once", "raw pygit2 lookup+read+loads"),
    ("get by id, again (", "raw pygit2 lookup+read+loads"),
    ("get by id, again (", "gitmodel, once"),
    ("get by id, all N again", "raw pygit2 lookup+read+loads"),
    ("ws.pack()", "git repack -d"),
    ("get by id once, packed", "raw pygit2, same pack"),
    ("repository size before gc", "raw pygit2"),
    ("list all N", "raw pygit2 folder loop"),
    ("update 1%", "raw pygit2"),
    ("bulk: bulk_save(N) with a BlobField", "raw pygit2 TreeBuilder, same files"),
    ("save+commit each, default layout, store of N", "raw pygit2, same paths"),
    ("save+commit each, default layout: N vs 1,000", "gitmodel at"),
    ("save+commit each, flat (Meta.shard=0)", "raw pygit2 flat rewrite"),
    ("save+commit each, Meta.shard=2", "raw pygit2 sharded"),
    ("save+commit each, sharded: N vs 1,000", "gitmodel at"),
    ("repository size after git gc", "raw pygit2 (count-objects)"),
    ("size after", "the same after git gc"),
    ("repository size after git gc, bulk_save store", "git fast-import store"),
]


def test_bench_runs_and_reports_every_scenario(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--n", "120", "--commits", "5",
         "--tmpdir", str(tmp_path), "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["env"]["n"] == 120
    rows = report["rows"]
    for scenario, baseline in SCENARIOS:
        matching = [r for r in rows if r["scenario"].startswith(scenario)
                    and r["baseline"].startswith(baseline)]
        assert matching, f"no row for {scenario!r} vs {baseline!r}"
        for row in matching:
            for key in ("gitmodel", "baseline_value", "ratio"):
                assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0, row
            assert row["scenario"] in proc.stdout  # the printed table has the row too
    # the repositories are cleaned up unless --keep
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


NO_LOOSE_SCENARIOS = [
    ("bulk: Model.bulk_save(N) + 1 commit", "git fast-import"),
    ("peak memory, bulk_save run", "git fast-import"),
    ("get by id once, packed (bulk_save store)", "raw pygit2, same pack"),
    ("update 1%", "raw pygit2"),
    ("save+commit each, default layout (shard=2), store of N", "raw pygit2 on the fast-import"),
    ("save+commit each, sharded: N vs 1,000", "gitmodel at"),
]


def test_bench_no_loose_runs_only_the_packed_scenarios(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--n", "120", "--commits", "5", "--repeat", "1",
         "--no-loose", "--only", "bulk,gets,update,commits", "--tmpdir", str(tmp_path),
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["env"]["no_loose"] is True
    rows = report["rows"]
    assert [(r["scenario"].split(" (")[0], r["baseline"]) for r in rows
            if not any(r["scenario"].startswith(s) and r["baseline"].startswith(b)
                       for s, b in NO_LOOSE_SCENARIOS)] == []
    for scenario, baseline in NO_LOOSE_SCENARIOS:
        matching = [r for r in rows if r["scenario"].startswith(scenario)
                    and r["baseline"].startswith(baseline)]
        assert len(matching) == 1, f"no row for {scenario!r} vs {baseline!r}"
        for key in ("gitmodel", "baseline_value", "ratio"):
            value = matching[0][key]
            assert isinstance(value, float) and math.isfinite(value) and value > 0
    # no loose-object scenario ran: no save() loop, no raw pygit2 import
    assert "N saves + 1 commit" not in proc.stdout and "TreeBuilder" not in proc.stdout


def test_bench_refuses_an_unknown_group(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH), "--only", "bulk,nonsense",
                           "--tmpdir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nonsense" in proc.stderr
    assert list(tmp_path.iterdir()) == []
