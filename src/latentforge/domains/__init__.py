"""Science domains as plug-ins. A domain is one package (its readers and file layouts, scalings, simulator,
validations, figures, report sections, output writers, models and catalogue entries) with a ``register()``
function that adds them to the core's registries; the core calls what is registered and never names a domain.

Adding a domain: write its package (under ``latentforge.domains`` or anywhere importable) and add its name to
``DOMAINS`` below, or load it at run time with ``load("my_package")``. The registries a domain adds to:

- data: ``data.records.READERS`` (file kinds), ``data.layouts.LAYOUTS`` (known layouts), ``data.records.INFO_KEYS``
  (what a layout describes and a run records), ``data.files.add_data_keys``, ``data.scaling.SCALINGS``,
  ``data.builtin.DATASETS`` (built-in sets), ``data.grids.GRIDS`` (sample grids data are resampled on);
- models: ``catalog.MODELS`` (catalogue entries of its model and objective classes);
- outputs: ``io.writers.register_output``, ``VALUE_NAMES``, ``LAYOUT_WRITERS``;
- analysis: ``analysis.validations.VALIDATIONS``, ``analysis.hooks.DATA_KINDS`` (figures per kind),
  ``REPORT_SECTIONS``, ``RUN_PLOTS``, ``TRANSLATION_MEASURES``;
- commands: ``hooks.SIMULATORS`` (``latentforge simulate NAME``) and ``hooks.DEMOS`` (``latentforge demo --NAME``).
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


def unload(name: str) -> None:
    """Take the domain ``name`` out again: its ``unregister()`` (where it has one) removes what ``register()``
    added; KeyError when it is not loaded."""
    full = f"{__name__}.{name}" if name in DOMAINS else name
    module = _LOADED.pop(full)
    if hasattr(module, "unregister"):
        module.unregister()


def loaded() -> list[str]:
    """The module names of the domains loaded so far, in loading order."""
    return list(_LOADED)


def load_all() -> None:
    """Load every built-in domain of ``DOMAINS`` (the package does at import)."""
    for name in DOMAINS:
        load(name)
