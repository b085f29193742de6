"""Domain validations that ``evaluate`` composes: each says whether it applies to a run and its data, and
measures. A new domain registers one here; the facade never changes.

``applies(run, ds)`` returns None when the validation applies, a one-line reason when it would be relevant
but cannot run (reported under ``skipped``), or "" when it does not concern this data at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


from ..registry import Registry


@dataclass(frozen=True)
class Validation:
    """``measure(run, full_dataset, split, seed=...)`` -> dict; ``flat``: merged into the metrics (else nested
    under the validation's name)."""

    summary: str
    applies: Callable[[Any, Any], str | None]
    measure: Callable[..., dict[str, Any]]
    flat: bool = False
    #: options of ``evaluate`` this validation takes as keywords of ``measure`` (e.g. ``calibrate``)
    takes: tuple[str, ...] = ()
    #: validations this one stands in for on the data it concerns (``applies`` not "")
    supersedes: tuple[str, ...] = ()


VALIDATIONS: Registry[Validation] = Registry("validation")


def superseded(name: str, run, ds) -> bool:
    """Whether another validation that concerns ``ds`` stands in for the validation ``name``."""
    return any(name in v.supersedes and v.applies(run, ds) != "" for _, v in VALIDATIONS.items())


def _quality_applies(run, ds) -> str | None:
    if not run.can("scoring"):
        return ""  # the GAN's own quality measure; VAEs report NLLs (their baselines table scores samples too)
    if superseded("sample_quality", run, ds):
        return ""  # e.g. known modes: a domain's validation counts them directly
    if ds.y is None:
        return "the sample-quality metrics need labels to train their feature classifier (--labels-key or --labels)"
    return None


def _quality(run, full, split, *, seed=0):
    from .quality import sample_quality

    return sample_quality(run, full, split, seed=seed)


def _translation_applies(run, ds) -> str | None:
    import os

    from ..data import DATASETS

    if not run.can("translating"):
        return ""
    source = str(run.data_info.get("data_b", {}).get("source", ""))
    if source not in DATASETS and not os.path.exists(source):
        return (f"the second data set ({source or 'unknown'}) cannot be read again (an array, or a moved file); use "
                "latentforge.analysis.translation.translation_report(run, data_a, data_b)")
    return None


def _translation(run, full, split, *, seed=0):
    from .translation import translation_validation

    return translation_validation(run, full, split, seed=seed)


VALIDATIONS.register("sample_quality", Validation(
    "FD in a classifier's features, precision / recall, mode coverage (labelled data)", _quality_applies, _quality,
    flat=True))
VALIDATIONS.register("translation", Validation(
    "translators: classifier AUC and a domain's observables before / after, cycle error",
    _translation_applies, _translation))


def _calibration_applies(run, ds) -> str | None:
    from .calibration import applies

    return applies(run)


def _calibration(run, full, split, *, seed=0, calibrate=None):
    from .calibration import calibration

    return calibration(run, full, split, seed=seed, calibrate=calibrate)


VALIDATIONS.register("calibration", Validation(
    "held-out coverage of the predictive's central 68 / 95 % intervals, PIT histogram, split-conformal multipliers",
    _calibration_applies, _calibration, takes=("calibrate",)))


def _two_sample_applies(run, ds) -> str | None:
    return None if run.can("sampling") else ""


def _two_sample(run, full, split, *, seed=0):
    from .fidelity import fidelity

    return fidelity(run, full, split, seed=seed)


VALIDATIONS.register("two_sample", Validation(
    "classifier two-sample test (AUC with its real-vs-real floor) and separation power of generated vs real rows",
    _two_sample_applies, _two_sample))
