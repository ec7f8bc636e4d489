"""The response-cache protocol that the call path needs, and the error of a shared cache."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import RerankError


class CacheUnavailable(RerankError):
    """A shared cache that could not be read or written this time (the call goes on
    uncached and ``Usage.cache_errors`` counts it)."""


@runtime_checkable
class Cache(Protocol):
    """What the call path needs of a response cache. ``get`` and ``set`` of a shared cache
    raise ``CacheUnavailable`` when the store fails; the disk cache raises ``RerankError``
    (a damaged directory is the user's to fix)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> None: ...
