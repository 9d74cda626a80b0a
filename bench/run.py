#!/usr/bin/env python3
"""gitmodel benchmark: every figure next to a raw baseline from the same run.

    python bench/run.py --n 100000 --tmpdir /dev/shm --json out.json
    python bench/run.py --quick            # small N, for CI

The script builds its own data (N pages with a deterministic content), then
measures each scenario twice on the same data: once through gitmodel, once
through a raw baseline (pygit2 by hand, ``git fast-import``, ``git
count-objects``). Bulk imports run in child processes so that their peak
memory (``ru_maxrss``) is their own. Ratios are what to read: both sides ran
on the same machine, in the same minute, on the same data.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pygit2  # noqa: E402
from pygit2.enums import FileMode  # noqa: E402

import gitmodel  # noqa: E402
from gitmodel import fields  # noqa: E402
from gitmodel.serializers import json as json_format  # noqa: E402
from gitmodel.workspace import Workspace  # noqa: E402

BLOB = int(FileMode.BLOB)
TREE = int(FileMode.TREE)
SIG = pygit2.Signature("bench", "bench@localhost", 1700000000, 0)
BRANCH = "refs/heads/master"
MODEL = "Page"
FOLDER = "page"
SMALL_STORE = 1000
#: "cpu": CPU time of the measured process (user + system), which other
#: processes on a shared machine disturb far less than wall time, but which
#: leaves out waits for a disk; "wall": elapsed time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK_NAME = "cpu"
clock = CLOCKS[CLOCK_NAME]
HOT_SET = 10_000  # half the default object cache of a workspace


# -- data -------------------------------------------------------------------------


def make_records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` deterministic page records (a few hundred bytes of JSON each)."""
    return list(iter_records(n, start))


def iter_records(n: int, start: int = 0) -> Any:
    """The records of :func:`make_records`, one at a time (a bulk of millions)."""
    rng = random.Random(start * 7919 + n)
    words = ["git", "model", "tree", "blob", "commit", "branch", "merge", "object",
             "store", "python", "pack", "index", "shard", "cache", "speed", "data"]
    for i in range(start, start + n):
        yield {
            "id": f"p{i:07d}",
            "title": " ".join(rng.choice(words) for _ in range(4)).title(),
            "body": " ".join(rng.choice(words) for _ in range(30)),
            "views": rng.randrange(100000),
            "published": bool(i % 3),
        }


def define_model(ws: Workspace, shard: Optional[int] = None, blob: bool = False) -> Any:
    """The page model: the default (adaptive) layout, or ``Meta.shard``."""
    meta = type("Meta", (), {"shard": shard}) if shard is not None else None
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "title": fields.CharField(max_length=200),
        "body": fields.TextField() if hasattr(fields, "TextField") else fields.CharField(),
        "views": fields.IntegerField(default=0),
        "published": fields.BooleanField(default=False),
    }
    if blob:
        attrs["attachment"] = fields.BlobField(required=False)
    if meta is not None:
        attrs["Meta"] = meta
    return type(MODEL, (ws.GitModel,), attrs)


#: the layout gitmodel's default gives a store of N objects (set by ``bench``):
#: the raw baselines write the same paths
DEFAULT_SHARD = 0


def default_shard(n: int) -> int:
    from gitmodel.schema import layout

    return layout.FANNED_SHARD if n >= layout.FAN_OUT_AT else 0


def attachment(rec: dict[str, Any]) -> bytes:
    """The ``BlobField`` value of a page in the blob scenario (a few hundred bytes)."""
    return (b"%s attachment\n" % rec["id"].encode()) * 16


def object_folders(tree: pygit2.Tree, shard: int) -> Any:
    """Each object folder below a model folder of ``shard`` hash levels."""
    if not shard:
        yield from tree
        return
    for sub in tree:
        yield from object_folders(sub, shard - 1)


def blob_bytes(rec: dict[str, Any]) -> bytes:
    """The exact bytes gitmodel stores for ``rec`` (same blobs on both sides)."""
    return json_format.dumps(MODEL, rec)


def shard_parts(object_id: str, shard: int) -> list[str]:
    if not shard:
        return [FOLDER, object_id]
    import hashlib

    digest = hashlib.sha1(object_id.encode()).hexdigest()
    return [FOLDER, *(digest[i * 2 : i * 2 + 2] for i in range(shard)), object_id]


# -- raw pygit2 baselines -----------------------------------------------------------


