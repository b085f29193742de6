"""A run report as one self-contained HTML page: every image is embedded, nothing is fetched.

Sections: the configuration, training curves, metrics, reconstructions and samples drawn for the data's kind
(``kind_figures``: a table's columns with their units, a domain kind's own figures), each validation in words
(calibration, two-sample test), a science domain's own sections (``hooks.REPORT_SECTIONS``), the latent scatter, a
traversal grid, an interpolation strip and the table of classical baselines, with a note where a baseline beats
the model.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import as_dataset
from ..io import RunLayout, atomic_write_bytes
from ..spelling import speak
from . import latent as lt
from .figures import sample_grid_figure
from .hooks import REPORT_SECTIONS
from .quality import feature_classifier
from .kind_figures import reconstruction_figures
from .plots import gan_curves, image_grid, latent_scatter, loss_curve
from .report_notes import baseline_notes
from .run_plots import loss_axis_label
from .readable import describe, others, with_error
from .report_html import STYLE, figure_html, table_html

# the page's pieces, kept importable from here
__all__ = ["STYLE", "build_report", "figure_html", "table_html", "write_report"]


def _header(run, full, split: str, n_test: int, reason: str) -> str:
    """What this run is, in words: its model, its own likelihood or loss (only the settings that apply), its data
    and what the report measures on."""
    info = run.info()
    mc, oc = info["model_config"], info["objective_config"]
    bits = [f"{info['n_parameters']:,} parameters", f"latent dimension {info['latent_dim']}"]
    if "likelihood" in mc:
        lik = mc["likelihood"]
        bits.append(f"likelihood {lik}" + (f" (sigma {mc['sigma']:g}, scaled units)" if lik in FIXED_SIGMA else ""))
    if "beta" in oc:
        bits.append(f"KL weight beta {oc['beta']:g}")
    if "corruption" in oc:
        bits.append(f"trained on {oc['corruption']} corruption at {oc['noise_level']:g}")
    if "loss" in oc:
        bits.append(f"loss {oc['loss']}")
    data = info["data"]
    return (f"<p>{html.escape(info['summary'])}: {html.escape(', '.join(bits))}. Trained on "
            f"<code>{html.escape(str(data.get('source')))}</code> ({data.get('n')} examples of shape "
            f"{data.get('example_shape')}, scaling {html.escape(info['scaling'])}). Measured on {html.escape(reason)}."
            "</p>")


#: likelihoods whose sigma is an option of the run (fixed, or the starting value of a shared one)
FIXED_SIGMA = ("gaussian", "gaussian-shared")


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(w)}</th><td class='num'>{html.escape(v)}</td><td>{html.escape(u)}</td>"
                   f"<td class='muted'>{html.escape(b)}</td></tr>" for w, v, u, b in describe(metrics))
    table = f"<table><tr><th>metric</th><th>value</th><th>unit</th><th></th></tr>{rows}</table>"
    rest = others(metrics)
    if rest:
        table += ("<p class='muted'>Other numbers: "
                  + html.escape(", ".join(f"{k} {with_error(metrics, k)}" for k in rest)) + "</p>")
    return table


def build_report(run, data: Any = None, *, k: int = 200, baselines: bool = True, seed: int = 0,
                 progress: bool = False) -> str:
    """The report's HTML for a trained run, measured on ``data`` (default: its training data). ``progress`` shows a
    bar over its steps."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    if data is None:
        full = run.training_data()
    else:
        full = as_dataset(data) if not hasattr(data, "x") else data
    gan = not run.can("encoding")  # a generator: measured against the whole real set
    split = run.resolve_split(full, "auto")
    test = run.select(full, split)
    train = run.select(full, "train") if split == "test" else full  # for the traversal's codes
    images = len(run.input_shape) == 3
    steps = ["metrics", "curves", "pictures", "latent space", "baselines"]
    bar = tqdm(steps, desc="report", unit="step", disable=not progress, leave=False)
    parts: list[str] = [f"<h1>latentforge report: {html.escape(run.name)}</h1>"]

    bar.set_postfix_str("metrics")
    metrics = run.evaluate(full, split, seed=seed, k=k)
    parts.append(_header(run, full, split, len(test), metrics["split_reason"]))
    parts.append("<h2>Metrics</h2>" + _metrics_table(metrics))
    parts += class_sections(metrics)
    parts += fidelity_sections(metrics)
    bar.update()

    bar.set_postfix_str("curves")
    if run.history:
        fig = (gan_curves(run.history) if "d_loss" in run.history[0]
               else loss_curve(run.history, ylabel=loss_axis_label(run)))
        parts.append("<h2>Training</h2>" + figure_html(fig, f"per-epoch curves over {len(run.history)} epochs"))
    bar.update()

    bar.set_postfix_str("pictures")
    shown_as = "held-out" if split in ("test", "unseen") else f"{split}-split"
    if not gan:
        parts.append("<h2>Reconstructions</h2>" + "".join(
            figure_html(fig, caption) for fig, caption in reconstruction_figures(run, test, seed=seed, what=shown_as)))
    if run.can("sampling"):
        parts.append("<h2>Samples</h2>" + figure_html(sample_grid_figure(run, seed=seed, data=test),
                                                      "generated from the model's prior, beside the data where the "
                                                      "data's kind allows"))
    for _, section in REPORT_SECTIONS.items():  # a science domain's own sections (analysis.hooks)
        parts += section(run, test, metrics, seed=seed)
    bar.update()

    bar.set_postfix_str("latent space")
    if not gan:
        sub = test.subset(np.arange(min(len(test), 5000)))
        z = run.encode(sub)
        z2, method = lt.project_2d(z)
        parts.append("<h2>Latent space</h2>" + figure_html(
            latent_scatter(z2, sub.y, title=f"{run.name} codes of the {split} split", method=method),
            f"codes coloured by label; {method}"))
    if images:
        parts.append(_traversal_section(run, train, test, gan, seed))
    bar.update()

    bar.set_postfix_str("baselines")
    if baselines:
        try:
            clf = feature_classifier(run, full) if run.can("sampling") and full.y is not None else None
            table = lt_baselines(run, run.training_rows(full), test, clf, seed)  # fitted on training rows only
            notes = "".join(f"<p class='note'>{html.escape(line)}</p>" for line in baseline_notes(table, run.name))
            parts.append("<h2>Classical baselines</h2>" + BASELINES_HELP + table_html(table) + notes)
        except Exception as e:  # a baseline that cannot be fitted is reported, not hidden
            parts.append(f"<h2>Classical baselines</h2><p class='muted'>not computed: {html.escape(speak(str(e)))}</p>")
    bar.update()
    bar.close()

    parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(run.config_dict(), indent=2)) + "</pre>")
    parts.append(f"<p class='muted'>Written by latentforge in {time.perf_counter() - t0:.1f} s.</p>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>latentforge report: "
            f"{html.escape(run.name)}</title><style>{STYLE}</style></head><body>" + "\n".join(parts)
            + "</body></html>")


