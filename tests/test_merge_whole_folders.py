"""A merge takes a folder that one side alone changed as that side has it.

Checked against plain git: where the two sides changed different objects,
the merged tree is exactly the one ``git merge-tree --write-tree`` writes.
"""

from __future__ import annotations

import subprocess
import tempfile

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attacker import TREE, raw_tree
from gitmodel import Workspace, fields
from gitmodel.exceptions import CorruptObject, GitModelError


def git(path, *args, check=True):
    return subprocess.run(["git", f"--git-dir={path}", *args], capture_output=True, text=True, check=check)


def define(ws, shard):
    class Page(ws.GitModel):
        title = fields.CharField()
        views = fields.IntegerField(default=0)

    class Tag(ws.GitModel):
        label = fields.CharField()

    if shard is not None:
        Page._meta.shard = shard
    return Page, Tag


def store(tmp_path, shard, n):
    path = str(tmp_path / "store.git")
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("Ann", "ann@example.com"))
    Page, Tag = define(ws, shard)
    Page.bulk_save(Page(id=f"p{i}", title=f"t{i}") for i in range(n))
    for i in range(5):
        Tag(id=f"tag{i}", label=f"l{i}").save()
    ws.commit("store")
    ws.create_branch("theirs")
    return ws, Page, Tag


def edit(ws, Page, branch, changes):
    ws.set_branch(branch)
    for ident, change in changes.items():
        if change is None:
            Page.get(ident).delete()
        elif Page.filter(id=ident).exists():
            page = Page.get(ident)
            for name, value in change.items():
                setattr(page, name, value)
            page.save()
        else:
            Page(id=ident, **change).save()
    return ws.commit(f"edits on {branch}")


@pytest.mark.parametrize("shard, n", [(None, 40), (None, 1100), (1, 300), (2, 300)])
def test_objects_changed_on_one_side_each_give_git_merge_trees_tree(tmp_path, shard, n):
    ws, Page, Tag = store(tmp_path, shard, n)
    ours = {f"p{i}": {"title": "ours"} for i in range(0, n, 7)}
    ours.update({"p1": None, "new-ours": {"title": "n"}})
    theirs = {f"p{i}": {"views": 5} for i in range(3, n, 11) if f"p{i}" not in ours}
    theirs.update({"p2": None, "new-theirs": {"title": "m"}})
    their_commit = edit(ws, Page, "theirs", theirs)
    tag = Tag.get("tag1")
    tag.label = "theirs"
    tag.save()
    their_commit = ws.commit("a tag")  # the whole tag folder changed on their side alone
    our_commit = edit(ws, Page, "master", ours)

    result = ws.merge("theirs")
    assert result.commit is not None and result.conflicts == []
    expected = git(ws.path, "merge-tree", "--write-tree", str(our_commit), str(their_commit)).stdout.split()[0]
    merged = ws.repo[result.commit]
    assert str(merged.tree.id) == expected
    assert merged.tree["tag"].id == ws.repo[their_commit].tree["tag"].id
    assert [str(p) for p in merged.parent_ids] == [str(our_commit), str(their_commit)]
    assert Page.get("p0").title == "ours" and Page.get("p3").views == 5
    assert Page.get("new-ours").title == "n" and Page.get("new-theirs").title == "m"
    assert not Page.filter(id__in=["p1", "p2"]).exists()
    assert Tag.get("tag1").label == "theirs" and Page.all().count() == n
    assert git(ws.path, "fsck", "--strict", "--no-dangling", check=False).returncode == 0


@pytest.mark.parametrize("shard", [1, 2])
def test_an_object_changed_on_both_sides_still_merges_field_by_field(tmp_path, shard):
    ws, Page, Tag = store(tmp_path, shard, 200)
    edit(ws, Page, "theirs", {"p5": {"views": 9}, "p6": {"views": 1}})
    edit(ws, Page, "master", {"p5": {"title": "ours"}, "p7": {"title": "x"}})
    result = ws.merge("theirs")
    assert result.conflicts == [] and result.commit is not None
    page = Page.get("p5")
    assert (page.title, page.views) == ("ours", 9)
    assert Page.get("p6").views == 1 and Page.get("p7").title == "x"


@pytest.mark.parametrize("shard", [None, 1, 2])
def test_the_same_change_on_both_sides_still_meets_the_merge_rule(tmp_path, shard):
    """Both sides add one to a counter: their folders are the same, but the
    rule counts both additions."""
    path = str(tmp_path / "store.git")
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("Ann", "ann@example.com"))

    class Counter(ws.GitModel):
        total = fields.IntegerField(default=0, merge=lambda base, ours, theirs: ours + theirs - base)

    if shard is not None:
        Counter._meta.shard = shard
    Counter(id="shared").save()
    ws.commit("base")
    ws.create_branch("theirs")
    for branch in ("theirs", "master"):
        ws.set_branch(branch)
        counter = Counter.get("shared")
        counter.total += 1
        counter.save()
        Counter(id=f"own-{branch}").save()  # and something of its own, so the two sides differ
        ws.commit(f"+1 on {branch}")
    result = ws.merge("theirs")
    assert result.commit is not None and Counter.get("shared").total == 2
    assert Counter.filter(id__in=["own-theirs", "own-master"]).count() == 2