def raw_bulk(repo: pygit2.Repository, datas: list[tuple[str, bytes]], shard: int = 0,
             blobs: Optional[list[bytes]] = None) -> pygit2.Oid:
    """Blobs, one tree per object folder (in the ``shard`` layout), the
    model tree, the root, one commit."""
    nested: dict[str, Any] = {}
    for i, (object_id, data) in enumerate(datas):
        oid = repo.create_blob(data)
        tb = repo.TreeBuilder()
        if blobs is not None:
            tb.insert("attachment.data", repo.create_blob(blobs[i]), BLOB)
        tb.insert("data.json", oid, BLOB)
        node = nested
        for part in shard_parts(object_id, shard)[1:-1]:
            node = node.setdefault(part, {})
        node[object_id] = tb.write()

    def write(node: dict[str, Any]) -> pygit2.Oid:
        tb = repo.TreeBuilder()
        for name, value in node.items():
            tb.insert(name, value if isinstance(value, pygit2.Oid) else write(value), TREE)
        return tb.write()

    root = repo.TreeBuilder()
    root.insert(FOLDER, write(nested), TREE)
    return repo.create_commit(BRANCH, SIG, SIG, "bulk", root.write(), [])


def _raw_set(repo: pygit2.Repository, tree: Optional[pygit2.Tree], parts: list[str],
             oid: pygit2.Oid) -> pygit2.Oid:
    """Write the trees along ``parts`` with ``oid`` at the end; returns the new tree."""
    tb = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    name = parts[0]
    if len(parts) == 1:
        tb.insert(name, oid, BLOB)
    else:
        sub = None
        if tree is not None and name in tree:
            sub = tree[name]
        tb.insert(name, _raw_set(repo, sub, parts[1:], oid), TREE)
    return tb.write()


def raw_commit_each(repo: pygit2.Repository, datas: list[tuple[str, bytes]], shard: int) -> None:
    """One blob, the changed trees, one commit (and the ref moved) per object."""
    head = repo.references[BRANCH].target
    tree = repo[head].tree
    for object_id, data in datas:
        oid = repo.create_blob(data)
        tree_id = _raw_set(repo, tree, [*shard_parts(object_id, shard), "data.json"], oid)
        head = repo.create_commit(BRANCH, SIG, SIG, f"save {object_id}", tree_id, [head])
        tree = repo[tree_id]


def raw_update(repo: pygit2.Repository, ids: list[str]) -> None:
    """Read, change and rewrite 1% of the objects, then one commit."""
    head = repo.references[BRANCH].target
    tree = repo[head].tree
    for object_id in ids:
        path = "/".join(shard_parts(object_id, DEFAULT_SHARD))
        name, stored = json_format.loads(tree[f"{path}/data.json"].data)
        stored["views"] += 1
        oid = repo.create_blob(json_format.dumps(name, stored))
        tree = repo[_raw_set(repo, tree, [*shard_parts(object_id, DEFAULT_SHARD), "data.json"], oid)]
    repo.create_commit(BRANCH, SIG, SIG, "update", tree.id, [head])


def raw_gets(repo: pygit2.Repository, ids: list[str]) -> int:
    tree = repo.revparse_single(BRANCH).tree
    total = 0
    for object_id in ids:
        doc = json.loads(tree[f"{'/'.join(shard_parts(object_id, DEFAULT_SHARD))}/data.json"].data)
        total += doc["fields"]["views"]
    return total


def raw_list(repo: pygit2.Repository) -> int:
    tree = repo.revparse_single(BRANCH).tree
    count = 0
    for folder in object_folders(tree[FOLDER], DEFAULT_SHARD):
        json.loads(folder["data.json"].data)
        count += 1
    return count


def fast_import_stream(datas: list[tuple[str, bytes]], path: Path) -> None:
    with open(path, "wb") as out:
        for mark, (_object_id, data) in enumerate(datas, 1):
            out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
            out.write(data)
            out.write(b"\n")
        out.write(b"commit %s\n" % BRANCH.encode())
        out.write(b"author bench <bench@localhost> 1700000000 +0000\n")
        out.write(b"committer bench <bench@localhost> 1700000000 +0000\n")
        out.write(b"data 4\nbulk\n")
        for mark, (object_id, _data) in enumerate(datas, 1):
            path = "/".join(shard_parts(object_id, DEFAULT_SHARD))
            out.write(b"M 100644 :%d %s/data.json\n" % (mark, path.encode()))
        out.write(b"\n")


# -- children: one bulk import each, so peak memory is theirs alone ------------------