BASELINES_HELP = (
    "<p>The same measures for simple models fitted to the same training data (model units). Reconstruction: PCA "
    "with as many components as the model has latent dimensions (lower is better). Samples, in the features of a "
    "classifier trained on the data: FD (Fréchet distance, lower is better), precision (the share of samples that "
    "fall on the data's manifold), recall (the share of the data's manifold the samples reach), class coverage (the "
    "share of classes generated at no less than a quarter of their share; it only counts classes, so a set of "
    "blurry samples can cover every class and still reach none of the real manifold: recall 0), and copying (the "
    "median distance of a sample to its nearest training example over the same for held-out real examples: near 1 "
    "is healthy; well below 1 means the samples sit on training examples, as a kernel density estimate's do, which "
    "flatters FD and precision without being new data).</p>")


def class_sections(metrics: dict[str, Any]) -> list[str]:
    """The report's paragraphs on the classes of the samples: each class's share, and the mode-collapse warning
    in words when the generator drops classes (``evaluate``'s ``mode_collapse``)."""
    parts = []
    if "class_histogram" in metrics:
        parts.append("<p>Share of generated samples the feature classifier puts in each class: " +
                     html.escape(", ".join(f"{c} {v:.3f}" for c, v in metrics["class_histogram"].items())) + "</p>")
    if metrics.get("mode_collapse"):
        parts.append(f"<p class='warn'><b>Warning:</b> {html.escape(metrics['mode_collapse'])}</p>")
    return parts


