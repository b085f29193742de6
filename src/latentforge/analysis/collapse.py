"""Mode collapse among labelled classes: the classes a generator drops, read by the feature classifier of
``analysis.quality``, and the sentence that names them with their shares."""

from __future__ import annotations

from typing import Mapping

#: a class counts as dropped when its share of the samples is below this fraction of its share of the real data
#: (the same quarter ``mode_coverage`` uses)
DROPPED_FRACTION = 0.25


def dropped_classes(generated: Mapping[str, float], expected: Mapping[str, float] | None = None, *,
                    fraction: float = DROPPED_FRACTION) -> list[str]:
    """The classes whose share of the samples ``generated`` (class -> fraction of samples) is below ``fraction``
    of their share in ``expected`` (the real data's, class -> fraction; default: an equal share for every
    class of ``generated``), in the order of ``generated``."""
    fair = 1.0 / max(len(generated), 1)
    return [c for c, share in generated.items()
            if share < fraction * (expected.get(c, fair) if expected is not None else fair)]


def mode_collapse_note(generated: Mapping[str, float], expected: Mapping[str, float] | None = None, *,
                       fraction: float = DROPPED_FRACTION, advice: str = "") -> str | None:
    """One sentence naming the dropped classes (``dropped_classes``) with their shares of the samples and of the
    real data, in percent, e.g. "mode collapse: classes 0, 6 have 0.1 %, 0.3 % of the samples (expected 9.8 %,
    9.9 %, their shares of the real data) ..."; None when no class is dropped. ``advice`` is appended."""
    gone = dropped_classes(generated, expected, fraction=fraction)
    if not gone:
        return None
    fair = 1.0 / max(len(generated), 1)
    want = [expected.get(c, fair) if expected is not None else fair for c in gone]

    def pct(values) -> str:
        return ", ".join(f"{100 * v:.1f} %" for v in values)

    which = f"class {gone[0]} has" if len(gone) == 1 else f"classes {', '.join(gone)} have"
    source = "its share" if len(gone) == 1 else "their shares"
    source += " of the real data" if expected is not None else " if every class were equally common"
    note = (f"mode collapse: {which} {pct(generated[c] for c in gone)} of the samples (expected {pct(want)}, "
            f"{source}); {len(generated) - len(gone)} of {len(generated)} classes reach a quarter of their share")
    return note + (f"; {advice}" if advice else "")