def child(kind: str, n: int, target: str) -> dict[str, Any]:
    blob = kind.endswith("-blob")
    # a bulk of millions reads its records as it goes (generating them is timed too)
    lazy = kind.startswith("gm-bulk_save") and n > 200_000
    records: Any = iter_records(n) if lazy else make_records(n)
    if kind.startswith("raw"):
        datas = [(r["id"], blob_bytes(r)) for r in records]
        files = [attachment(r) for r in records] if blob else None
        repo = pygit2.init_repository(target, bare=True)
        t0 = clock()
        raw_bulk(repo, datas, default_shard(n), files)
        seconds = clock() - t0
    else:
        ws = Workspace.init(target, bare=True)
        if kind == "gm-bulk":  # its store stays loose, as raw pygit2's: reads compare alike
            no_auto_pack(target)
            ws = Workspace(target)
        shard = 2 if kind.endswith("shard") else 0 if kind.endswith("flat") else None
        Page = define_model(ws, shard=shard, blob=blob)
        if blob:
            records = ({**rec, "attachment": attachment(rec)} for rec in records)
        t0 = clock()
        if kind.startswith("gm-bulk_save") or kind.startswith("gm-build"):
            Page.bulk_save(Page(**r) for r in records)
        else:
            for rec in records:
                Page(**rec).save()
        ws.commit("bulk")
        seconds = clock() - t0
    return {"seconds": seconds, "peak_mb": peak_mb(os.getpid())}


def no_auto_pack(git_dir: Any) -> None:
    """Turn auto-pack off in a repository's config (for the workspaces opened after)."""
    pygit2.Repository(str(git_dir)).config["gitmodel.autoPack"] = 0


def peak_mb(pid: int) -> float:
    """Peak resident memory of ``pid`` since it started its program, in MB.

    ``VmHWM`` from ``/proc`` where there is one: unlike ``ru_maxrss`` it does not
    count the memory of the parent the process was forked from.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid == os.getpid():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return float("nan")


def run_child(kind: str, n: int, target: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--clock", CLOCK_NAME,
           "--n", str(n), "--dir", str(target)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_command(args: list[str], stdin: Any = None) -> dict[str, Any]:
    """Run a command; its time (on the chosen clock) and peak memory."""
    peak = 0.0
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.DEVNULL)
    while True:  # sample the peak while it runs (VmHWM only grows)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, peak_mb(proc.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({proc.returncode})")
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": cpu if CLOCK_NAME == "cpu" else wall, "peak_mb": peak}


def run_fast_import(stream: Path, target: Path) -> dict[str, Any]:
    subprocess.run(["git", "init", "-q", "--bare", str(target)], check=True)
    with open(stream, "rb") as src:
        return run_command(["git", f"--git-dir={target}", "fast-import", "--quiet"], stdin=src)


def repo_size_mb(path: Path, gc: bool = True) -> float:
    if gc:
        subprocess.run(["git", f"--git-dir={path}", "gc", "-q", "--prune=now"], check=True)
    out = subprocess.run(["git", f"--git-dir={path}", "count-objects", "-v"],
                         check=True, capture_output=True, text=True).stdout
    sizes = dict(line.split(": ") for line in out.strip().splitlines())
    return (int(sizes["size"]) + int(sizes["size-pack"])) / 1024


# -- the report -----------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, scenario: str, unit: str, gm: float, baseline_name: str, baseline: float,
            higher_is_better: bool = True, target: str = "",
            met: Optional[Callable[[float], bool]] = None) -> None:
        if higher_is_better:
            ratio = gm / baseline if baseline else float("inf")
        else:
            ratio = baseline / gm if gm else float("inf")
        row = {"scenario": scenario, "unit": unit, "gitmodel": gm, "baseline": baseline_name,
               "baseline_value": baseline, "ratio": ratio, "target": target,
               "met": None if met is None else bool(met(ratio))}
        self.rows.append(row)
        print(_format_row(row), flush=True)


def _num(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}"


HEADER = f"{'scenario':<46} {'gitmodel':>12} {'baseline (same run)':>34} {'ratio':>7}  target"


def _format_row(row: dict[str, Any]) -> str:
    met = {None: "", True: "met", False: "MISSED"}[row["met"]]
    base = f"{row['baseline']} {_num(row['baseline_value'])}"
    gm = f"{_num(row['gitmodel'])} {row['unit']}"
    return (f"{row['scenario']:<46} {gm:>12} {base:>34} {row['ratio']:>6.2f}x  "
            f"{row['target']} {met}".rstrip())


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(func: Callable[[], Any]) -> float:
    t0 = clock()
    func()
    return clock() - t0


def best(*funcs: Callable[[], Any], repeat: int) -> list[float]:
    """The shortest of ``repeat`` timings of each function, taken in turns.

    Turns (a, b, a, b...) put both sides of a comparison under the same load
    of a shared machine; the minimum is the run least disturbed by it.
    """
    times = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            gc.collect()  # free the previous turn's repositories before the next one
            times[i] = min(times[i], func())
    return times


#: the groups of scenarios ``--only`` chooses from
GROUPS = ("bulk", "blob", "gets", "update", "commits", "autopack", "pack")


def bench(n: int, root: Path, commits: int, report: Report, repeat: int,
          only: frozenset[str] = frozenset(GROUPS), no_loose: bool = False) -> None:
    """Every scenario of ``only``; ``no_loose`` leaves out those that write one loose
    file per stored object (the ``save()`` loop, the raw pygit2 imports, the flat
    store): at a million objects they would be millions of files. Then the reads and
    commits run on the ``bulk_save`` store (one pack) beside ``git fast-import``'s."""
    global DEFAULT_SHARD
    DEFAULT_SHARD = default_shard(n)  # the baselines write the paths gitmodel's default gives
    records = make_records(n)
    datas = [(r["id"], blob_bytes(r)) for r in records]
    ids = [r["id"] for r in records]
    stream = root / "stream.fi"
    fast_import_stream(datas, stream)
    bulk_repeat = 1 if n >= 50_000 else repeat

    # -- bulk: N saves, one commit (child processes, repeated on fresh folders) -------------
    runs: dict[str, list[dict[str, Any]]] = {"gm": [], "raw": [], "fi": [], "gb": []}
    has_bulk_save = hasattr(gitmodel.GitModel, "bulk_save")
    if no_loose:
        bulk_packed(n, root, stream, report, only, repeat, commits, ids)
        return
    reps = bulk_repeat if "bulk" in only else 1  # the stores what follows works on
    for rep in range(reps):
        last = rep == reps - 1  # the last run's repositories are kept for what follows
        name = (lambda base: root / (f"{base}.git" if last else f"{base}-{rep}.git"))
        runs["gm"].append(run_child("gm-bulk", n, name("gm")))
        runs["raw"].append(run_child("raw", n, name("raw")))
        runs["fi"].append(run_fast_import(stream, name("fi")))
        if has_bulk_save:
            runs["gb"].append(run_child("gm-bulk_save", n, name("gmb")))
        if not last:
            for base in ("gm", "raw", "fi", "gmb"):
                shutil.rmtree(name(base), ignore_errors=True)
    gm, raw, fi = (_best_run(runs[k]) for k in ("gm", "raw", "fi"))
    if "bulk" in only:
        report_bulk(n, report, gm, raw, fi, _best_run(runs["gb"]) if has_bulk_save else None)
    if has_bulk_save and "blob" in only:
        blob_runs: dict[str, list[dict[str, Any]]] = {"gm": [], "raw": []}
        for rep in range(bulk_repeat):
            blob_runs["gm"].append(run_child("gm-bulk_save-blob", n, root / f"gmblob-{rep}.git"))
            blob_runs["raw"].append(run_child("raw-blob", n, root / f"rawblob-{rep}.git"))
            for base in ("gmblob", "rawblob"):
                shutil.rmtree(root / f"{base}-{rep}.git", ignore_errors=True)
        gbb, rawb = _best_run(blob_runs["gm"]), _best_run(blob_runs["raw"])
        blob_rate = rate(n, gbb["seconds"])
        report.add("bulk: bulk_save(N) with a BlobField + 1 commit", "obj/s", blob_rate,
                   "raw pygit2 TreeBuilder, same files", rate(n, rawb["seconds"]),
                   target=">= 10,000/s", met=lambda _r: blob_rate >= 10_000)
    order = ids[:]
    random.Random(1).shuffle(order)
    if "gets" in only:
        loose_reads(n, root, order, report, repeat)
    if "update" in only:
        update(root, ids, report, repeat, "gm.git", "raw.git")
    if "commits" in only:
        single_commits(n, root, commits, report, repeat)
    if "autopack" in only:
        auto_pack(root, 50 * commits, report)
    if "pack" in only:
        pack_and_sizes(root, order, report, repeat, has_bulk_save)


