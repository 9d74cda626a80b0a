"""Counts, sums and averages over a whole model come from a tally the index
keeps as it moves (rows, values, the exact sum of the integers), with the
answers Python gives: across commits that add, change and delete objects,
branches that copy an index, integers past 64 bits and fields left empty."""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from gitmodel import Avg, Count, Sum, Workspace, fields

from attacker import fsck

_counter = itertools.count()
IDS = st.sampled_from([f"p{i}" for i in range(8)])
SCORES = st.one_of(st.none(), st.integers(-5, 5), st.integers(-(2**70), 2**70))
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("save"), IDS, SCORES),
        st.tuples(st.just("delete"), IDS, st.none()),
        st.tuples(st.just("branch"), st.sampled_from(["master", "other"]), st.none()),
    ),
    min_size=1, max_size=12,
)
AGGREGATES = dict(n=Count("pk"), c=Count("score"), s=Sum("score"), a=Avg("score"))


def make():
    ws = Workspace.init(tempfile.mkdtemp(prefix="tally-") + f"/t{next(_counter)}.git")

    class Post(ws.GitModel):
        score = fields.IntegerField(index=True, required=False)
        title = fields.CharField(default="t")

    Post(id="seed", score=1).save(commit=True)
    ws.create_branch("other")
    return ws, Post


def expected(Post):
    scores = [p.score for p in Post.all()]
    present = [s for s in scores if s is not None]
    return {"n": len(scores), "c": len(present), "s": sum(present) if present else None,
            "a": sum(present) / len(present) if present else None}


def tallies_match_rows(ws):
    """The tally of every slot equals what its rows say."""
    db = sqlite3.connect(os.path.join(ws.repo.path, "gitmodel", "index.sqlite"))
    try:
        kept = {(slot, field): (n, nn, other, int(total)) for slot, field, n, nn, other, total
                in db.execute("SELECT slot, field, n, nn, other, total FROM tally") if n}
        rows = {}
        for slot, field, value in db.execute("SELECT slot, field, value FROM val"):
            entry = rows.setdefault((slot, field), [0, 0, 0, 0])
            entry[0] += 1
            if value is not None:
                entry[1] += 1
                if type(value) is int:
                    entry[3] += value
                else:
                    entry[2] += 1
        return kept == {key: tuple(v) for key, v in rows.items()}, kept, rows
    finally:
        db.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_whole_model_aggregates_follow_every_commit(steps):
    ws, Post = make()
    for i, (kind, key, score) in enumerate(steps):
        if kind == "branch":
            ws.set_branch(key)
        elif kind == "save":
            try:
                obj = Post.get(key)
            except Post.DoesNotExist:
                obj = Post(id=key)
            obj.score = score
            obj.save(commit=True, message=f"step {i}")
        else:
            try:
                Post.get(key).delete(commit=True, message=f"step {i}")
            except Post.DoesNotExist:
                continue
        got = Post.all().aggregate(**AGGREGATES)
        want = expected(Post)
        if want["a"] is None:
            assert got == want
        else:
            assert {k: got[k] for k in "ncs"} == {k: want[k] for k in "ncs"}
            assert abs(got["a"] - want["a"]) <= abs(want["a"]) * 1e-12
        assert Post.all().count() == want["n"]
        same, kept, rows = tallies_match_rows(ws)
        assert same, (kept, rows)
    fsck(ws.path)


def test_a_sum_past_64_bits_is_exact(tmp_path):
    ws = Workspace.init(str(tmp_path / "big.git"))

    class Post(ws.GitModel):
        score = fields.IntegerField(index=True)

    Post.bulk_save([Post(id=f"p{i}", score=2**62) for i in range(8)], commit=True)
    assert Post.all().aggregate(s=Sum("score"), n=Count("pk")) == {"s": 8 * 2**62, "n": 8}
    Post.get("p3").delete(commit=True)
    assert Post.all().aggregate(s=Sum("score"), a=Avg("score")) == {"s": 7 * 2**62, "a": 2**62}
    assert tallies_match_rows(ws)[0]


LOOKUPS = [
    ({"score__gte": 50}, lambda o: o.score is not None and o.score >= 50),
    ({"score__in": [1, 2, 3, 999]}, lambda o: o.score in (1, 2, 3)),
    ({"score__isnull": True}, lambda o: o.score is None),
    ({"score__range": (10, 20)}, lambda o: o.score is not None and 10 <= o.score <= 20),
    ({"score": 14}, lambda o: o.score == 14),
    ({"tag": "t1"}, lambda o: o.tag == "t1"),
    ({"tag__in": ["t1", "t2"]}, lambda o: o.tag in ("t1", "t2")),
]


def test_filtered_aggregates_and_counts_equal_python(tmp_path):
    # a condition on the aggregated field reads that field's own index range;
    # on another field, the files it keeps
    ws = Workspace.init(str(tmp_path / "f.git"))

    class Post(ws.GitModel):
        score = fields.IntegerField(index=True, required=False)
        tag = fields.CharField(index=True, required=False)

    Post.bulk_save([Post(id=f"p{i}", score=None if i % 7 == 0 else i, tag=f"t{i % 3}")
                    for i in range(100)], commit=True)
    Post.get("p14").delete(commit=True)
    objs = list(Post.all())
    for lookup, keep in LOOKUPS:
        chosen = [o for o in objs if keep(o)]
        values = [o.score for o in chosen if o.score is not None]
        want = {"n": len(chosen), "c": len(values), "s": sum(values) if values else None,
                "a": sum(values) / len(values) if values else None}
        assert Post.filter(**lookup).aggregate(**AGGREGATES) == want, lookup
        assert Post.filter(**lookup).count() == len(chosen), lookup
        assert sorted(Post.filter(**lookup).ids()) == sorted(o.id for o in chosen), lookup


def test_tallies_stay_true_when_old_slots_are_dropped(tmp_path):
    # more branches than the index keeps copies of: the least recent copies
    # are dropped with their tallies, and each branch keeps its own answer
    from gitmodel.query.indexes import MAX_SLOTS

    ws = Workspace.init(str(tmp_path / "lanes.git"))

    class Post(ws.GitModel):
        score = fields.IntegerField(index=True)

    base = Post(id="base", score=1).save(commit=True)
    branches = [f"b{i}" for i in range(MAX_SLOTS + 3)]
    for name in branches:
        ws.create_branch(name, base)
    for turn in range(2):
        for i, name in enumerate(branches):
            ws.set_branch(name)
            Post(id=f"{name}-{turn}", score=10 * i + turn).save(commit=True)
            want = 1 + sum(10 * i + t for t in range(turn + 1))
            assert Post.all().aggregate(s=Sum("score"), n=Count("pk")) == {"s": want, "n": turn + 2}
            same, kept, rows = tallies_match_rows(ws)
            assert same, (kept, rows)
    fsck(ws.path)
