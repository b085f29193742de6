"""``latentforge compare``: which model for my data? A PCA baseline, an autoencoder, a VAE and a GAN sized to the
data, trained within one time budget on the same seeded split, and measured side by side on the held-out rows.

Per model: reconstruction error (model and data units) where it reconstructs, the ELBO and the importance-weighted
NLL bound for the VAE, the offline sample-quality measures (labelled data: FD in a classifier's features,
precision, recall, class coverage; any data: copying, the samples' nearness to training examples over held-out
data's), a probe from the codes to the labels (classes: held-out accuracy beside chance; a parameter: R^2),
training seconds and sampling milliseconds per example. Writes ``compare.json``, ``compare.md`` and a
self-contained ``compare.html`` into the output folder, beside each model's run directory.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.baselines import copying, pca_reconstruction
from .analysis.latent import class_probe, fit_probe
from .analysis.readable import fmt
from .data import as_dataset, split_for
from .data.arrays import is_categorical
from .errors import ConfigError
from .io import atomic_write_bytes, write_json
from .objectives.measures import mse
from .run import train

#: the share of the training time each model gets
SHARES = {"ae": 0.25, "vae": 0.35, "gan": 0.40}
#: the share of the whole budget kept for measuring the trained models (the rest is training time)
MEASURE_SHARE = 0.2
COLUMNS = ("train_seconds", "recon_mse", "recon_mse_raw", "elbo", "nll_iwae", "fd_classifier", "precision", "recall",
           "mode_coverage", "copying", "probe", "sample_ms")


def compare(data: Any, out: str | Path, *, budget_minutes: float = 10.0, seed: int = 0, progress: bool = True,
            device: str = "cpu", **data_kw: Any) -> dict[str, Any]:
    """Train and measure the small set of families on ``data`` within ``budget_minutes``; returns the table
    (model -> measures) and writes the files named in the module docstring; ``device`` (cpu, cuda, mps or auto):
    where the networks train and are measured. Raises ConfigError for a budget that is not positive."""
    if not budget_minutes > 0:
        raise ConfigError(f"--budget-minutes must be > 0, got {budget_minutes}")
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = as_dataset(data, **data_kw)
    images = ds.x.ndim == 4
    d = int(np.prod(ds.example_shape))
    latent = int(min(16, max(2, d // 4)))
    common = dict(seed=seed, progress=progress, overwrite=True, epochs=200, patience=10, device=device)
    rows: dict[str, dict[str, Any]] = {}
    runs = {}
    budget = 60 * budget_minutes
    plan = [("ae", "conv-ae" if images else "ae", {"latent_dim": latent}),
            ("vae", "conv-vae" if images else "vae", {"latent_dim": latent}),
            ("gan", "dcgan" if images and min(ds.example_shape[1:]) >= 8 else "gan", {"sample_every": 0})]
    for family, name, options in plan:
        # training gets the budget less a reserve for measuring the models afterwards (classifier, ELBO, probes)
        training = (1.0 - MEASURE_SHARE) * budget
        remaining = training - (time.perf_counter() - t_start)
        limit = max(1.0, min(SHARES[family] * training, remaining - 2))
        t0 = time.perf_counter()
        runs[family] = train(name, ds, out=out / name, time_limit=limit, **options, **common).to(device)
        rows[name] = {"train_seconds": round(time.perf_counter() - t0, 1)}
    first = runs["ae"]
    idx = split_for(len(ds), first.train_config)
    train_ds, test_ds = ds.subset(idx["train"]), ds.subset(idx["test"] if len(idx["test"]) else idx["val"])
    xtr = first.to_model_space(train_ds).numpy().reshape(len(train_ds), -1)
    xte = first.to_model_space(test_ds).numpy().reshape(len(test_ds), -1)
    rows = {"pca": _pca_row(xtr, xte, train_ds, test_ds, first, latent, seed), **rows}
    clf = None
    if ds.y is not None and is_categorical(ds.y):
        from .analysis.quality import feature_classifier

        clf = feature_classifier(first, ds)
    for family, run in runs.items():
        rows[run.name].update(_measure(run, ds, train_ds, test_ds, clf, seed))
    table = {"data": str(ds.source), "n": len(ds), "example_shape": list(ds.example_shape), "latent_dim": latent,
             "budget_minutes": budget_minutes, "seconds": round(time.perf_counter() - t_start, 1), "models": rows}
    write_json(out / "compare.json", json.loads(json.dumps(table, default=float)))
    atomic_write_bytes(out / "compare.md", markdown(table).encode())
    atomic_write_bytes(out / "compare.html", page(table, runs, images).encode())
    return table


def _pca_row(xtr, xte, train_ds, test_ds, run, k: int, seed: int) -> dict[str, Any]:
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    pca = PCA(n_components=min(k, xtr.shape[1], len(xtr)), random_state=seed).fit(xtr)
    seconds = time.perf_counter() - t0
    recon = pca_reconstruction(xtr, xte, k)
    raw = run.preprocess.to_raw(recon.reshape(len(recon), *run.preprocess.model_shape),
                                run.preprocess.factors(test_ds))
    row = {"train_seconds": round(seconds, 2), "recon_mse": mse(recon, xte), "recon_mse_raw": mse(raw, test_ds.x)}
    codes = pca.transform(xtr)  # samples: a Gaussian in the PCA codes, decoded (probabilistic PCA without noise)
    t0 = time.perf_counter()
    z = np.random.default_rng(seed).multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False), size=len(xte))
    samples = pca.inverse_transform(z)
    row["sample_ms"] = round(1000 * (time.perf_counter() - t0) / len(xte), 4)
    row["copying"] = copying(samples, xtr, xte, seed=seed)
    row["probe"] = _probe(pca.transform(xtr), train_ds.y, pca.transform(xte), test_ds.y)
    return row


def _measure(run, ds, train_ds, test_ds, clf, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    m = run.evaluate(ds, "test" if run.can("encoding") else "all", seed=seed, k=100)
    row.update({k: m[k] for k in ("recon_mse", "recon_mse_raw", "elbo", "nll_iwae", "fd_classifier", "precision",
                                  "recall", "mode_coverage") for k in (k, f"{k}_err") if k in m})
    if run.can("sampling"):
        t0 = time.perf_counter()
        cond = run.conditioner.values_of(test_ds) if run.conditional else None
        samples = run.sample(len(test_ds), cond, seed=seed, layout="model")
        row["sample_ms"] = round(1000 * (time.perf_counter() - t0) / len(test_ds), 4)
        flat = run.preprocess.scale(samples, cond).reshape(len(samples), -1)
        xtr = run.to_model_space(train_ds).numpy().reshape(len(train_ds), -1)
        xte = run.to_model_space(test_ds).numpy().reshape(len(test_ds), -1)
        row["copying"] = copying(flat, xtr, xte, seed=seed)
        if clf is not None and "fd_classifier" not in row:
            from .analysis.quality import TooFewRows, quality_metrics

            try:
                q = quality_metrics(*clf, xte.reshape(-1, *run.preprocess.model_shape), flat.reshape(samples.shape))
                row.update({k: q[k] for k in ("fd_classifier", "precision", "recall", "mode_coverage")
                            for k in (k, f"{k}_err")})
            except TooFewRows as e:  # a small held-out split: said in compare.json, the other numbers kept
                row["sample_quality"] = f"not measured: {e}"
    if run.can("encoding"):
        row["probe"] = _probe(run.encode(train_ds), train_ds.y, run.encode(test_ds), test_ds.y)
    return row


def _probe(z_train, y_train, z_test, y_test) -> str | None:
    """Codes -> labels: held-out accuracy beside chance for classes, R^2 for a parameter; None without labels."""
    if y_train is None or y_test is None:
        return None
    z = np.concatenate([z_train, z_test])
    y = np.concatenate([y_train, y_test])
    if is_categorical(y):
        p = class_probe(z, y)
        return None if p["accuracy_heldout"] is None else f"accuracy {p['accuracy_heldout']:.3f} (chance {p['chance']:.3f})"
    return f"R^2 {fit_probe(z, y).r2:.3f}"


def cell(row: dict[str, Any], column: str) -> str:
    """A table cell: the value with four significant digits, "± standard error" after a number measured on
    samples (``<column>_err``), empty when the model has no such number."""
    if row.get(column) is None:
        return ""
    err = row.get(f"{column}_err")
    return fmt(row[column]) + (f" ± {fmt(err)}" if isinstance(err, float) else "")


def markdown(table: dict[str, Any]) -> str:
    """The table as Markdown."""
    cols = [c for c in COLUMNS if any(c in r for r in table["models"].values())]
    lines = [f"Models compared on {table['data']} ({table['n']} examples of shape {table['example_shape']}, latent "
             f"dimension {table['latent_dim']}; budget {table['budget_minutes']} min, used {table['seconds']} s).", "",
             "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, r in table["models"].items():
        lines.append(f"| {name} | " + " | ".join(cell(r, c) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def page(table: dict[str, Any], runs: dict, images: bool) -> str:
    """A self-contained HTML page: the table, what each column means, and samples of each generative model."""
    from .analysis.figures import sample_grid_figure
    from .analysis.report_html import STYLE, figure_html

    cols = [c for c in COLUMNS if any(c in r for r in table["models"].values())]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["model", *cols])
    body = "".join("<tr><th>" + html.escape(n) + "</th>" + "".join(
        f"<td class='num'>{html.escape(cell(r, c))}</td>" for c in cols) + "</tr>"
        for n, r in table["models"].items())
    parts = [f"<h1>Which model for {html.escape(table['data'])}?</h1>", f"<p>{html.escape(markdown(table).splitlines()[0])}"
             "</p>", f"<table><tr>{head}</tr>{body}</table>", HELP]
    if images:
        for run in runs.values():
            if run.can("sampling"):
                parts.append(f"<h2>{html.escape(run.name)}: samples</h2>" + figure_html(sample_grid_figure(run), "samples"))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>latentforge compare</title><style>{STYLE}"
            "</style></head><body>" + "\n".join(parts) + "</body></html>")


HELP = ("<p>train_seconds: training time within the budget. recon_mse: reconstruction error of held-out rows (model "
        "units; _raw: the data's units), lower is better. elbo / nll_iwae: the VAE's bound and importance-weighted "
        "negative log-likelihood (nats per example in the data's units: the scaling's log-Jacobian added). fd_classifier, precision, recall, mode_coverage: sample quality "
        "in a classifier's features (labelled data). copying: a sample's distance to its nearest training example over "
        "a held-out example's (about 1 is healthy, well below 1 is memorisation). probe: what the codes say about the "
        "labels. sample_ms: milliseconds per generated example.</p>")
