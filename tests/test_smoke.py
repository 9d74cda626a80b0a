from gitmodel import fields


def test_save_commit_get_roundtrip(ws, run_git):
    class Page(ws.GitModel):
        title = fields.CharField()

    page = Page(title="Hello")
    oid = page.save(commit=True, message="first")
    assert Page.get(page.id).title == "Hello"
    assert run_git(ws.path, "log", "--format=%s").strip() == "first"
    assert str(oid) == run_git(ws.path, "rev-parse", "master").strip()
    run_git(ws.path, "fsck", "--strict")