def fidelity_sections(metrics: dict[str, Any]) -> list[str]:
    """The report's sections for the calibration and the two-sample test of ``evaluate``'s result, if measured."""
    parts = []
    cal = metrics.get("calibration")
    if isinstance(cal, dict) and "pit_histogram" in cal:
        from .calibration import pit_figure

        parts.append("<h2>Calibration</h2>" + "".join(f"<p>{html.escape(line)}</p>" for line in cal["in_words"])
                     + figure_html(pit_figure(cal), f"PIT histogram of {cal['n_points']} held-out points "
                                   f"({cal['n_rows']} rows): flat at 1 when the predictive is calibrated"))
    two = metrics.get("two_sample")
    if isinstance(two, dict) and "top_features" in two:
        from .fidelity import fidelity_figure

        parts.append("<h2>Generated vs real: two-sample test</h2>"
                     + "".join(f"<p>{html.escape(line)}</p>" for line in two["in_words"])
                     + figure_html(fidelity_figure(two), "the features whose histograms separate generated from "
                                   f"real rows most ({two['n_per_side']} rows a side)"))
    return parts


def _traversal_section(run, train, test, gan: bool, seed: int) -> str:
    """Traversal (each row labelled with its latent dimension, how active it is, and the values along it) and
    interpolation pictures."""
    cond = _first_condition(run, test)
    activity = lt.dimension_activity(run, test) if not gan else None
    order = np.argsort(-activity) if activity is not None else None
    tr = lt.traversal(run, None if run.can("sampling") else train, condition=cond, order=order)
    rows, cols, note = None, None, ""
    if "dims" in tr:
        rows = [f"z{k + 1}" + ("" if activity is None else f" · var {activity[k]:.2g}"
                               + (" · inactive" if activity[k] < 0.01 else "")) for k in tr["dims"]]
        cols = [f"{v:+.1f}σ" for v in tr["values"]]
        if activity is not None:
            inactive = int(np.sum(activity < 0.01))
            note = (f" Rows ordered by activity (variance of the code over held-out examples); {inactive} of "
                    f"{len(activity)} dimensions are inactive (below 0.01): moving along them changes nothing.")
    out = "<h2>Traversal</h2>" + figure_html(image_grid(tr["x"], ncols=tr["ncols"], row_labels=rows, col_labels=cols),
                                          f"decoded latent grid ({tr['kind']}).{note}")
    if gan:
        g = np.random.default_rng(seed)
        a, b = g.normal(size=run.model.latent_dim), g.normal(size=run.model.latent_dim)
    else:
        a, b = _two_different(test)
        cond = None
    lin = lt.interpolate(run, a, b, steps=10, method="linear", condition=cond)
    sph = lt.interpolate(run, a, b, steps=10, method="slerp", condition=cond)
    return out + "<h2>Interpolation</h2>" + figure_html(
        image_grid(np.concatenate([lin["x"], sph["x"]]), ncols=10),
        "between two " + ("noise vectors" if gan else "held-out inputs of different classes")
        + ": linear (top) and spherical (bottom)")


def lt_baselines(run, train, test, classifier, seed: int):
    """The classical baselines table (see ``analysis.baselines.baseline_table``)."""
    from .baselines import baseline_table

    return baseline_table(run, train, test, seed=seed, classifier=classifier)


def _first_condition(run, ds):
    return run.conditioner.values_of(ds)[0] if run.conditional else None


def _two_different(ds):
    if ds.y is not None and len(np.unique(ds.y)) > 1:
        i = 0
        j = int(np.flatnonzero(ds.y != ds.y[0])[0])
    else:
        i, j = 0, len(ds) - 1
    return ds.subset(np.array([i])), ds.subset(np.array([j]))


def write_report(run, data: Any = None, out: str | Path | None = None, **kw) -> Path:
    """Write the run's report (``report.html`` in the run directory unless ``out``) atomically; returns its path."""
    out = Path(out) if out else (RunLayout(run.run_dir).report if run.run_dir else Path("report.html"))
    atomic_write_bytes(out, build_report(run, data, **kw).encode("utf-8"))
    return out
