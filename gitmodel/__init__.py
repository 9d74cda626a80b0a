"""gitmodel: a versioned, branchable object store in a git repository."""

from . import fields
from .exceptions import (
    AuthenticationError,
    BranchMoved,
    BranchNotFound,
    CertificateError,
    ConfigurationError,
    CorruptObject,
    DoesNotExist,
    FieldError,
    GitModelError,
    IntegrityError,
    EmptyPage,
    InvalidPage,
    PageNotAnInteger,
    InvalidReferenceName,
    LockWaitTimeoutExceeded,
    MergeConflict,
    MigrationError,
    ModelNotFound,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
    PendingChanges,
    ProtectedError,
    PushRaceLost,
    PushRejected,
    ReferenceNotFound,
    RemoteError,
    RemoteNotFound,
    RepositoryError,
    RepositoryNotFound,
    SchemaMismatch,
    ShallowHistoryError,
    SignatureError,
    SigningError,
    StoredValueMismatch,
    ValidationError,
)
from .aggregates import Avg, Count, Max, Min, Sum
from .expressions import F
from .models import GitModel
from .paginator import KeysetPaginator, Paginator
from .query import Q, QuerySet
from .relations import CASCADE, PROTECT, SET_DEFAULT, SET_NULL
from .workspace import Workspace

__version__ = "0.2.0"


def _keep_moved_import_paths() -> None:
    """Modules that moved into the layers' folders keep their old import paths."""
    import importlib
    import sys

    for old, new in _MOVED.items():
        module = importlib.import_module(new)
        sys.modules[f"{__name__}.{old}"] = module
        globals()[old] = module


#: old module name -> where it lives now (see the architecture page of the docs)
_MOVED = {
    "concurrency": "gitmodel.git.refs",
    "tree": "gitmodel.git.tree",
    "packs": "gitmodel.git.packs",
    "changes": "gitmodel.versions.changes",
    "openmerge": "gitmodel.versions.openmerge",
    "schema_merge": "gitmodel.schema.merge",
    "history": "gitmodel.versions.history",
    "merge": "gitmodel.versions.merge",
    "planner": "gitmodel.query.planner",
    "indexes": "gitmodel.query.indexes",
    "locks": "gitmodel.git.locks",
    "options": "gitmodel.schema.options",
}
_keep_moved_import_paths()

__all__ = [
    "fields",
    "GitModel",
    "Q",
    "QuerySet",
    "Workspace",
    "Count",
    "Sum",
    "Min",
    "Max",
    "Avg",
    "Paginator",
    "F",
    "KeysetPaginator",
    "PROTECT",
    "CASCADE",
    "SET_NULL",
    "SET_DEFAULT",
    "GitModelError",
    "ConfigurationError",
    "RepositoryError",
    "RepositoryNotFound",
    "ReferenceNotFound",
    "BranchNotFound",
    "BranchMoved",
    "PendingChanges",
    "FieldError",
    "ValidationError",
    "IntegrityError",
    "InvalidReferenceName",
    "ProtectedError",
    "EmptyPage",
    "InvalidPage",
    "PageNotAnInteger",
    "DoesNotExist",
    "ObjectDoesNotExist",
    "MultipleObjectsReturned",
    "ModelNotFound",
    "CorruptObject",
    "LockWaitTimeoutExceeded",
    "MergeConflict",
    "SchemaMismatch",
    "StoredValueMismatch",
    "MigrationError",
    "RemoteError",
    "RemoteNotFound",
    "AuthenticationError",
    "CertificateError",
    "PushRejected",
    "PushRaceLost",
    "ShallowHistoryError",
    "SigningError",
    "SignatureError",
]
