"""Creating, editing, deleting and restoring objects; a save that finds the
object changed since its form was loaded is merged field by field or shown
as a conflict, never written over the other editor's change."""

from __future__ import annotations

from typing import Any, Optional

import pygit2
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import fields as f
from ..exceptions import GitModelError, IntegrityError, ValidationError
from ..models import GitModel
from . import forms
from .app import Admin, CommitInfo, errors_of, identity, loaded_at, object_url, redirect, remember_author

_NOT_SUBMITTED = object()


def submitted(model: type[GitModel], form: FormData, creating: bool,
              base: Optional[GitModel] = None) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, errors)``: the value of each field the form changes.

    With ``base`` (the object as the form showed it), a field whose
    submitted text is the one the form showed, or means the value it
    showed, is left out: it was not edited, and is never written (a browser
    sends some values otherwise than the page held them: line breaks as
    CR LF, an unchecked box as nothing).
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    shown = texts_of(model, base) if base is not None else {}
    for field in forms.form_fields(model):
        if isinstance(field, f.GitObjectField) or (not creating and (field.id or field.readonly)):
            continue
        if isinstance(field, f.BlobField):
            upload = form.get(field.name)
            if isinstance(upload, UploadFile) and upload.filename:
                values[field.name] = upload.file.read()
            elif form.get(f"{field.name}.remove"):
                values[field.name] = None
            continue
        raw = form.get(field.name)
        text = raw if isinstance(raw, str) else None
        if creating and not text and (field.id or field.has_default()):
            continue  # the field's default (for the id field, a new UUID) applies
        was = shown.get(field.name)
        if was is not None and (
                forms.parse(field, text) == (was in ("True", "true")) if isinstance(field, f.BooleanField)
                else text is not None and forms.same_text(text, was)):
            continue  # a box left as it was shown (unchecked for no value too), a text left alone
        if text is not None and isinstance(field, f.CharField) and "\r" not in (was or ""):
            text = text.replace("\r\n", "\n")  # a browser's line breaks, back to the value's
        try:
            value = forms.parse(field, text)
        except ValidationError as exc:
            errors[field.name] = exc.message
            continue
        if base is not None and comparable_value(field, value) == comparable_value(
                field, forms.current(base, field)):
            continue  # another text for the value shown (12:30 for 12:30:00)
        values[field.name] = value
    return values, errors


def form_base(admin: Admin, model: type[GitModel], obj: GitModel, form: FormData) -> Optional[GitModel]:
    """The object as the edit form showed it: ``obj`` if the form carries
    its version, else the object at the commit the form was loaded at, if
    that is the version it carries; ``None`` if the form does not say."""
    version = str(form.get("_version") or "")
    if not version:
        return None
    if version == forms.version(obj):
        return obj
    commit = loaded_at(form)[0]
    if not commit:
        return None
    try:
        base = model.get(obj.get_id(), treeish=admin.treeish(commit))
    except (GitModelError, HTTPException):
        return None
    return base if forms.version(base) == version else None


def comparable_value(field: f.Field[Any], value: Any) -> Any:
    if isinstance(field, f.BlobField) and isinstance(value, bytes):
        return pygit2.hash(value)
    return forms.comparable(field, value)


def texts_of(model: type[GitModel], obj: Optional[GitModel], form: Optional[FormData] = None,
             keep: Optional[dict[str, Any]] = None) -> dict[str, str]:
    """What each input shows: the submitted text, else the object's value."""
    out: dict[str, str] = {}
    for field in forms.form_fields(model):
        if form is not None and (keep is None or field.name in keep) and isinstance(form.get(field.name), str):
            out[field.name] = str(form.get(field.name))
        elif obj is not None and not isinstance(field, f.BlobField):
            out[field.name] = forms.shown(field, forms.current(obj, field))
    return out


def render_form(admin: Admin, request: Request, model: type[GitModel], obj: Optional[GitModel],
                texts: dict[str, str], status: int = 200, **context: Any) -> Response:
    fields = forms.form_fields(model)
    ws = admin.ws
    suggestions: dict[str, list[Any]] = {}
    for field in fields:
        if isinstance(field, f.RelatedField) and field.to_model is not None:
            suggestions[field.name] = field.to_model.all()[: forms.PICKER_SUGGESTIONS].ids()
    context.setdefault("errors", {})
    head = ws.branch
    context.setdefault("version", forms.version(obj) if obj is not None else "")
    # the commit and branch the form is loaded at: its base, and where it may be saved
    context.setdefault("commit", f"{head.commit.id if head else ''}:{ws.head.removeprefix('refs/heads/')}")
    return admin.render(request, "edit.html", status=status, model=model, obj=obj, fields=fields, texts=texts,
                        widgets={fd.name: forms.widget(fd) for fd in fields}, suggestions=suggestions,
                        object_url=object_url, **context)


