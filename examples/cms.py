"""A flat-page CMS whose pages live in a git repository.

Run it with no argument to work in a temporary folder (removed at the end),
or give a path where a new repository is made and kept, so that plain git
can look at it afterwards::

    python examples/cms.py
    python examples/cms.py /some/new/folder && git -C /some/new/folder log --all

It creates pages, commits, edits one, works on a branch, reads old versions
(by commit id and by tag), shows what a bad value does, and prints the log.
Then, on a branch of their own, authors, tags and articles: relations with
integrity, reverse queries, lists, aggregates, pages and a named image file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import pygit2

from gitmodel import Count, Paginator, ProtectedError, Sum, ValidationError, fields
from gitmodel.blobs import BlobFile
from gitmodel.workspace import Workspace

EDITOR = ("Ada Editor", "ada@example.com")


def build_model(ws: Workspace) -> type:
    """The page model, bound to ``ws``; a page's slug is its id."""

    class Page(ws.GitModel):  # type: ignore[name-defined,misc]
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        content = fields.CharField()
        published = fields.BooleanField(default=True)

    return Page


def build_content_models(ws: Workspace) -> tuple[type, type, type]:
    """Authors, tags and the articles that refer to them."""

    class Author(ws.GitModel):  # type: ignore[name-defined,misc]
        slug = fields.SlugField(id=True)
        name = fields.CharField()

    class Tag(ws.GitModel):  # type: ignore[name-defined,misc]
        slug = fields.SlugField(id=True)

    class Article(ws.GitModel):  # type: ignore[name-defined,misc]
        slug = fields.SlugField(id=True)
        title = fields.CharField()
        author = fields.RelatedField(Author, related_name="articles")  # PROTECT
        tags = fields.ManyToManyField(Tag, related_name="articles", on_delete=fields.SET_NULL)
        keywords = fields.ListField(fields.CharField())
        words = fields.IntegerField(default=0)
        cover = fields.BlobField()  # an image, kept under its own file name

    return Author, Tag, Article


def relations_tour(ws: Workspace) -> None:
    """Relations, lists, aggregates and pages, on the branch ``people``."""
    ws.create_branch("people")
    ws.set_branch("people")
    Author, Tag, Article = build_content_models(ws)
    with ws.commit_on_success("Add authors, tags and articles", author=EDITOR):
        for slug, name in (("ada", "Ada Editor"), ("bob", "Bob Writer")):
            Author(slug=slug, name=name).save()
        for slug in ("python", "git", "howto"):
            Tag(slug=slug).save()
        Article(slug="intro", title="Introduction", author="ada", tags=["python", "howto"],
                keywords=["python", "git"], words=900).save()
        Article(slug="branches", title="Branches", author="bob", tags=["git"],
                keywords=["git"], words=400).save()
        Article(slug="merging", title="Merging", author="ada", tags=["git", "howto"],
                keywords=["git", "merge"], words=700).save()
    tagged = ws.branch.commit.id
    for article in Article.all().select_related("author").order_by("author__name", "slug"):
        print(f"[people] {article.slug} by {article.author.name}")
    print(f"[people] ada wrote: {', '.join(a.slug for a in Author.get('ada').articles)}")
    print(f"[people] tagged git: {', '.join(sorted(Tag.get('git').articles.ids()))}")
    print(f"[people] keyword 'merge': {Article.filter(keywords__contains='merge').ids()}")
    print(f"[people] words: {Article.all().aggregate(total=Sum('words'), n=Count('pk'))}")
    by_author = Article.all().values("author").annotate(n=Count("pk"))
    print(f"[people] per author: {sorted((g['author'], g['n']) for g in by_author)}")
    pages = Paginator(Article.all().order_by("slug"), 2)
    print(f"[people] page 2 of {pages.num_pages}: {[a.slug for a in pages.page(2)]}")
    try:
        Author.delete("bob")
    except ProtectedError as exc:
        print(f"refused: {exc}")
    Tag.delete("git")  # SET_NULL: the articles drop it, in the same commit
    Article.filter(author="bob").update(title="Branching, explained")
    ws.commit("Retire the git tag, retitle Bob's article", author=EDITOR)
    print(f"[people] merging tags now: {[t.slug for t in Article.get('merging').tags]}")
    then = Article.get("merging", treeish=tagged)
    print(f"[people] merging tags then: {[t.slug for t in then.tags]}")
    intro = Article.get("intro")
    intro.cover = BlobFile(COVER, name="intro-cover.svg")
    intro.save()
    ws.commit("Add a cover to the introduction", author=EDITOR)  # git log --stat names the file
    cover = Article.get("intro").cover
    print(f"[people] cover: {cover.name} ({cover.content_type}, {cover.size} bytes)")


