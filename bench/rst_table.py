"""Print a ``bench/run.py --json`` result as the reStructuredText table used in
``docs/guides/performance.rst``.

Usage: python bench/rst_table.py results.json
"""

from __future__ import annotations

import json
import sys

from run import _num  # the same number format as the printed table


def rows(result: dict) -> list[list[str]]:
    out = [["scenario", "gitmodel", "baseline, same run", "ratio", "target"]]
    for row in result["rows"]:
        target = row.get("target") or ""
        if target:
            target += ": met" if row.get("met") else ": missed"
        out.append([
            row["scenario"],
            f"{_num(row['gitmodel'])} {row['unit']}",
            f"{_num(row['baseline_value'])} ({row['baseline']})",
            f"{row['ratio']:.2f}x",
            target,
        ])
    return out


def table(cells: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(c.ljust(w) for c, w in zip(cells[0], widths)).rstrip(), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells[1:]]
    return "\n".join(lines + [rule])


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        print(table(rows(json.load(handle))))
