"""Classes by name, loaded on first use: how strategies (``registry.py``) and transports
(``transports/__init__.py``) are looked up.

Built-ins are listed as lazy ``"module:Class"`` strings, so nothing is imported until a name
is asked for; ``register`` adds a class or a string at run time, and third-party packages
declare entry points in the ``group`` (``name = "package.module:Class"``).

>>> shapes = Plugins("shape", "example.shapes", {"ordered": "collections:OrderedDict"}, dict)
>>> shapes.load("ordered").__name__, shapes.names()
('OrderedDict', ['ordered'])
>>> shapes.load("round")
Traceback (most recent call last):
    ...
llm_rerank.errors.InvalidInput: unknown shape 'round'; known: ordered
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import InvalidInput

T = TypeVar("T")


class Plugins(Generic[T]):
    """Classes by name (subclasses of ``base``, or any class when ``base`` is ``None``);
    ``what`` names them in errors (``"strategy"``). ``base`` may itself be a lazy
    ``"module:Class"``, imported when a class is first checked (so listing names imports
    nothing)."""

    def __init__(self, what: str, group: str, builtins: Mapping[str, type[T] | str],
                 base: type[T] | str | None = None) -> None:
        self.what, self.group, self._base = what, group, base
        self.targets: dict[str, type[T] | str] = dict(builtins)

    @property
    def base(self) -> type[T] | None:
        """The class every entry must subclass (imported on first use when lazy)."""
        if isinstance(self._base, str):
            module_name, _, class_name = self._base.partition(":")
            self._base = getattr(importlib.import_module(module_name), class_name)
        return self._base if not isinstance(self._base, str) else None

    def register(self, name: str, target: type[T] | str) -> None:
        """Add ``name``: a subclass of ``base``, or a lazy ``"module:Class"``."""
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"a {self.what} name must be a non-empty str, got {name!r}")
        if not isinstance(target, str) and not self._fits(target):
            raise InvalidInput(f"register {self.what} {name!r}: expected {self._kind()} or "
                               "'module:Class'")
        self.targets[name] = target

    def _fits(self, target: object) -> bool:
        return isinstance(target, type) and (self.base is None or issubclass(target, self.base))

    def _kind(self) -> str:
        return "a class" if self.base is None else f"a {self.base.__name__} subclass"

    def _entry_points(self) -> dict[str, str]:
        return {ep.name: ep.value for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Every name: the built-ins, the registered ones and the entry points."""
        return sorted({*self.targets, *self._entry_points()})

    def check(self, name: object) -> str:
        """``name`` when it is known, else ``InvalidInput`` listing the known ones."""
        if not isinstance(name, str) or (name not in self.targets
                                         and name not in self._entry_points()):
            raise InvalidInput(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}")
        return name

    def load(self, name: str) -> type[T]:
        """The class registered as ``name`` (imported on first use, then kept)."""
        target = self.targets.get(self.check(name)) or self._entry_points()[name]
        if isinstance(target, str):
            module_name, _, class_name = target.partition(":")
            try:
                found = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as exc:
                raise InvalidInput(f"{self.what} {name!r} ({target}) cannot be loaded: "
                                   f"{exc}") from exc
            if not self._fits(found):
                raise InvalidInput(f"{self.what} {name!r} points at {target}, which is not "
                                   f"{self._kind()}")
            self.targets[name] = target = found
        return target

    def imported(self) -> Iterator[type[T]]:
        """The registered classes this process has imported (the others hold nothing)."""
        for target in list(self.targets.values()):
            if isinstance(target, type):
                yield target
            elif (module := sys.modules.get(target.partition(":")[0])) is not None:
                found = getattr(module, target.partition(":")[2], None)
                if isinstance(found, type):
                    yield found

