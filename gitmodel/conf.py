"""python-gitmodel 0.1's settings: ``Config``, ``DEFAULTS`` and ``defaults``.

Part of the 0.1 compatibility layer (see "Coming from python-gitmodel 0.1"
in the docs). Today's workspace takes its settings as arguments
(``Workspace(path, author=..., lock_timeout=...)``); ``ws.config`` is the
same settings under their 0.1 names, and setting one there sets it on the
workspace:

- ``DEFAULT_GIT_USER``: ``ws.default_author``, the ``(name, email)`` of
  commits that name no author.
- ``LOCK_WAIT_TIMEOUT``: ``ws.lock_timeout``, in seconds.
- ``LOCK_WAIT_INTERVAL``: accepted and kept, not used (lock waits back off
  on their own).
- ``DEFAULT_SERIALIZER``: only ``'gitmodel.serializers.json'``; anything
  else is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["DEFAULTS", "Config", "WorkspaceConfig", "defaults"]

JSON_SERIALIZER = "gitmodel.serializers.json"

DEFAULTS: dict[str, Any] = {
    "DEFAULT_SERIALIZER": JSON_SERIALIZER,
    "LOCK_WAIT_TIMEOUT": 30,  # seconds
    "LOCK_WAIT_INTERVAL": 1000,  # milliseconds
    "DEFAULT_GIT_USER": ("gitmodel", "gitmodel@local"),
}


class Config(dict):  # type: ignore[type-arg]
    """Settings readable and writable as keys or attributes (``config.LOCK_WAIT_TIMEOUT``).

    Starts from :data:`DEFAULTS` updated with ``defaults``.
    """

    def __init__(self, defaults: Optional[dict[str, Any]] = None) -> None:
        super().__init__(DEFAULTS)
        for key, value in (defaults or {}).items():
            self[key] = value

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "DEFAULT_SERIALIZER" and value != JSON_SERIALIZER:
            raise ConfigurationError(
                f"DEFAULT_SERIALIZER {value!r} is not supported: data is stored as JSON "
                f"({JSON_SERIALIZER!r})"
            )
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # through __setitem__'s checks
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


class WorkspaceConfig(Config):
    """``ws.config``: a :class:`Config` whose settings are the workspace's own."""

    def __init__(self, workspace: Workspace) -> None:
        dict.__setattr__(self, "_workspace", workspace)
        super().__init__(
            {
                "DEFAULT_GIT_USER": workspace.default_author,
                "LOCK_WAIT_TIMEOUT": workspace.lock_timeout,
            }
        )

    def __getitem__(self, key: str) -> Any:
        if key == "DEFAULT_GIT_USER":
            return tuple(self._workspace.default_author)
        if key == "LOCK_WAIT_TIMEOUT":
            return self._workspace.lock_timeout
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __setitem__(self, key: str, value: Any) -> None:
        ws = self.__dict__["_workspace"]
        if key == "DEFAULT_GIT_USER":
            name, email = value
            ws.default_author = (str(name), str(email))
        elif key == "LOCK_WAIT_TIMEOUT":
            ws.lock_timeout = float(value)
        super().__setitem__(key, value)


#: the defaults, as python-gitmodel 0.1 exposed them
defaults = Config()
