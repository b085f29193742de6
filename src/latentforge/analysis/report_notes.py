"""Sentences a report adds where a number would surprise a reader: a model whose samples are further from the data
than a classical baseline's, in the baselines table's own measures."""

from __future__ import annotations

import math
from typing import Any

from .readable import fmt

#: the generating baselines of ``baselines.baseline_table``, in words
BASELINE_WORDS = {"gaussian": "one Gaussian (full covariance)", "gaussian_mixture": "a 10-component Gaussian mixture",
                  "kde": "a kernel density estimate"}


def _err(row: dict[str, Any], name: str) -> float:
    e = row.get(f"{name}_err")
    return float(e) if isinstance(e, (int, float)) and math.isfinite(e) else 0.0


def baseline_notes(table: dict[str, dict[str, Any]], model: str) -> list[str]:
    """What it means when ``model``'s Fréchet distance in the classifier's features is larger (worse) than a
    classical baseline's in ``table`` (rows of ``baselines.baseline_table``); [] when no baseline beats it."""
    mine = table.get(model, {})
    if "fd_classifier" not in mine:
        return []
    better = [(name, row) for name, row in table.items() if name in BASELINE_WORDS and "fd_classifier" in row
              and row["fd_classifier"] < mine["fd_classifier"]]
    if not better:
        return []
    fd = mine["fd_classifier"]
    named = [f"{BASELINE_WORDS[n]} ({fmt(r['fd_classifier'])})" for n, r in better]
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    lines = [f"{model}'s Fréchet distance ({fmt(fd)} ± {fmt(_err(mine, 'fd_classifier'))}) is larger than that of "
             f"{listed}, each fitted to the same training rows. The Fréchet distance compares only the mean and the "
             "covariance of the samples' features with the data's: a simple model that matches those two moments "
             "scores well even when its samples do not look like the data."]
    for name, row in better:
        gap = fd - row["fd_classifier"]
        noise = math.hypot(_err(mine, "fd_classifier"), _err(row, "fd_classifier"))
        if noise > 0 and gap < 2 * noise:
            lines.append(f"Against {BASELINE_WORDS[name]} the gap ({fmt(gap)}) is within two standard errors "
                         f"({fmt(2 * noise)}): not a measured difference.")
        copy = row.get("copying")
        if isinstance(copy, (int, float)) and copy < 0.8:
            lines.append(f"{BASELINE_WORDS[name][0].upper() + BASELINE_WORDS[name][1:]} sits on its training "
                         f"examples (copying {fmt(copy)}, well below 1): its samples are near-copies of training "
                         "rows, which flatters the Fréchet distance without being new data.")
    prec, rec = mine.get("precision"), mine.get("recall")
    if isinstance(prec, (int, float)) and isinstance(rec, (int, float)):
        lines.append(f"Read it with precision ({fmt(prec)}: the share of {model}'s samples on the data's manifold) "
                     f"and recall ({fmt(rec)}: the share of the manifold they reach); a model with low recall "
                     "covers only part of the data, which more training epochs, a larger latent space or a "
                     "smaller KL weight (beta) may widen.")
    return lines
