"""The code blocks of docs/guides/remotes.rst run as written, in order."""

from __future__ import annotations

import subprocess

from test_readme import ROOT, run_blocks

GUIDE = ROOT / "docs" / "guides" / "remotes.rst"


def test_the_remotes_guide_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(GUIDE)
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
    assert log[0] == "Alice: signed" and "Alice: contact page" in log and "Agree on the title" in log
    assert "Bob: events" in log and "Alice: news" in log
    assert "1 0 ['refs/heads/master']" in out
    assert "Alice: signed valid alice@example.com" in out
    assert "['About', 'Contact', 'Events', 'Home', 'News']" in out
    subprocess.run(["git", f"--git-dir={hub}", "fsck", "--strict"], check=True, capture_output=True)