def bulk_packed(n: int, root: Path, stream: Path, report: Report, only: frozenset[str],
                repeat: int, commits: int, ids: list[str]) -> None:
    """The scenarios of ``--no-loose``: ``bulk_save`` beside ``git fast-import``, then
    first gets, an update and single commits on those two packed stores."""
    fi = run_fast_import(stream, root / "fi.git")
    gb = run_child("gm-bulk_save", n, root / "gmb.git")
    bulk_rate = rate(n, gb["seconds"])
    report.add("bulk: Model.bulk_save(N) + 1 commit", "obj/s", bulk_rate,
               "git fast-import", rate(n, fi["seconds"]), target=">= 10,000/s",
               met=lambda _r: bulk_rate >= 10_000)
    report.add("peak memory, bulk_save run", "MB", gb["peak_mb"], "git fast-import",
               fi["peak_mb"], higher_is_better=False, target="< 1.5 GB at 1,000,000",
               met=lambda _r: gb["peak_mb"] < 1500)
    order = ids[:]
    random.Random(1).shuffle(order)
    if "gets" in only:
        # the same pack on both sides, the raw side in a copy of its own (libgit2
        # shares an open pack, and its caches, within a process)
        shutil.copytree(root / "gmb.git", root / "gmb-copy.git")

        def packed_gm() -> float:
            fresh = Workspace(str(root / "gmb.git"))
            model = define_model(fresh)
            return timed(lambda: [model.get(i) for i in order])

        def packed_raw() -> float:
            fresh = pygit2.Repository(str(root / "gmb-copy.git"))
            return timed(lambda: raw_gets(fresh, order))

        t_gm, t_raw = best(packed_gm, packed_raw, repeat=repeat)
        report.add("get by id once, packed (bulk_save store)", "get/s", rate(n, t_gm),
                   "raw pygit2, same pack", rate(n, t_raw), target=">= 0.8x",
                   met=lambda r: r >= 0.8)
        shutil.rmtree(root / "gmb-copy.git", ignore_errors=True)
    if "update" in only:
        update(root, ids, report, repeat, "gmb.git", "fi.git")
    if "commits" in only:
        # at N >= 1,024 the default layout is shard = 2, the paths fast-import wrote
        k = min(commits, n)
        run_child("gm-build-shard", min(SMALL_STORE, n), root / "shard-small.git")
        opened = {"gmb.git": Workspace(str(root / "gmb.git")),
                  "shard-small.git": Workspace(str(root / "shard-small.git"))}
        define_model(opened["gmb.git"])
        define_model(opened["shard-small.git"], shard=2)
        batches = iter(range(n, n + 40 * repeat * k, k))
        repo = pygit2.Repository(str(root / "fi.git"))

        def gm_commits(name: str) -> Callable[[], float]:
            def run() -> float:
                model = opened[name].models["Page"]
                news = make_records(k, start=next(batches))
                return timed(lambda: [model(**r).save(commit=True, message=f"save {r['id']}")
                                      for r in news])
            return run

        def raw_commits() -> float:
            more = [(r["id"], blob_bytes(r)) for r in make_records(k, start=next(batches))]
            return timed(lambda: raw_commit_each(repo, more, shard=DEFAULT_SHARD))

        t_big, t_small, t_raw = best(gm_commits("gmb.git"), gm_commits("shard-small.git"),
                                     raw_commits, repeat=repeat)
        big_rate = rate(k, t_big)
        report.add(f"save+commit each, default layout (shard=2), store of N ({k})",
                   "commit/s", big_rate, "raw pygit2 on the fast-import store", rate(k, t_raw),
                   target=">= 1.0x and >= 1000/s", met=lambda r: r >= 1.0 and big_rate >= 1000)
        report.add("save+commit each, sharded: N vs 1,000", "commit/s", big_rate,
                   f"gitmodel at {min(SMALL_STORE, n):,}", rate(k, t_small),
                   target="no slower (>= 0.9x)", met=lambda r: r >= 0.9)
        del opened