def test_a_clash_inside_a_sharded_store_is_still_a_conflict(tmp_path):
    ws, Page, Tag = store(tmp_path, 2, 200)
    edit(ws, Page, "theirs", {"p5": {"title": "theirs"}, "p6": {"views": 1}})
    head = edit(ws, Page, "master", {"p5": {"title": "ours"}})
    result = ws.merge("theirs")
    assert result.commit is None and [(c.id, c.field) for c in result.conflicts] == [("p5", "title")]
    assert ws.branch.commit.id == head
    ws.abort_merge()
    assert Page.get("p5").title == "ours" and Page.get("p6").views == 0


def test_a_model_others_refer_to_is_still_checked_for_integrity(tmp_path):
    path = str(tmp_path / "store.git")
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("Ann", "ann@example.com"))

    class Author(ws.GitModel):
        name = fields.CharField()

        class Meta:
            shard = 2

    class Post(ws.GitModel):
        author = fields.RelatedField(Author, on_delete=fields.PROTECT)

    for i in range(50):
        Author(id=f"a{i}", name="x").save()
    ws.commit("authors")
    ws.create_branch("theirs")
    ws.set_branch("theirs")
    Author.get("a3").delete()
    ws.commit("their side deletes a3")
    ws.set_branch("master")
    Post(id="post", author="a3").save()
    head = ws.commit("our side refers to a3")
    result = ws.merge("theirs")
    assert result.commit is None and ws.branch.commit.id == head
    assert any(c.model is Post and c.id == "post" for c in result.conflicts)


@pytest.mark.parametrize("target", ["blob", "missing"])
def test_a_folder_entry_not_naming_a_folder_is_refused_and_nothing_changes(tmp_path, target):
    """Their hash folder entry has the folder mode but names a blob or no
    object: taken whole, it would put a broken folder in the merge."""
    ws, Page, Tag = store(tmp_path, 1, 100)
    repo = ws.repo
    base = repo[ws.branch.commit.id].tree
    folder = base["page"]
    names = sorted(entry.name for entry in folder)
    victim = names[0]
    bad = repo.create_blob(b"not a folder") if target == "blob" else pygit2.Oid(hex="1" * 40)
    entries = [(e.name.encode(), e.filemode, e.id) for e in folder if e.name != victim]
    entries.append((victim.encode(), TREE, bad))
    root = [(e.name.encode(), e.filemode, e.id) for e in base if e.name != "page"]
    root.append((b"page", TREE, raw_tree(repo, entries)))
    sig = pygit2.Signature("Mallory", "m@example.com", 1_700_000_000, 0)
    theirs = repo.create_commit(None, sig, sig, "bad folder\n", raw_tree(repo, root), [ws.branch.commit.id])
    repo.references.create("refs/heads/theirs", theirs, force=True)
    ours_id = next(f"p{i}" for i in range(100)
                   if Page._meta.get_object_folder(f"p{i}").split("/")[1] != victim)
    head = edit(ws, Page, "master", {ours_id: {"title": "ours"}})
    with pytest.raises(CorruptObject):
        ws.merge("theirs")
    assert ws.branch.commit.id == head and not ws.merging and not ws.has_changes()
    assert Page.get(ours_id).title == "ours"


# -- property: a sharded merge equals the object-by-object, field-by-field merge ----------------
IDS = [f"o{i}" for i in range(12)]
change = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"title": st.sampled_from("ab"),
                                                                   "views": st.integers(0, 2)}))
side = st.dictionaries(st.sampled_from(IDS + ["n1", "n2"]), change, max_size=6)
_ROOT = tempfile.TemporaryDirectory(prefix="gitmodel-whole-folders-")


def _state(Page):
    return {p.id: (p.title, p.views) for p in Page.all()}


def _expected(base, ours, theirs):
    """Object by object, field by field; ``None`` if some object clashes."""
    out = {}
    for ident in base.keys() | ours.keys() | theirs.keys():
        b, o, t = base.get(ident), ours.get(ident), theirs.get(ident)
        if o == b:
            value = t
        elif t == b or o == t:
            value = o
        elif b is None or o is None or t is None:
            return None
        else:
            value = []
            for i in range(2):
                if o[i] != b[i] and t[i] != b[i] and o[i] != t[i]:
                    return None
                value.append(o[i] if o[i] != b[i] else t[i])
            value = tuple(value)
        if value is not None:
            out[ident] = value
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shard=st.sampled_from([1, 2]), ours=side, theirs=side)
def test_a_sharded_merge_equals_the_field_by_field_merge(shard, ours, theirs):
    path = tempfile.mkdtemp(dir=_ROOT.name)
    pygit2.init_repository(path, bare=True)
    ws = Workspace(path, author=("Ann", "ann@example.com"))
    Page, _ = define(ws, shard)
    for ident in IDS:
        Page(id=ident, title="base").save()
    ws.commit("base")
    ws.create_branch("theirs")
    base = _state(Page)

    def apply(branch, changes):
        ws.set_branch(branch)
        for ident, values in changes.items():
            exists = Page.filter(id=ident).exists()
            if values is None:
                if exists:
                    Page.get(ident).delete()
                continue
            page = Page.get(ident) if exists else Page(id=ident, title="new")
            for name, value in values.items():
                setattr(page, name, value)
            page.save()
        if ws.has_changes():
            ws.commit(f"{branch} edits")
        return _state(Page)

    theirs_state = apply("theirs", theirs)
    ours_state = apply("master", ours)
    expected = _expected(base, ours_state, theirs_state)
    result = ws.merge("theirs")
    if expected is None:
        assert result.conflicts
        ws.abort_merge()
        assert _state(Page) == ours_state
    else:
        assert result.conflicts == [] and _state(Page) == expected
        assert git(path, "fsck", "--strict", "--no-dangling", check=False).returncode == 0


