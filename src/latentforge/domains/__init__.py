"""Science domains as plug-ins. A domain is one package (its readers and file layouts, scalings, simulator,
validations, figures, report sections, output writers, models and catalogue entries) with a ``register()``
function that adds them to the core's registries; the core calls what is registered and never names a domain.

Adding a domain: write its package (under ``latentforge.domains`` or anywhere importable) and add its name to
``DOMAINS`` below, or load it at run time with ``load("my_package")``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: the built-in domains, loaded with the package: one name each (a package beside this file)
DOMAINS = ("showers", "spectra", "modes")

_LOADED: dict[str, ModuleType] = {}


def load(name: str) -> ModuleType:
    """Import the domain ``name`` (a built-in name from ``DOMAINS`` or any importable module) and call its
    ``register()`` once; returns the module. ImportError when it cannot be imported, AttributeError when it has no
    ``register``."""
    full = f"{__name__}.{name}" if name in DOMAINS else name
    if full not in _LOADED:
        module = importlib.import_module(full)
        module.register()
        _LOADED[full] = module
    return _LOADED[full]


def loaded() -> list[str]:
    """The module names of the domains loaded so far, in loading order."""
    return list(_LOADED)


def load_all() -> None:
    """Load every built-in domain of ``DOMAINS`` (the package does at import)."""
    for name in DOMAINS:
        load(name)
