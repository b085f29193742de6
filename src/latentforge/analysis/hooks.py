"""Where a science domain (``latentforge.domains``) plugs into the analysis: the plots written after training,
the figures drawn in a data kind's own terms, and the sections of the report. This module loads no plotting
code, so registering costs nothing at import.

``RUN_PLOTS``      ``plot(run, ds) -> [paths written]`` after training; [] when ``ds`` is not the domain's data
``DATA_KINDS``     a ``DataKind``: ``detects(run, ds)``, ``reconstructions(run, ds, shown, what)`` -> [(figure,
                   caption)] or None, ``samples(run, x, ds)`` -> a figure or None
``REPORT_SECTIONS`` ``section(run, test, metrics, seed=...) -> [markdown parts]``: [] when the metrics hold
                   nothing of the domain's
``TRANSLATION_MEASURES`` a ``TranslationMeasure``: a domain's own numbers and picture of a translator's work
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..registry import Registry

RUN_PLOTS: Registry[Callable[[Any, Any], list[Any]]] = Registry("run plot")


@dataclass(frozen=True)
class DataKind:
    """A kind of data with figures of its own (``analysis.kind_figures``): ``detects(run, ds) -> bool``;
    ``reconstructions(run, ds, shown, what)`` -> [(figure, caption)] of ``shown`` (a few rows of ``ds``) beside
    the model's answer, or None to draw the generic ones; ``samples(run, x, ds)`` -> a figure of generated
    examples ``x`` (raw units), or None; ``unit(run, ds)`` -> the unit of the values, for a report's words."""

    detects: Callable[[Any, Any], bool]
    reconstructions: Callable[..., list | None]
    samples: Callable[..., Any]
    unit: Callable[[Any, Any], str] | None = None


DATA_KINDS: Registry[DataKind] = Registry("data kind")

REPORT_SECTIONS: Registry[Callable[..., list[str]]] = Registry("report section")


@dataclass(frozen=True)
class TranslationMeasure:
    """A domain's measures of a translation (``analysis.translation``): ``concerns(source, target)`` -> bool (both
    data sets are the domain's); ``measure(source, target, moved, seed=...)`` -> a dict with at least
    ``auc_before`` / ``auc_before_err`` / ``auc_after`` / ``auc_after_err``; ``figure(source, target, moved,
    title=...)`` -> the before / after picture."""

    concerns: Callable[[Any, Any], bool]
    measure: Callable[..., dict[str, Any]]
    figure: Callable[..., Any]


TRANSLATION_MEASURES: Registry[TranslationMeasure] = Registry("translation measure")
