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
    LockWaitTimeoutExceeded,
    MergeConflict,
    ModelNotFound,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
    PendingChanges,
    PushRejected,
    ReferenceNotFound,
    RemoteError,
    RemoteNotFound,
    RepositoryError,
    RepositoryNotFound,
    ValidationError,
)
from .models import GitModel
from .query import Q, QuerySet
from .workspace import Workspace

__version__ = "0.2.0"

__all__ = [
    "fields",
    "GitModel",
    "Q",
    "QuerySet",
    "Workspace",
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
    "DoesNotExist",
    "ObjectDoesNotExist",
    "MultipleObjectsReturned",
    "ModelNotFound",
    "CorruptObject",
    "LockWaitTimeoutExceeded",
    "MergeConflict",
    "RemoteError",
    "RemoteNotFound",
    "AuthenticationError",
    "CertificateError",
    "PushRejected",
]