def commit_save(admin: Admin, request: Request, model: type[GitModel], obj: GitModel,
                values: dict[str, Any], form: FormData, creating: bool) -> Response:
    """Set ``values`` on ``obj`` and commit it, or show the form with its errors."""
    errors: dict[str, str] = {}
    try:
        who, message = identity(form)
    except ValidationError as exc:
        who, message, errors = ("", ""), "", errors_of(exc)
    for name, value in values.items():
        setattr(obj, name, value)
    if not errors:
        try:
            obj.save(commit=True, message=message, author=who)  # validated first: nothing staged if invalid
        except IntegrityError as exc:
            errors[model._meta.id_attr or ""] = str(exc)  # type: ignore[attr-defined]
        except ValidationError as exc:
            errors = errors_of(exc)
    if errors:
        return render_form(admin, request, model, None if creating else obj, texts_of(model, obj, form),
                           400, errors=errors, creating=creating)
    admin.flash(request, "ok", f"Saved {model.__name__} {obj.get_id()!s}: {message}")
    return remember_author(redirect(request, object_url(model, obj.get_id())), who)


async def create(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    form = await admin.form(request) if request.method == "POST" else None

    def work() -> Response:
        if form is None:
            fresh = model()
            return render_form(admin, request, model, None, texts_of(model, fresh), creating=True)
        values, errors = submitted(model, form, creating=True)
        moved = admin.moved(form)
        if moved:
            errors[""] = f"Not saved: {moved}. Check the form and save again to save on this branch."
        if errors:
            return render_form(admin, request, model, None, texts_of(model, None, form), 409 if moved else 400,
                               errors=errors, creating=True)
        return commit_save(admin, request, model, model(), values, form, creating=True)
    return await admin.run(work)


async def edit(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    object_id = request.path_params["id"]
    form = await admin.form(request) if request.method == "POST" else None

    def work() -> Response:
        moved = admin.moved(form) if form is not None else None
        try:
            obj = admin.get(model, object_id)
        except HTTPException:
            if moved:
                raise HTTPException(409, f"Not saved: {moved}, and there is no {model.__name__} "
                                    f"{object_id!r} on this branch") from None
            raise
        if form is None:
            return render_form(admin, request, model, obj, texts_of(model, obj), creating=False)
        base = form_base(admin, model, obj, form)
        values, errors = submitted(model, form, creating=False, base=base)
        if moved:  # shown again on this branch: the fields edited, the others as saved here
            errors[""] = f"Not saved: {moved}. Check the form and save again to save on this branch."
            return render_form(admin, request, model, obj, texts_of(model, obj, form, keep=values), 409,
                               errors=errors, creating=False)
        if errors:
            return render_form(admin, request, model, obj, texts_of(model, obj, form), 400,
                               errors=errors, creating=False, version=form.get("_version"),
                               commit=form.get("_commit"))
        if base is not obj:
            # the form's base: the object as of the commit it was loaded at; none known if the
            # form does not say (no _version or no _commit), and then every field that differs
            # is a conflict
            values, clashes = merge_edits(model, obj, base, values)
            if clashes:
                return render_form(admin, request, model, obj, texts_of(model, obj, form, keep=values), 409,
                                   conflicts=clashes, changed_by=last_change(model, object_id), creating=False,
                                   base_unknown=base is None)
            other = last_change(model, object_id)
            who = f" by {other.author}" if other is not None else ""
            admin.flash(request, "ok", f"This object was changed{who} while you edited it; "
                        "their changes are kept and yours are applied on top.")
        return commit_save(admin, request, model, obj, values, form, creating=False)
    return await admin.run(work)


def merge_edits(model: type[GitModel], current: GitModel, base: Optional[GitModel], values: dict[str, Any],
                ) -> tuple[dict[str, Any], list[tuple[str, str, str, str]]]:
    """The edits of a form loaded from an older version (``base``, the
    object as the form showed it): the fields it changed, and those both
    editors changed differently (``(field, base, theirs, ours)`` as texts).
    Without ``base`` (never "the current version": that would write over the
    other change) each field that differs from the current value is a clash."""
    fields = {fd.name: fd for fd in model._meta.fields}  # type: ignore[attr-defined]
    ours: dict[str, Any] = {}
    clashes: list[tuple[str, str, str, str]] = []
    for name, value in values.items():
        field = fields[name]
        old = comparable_value(field, forms.current(base, field)) if base is not None else _NOT_SUBMITTED
        mine = comparable_value(field, value)
        theirs = comparable_value(field, forms.current(current, field))
        if mine == old:
            continue
        if theirs != old and theirs != mine:
            def text(v: Any) -> str:
                if isinstance(field, f.BlobField):
                    return "(no file)" if v is None else f"file {str(comparable_value(field, v))[:10]}"
                return "" if v is None else forms.shown(field, v)
            clashes.append((name, text(forms.current(base, field)) if base is not None else "",
                            text(forms.current(current, field)), text(value)))
        ours[name] = value
    return ours, clashes


def last_change(model: type[GitModel], object_id: str) -> Optional[CommitInfo]:
    history = model.history(object_id)
    return CommitInfo.of(history[0].commit) if history else None


def version_now(model: type[GitModel], object_id: str) -> str:
    """The version of the object as saved now (``""`` if there is none)."""
    try:
        return forms.version(model.get(object_id))
    except (model.DoesNotExist, ValidationError):  # type: ignore[attr-defined]
        return ""


async def delete(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    object_id = request.path_params["id"]
    form = await admin.form(request)

    def work() -> Response:
        obj = admin.get(model, object_id)
        moved = admin.moved(form)
        if moved:
            admin.flash(request, "error", f"Not deleted: {moved}")
            return redirect(request, object_url(model, object_id))
        try:
            who, message = identity(form)
        except ValidationError as exc:
            admin.flash(request, "error", f"Not deleted: {exc.message}")
            return redirect(request, object_url(model, object_id))
        if forms.version(obj) != form.get("_version"):
            admin.flash(request, "error", "Not deleted: someone changed this object since you opened it; "
                        "check the change below and delete again if you still want to")
            return redirect(request, object_url(model, object_id))
        try:
            obj.delete(commit=True, message=message, author=who)
        except IntegrityError as exc:  # on_delete=PROTECT: nothing was staged
            admin.flash(request, "error", f"Not deleted: {exc}")
            return redirect(request, object_url(model, object_id))
        admin.flash(request, "ok", f"Deleted {model.__name__} {object_id}: {message}")
        return remember_author(redirect(request, f"/m/{model.__name__}"), who)
    return await admin.run(work)


async def restore(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    model = admin.model(request.path_params["model"])
    object_id = request.path_params["id"]
    form = await admin.form(request)

    def work() -> Response:
        at = admin.treeish(str(form.get("at") or ""))
        if at is None:
            raise HTTPException(400, "name the commit to restore from")
        back = object_url(model, object_id, at=at)
        moved = admin.moved(form)
        if moved:
            admin.flash(request, "error", f"Not restored: {moved}")
            return redirect(request, back)
        try:
            who, message = identity(form)
        except ValidationError as exc:
            admin.flash(request, "error", f"Not restored: {exc.message}")
            return redirect(request, back)
        shown = form.get("_version")  # the version saved when the page was loaded ("" for none)
        if shown is None or str(shown) != version_now(model, object_id):
            admin.flash(request, "error", "Not restored: someone changed this object since you opened this page "
                        "(or the page did not say which version it showed); check the current version and "
                        "restore again if you still want to")
            return redirect(request, back)
        try:
            model.restore(object_id, at)
        except (model.DoesNotExist, ValidationError):  # type: ignore[attr-defined]
            raise HTTPException(404, f"no {model.__name__} {object_id!r} at {at}") from None
        except IntegrityError as exc:
            admin.flash(request, "error", f"Not restored: {exc}")
            return redirect(request, back)
        admin.ws.commit(message, author=who)  # if it fails, the request's unit of work is dropped
        admin.flash(request, "ok", f"Restored {model.__name__} {object_id} as of {at[:10]}")
        return remember_author(redirect(request, object_url(model, object_id)), who)
    return await admin.run(work)


def routes() -> list[Route]:
    return [
        Route("/m/{model}/new", create, methods=["GET", "POST"]),
        Route("/m/{model}/o/{id}/edit", edit, methods=["GET", "POST"]),
        Route("/m/{model}/o/{id}/delete", delete, methods=["POST"]),
        Route("/m/{model}/o/{id}/restore", restore, methods=["POST"]),
    ]
