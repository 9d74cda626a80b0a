"""The exceptions gitmodel raises. All derive from :class:`GitModelError`."""

from __future__ import annotations

from typing import Any


class GitModelError(Exception):
    """Root of every error gitmodel raises on purpose."""


class ConfigurationError(GitModelError):
    """A model or workspace is declared or used in a way that cannot work."""


class RepositoryError(GitModelError):
    """A repository operation cannot proceed (pending changes, bad ref, ...)."""


class RepositoryNotFound(RepositoryError):
    """The path is missing or is not a git repository."""


class ReferenceNotFound(RepositoryError, KeyError):
    """A branch, tag, commit or other treeish does not exist."""

    def __init__(self, name: Any, message: str | None = None) -> None:
        self.name = name
        super().__init__(message or f"reference not found: {name!r}")

    def __str__(self) -> str:  # KeyError quotes its argument; we do not
        return str(self.args[0])


class BranchNotFound(ReferenceNotFound):
    """The named branch does not exist."""


class PendingChanges(RepositoryError):
    """Refused because the unit of work has changes that are not committed.

    Commit them, or ``reset()`` them, first. ``action`` is what was refused.
    """

    def __init__(self, action: str, detail: str = "") -> None:
        self.action = action
        what = f"other changes are pending ({detail})" if detail else "there are pending changes"
        super().__init__(f"cannot {action}: {what}; commit or reset them first")


class BranchMoved(RepositoryError):
    """Another writer moved the branch since this workspace started from it.

    Nothing was committed and the pending changes are kept; ``current`` is
    where the branch is now.
    """

    def __init__(self, message: str, current: Any = None, ref: str | None = None) -> None:
        self.current = current
        #: the ref that moved (the branch, or the record of its open merge)
        self.ref = ref
        super().__init__(message)


class FieldError(GitModelError):
    """A field is declared or looked up wrongly."""


class ValidationError(GitModelError, ValueError):
    """A value failed validation.

    ``field`` is the field's name (``None`` for errors about the whole
    object), ``code`` a stable machine-readable key, ``message`` the text.
    ``error_list`` holds every error when several were collected.
    """

    field: str | None
    code: str | None
    message: str
    error_list: list[ValidationError]

    def __init__(
        self,
        message: str | list[ValidationError],
        field: Any = None,
        code: str | None = None,
        **params: Any,
    ) -> None:
        if not isinstance(field, (str, type(None))) and isinstance(getattr(field, "error_messages", None), dict):
            # python-gitmodel 0.1's form: ValidationError(code, field, **params), the
            # message the field's error_messages give for code (or code itself)
            code = code or (message if isinstance(message, str) else None)
            template = field.error_messages.get(message, message) if isinstance(message, str) else message
            try:
                text = template.format(field=field, **params) if isinstance(template, str) else template
            except (KeyError, IndexError, ValueError):
                text = template
            field = field.name
            message = f'"{field}" {text}' if isinstance(text, str) else text
        if isinstance(message, list):
            self.error_list = message
            self.field = message[0].field if len(message) == 1 else None
            self.code = message[0].code if len(message) == 1 else "multiple"
            self.message = "; ".join(e.message for e in message)
        else:
            self.error_list = [self]
            self.field = field
            self.code = code
            self.message = message
        super().__init__(self.message)

    @property
    def message_dict(self) -> dict[str | None, list[str]]:
        """Messages grouped by field name."""
        out: dict[str | None, list[str]] = {}
        for err in self.error_list:
            out.setdefault(err.field, []).append(err.message)
        return out


class DuplicateIdField(FieldError, ConfigurationError):
    """A model declares more than one id field (a ``ConfigurationError``, as
    python-gitmodel 0.1 raised it)."""


class UnsupportedFormat(GitModelError):
    """Data in a format gitmodel does not read (python-gitmodel 0.1's name)."""


class InvalidReferenceName(ValidationError, ConfigurationError, RepositoryError):
    """A branch, tag, lock, remote or ``HEAD`` name git would not accept.

    Raised before anything is written; a ``ConfigurationError`` and a
    ``RepositoryError`` too, as bad names were reported before.
    """

    def __init__(self, message: str, name: Any = None) -> None:
        self.name = name
        super().__init__(message, code="invalid_ref_name")


class IntegrityError(GitModelError):
    """A save would break an invariant (duplicate id, unique value)."""


class ProtectedError(IntegrityError):
    """A delete refused because objects still refer to the target
    (``on_delete=PROTECT``); ``protected`` lists them as ``(model name, id)``."""

    def __init__(self, message: str, protected: list[tuple[str, Any]]) -> None:
        super().__init__(message)
        self.protected = protected


class InvalidPage(GitModelError, ValueError):
    """A page number, page size or cursor that names no page."""


class PageNotAnInteger(InvalidPage):
    """A page number that is not a whole number (Django's name)."""


class EmptyPage(InvalidPage):
    """A page number below 1 or past the last page (Django's name)."""


class ObjectDoesNotExist(GitModelError, LookupError):
    """The requested object does not exist. Each model has a subclass."""