COVER = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>\n'


def short(oid: pygit2.Oid) -> str:
    return str(oid)[:10]


def run(path: str) -> None:
    ws = Workspace.init(path, bare=False)
    Page = build_model(ws)
    print(f"repository: {ws.path}")

    # 1. create pages and commit them together
    with ws.commit_on_success("Add the home, about and contact pages", author=EDITOR):
        Page(slug="home", title="Welcome", content="<p>Hello!</p>").save()
        Page(slug="about", title="About us", content="<p>We make things.</p>").save()
        Page(slug="contact", title="Contact", content="<p>Write to us.</p>").save()
    launch = ws.branch.commit.id
    main_branch = ws.branch.name
    ws.repo.references.create("refs/tags/launch", launch)  # a tag on the first version
    print(f"[{main_branch}] {short(launch)} committed {len(Page.all())} pages, tagged 'launch'")

    # 2. edit a page and commit just that page
    about = Page.get("about")
    about.content = "<p>We make things, carefully, since 2012.</p>"
    edit = about.save(commit=True, message="Expand the about page", author=EDITOR)
    print(f"[{main_branch}] {short(edit)} edited 'about'")

    # 3. bad input is refused with an error naming the field; nothing changes
    try:
        Page(slug="no spaces allowed", title="Oops").save()
    except ValidationError as exc:
        print(f"refused: {exc}")
    assert not ws.has_changes()

    # 4. work on a branch without touching the main one
    ws.create_branch("redesign")
    ws.set_branch("redesign")
    home = Page.get("home")
    home.title = "Welcome to the new site"
    home.save()
    Page(slug="blog", title="Blog", content="<p>Coming soon.</p>", published=False).save()
    redesign = ws.commit("Redesign the home page and add a blog", author=EDITOR)
    print(f"[redesign] {short(redesign)} pages: {', '.join(sorted(Page.all().ids()))}")

    ws.set_branch(main_branch)
    print(f"[{main_branch}] pages: {', '.join(sorted(Page.all().ids()))}")
    print(f"[{main_branch}] home title: {Page.get('home').title!r}")
    print(f"[redesign] home title: {Page.get('home', treeish='redesign').title!r}")

    # 5. time travel: read old versions by commit id or by tag
    then = Page.get("about", treeish=launch)
    print(f"about at {short(launch)}: {then.content}")
    print(f"about at tag 'launch': {Page.get('about', treeish='launch').content}")
    print(f"about now: {Page.get('about').content}")

    # 6. delete a page
    gone = Page.delete("contact", commit=True, message="Remove the contact page", author=EDITOR)
    print(f"[{main_branch}] {short(gone)} deleted 'contact'")

    # 7. the log of each branch, newest first
    for name in (main_branch, "redesign"):
        ws.set_branch(name)
        print(f"log of {name}:")
        for commit in ws.walk():
            print(f"  {short(commit.id)} {commit.author.name}: {commit.message}")
    ws.set_branch(main_branch)

    # 8. let plain git see the files in the work tree
    ws.sync_repo_index()
    files = sorted(
        os.path.relpath(os.path.join(root, name), path)
        for root, dirs, names in os.walk(path)
        if ".git" not in root.split(os.sep)
        for name in names
    )
    print("work tree:", ", ".join(files))

    # 9. authors, tags and articles, on a branch of their own
    relations_tour(ws)
    ws.set_branch(main_branch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="folder for a new repository (kept)")
    args = parser.parse_args(argv)
    if args.path is None:
        with tempfile.TemporaryDirectory(prefix="gitmodel-cms-") as tmp:
            run(os.path.join(tmp, "cms"))
        return 0
    if os.path.exists(args.path) and os.listdir(args.path):
        parser.error(f"{args.path} exists and is not empty; give a new folder")
    run(args.path)
    print(f"done; try: git -C {args.path} log --all --stat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