def report_bulk(n: int, report: Report, gm: dict[str, Any], raw: dict[str, Any],
                fi: dict[str, Any], gb: Optional[dict[str, Any]]) -> None:
    report.add("bulk: N saves + 1 commit (auto-pack off)", "obj/s", rate(n, gm["seconds"]),
               "raw pygit2 TreeBuilder", rate(n, raw["seconds"]), target=">= 0.8x",
               met=lambda r: r >= 0.8)
    report.add("bulk: N saves + 1 commit (auto-pack off)", "obj/s", rate(n, gm["seconds"]),
               "git fast-import", rate(n, fi["seconds"]), target=">= 1.0x",
               met=lambda r: r >= 1.0)
    if gb is not None:
        report.add("bulk: Model.bulk_save(N) + 1 commit", "obj/s", rate(n, gb["seconds"]),
                   "raw pygit2 TreeBuilder", rate(n, raw["seconds"]), target=">= 0.8x",
                   met=lambda r: r >= 0.8)
        report.add("bulk: Model.bulk_save(N) + 1 commit", "obj/s", rate(n, gb["seconds"]),
                   "git fast-import", rate(n, fi["seconds"]), target=">= 1.0x",
                   met=lambda r: r >= 1.0)
    report.add("peak memory, bulk run", "MB", gm["peak_mb"], "raw pygit2", raw["peak_mb"],
               higher_is_better=False, target="< 500 MB", met=lambda _r: gm["peak_mb"] < 500)
    report.add("peak memory, bulk run", "MB", gm["peak_mb"], "git fast-import", fi["peak_mb"],
               higher_is_better=False)
    if gb is not None:
        report.add("peak memory, bulk_save run", "MB", gb["peak_mb"], "raw pygit2",
                   raw["peak_mb"], higher_is_better=False, target="< 1.5 GB at 1,000,000",
                   met=lambda _r: gb["peak_mb"] < 1500)


