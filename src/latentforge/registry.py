"""Name -> object maps. Every set of variants (models, likelihoods, GAN losses, scalings, corruptions,
activations, validations) lives in one; a config's list of choices is read from its registry, never written
a second time. Lookups of unknown names raise an error listing the known names."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered name -> item map with helpful errors.

    Examples:
        >>> SCALINGS = Registry("scaling")
        >>> SCALINGS.register("none", NoScaling)
    """

    def __init__(self, kind: str, error: type[Exception] = ConfigError):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._error = error

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name``; a name registered twice raises ValueError (a programming error)."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def remove(self, name: str) -> T:
        """Take ``name`` out again (a plug-in unloaded, a test's own entry); KeyError when it is not there."""
        return self._items.pop(name)

    def add(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``register``: ``@LOSSES.add("hinge")`` above a class."""
        def deco(item: T) -> T:
            return self.register(name, item)
        return deco

    def get(self, name: str) -> T:
        """The item called ``name``; an unknown name raises this registry's error naming the known ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = ", ".join(self.names())
            raise self._error(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def subset(self, keep: Callable[[T], bool]) -> "Choices[T]":
        """The names whose item passes ``keep``, read when asked (items registered later count too)."""
        return Choices(self, keep)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


class Choices(Generic[T]):
    """A live view of a registry's names that pass a test: usable wherever a tuple of choices is."""

    def __init__(self, registry: Registry[T], keep: Callable[[T], bool]):
        self.registry, self.keep = registry, keep

    def names(self) -> list[str]:
        return [n for n, item in self.registry.items() if self.keep(item)]

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
