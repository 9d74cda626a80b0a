"""The admin's application: configuration, request plumbing and the pages
about models and objects (branches, merges and remotes are in :mod:`.vcs`)."""

from __future__ import annotations

import functools
import operator
import re
import threading
from dataclasses import dataclass, field as dc_field
from importlib import resources
from typing import Any, Callable, Optional
from urllib.parse import quote, unquote, urlencode

import pygit2
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import fields as f
from ..exceptions import GitModelError, MergeConflict, ValidationError
from ..git.signatures import readable, signed_at
from ..models import GitModel
from ..query import Q
from ..versions.race import drop_lost_race
from ..workspace import Workspace
from . import forms, security
from .models import admin_models

PAGE_SIZE = 50
#: how many times a request that lost the race to another editor runs again
RACE_RETRIES = 2
#: text fields searched by the list page's search box
_SEARCHED = (f.CharField,)
_HEX = re.compile(r"[0-9a-f]{4,40}\Z")
_IMAGES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
           b"GIF87a": "image/gif", b"GIF89a": "image/gif"}
_STATIC = {"htmx.min.js": "application/javascript", "htmx.LICENSE": "text/plain", "admin.css": "text/css"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass
class Admin:
    """Everything one admin application shares between requests."""

    ws: Workspace
    models: dict[str, type[GitModel]]
    problems: dict[str, str]
    upload_limit: int
    credentials: Optional[security.Credentials]
    flashes: dict[str, list[tuple[str, str]]] = dc_field(default_factory=dict)
    flash_lock: threading.Lock = dc_field(default_factory=threading.Lock)
    static: dict[str, bytes] = dc_field(default_factory=dict)
    env: Environment = dc_field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(loader=PackageLoader("gitmodel.web", "templates"), auto_reload=False,
                               autoescape=select_autoescape(default=True, default_for_string=True))
        self.env.filters["q"] = lambda text: quote(str(text), safe="")
        self.env.filters["short"] = lambda oid: str(oid)[:10]
        self.env.filters["when"] = when
        self.env.globals["shown"] = forms.shown
        self.env.globals["value"] = forms.current
        self.env.globals["input_kind"] = forms.input_kind
        folder = resources.files("gitmodel.web") / "static"
        self.static = {name: (folder / name).read_bytes() for name in _STATIC}

    # -- plumbing ---------------------------------------------------------------
    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """Run ``work`` in a worker thread as one unit of work of its own.

        Requests run in parallel; each starts on the latest commit of the
        admin's branch with nothing staged. A save that loses the race to
        another editor and changes the same field opens no merge: it is
        dropped and the request runs again, so it sees the other change
        (the edit form then shows it as a conflict); nothing is lost.
        """
        def in_own_unit() -> Any:
            for attempt in range(RACE_RETRIES + 1):
                with self.ws.unit_of_work() as unit:
                    try:
                        return work(*args)
                    except MergeConflict:
                        if not drop_lost_race(self.ws, unit) or attempt == RACE_RETRIES:
                            raise
            raise AssertionError("unreachable")
        return await run_in_threadpool(in_own_unit)

    async def form(self, request: Request) -> FormData:
        """The submitted form, after its CSRF token is checked (403 if not)."""
        form = await request.form(max_files=64, max_fields=4096, max_part_size=self.upload_limit)
        if not security.csrf_ok(request.cookies.get(security.CSRF_COOKIE), form.get(security.CSRF_FIELD)):  # type: ignore[arg-type]
            raise HTTPException(403, "the form's security token is missing or stale: reload the page")
        return form

    def flash(self, request: Request, kind: str, text: str) -> None:
        """Show ``text`` on the next page this browser loads."""
        token = csrf_token(request)
        with self.flash_lock:
            self.flashes.setdefault(token, []).append((kind, text))
            while len(self.flashes) > 1000:
                self.flashes.pop(next(iter(self.flashes)))

    def take_flashes(self, token: str) -> list[tuple[str, str]]:
        with self.flash_lock:
            return self.flashes.pop(token, [])

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        ws = self.ws
        token = csrf_token(request)
        branch = ws.head.removeprefix("refs/heads/")
        page = self.env.get_template(template).render(
            csrf=token, csrf_field=security.CSRF_FIELD, branch=branch, root=request.scope.get("root_path", ""), merging=ws.merging,
            models=self.models, flashes=self.take_flashes(token), request=request,
            author=unquote(request.cookies.get("gitmodel_author", "")),
            email=unquote(request.cookies.get("gitmodel_email", "")), **context,
        )
        return HTMLResponse(page, status)

    def moved(self, form: FormData) -> Optional[str]:
        """Why a form must not be applied here, if the admin was switched to
        another branch since the form was loaded: one editor's switch must
        not send another's open form to a branch they never saw. The form
        says its branch (``_branch``, or ``_commit`` as ``<commit>:<branch>``);
        a form that names only a commit is refused if that commit is not in
        this branch's history."""
        ws = self.ws
        here = ws.head.removeprefix("refs/heads/")
        commit, loaded = loaded_at(form)
        loaded = str(form.get("_branch") or "") or loaded
        if loaded:
            if loaded == here:
                return None
        else:
            head = ws.branch
            if not commit or head is None or str(head.commit.id) == commit:
                return None
            try:
                if ws.repo.descendant_of(head.commit.id, commit):
                    return None
            except (ValueError, KeyError, TypeError, pygit2.GitError):
                return None  # not a commit id: the form says nothing
        where = f" (loaded on {loaded})" if loaded else ""
        return f"the admin was switched to branch {here} after this page was loaded{where}"

    def model(self, name: str) -> type[GitModel]:
        model = self.models.get(name)
        if model is None:
            raise HTTPException(404, f"no model {name!r}")
        return model

    def treeish(self, text: Optional[str]) -> Optional[str]:
        """A commit id, branch or tag named by a request (404 if none)."""
        if not text:
            return None
        ws = self.ws
        if text in ws.branches or text in ws.tags:
            return text
        if _HEX.match(text):
            try:
                obj = ws.repo.revparse_single(text)
            except (KeyError, ValueError, pygit2.GitError):
                obj = None
            if isinstance(obj, pygit2.Commit):
                return str(obj.id)
        raise HTTPException(404, f"no commit, branch or tag {text!r}")

    def get(self, model: type[GitModel], object_id: str, treeish: Optional[str] = None) -> GitModel:
        try:
            return model.get(object_id, treeish=treeish)
        except (model.DoesNotExist, ValidationError):  # type: ignore[attr-defined]
            raise HTTPException(404, f"no {model.__name__} {object_id!r}") from None


def loaded_at(form: FormData) -> tuple[str, str]:
    """``(commit, branch)`` an edit form was loaded at, from its ``_commit``
    (``<commit>:<branch>``; a branch name cannot hold a colon); either may
    be ``""`` if the form does not say."""
    commit, _, branch = str(form.get("_commit") or "").partition(":")
    return commit, branch


def redirect(request: Request, url: str) -> RedirectResponse:
    """See ``url`` (a path of the admin, wherever it is mounted) after a POST."""
    return RedirectResponse(request.scope.get("root_path", "") + url, 303)


def csrf_token(request: Request) -> str:
    token = request.cookies.get(security.CSRF_COOKIE) or getattr(request.state, "csrf", None)
    if not token:
        token = request.state.csrf = security.new_csrf_token()
    return token


#: what a commit whose date cannot be shown (out of range) shows instead
NO_DATE = "(no valid date)"


def when(signature: pygit2.Signature) -> str:
    """When ``signature`` was made, in its own offset (:data:`NO_DATE` if a
    hostile commit gives a time no calendar holds)."""
    stamp = signed_at(signature)
    return NO_DATE if stamp is None else stamp.strftime("%Y-%m-%d %H:%M")


#: a commit's text, whatever its ``encoding`` header names
decoded = readable


@dataclass(frozen=True)
class CommitInfo:
    """A commit as a page shows it: whatever its date or encoding, it can
    be shown (data from others is untrusted)."""

    id: str
    when: str
    author: str
    email: str
    message: str

    @classmethod
    def of(cls, commit: pygit2.Commit) -> CommitInfo:
        sig = commit.author
        return cls(str(commit.id), when(sig), decoded(lambda: sig.name, sig.raw_name),
                   decoded(lambda: sig.email, sig.raw_email), decoded(lambda: commit.message, commit.raw_message))


def object_url(model: type[GitModel], object_id: Any, action: str = "", **params: Any) -> str:
    url = f"/m/{quote(model.__name__, safe='')}/o/{quote(str(object_id), safe='')}"
    url += f"/{action}" if action else ""
    query = {k: v for k, v in params.items() if v is not None}
    return url + ("?" + urlencode(query) if query else "")


def identity(form: FormData, message_required: bool = True) -> tuple[tuple[str, str], str]:
    """``((name, email), message)`` asked on every save, merge and pull:
    the editor's identity is the commit's author and committer;
    ``ValidationError`` if missing."""
    name = str(form.get("author_name") or "").strip()
    email = str(form.get("author_email") or "").strip()
    message = str(form.get("message") or "").strip()
    problems = [ValidationError(text, key, "required") for key, value, text in (
        ("author_name", name, "your name is required"), ("author_email", email, "your email is required"),
        ("message", message or not message_required, "a commit message is required")) if not value]
    if any(c in name + email for c in "<>\n\x00"):
        problems.append(ValidationError("must not contain <, > or line breaks", "author_name", "invalid"))
    if problems:
        raise ValidationError(problems)
    return (name, email), message


def remember_author(response: Response, who: tuple[str, str]) -> Response:
    """Remember the editor's name and email for the next form (URL-encoded:
    a header holds Latin-1 only, a name may be any text)."""
    for key, value in zip(("gitmodel_author", "gitmodel_email"), who):
        response.set_cookie(key, quote(value, safe=""), samesite="strict", httponly=True, max_age=90 * 86400)
    return response


def errors_of(exc: ValidationError) -> dict[str, str]:
    """Field name (``""`` for the whole object) -> message."""
    out: dict[str, str] = {}
    for err in exc.error_list:
        key = err.field or ""
        out[key] = f"{out[key]}; {err.message}" if key in out else err.message
    return out


# -- pages: models and lists ------------------------------------------------------------
async def home(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        # an object that cannot be read is left out of the count (its list page names it);
        # a model whose folder cannot be read is listed with the models that cannot be shown
        counts: dict[str, int] = {}
        problems = dict(admin.problems)
        for name, model in admin.models.items():
            try:
                counts[name] = model.all(errors="skip").count()
            except GitModelError as exc:
                problems[name] = str(exc)
        return admin.render(request, "home.html", counts=counts, problems=problems)
    return await admin.run(work)


def list_query(model: type[GitModel], params: Any) -> tuple[Any, dict[str, Any]]:
    """The queryset a list page's parameters ask for, and what they were.
    Objects that cannot be read are left out and named (``skipped``)."""
    qs = model.all(errors="skip")
    search = str(params.get("q", "")).strip()
    errors: dict[str, str] = {}
    searched = [fd.name for fd in model._meta.json_fields if isinstance(fd, _SEARCHED)]  # type: ignore[attr-defined]
    if search and searched:
        qs = qs.filter(functools.reduce(operator.or_, (Q(**{f"{name}__icontains": search}) for name in searched)))
    filters: dict[str, str] = {}
    by_name = {fd.name: fd for fd in model._meta.json_fields}  # type: ignore[attr-defined]
    for key, text in params.multi_items():
        if key.startswith("f.") and text != "" and key[2:] in by_name:
            field = by_name[key[2:]]
            try:
                value = forms.parse(field, text)
            except ValidationError as exc:
                errors[field.name] = exc.message
                continue
            try:
                qs = qs.filter(**{field.name: value})
            except (GitModelError, *forms.PARSE_ERRORS) as exc:  # a value no field holds: NaN, Infinity
                errors[field.name] = exc.message if isinstance(exc, ValidationError) else str(exc)
                continue
            filters[field.name] = text
    order = str(params.get("o", ""))
    if order.lstrip("-") in by_name:
        qs = qs.order_by(order)
    else:
        order = ""
    return qs, {"q": search, "filters": filters, "order": order, "errors": errors, "searched": searched}


async def object_list(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    try:
        page = max(1, int(request.query_params.get("p", "1")))
    except ValueError:
        page = 1

    def work() -> Response:
        qs, state = list_query(model, request.query_params)
        total = qs.count()
        this_page = qs[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        objects = list(this_page)
        columns = [fd for fd in forms.form_fields(model) if not isinstance(fd, (f.BlobField, f.JSONField))][:6]
        filterable = [fd for fd in model._meta.json_fields  # type: ignore[attr-defined]
                      if fd.choices or isinstance(fd, (f.BooleanField, f.RelatedField))]
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "p"]
        template = "list_rows.html" if request.headers.get("HX-Request") else "list.html"
        return admin.render(
            request, template, model=model, objects=objects, total=total, page=page,
            pages=max(1, -(-total // PAGE_SIZE)), columns=columns, filterable=filterable,
            widgets={fd.name: forms.widget(fd) for fd in model._meta.fields},  # type: ignore[attr-defined]
            base_query=urlencode(params), object_url=object_url, skipped=this_page.skipped, **state)
    return await admin.run(work)


# -- pages: one object ---------------------------------------------------------------
@dataclass
class HistoryRow:
    """One version of an object as its page shows it (worked out here, not in
    the template: an object page lists up to hundreds of versions)."""

    commit: str
    when: str
    author: str
    change: str
    changed: list[str]
    message: str

    @classmethod
    def of(cls, version: Any, changed: list[str]) -> HistoryRow:
        info = CommitInfo.of(version.commit)
        message = info.message
        return cls(info.id, info.when, info.author, version.change, changed,
                   message if len(message) <= 60 else message[:57] + "...")


def blob_kind(data: Optional[bytes]) -> Optional[str]:
    """The image type of ``data`` if it is a PNG, JPEG or GIF, else ``None``."""
    if data is None:
        return None
    return next((kind for magic, kind in _IMAGES.items() if data.startswith(magic)), None)


async def object_page(request: Request) -> Response:
    from . import editing

    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    object_id = request.path_params["id"]

    def work() -> Response:
        at = admin.treeish(request.query_params.get("at"))
        obj = admin.get(model, object_id, at)
        # the version saved now, which the delete and restore forms carry (none if deleted since)
        version = forms.version(obj) if at is None else editing.version_now(model, object_id)
        history = [(version, sorted(version.changes)) for version in model.history(object_id)]
        blame: dict[str, HistoryRow] = {}
        rows = [HistoryRow.of(version, changed) for version, changed in history]
        for row in reversed(rows):
            for name in row.changed:
                blame[name] = row
        fields = forms.form_fields(model)
        images = {fd.name: blob_kind(obj._data.get(fd.name) and getattr(obj, fd.name).getvalue())
                  for fd in fields if isinstance(fd, f.BlobField)}
        return admin.render(request, "object.html", model=model, obj=obj, fields=fields, at=at, version=version,
                            history=rows, blame=blame, images=images, object_url=object_url,
                            widgets={fd.name: forms.widget(fd) for fd in fields})
    return await admin.run(work)


async def blob(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    object_id, name = request.path_params["id"], request.path_params["field"]

    def work() -> Response:
        obj = admin.get(model, object_id, admin.treeish(request.query_params.get("at")))
        field = next((fd for fd in model._meta.blob_fields if fd.name == name), None)  # type: ignore[attr-defined]
        value = getattr(obj, name) if field is not None else None
        if value is None:
            raise HTTPException(404, f"no file {name!r}")
        data = value.getvalue()
        kind = blob_kind(data)
        headers = {"X-Content-Type-Options": "nosniff"}
        if kind is None or request.query_params.get("download"):
            filename = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{object_id}-{name}")[:100]
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(data, media_type=kind or "application/octet-stream", headers=headers)
    return await admin.run(work)


async def static(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    name = request.path_params["name"]
    if name not in admin.static:  # a fixed set read at start: no request path reaches the disk
        raise HTTPException(404, "no such file")
    return Response(admin.static[name], media_type=_STATIC[name],
                    headers={"Cache-Control": "public, max-age=86400"})


def routes() -> list[Route]:
    from . import editing, vcs

    return [
        Route("/", home),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/m/{model}", object_list),
        *editing.routes(),
        Route("/m/{model}/o/{id}", object_page),
        Route("/m/{model}/o/{id}/blob/{field}", blob),
        *vcs.routes(),
    ]


def build(ws: Workspace, models: Optional[str], upload_limit: int,
          password_hash: Optional[str]) -> Starlette:
    """The Starlette application (see :func:`gitmodel.web.create_app`)."""
    from .middleware import Guard, TooLarge

    found, problems = admin_models(ws, models)
    credentials = security.Credentials(password_hash) if password_hash else None
    admin = Admin(ws, found, problems, upload_limit, credentials)

    async def error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", None) or "error"
        return admin.render(request, "error.html", status=status, status_code=status, detail=detail)

    async def failure(request: Request, exc: Exception) -> Response:
        return admin.render(request, "error.html", status=500, status_code=500,
                            detail=f"{type(exc).__name__}: {exc}")

    async def too_large(request: Request, exc: Exception) -> Response:
        return Response(f"the request is larger than the limit of {upload_limit} bytes", 413)

    app = Starlette(routes=routes(), exception_handlers={
        HTTPException: error, GitModelError: failure, TooLarge: too_large})
    app.state.admin = admin
    return Guard(app, admin)  # type: ignore[return-value]


__all__ = ["Admin", "CommitInfo", "build", "loaded_at", "object_url", "identity", "errors_of", "redirect", "remember_author"]