def loose_reads(n: int, root: Path, order: list[str], report: Report, repeat: int) -> None:
    """Gets and listing on the stores of loose objects (each turn on a fresh workspace)."""
    hot = order[-min(n, HOT_SET):]  # the most recent reads: they fit the default cache
    gets = {key: float("inf") for key in ("gm1", "raw1", "gm2", "raw2", "gm3", "raw3")}
    for _ in range(repeat):
        ws = Workspace(str(root / "gm.git"))
        Page = define_model(ws)
        repo = pygit2.Repository(str(root / "raw.git"))
        for key, func in (
            ("gm1", lambda: [Page.get(i) for i in order]),
            ("raw1", lambda: raw_gets(repo, order)),
            ("gm2", lambda: [Page.get(i) for i in hot]),
            ("raw2", lambda: raw_gets(repo, hot)),
            ("gm3", lambda: [Page.get(i) for i in order]),
            ("raw3", lambda: raw_gets(repo, order)),
        ):
            gets[key] = min(gets[key], timed(func))
        del ws, Page, repo
        gc.collect()
    report.add("get by id, each object once", "get/s", rate(n, gets["gm1"]),
               "raw pygit2 lookup+read+loads", rate(n, gets["raw1"]), target=">= 0.8x",
               met=lambda r: r >= 0.8)
    report.add(f"get by id, again ({len(hot):,} most recent)", "get/s",
               rate(len(hot), gets["gm2"]), "raw pygit2 lookup+read+loads",
               rate(len(hot), gets["raw2"]))
    report.add(f"get by id, again ({len(hot):,}) vs once", "get/s", rate(len(hot), gets["gm2"]),
               "gitmodel, once", rate(n, gets["gm1"]), target=">= 5x", met=lambda r: r >= 5)
    report.add("get by id, all N again", "get/s", rate(n, gets["gm3"]),
               "raw pygit2 lookup+read+loads", rate(n, gets["raw3"]), target=">= 1.0x",
               met=lambda r: r >= 1.0)

    def fresh_list_gm() -> float:
        fresh = Workspace(str(root / "gm.git"))
        model = define_model(fresh)
        return timed(lambda: list(model.all()))

    def fresh_list_raw() -> float:
        fresh = pygit2.Repository(str(root / "raw.git"))
        return timed(lambda: raw_list(fresh))

    t_gm, t_raw = best(fresh_list_gm, fresh_list_raw, repeat=repeat)
    report.add("list all N", "obj/s", rate(n, t_gm), "raw pygit2 folder loop",
               rate(n, t_raw), target=">= 0.9x", met=lambda r: r >= 0.9)



def update(root: Path, ids: list[str], report: Report, repeat: int, ours: str,
           theirs: str) -> None:
    """Read, change and save 1% of the objects, then one commit."""
    ws = Workspace(str(root / ours))
    Page = define_model(ws)
    repo = pygit2.Repository(str(root / theirs))
    some = ids[:: 100] or ids[:1]

    def gm_update() -> None:
        for object_id in some:
            page = Page.get(object_id)
            page.views += 1
            page.save()
        ws.commit("update")

    t_gm, t_raw = best(lambda: timed(gm_update), lambda: timed(lambda: raw_update(repo, some)),
                       repeat=repeat)
    report.add(f"update 1% ({len(some)}) + 1 commit", "s", t_gm, "raw pygit2", t_raw,
               higher_is_better=False)



