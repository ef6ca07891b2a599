"""One watch request as an iterator of ``(type, object)``.

The caller lists, then watches from the list's resourceVersion, and after the
watch ends (the server closes it after ``timeoutSeconds``) watches again from
:attr:`Watch.resource_version`. Bookmarks (``allowWatchBookmarks``) move that
resourceVersion forward without yielding anything, so a quiet namespace does
not fall out of the server's watch cache window. A resourceVersion that is
too old raises :class:`WatchExpired`: list again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gitflagger.adapters.kube.errors import from_status
from gitflagger.adapters.kube.transport import strip_managed_fields

__all__ = ["Watch"]

EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")


class Watch(Iterator[tuple[str, dict[str, Any]]]):
    """Yields ``("ADDED"|"MODIFIED"|"DELETED", object)``; objects without managedFields
    (or as ``transform`` leaves them).

    Iterating raises :class:`~gitflagger.adapters.kube.errors.WatchExpired`
    on 410 Gone and :class:`~gitflagger.adapters.kube.errors.Unavailable` when
    the connection breaks. :meth:`close`
    (or leaving a ``with`` block) closes the connection at once.
    """

    def __init__(
        self,
        lines: Iterator[dict[str, Any]],
        *,
        resource_version: str,
        api_version: str,
        kind: str,
        what: str,
        transform: Callable[[dict[str, Any]], dict[str, Any]] = strip_managed_fields,
    ) -> None:
        self._lines = lines
        self._transform = transform
        self.resource_version = resource_version
        """The newest resourceVersion seen (events and bookmarks): where the next watch starts."""
        self._api_version = api_version
        self._kind = kind
        self._what = what

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> tuple[str, dict[str, Any]]:
        for line in self._lines:
            kind = str(line.get("type", ""))
            obj = line.get("object")
            if not isinstance(obj, dict):
                continue
            if kind == "ERROR":
                self.close()
                raise from_status(int(obj.get("code") or 500), obj, what=self._what)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = str(rv)
            if kind not in EVENT_TYPES:  # BOOKMARK
                continue
            obj.setdefault("apiVersion", self._api_version)
            obj.setdefault("kind", self._kind)
            return kind, self._transform(obj)
        raise StopIteration

    def close(self) -> None:
        close = getattr(self._lines, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
