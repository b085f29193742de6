"""A run report as one self-contained HTML page: every image is embedded, nothing is fetched.

Sections: the configuration, training curves, metrics, reconstructions, samples, the latent scatter,
a traversal grid, an interpolation strip and the table of classical baselines. The page counts its own
images once loaded and writes the result into the element ``#image-check`` (used by the browser test).
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..data import as_dataset
from ..io import RunLayout, atomic_write_bytes
from . import latent as lt
from .figures import sample_grid_figure
from .quality import feature_classifier
from .plots import comparison_grid, gan_curves, image_grid, loss_curve

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-family: monospace; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .8em; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: .9em; } img { max-width: 100%; }
.muted { color: #777; }
"""

CHECK_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.getElementById('image-check').textContent = 'images loaded: ' + ok + ' of ' + imgs.length;
});
</script>
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(fig, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return html.escape(str(v))


def _table(rows: dict[str, dict[str, Any]]) -> str:
    cols: list[str] = []
    for r in rows.values():
        cols += [c for c in r if c not in cols]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    body = "".join("<tr><th>" + html.escape(name) + "</th>" + "".join(
        f'<td class="num">{_fmt(r.get(c, ""))}</td>' for c in cols) + "</tr>" for name, r in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def _kv_table(d: dict[str, Any]) -> str:
    body = "".join(f'<tr><th>{html.escape(k)}</th><td class="num">{_fmt(v)}</td></tr>' for k, v in d.items()
                   if not isinstance(v, (dict, list)))
    return f"<table>{body}</table>"


def build_report(run, data: Any = None, *, k: int = 200, baselines: bool = True, seed: int = 0) -> str:
    """The report's HTML for a trained run, measured on ``data`` (default: its training data)."""
    t0 = time.perf_counter()
    source = data if data is not None else run.data_info.get("source")
    full = as_dataset(source) if not hasattr(source, "x") else source
    gan = not run.can("encoding")  # a generator: measured against the whole real set
    split = run.resolve_split(full, "auto")
    test = run.select(full, split)
    train = run.select(full, "train") if split == "test" else full
    parts: list[str] = []
    info = run.info()
    parts.append(f"<h1>latentforge report: {html.escape(run.name)}</h1>")
    parts.append(f"<p>{html.escape(info['summary'])}. {info['n_parameters']:,} parameters; "
                 f"latent dimension {info['latent_dim']}; data <code>{html.escape(str(info['data'].get('source')))}"
                 f"</code> ({info['data'].get('n')} examples of shape {info['data'].get('example_shape')}); "
                 f"measured on its {split} split ({len(test)} examples).</p>")

    metrics = run.evaluate(full, split, seed=seed, k=k)
    parts.append("<h2>Metrics</h2>" + _kv_table(metrics))
    if "class_histogram" in metrics:
        parts.append("<p>Class histogram of generated samples: " + _fmt(metrics["class_histogram"]) + "</p>")

    if run.history:
        fig = gan_curves(run.history) if "d_loss" in run.history[0] else loss_curve(run.history)
        parts.append("<h2>Training</h2>" + _figure(fig, f"per-epoch curves over {len(run.history)} epochs"))

    pick = np.unique(np.linspace(0, len(test) - 1, min(10, len(test))).astype(int))
    shown = test.subset(pick)
    images = len(run.input_shape) == 3
    if not gan:
        rows = {"input": shown.x, "reconstruction": run.reconstruct(shown)}
        parts.append("<h2>Reconstructions</h2>" + _figure(comparison_grid(rows, n=len(pick)),
                                                           "held-out inputs (top) and their reconstructions"))
    if run.can("sampling") and images:
        parts.append("<h2>Samples</h2>" + _figure(sample_grid_figure(run, seed=seed),
                                                   "generated from z ~ N(0, I)"))

    if not gan:
        z = run.encode(test)
        z2, method = lt.project_2d(z)
        from .plots import latent_scatter

        parts.append("<h2>Latent space</h2>" + _figure(
            latent_scatter(z2, test.y, title=f"{run.name} codes of the {split} split", method=method),
            f"codes coloured by label; {method}"))
    if images:
        tr = lt.traversal(run, None if run.can("sampling") else train,
                          condition=_first_condition(run, test))
        parts.append("<h2>Traversal</h2>" + _figure(image_grid(tr["x"], ncols=tr["ncols"]),
                                                    f"decoded latent grid ({tr['kind']})"))
        if gan:
            g = np.random.default_rng(seed)
            a, b = g.normal(size=run.model.latent_dim), g.normal(size=run.model.latent_dim)
            cond = _first_condition(run, test)
        else:
            a, b = _two_different(test)
            cond = None
        lin = lt.interpolate(run, a, b, steps=10, method="linear", condition=cond)
        sph = lt.interpolate(run, a, b, steps=10, method="slerp", condition=cond)
        parts.append("<h2>Interpolation</h2>" + _figure(
            image_grid(np.concatenate([lin["x"], sph["x"]]), ncols=10),
            "between two " + ("noise vectors" if gan else "held-out inputs of different classes")
            + ": linear (top) and spherical (bottom)"))

    if baselines:
        try:
            clf = feature_classifier(run, full) if run.can("sampling") and full.y is not None else None
            table = lt_baselines(run, train, test, clf, seed)
            parts.append("<h2>Classical baselines</h2><p>The same metrics for simple models fitted to the same "
                         "training data (model units).</p>" + _table(table))
        except Exception as e:  # a baseline that cannot be fitted is reported, not hidden
            parts.append(f"<h2>Classical baselines</h2><p class='muted'>not computed: {html.escape(str(e))}</p>")

    parts.append("<h2>Configuration</h2><pre>" + html.escape(json.dumps(run.config_dict(), indent=2)) + "</pre>")
    parts.append(f"<p class='muted'>Written by latentforge in {time.perf_counter() - t0:.1f} s. "
                 "<span id='image-check'>images not checked</span></p>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>latentforge report: "
            f"{html.escape(run.name)}</title><style>{STYLE}</style></head><body>" + "\n".join(parts)
            + CHECK_SCRIPT + "</body></html>")


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