# -- what their side puts inside a folder taken whole is checked as the object merge checks it --
def _tree_alone_passes_fsck(repo, tree_id, tmp_path):
    """``git fsck --strict`` of a new repository holding ``tree_id`` and
    what it holds, and nothing else (their side's own objects left out)."""
    copy = pygit2.init_repository(str(tmp_path / "copy.git"), bare=True)
    stack = [tree_id]
    while stack:
        oid = stack.pop()
        kind, data = repo.odb.read(oid)
        copy.odb.write(kind, data)
        if kind == pygit2.enums.ObjectType.TREE:
            stack.extend(entry.id for entry in repo[oid] if entry.filemode != 0o160000)
    sig = pygit2.Signature("Ann", "ann@example.com", 1_700_000_000, 0)
    copy.create_commit("refs/heads/master", sig, sig, "merged\n", tree_id, [])
    return git(copy.path, "fsck", "--strict", "--no-dangling", check=False)


HOSTILE = ["..", ".git", "GIT~1", ".Git", "unsorted", "twice", "symlink", "gitlink", "fullpath"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_what_their_side_hides_in_a_folder_only_it_changed_never_enters_the_merge(tmp_path, kind):
    ws, Page, Tag = store(tmp_path, 1, 100)
    repo = ws.repo
    base_id = ws.branch.commit.id
    base = repo[base_id].tree
    folder = repo[base["page"].id]
    victim = sorted(entry.name for entry in folder)[0]
    hash_folder = repo[folder[victim].id]
    entries = [(e.name.encode(), e.filemode, e.id) for e in hash_folder]
    data = repo.create_blob(b'{"model": "Page", "fields": {"title": "evil"}}\n')
    blob = 0o100644
    if kind in ("..", ".git", "GIT~1", ".Git", "fullpath"):
        name = b"a/b" if kind == "fullpath" else kind.encode()
        entries.append((name, TREE, raw_tree(repo, [(b"data.json", blob, data)])))
    elif kind in ("symlink", "gitlink"):
        mode, target = (0o120000, repo.create_blob(b"../../../../etc")) if kind == "symlink" else (0o160000, base_id)
        entries.append((b"zz-evil", TREE, raw_tree(repo, [(b"data.json", blob, data), (b"link", mode, target)])))
    hash_id = raw_tree(repo, entries)
    if kind in ("unsorted", "twice"):
        raw = [b"%o %s\x00" % (mode, name) + oid.raw for name, mode, oid in sorted(entries)]
        extra = raw_tree(repo, [(b"data.json", blob, data)])
        raw.append(b"40000 %s\x00" % (b"0-first" if kind == "unsorted" else entries[0][0]) + extra.raw)
        hash_id = repo.odb.write(pygit2.enums.ObjectType.TREE, b"".join(raw))
    page_entries = [(e.name.encode(), e.filemode, hash_id if e.name == victim else e.id) for e in folder]
    root = [(e.name.encode(), e.filemode, e.id) for e in base if e.name != "page"]
    root.append((b"page", TREE, raw_tree(repo, page_entries)))
    sig = pygit2.Signature("Mallory", "m@example.com", 1_700_000_000, 0)
    theirs = repo.create_commit(None, sig, sig, "hidden\n", raw_tree(repo, root), [base_id])
    repo.references.create("refs/heads/theirs", theirs, force=True)
    ours_id = next(f"p{i}" for i in range(100)
                   if Page._meta.get_object_folder(f"p{i}").split("/")[1] != victim)
    head = edit(ws, Page, "master", {ours_id: {"title": "ours"}})
    try:
        result = ws.merge("theirs")
    except GitModelError:  # refused: nothing changed
        assert ws.branch.commit.id == head and not ws.merging and not ws.has_changes()
        assert Page.get(ours_id).title == "ours"
        return
    # merged: what the merge wrote is a tree git accepts, whatever their side holds
    assert result.commit is not None and ws.branch.commit.id == result.commit
    report = _tree_alone_passes_fsck(repo, repo[result.commit].tree.id, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
