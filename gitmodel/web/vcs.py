"""Pages about versions: the log, branches (create, switch, compare,
merge), the conflict screen, tags and remotes."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any, Optional

import pygit2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..exceptions import GitModelError, PushRejected, RemoteError, ValidationError
from ..models import GitModel
from ..transport import redact
from . import forms
from .app import Admin, CommitInfo, errors_of, identity, object_url, redirect, remember_author

LOG_LENGTH = 100


def _done(admin: Admin, request: Request, url: str, kind: str, text: str) -> Response:
    admin.flash(request, kind, text)
    return redirect(request, url)


async def log(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        commits = [CommitInfo.of(c) for c in itertools.islice(admin.ws.walk(), LOG_LENGTH)]
        return admin.render(request, "log.html", commits=commits)
    return await admin.run(work)


async def branches(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        found = [(name, CommitInfo.of(b.commit)) for name, b in sorted(admin.ws.branches.items())]
        return admin.render(request, "branches.html", branches=found,
                            start=request.query_params.get("start", ""))
    return await admin.run(work)


async def branch_action(request: Request) -> Response:
    """``create``, ``switch`` or ``merge`` a branch, as the form says."""
    admin: Admin = request.app.state.admin
    action = request.path_params["action"]
    form = await admin.form(request)
    name = str(form.get("name") or "").strip()

    def work() -> Response:
        ws = admin.ws
        # a merge into the current branch, a branch started from it: not if it is another one now
        moved = admin.moved(form) if action == "merge" or (action == "create" and not form.get("start")) else None
        if moved:
            return _done(admin, request, "/branches", "error", f"Did not {action} {name!r}: {moved}")
        try:
            if action == "create":
                start = admin.treeish(str(form.get("start") or "").strip()) if form.get("start") else None
                ws.create_branch(name, start)
                if form.get("switch"):
                    ws.set_branch(name)
                return _done(admin, request, "/branches", "ok", f"Created branch {name}")
            if action == "switch":
                ws.set_branch(name)
                return _done(admin, request, "/", "ok", f"The admin now works on branch {name}")
            who, message = identity(form, message_required=False)
            result = ws.merge(name, message or None, author=who, committer=who)
        except HTTPException:
            raise
        except ValidationError as exc:
            return _done(admin, request, "/branches", "error", f"Could not {action} {name!r}: "
                         + "; ".join(errors_of(exc).values()))
        except GitModelError as exc:
            return _done(admin, request, "/branches", "error", f"Could not {action} {name!r}: {exc}")
        if result.conflicts:
            response = _done(admin, request, "/merge", "error",
                             f"Merging {name} left {len(result.conflicts)} conflict(s): choose a value for each")
            return remember_author(response, who)
        text = "already merged" if result.up_to_date else (
            "fast-forward" if result.fast_forward else f"merge commit {str(result.commit)[:10]}")
        return remember_author(_done(admin, request, "/branches", "ok", f"Merged {name}: {text}"), who)
    if action not in ("create", "switch", "merge"):
        raise HTTPException(404, "no such action")
    return await admin.run(work)


async def compare(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        ws = admin.ws
        other = admin.treeish(request.query_params.get("other"))
        if other is None or ws.branch is None:
            raise HTTPException(404, "name a branch to compare with")
        theirs = ws.resolve_treeish(other)
        ours = ws.branch.commit
        base_id = ws.repo.merge_base(ours.id, theirs.id)
        base = str(base_id) if base_id else None
        sides = {"ours": ws.changes(base, ours.id) if base else [],
                 "theirs": ws.changes(base, theirs.id) if base else []}
        return admin.render(request, "compare.html", other=other, sides=sides, base=base,
                            object_url=object_url)
    return await admin.run(work)


# -- the conflict screen ----------------------------------------------------------------
def side_text(conflict: Any, value: Any) -> str:
    """A conflict side as text: a field's value, an object's fields, a blob id."""
    if value is None:
        return "(none: deleted or not set)"
    if isinstance(value, GitModel):
        return json.dumps(value.to_json_fields(), indent=2, sort_keys=True, ensure_ascii=False, default=str)
    if conflict.model is not None and conflict.field is not None and not conflict.key:
        field = conflict.model._meta.get_field(conflict.field)
        return forms.shown(field, value)
    if isinstance(value, pygit2.Oid):
        return f"file {value}"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def typable(conflict: Any) -> bool:
    """True if the editor may type a value (a field of an object, not a file)."""
    if conflict.model is None or conflict.field is None:
        return False
    from ..fields import BlobField

    return not isinstance(conflict.model._meta.get_field(conflict.field), BlobField)


def typed_value(conflict: Any, text: str) -> Any:
    """The value typed for ``conflict``: for a key of a JSON field, JSON (or
    plain text); ``ValidationError`` if it means none."""
    field = conflict.model._meta.get_field(conflict.field)
    if conflict.key:
        try:
            return json.loads(text)
        except RecursionError:  # JSON, but nested deeper than the decoder goes
            raise forms.invalid(field) from None
        except ValueError:
            return text
    return forms.parse(field, text)


def fingerprint(conflicts: list[Any]) -> str:
    """What the conflict screen was showing, as one token (browsers turn a
    line break in a submitted value into CR LF: the token has none)."""
    return hashlib.sha256("\n".join(c.describe() for c in conflicts).encode()).hexdigest()


async def merge_page(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        conflicts = admin.ws.conflicts
        return admin.render(request, "merge.html", conflicts=conflicts, side_text=side_text,
                            typable=typable, fingerprint=fingerprint(conflicts), errors={})
    return await admin.run(work)


async def merge_action(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    action = request.path_params["action"]
    form = await admin.form(request)

    def work() -> Response:
        ws = admin.ws
        if not ws.merging:
            return _done(admin, request, "/", "error", "No merge is open")
        moved = admin.moved(form)
        if moved:
            return _done(admin, request, "/merge", "error", f"Nothing done: {moved}")
        if action == "abort":
            ws.abort_merge()
            return _done(admin, request, "/", "ok", "The merge was aborted; nothing was committed")
        conflicts = ws.conflicts
        if form.get("fingerprint") != fingerprint(conflicts):
            return _done(admin, request, "/merge", "error",
                         "The open conflicts changed since the page was loaded; choose again")
        errors: dict[str, str] = {}
        try:
            who, message = identity(form)
        except ValidationError as exc:
            errors = errors_of(exc)
        choices: list[tuple[Any, str, Any]] = []
        for i, conflict in enumerate(conflicts):
            choice = str(form.get(f"c{i}") or "")
            if choice in ("ours", "theirs", "base"):
                choices.append((conflict, choice, None))
            elif choice == "value" and typable(conflict):
                try:
                    choices.append((conflict, "value", typed_value(conflict, str(form.get(f"c{i}.value") or ""))))
                except ValidationError as exc:
                    errors[f"c{i}"] = exc.message
            else:
                errors[f"c{i}"] = "choose base, ours, theirs or type a value"
        if errors:
            return admin.render(request, "merge.html", status=400, conflicts=conflicts, side_text=side_text,
                                typable=typable, fingerprint=fingerprint(conflicts), errors=errors, form=form)
        for conflict, choice, value in choices:
            if choice == "value":
                ws.resolve(conflict, value=value)
            else:
                ws.resolve(conflict, choice)
        commit = ws.commit(message, author=who, committer=who)
        response = _done(admin, request, "/", "ok", f"Merge committed as {str(commit)[:10]}")
        return remember_author(response, who)
    if action not in ("resolve", "abort"):
        raise HTTPException(404, "no such action")
    return await admin.run(work)


# -- tags and remotes ----------------------------------------------------------------
async def tags(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        return admin.render(request, "tags.html", tags=[(n, CommitInfo.of(c)) for n, c in sorted(admin.ws.tags.items())],
                            target=request.query_params.get("target", ""))
    return await admin.run(work)


async def create_tag(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    form = await admin.form(request)

    def work() -> Response:
        name = str(form.get("name") or "").strip()
        moved = admin.moved(form) if not form.get("target") else None
        if moved:
            return _done(admin, request, "/tags", "error", f"Not tagged: {moved}")
        target = admin.treeish(str(form.get("target") or "").strip()) if form.get("target") else None
        message = str(form.get("message") or "").strip() or None
        try:
            commit = admin.ws.create_tag(name, target, message=message)
        except GitModelError as exc:
            return _done(admin, request, "/tags", "error", f"Could not tag: {exc}")
        return _done(admin, request, "/tags", "ok", f"Tagged {str(commit)[:10]} as {name}")
    return await admin.run(work)


def upstream_state(admin: Admin) -> tuple[Optional[str], Optional[tuple[int, int]], str]:
    ws = admin.ws
    try:
        upstream = ws.upstream
        counts = ws.ahead_behind() if upstream else None
        return upstream, counts, ""
    except (GitModelError, KeyError) as exc:
        return None, None, str(exc)


async def remotes(request: Request) -> Response:
    admin: Admin = request.app.state.admin

    def work() -> Response:
        upstream, counts, problem = upstream_state(admin)
        return admin.render(request, "remotes.html", remotes=list(admin.ws.remotes), upstream=upstream,
                            counts=counts, problem=problem)
    return await admin.run(work)


def explain(exc: GitModelError) -> str:
    """What a failed pull or push means, in words an editor can act on."""
    if isinstance(exc, PushRejected):
        reasons = "; ".join(f"{ref}: {why}" for ref, why in sorted(exc.rejected.items()))
        return (f"The hub refused the push ({reasons}). Usually someone else pushed first: "
                "pull, check the merged result, then push again.")
    if isinstance(exc, RemoteError):
        return f"The hub could not be reached or refused the request: {exc}"
    return str(exc)


async def remote_action(request: Request) -> Response:
    admin: Admin = request.app.state.admin
    action = request.path_params["action"]
    form = await admin.form(request)

    def work() -> Response:
        ws = admin.ws
        why = admin.moved(form)
        if why:
            return _done(admin, request, "/remotes", "error", f"Did not {action}: {why}")
        try:
            if action == "pull":
                who, _ = identity(form, message_required=False)
                result = ws.pull(author=who, committer=who)
                if result.conflicts:
                    return remember_author(_done(
                        admin, request, "/merge", "error",
                        f"The pull left {len(result.conflicts)} conflict(s): choose a value for each"), who)
                text = ("already up to date" if result.up_to_date else "fast-forward" if result.fast_forward
                        else f"merged as {str(result.commit)[:10]}")
                return remember_author(_done(admin, request, "/remotes", "ok", f"Pulled: {text}"), who)
            moved = ws.push()
        except ValidationError as exc:
            return _done(admin, request, "/remotes", "error", "Not pulled: " + "; ".join(errors_of(exc).values()))
        except GitModelError as exc:
            return _done(admin, request, "/remotes", "error", redact(explain(exc)))
        text = ", ".join(f"{ref} {str(old)[:10]}..{str(new)[:10]}" for ref, (old, new) in moved.items())
        return _done(admin, request, "/remotes", "ok", f"Pushed: {text or 'nothing to push'}")
    if action not in ("pull", "push"):
        raise HTTPException(404, "no such action")
    return await admin.run(work)


def routes() -> list[Route]:
    return [
        Route("/log", log),
        Route("/branches", branches),
        Route("/branches/{action}", branch_action, methods=["POST"]),
        Route("/compare", compare),
        Route("/merge", merge_page),
        Route("/merge/{action}", merge_action, methods=["POST"]),
        Route("/tags", tags),
        Route("/tags/create", create_tag, methods=["POST"]),
        Route("/remotes", remotes),
        Route("/remotes/{action}", remote_action, methods=["POST"]),
    ]