def single_commits(n: int, root: Path, commits: int, report: Report, repeat: int) -> None:
    """Save + commit each: the default layout, explicit shard=2, flat (opt-out)."""
    k = min(commits, n)
    small = min(SMALL_STORE, n)
    # each flat commit rewrites the N-entry folder: fewer of them at large N
    k_flat = min(commits, n, max(20, 2_000_000 // n))
    stores = (("default.git", n, "gm-build"), ("default-small.git", small, "gm-build"),
              ("shard.git", n, "gm-build-shard"), ("shard-small.git", small, "gm-build-shard"),
              ("flat.git", n, "gm-build-flat"), ("raw-default.git", n, "raw"),
              ("raw-shard.git", n, "raw-shard"), ("raw-flat.git", n, "raw-flat"))
    for name, size, kind in stores:  # the stores to work on, not timed
        if kind == "raw-shard" or kind == "raw-flat":
            repo = pygit2.init_repository(str(root / name), bare=True)
            raw_bulk(repo, [(r["id"], blob_bytes(r)) for r in make_records(size)],
                     2 if kind == "raw-shard" else 0)
            del repo
        else:
            run_child(kind, size, root / name)
    for name in ("shard.git", "shard-small.git"):  # the same stores, auto-pack off
        shutil.copytree(root / name, root / f"nopack-{name}")
        no_auto_pack(root / f"nopack-{name}")
    batches = iter(range(n, n + 40 * repeat * k, k))
    opened: dict[str, Any] = {}
    for name, shard in (("default.git", None), ("default-small.git", None), ("shard.git", 2),
                        ("shard-small.git", 2), ("flat.git", 0), ("nopack-shard.git", 2),
                        ("nopack-shard-small.git", 2)):
        opened[name] = Workspace(str(root / name))
        define_model(opened[name], shard=shard)

    def gm_commits(name: str, count: int) -> Callable[[], float]:
        def run() -> float:
            model = opened[name].models["Page"]
            news = make_records(count, start=next(batches))
            return timed(lambda: [model(**r).save(commit=True, message=f"save {r['id']}")
                                  for r in news])
        return run

    def raw_commits(name: str, shard: int, count: int) -> Callable[[], float]:
        repo = pygit2.Repository(str(root / name))

        def run() -> float:
            more = [(r["id"], blob_bytes(r)) for r in make_records(count, start=next(batches))]
            return timed(lambda: raw_commit_each(repo, more, shard=shard))
        return run

    t_big, t_small, t_raw = best(gm_commits("default.git", k), gm_commits("default-small.git", k),
                                 raw_commits("raw-default.git", DEFAULT_SHARD, k), repeat=repeat)
    default_rate = rate(k, t_big)
    report.add(f"save+commit each, default layout, store of N ({k})", "commit/s", default_rate,
               "raw pygit2, same paths", rate(k, t_raw), target=">= 1.0x and >= 1000/s",
               met=lambda r: r >= 1.0 and default_rate >= 1000)
    report.add("save+commit each, default layout: N vs 1,000", "commit/s", default_rate,
               f"gitmodel at {small:,}", rate(k, t_small),
               target="no slower (>= 0.9x)", met=lambda r: r >= 0.9)
    t_big, t_small, t_raw = best(gm_commits("shard.git", k), gm_commits("shard-small.git", k),
                                 raw_commits("raw-shard.git", 2, k), repeat=repeat)
    big_rate = rate(k, t_big)
    report.add(f"save+commit each, Meta.shard=2 ({k})", "commit/s", big_rate,
               "raw pygit2 sharded", rate(k, t_raw), target=">= 1000/s",
               met=lambda _r: big_rate >= 1000)
    report.add("save+commit each, sharded: N vs 1,000", "commit/s", big_rate,
               f"gitmodel at {small:,}", rate(k, t_small),
               target="no slower (>= 0.9x)", met=lambda r: r >= 0.9)
    t_big, t_small, t_raw = best(gm_commits("nopack-shard.git", k),
                                 gm_commits("nopack-shard-small.git", k),
                                 raw_commits("raw-shard.git", 2, k), repeat=repeat)
    big_rate = rate(k, t_big)
    report.add(f"save+commit each, Meta.shard=2, auto-pack off ({k})", "commit/s", big_rate,
               "raw pygit2 sharded", rate(k, t_raw), target=">= 1.0x and >= 1000/s",
               met=lambda r: r >= 1.0 and big_rate >= 1000)
    report.add("save+commit each, sharded, auto-pack off: N vs 1,000", "commit/s", big_rate,
               f"gitmodel at {small:,}", rate(k, t_small),
               target="no slower (>= 0.9x)", met=lambda r: r >= 0.9)
    t_gm, t_raw = best(gm_commits("flat.git", k_flat), raw_commits("raw-flat.git", 0, k_flat),
                       repeat=repeat)
    report.add(f"save+commit each, flat (Meta.shard=0), store of N ({k_flat})", "commit/s",
               rate(k_flat, t_gm), "raw pygit2 flat rewrite", rate(k_flat, t_raw),
               target=">= 0.8x", met=lambda r: r >= 0.8)
    del opened


def pack_and_sizes(root: Path, order: list[str], report: Report, repeat: int,
                   has_bulk_save: bool) -> None:
    """Size on disk, ``ws.pack()`` against ``git repack``, then reads from the pack."""
    n = len(order)
    loose_gm = repo_size_mb(root / "gm.git", gc=False)
    loose_raw = repo_size_mb(root / "raw.git", gc=False)
    report.add("repository size before gc", "MB", loose_gm, "raw pygit2", loose_raw,
               higher_is_better=False)

    # -- packing loose objects, and reads from the pack ------------------------------------
    ws = Workspace(str(root / "gm.git"))
    t_gm = timed(ws.pack)
    t_raw = run_command(["git", f"--git-dir={root / 'raw.git'}", "repack", "-d", "-q"])["seconds"]
    report.add("ws.pack(): loose objects into one pack", "s", t_gm, "git repack -d", t_raw,
               higher_is_better=False)
    del ws

    def packed_gm() -> float:
        fresh = Workspace(str(root / "gm.git"))
        model = define_model(fresh)
        return timed(lambda: [model.get(i) for i in order])

    # the same pack (delta chains differ from one packer to another), in a copy of
    # its own: libgit2 shares an open pack, and its caches, within a process
    shutil.copytree(root / "gm.git", root / "gm-copy.git")

    def packed_raw() -> float:
        fresh = pygit2.Repository(str(root / "gm-copy.git"))
        return timed(lambda: raw_gets(fresh, order))

    t_gm, t_raw = best(packed_gm, packed_raw, repeat=repeat)
    report.add("get by id once, packed", "get/s", rate(n, t_gm),
               "raw pygit2, same pack", rate(n, t_raw), target=">= 0.8x", met=lambda r: r >= 0.8)

    raw_gc = repo_size_mb(root / "raw.git")
    report.add("repository size after git gc", "MB", repo_size_mb(root / "gm.git"),
               "raw pygit2 (count-objects)", raw_gc, higher_is_better=False)
    if has_bulk_save:  # the bulk_save store has no single-commit history: compare to fast-import
        report.add("repository size after git gc, bulk_save store", "MB",
                   repo_size_mb(root / "gmb.git"), "git fast-import store",
                   repo_size_mb(root / "fi.git"), higher_is_better=False)


def auto_pack(root: Path, k: int, report: Report) -> None:
    """``k`` single commits on a sharded model, packed automatically along the way;
    then the repository's size beside what ``git gc`` leaves of a copy of it."""
    path = root / "autopack.git"
    ws = Workspace.init(str(path), bare=True)
    model = define_model(ws, shard=2)
    news = make_records(k, start=10_000_000)
    for r in news:
        model(**r).save(commit=True, message=f"save {r['id']}")
    ws.store.auto_pack.wait()  # a pack still running in the background finishes
    ours = repo_size_mb(path, gc=False)
    shutil.copytree(path, root / "autopack-gc.git")
    report.add(f"size after {k:,} single commits, auto-pack", "MB", ours,
               "the same after git gc", repo_size_mb(root / "autopack-gc.git"),
               higher_is_better=False, target="<= 1.5x", met=lambda r: r >= 1 / 1.5)
    del ws, model


def _best_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated child runs, with the highest peak memory seen."""
    fastest = min(runs, key=lambda r: r["seconds"])
    return {"seconds": fastest["seconds"], "peak_mb": max(r["peak_mb"] for r in runs)}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="objects in the store (default 10000)")
    parser.add_argument("--quick", action="store_true", help="small N for CI (200 unless --n)")
    parser.add_argument("--tmpdir", default=None, help="folder for the repositories (e.g. a tmpfs)")
    parser.add_argument("--commits", type=int, default=None,
                        help="objects saved one commit each (default 200, quick 20)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="turns per measurement, best kept (default 3, quick 1)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: CPU time of the measured process (default; steady on a "
                        "shared machine); wall: elapsed time (includes waits for the disk)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help="comma-separated groups of scenarios to run, of: "
                        + ", ".join(GROUPS) + " (default all)")
    parser.add_argument("--no-loose", action="store_true",
                        help="leave out the scenarios that write a loose file per object (the "
                        "save() loop, raw pygit2 imports, flat store): bulk_save against git "
                        "fast-import, then gets, update and commits on those packed stores")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the repositories")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.n if args.n is not None else (200 if args.quick else 10000)
    global CLOCK_NAME, clock
    CLOCK_NAME, clock = args.clock, CLOCKS[args.clock]
    if args.child:
        print(json.dumps(child(args.child, n, args.dir)))
        return 0
    commits = args.commits if args.commits is not None else (20 if args.quick else 200)
    only = frozenset(g.strip() for g in args.only.split(",") if g.strip())
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    repeat = max(1, args.repeat if args.repeat is not None else (1 if args.quick else 3))
    root = Path(tempfile.mkdtemp(prefix="gitmodel-bench-", dir=args.tmpdir))
    env = {
        "n": n, "commits": commits, "repeat": repeat, "clock": CLOCK_NAME, "folder": str(Path(args.tmpdir or tempfile.gettempdir())),
        "python": platform.python_version(), "pygit2": pygit2.__version__,
        "libgit2": pygit2.LIBGIT2_VERSION, "gitmodel": gitmodel.__version__,
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        "cpus": os.cpu_count(), "only": sorted(only), "no_loose": args.no_loose,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(f"gitmodel benchmark: N={n:,}, {commits} single commits, in {env['folder']}, "
          f"{CLOCK_NAME} time, best of {repeat}")
    print(f"python {env['python']}, pygit2 {env['pygit2']}, libgit2 {env['libgit2']}, {env['git']}")
    print(HEADER)
    report = Report()
    t0 = time.perf_counter()
    try:
        bench(n, root, commits, report, repeat, only, args.no_loose)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    env["seconds"] = time.perf_counter() - t0
    print(f"done in {env['seconds']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "rows": report.rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