DoesNotExist = ObjectDoesNotExist


class MultipleObjectsReturned(GitModelError):
    """A lookup that expects one object found several."""


class ModelNotFound(GitModelError, LookupError):
    """Stored data names a model that no workspace registry knows."""


class CorruptObject(GitModelError):
    """Data in the repository cannot be read as a model object.

    ``path`` is where it is; ``commit``, when known, the commit it came from.
    """

    def __init__(self, path: str, reason: str, commit: Any = None) -> None:
        self.path = path
        self.reason = reason
        self.commit = commit
        where = f" in commit {str(commit)[:12]}" if commit is not None else ""
        super().__init__(f"corrupt object at {path!r}{where}: {reason}")

    def at(self, commit: Any) -> CorruptObject:
        """This error, naming ``commit`` too unless it names one already."""
        if self.commit is None and commit is not None:
            self.commit = commit
            if type(self) is CorruptObject:
                self.args = (f"corrupt object at {self.path!r} in commit {str(commit)[:12]}: {self.reason}",)
        return self


class LockWaitTimeoutExceeded(GitModelError, TimeoutError):
    """A lock could not be acquired within the timeout."""


class MergeConflict(GitModelError):
    """Concurrent edits changed the same field; nothing was committed."""

    def __init__(self, message: str, conflicts: list[Any] | None = None) -> None:
        self.conflicts = conflicts or []
        super().__init__(message)


class RemoteError(GitModelError):
    """Talking to a remote failed: unreachable, went away, protocol error."""


class RemoteNotFound(RemoteError, LookupError):
    """No remote of that name is configured."""


class AuthenticationError(RemoteError):
    """The server refused the credentials (or none were given)."""


class CertificateError(RemoteError):
    """The server's TLS certificate or SSH host key was refused."""


class PushRejected(RemoteError):
    """The remote refused to update one or more refs; nothing else was lost.

    ``rejected`` maps each refused remote ref to the server's reason;
    ``pushed`` maps the refs that did move to ``(old, new)``.
    """

    def __init__(
        self,
        rejected: dict[str, str],
        pushed: dict[str, tuple[Any, Any]] | None = None,
        message: str | None = None,
    ) -> None:
        self.rejected = dict(rejected)
        self.pushed = dict(pushed or {})
        if message is None:
            parts = [f"{ref} ({reason})" for ref, reason in sorted(self.rejected.items())]
            message = "push rejected: " + "; ".join(parts)
            if any("fast-forward" in r or "fetch first" in r for r in self.rejected.values()):
                message += ": the remote has commits you do not have; pull first, then push"
        super().__init__(message)


class PushRaceLost(PushRejected):
    """A sync gave up: ``attempts`` pushes in a row found that another clone had pushed first.

    The local commits are kept; a later sync pushes them.
    """

    def __init__(self, rejected: dict[str, str], attempts: int) -> None:
        self.attempts = attempts
        super().__init__(
            rejected, None,
            f"push rejected {attempts} times in a row: other clones kept pushing first "
            f"({'; '.join(f'{ref}: {why}' for ref, why in sorted(rejected.items()))}); "
            "the local commits are kept: sync again later",
        )


class ShallowHistoryError(RepositoryError):
    """The answer lies beyond the edge of a shallow clone.

    ``commit`` is the shallow commit where the fetched history stops;
    ``ws.fetch(depth=...)`` (or ``unshallow=True``) fetches more of it.
    """

    def __init__(self, message: str, commit: Any = None) -> None:
        self.commit = commit
        super().__init__(message)


class SigningError(GitModelError):
    """A commit could not be signed (missing key or program, refused); nothing was committed."""


class SignatureError(GitModelError):
    """Commits that must carry a trusted signature do not.

    ``commits`` lists the :class:`~gitmodel.signing.CommitSignature` of each
    commit that failed the check.
    """

    def __init__(self, message: str, commits: list[Any] | None = None) -> None:
        self.commits = list(commits or [])
        super().__init__(message)
class SchemaMismatch(GitModelError):
    """A model's declaration differs from its schema stored in the repository
    in a way old objects do not survive; ``differences`` says how, each with
    the migration that resolves it."""

    def __init__(self, message: str, differences: list[Any] | None = None) -> None:
        self.differences = differences or []
        super().__init__(message)


class StoredValueMismatch(SchemaMismatch, CorruptObject):
    """A stored value no longer fits its field's type: names the object's
    path, the field and the commit read."""

    def __init__(self, path: str, field: str, reason: str, commit: Any = None) -> None:
        self.field = field
        self.commit = commit
        where = f" at commit {str(commit)[:10]}" if commit is not None else ""
        CorruptObject.__init__(self, path, reason, commit)
        self.differences = []
        self.args = (
            f"stored value of field {field!r} in {path!r}{where} does not fit the "
            f"declared field: {reason}; migrate it with AlterField",
        )

    def __str__(self) -> str:
        return str(self.args[0])


class MigrationError(GitModelError):
    """A migration cannot be applied (missing predecessor, a failing
    operation); nothing was committed."""
