"""The shower validation in tables and in pictures (its words: ``words``) for the run report: the
classifiers' AUCs beside their floors, separation power S of the observables, response and resolution per
incident-energy bin, mean layer images and the observables' histograms (reference against generated)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...analysis.readable import fmt
from .words import shower_words


def response_rows(v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows for a table: per incident-energy bin the response and resolution of reference and generated showers."""
    gen = {(g["E_low"], g["E_high"]): g for g in v.get("response_generated") or []}
    rows = {}
    for r in v.get("response_reference") or []:
        g = gen.get((r["E_low"], r["E_high"]), {})
        rows[f"{fmt(r['E_low'])} to {fmt(r['E_high'])} {r['unit']}"] = {
            "showers": r["n"], "response (reference)": r["response"], "response (generated)": g.get("response", ""),
            "resolution (reference)": r["resolution"], "resolution (generated)": g.get("resolution", "")}
    return rows


def classifier_rows(v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows for a table: per classifier (the project's and the CaloChallenge's two) its k-fold AUC and floor with
    their standard errors, the fold spread, the showers a side and its input."""
    from .classifiers import NAMES

    c = v.get("classifiers") or {}
    rows = {}
    for name, what in NAMES.items():
        r = c.get(name)
        if r is None:
            if name in c.get("skipped", {}):
                rows[what] = {"AUC": "not run", "input": c["skipped"][name]}
            continue
        floor = "floor (reference vs reference)"
        rows[what] = {"AUC": r["auc"], "AUC_err": r["auc_err"], floor: r["floor"], f"{floor}_err": r["floor_err"],
                      "fold spread (AUC / floor)": f"{fmt(r['auc_std'])} / "
                      f"{fmt(r['floor_std'])}", "folds": c["folds"], "showers a side": c["n_per_side"],
                      "input": r["features"]}
    return rows


def separation_rows(v: dict[str, Any], top: int = 10) -> dict[str, dict[str, Any]]:
    """The ``top`` observables with the largest separation power, with their bootstrap standard errors."""
    sep, err = v["separation_power"], v.get("separation_power_err", {})
    names = sorted(sep, key=sep.get, reverse=True)[:top]
    return {name: {"S": sep[name], "S_err": err.get(name, float("nan"))} for name in names}


def layer_images_figure(ref: np.ndarray, gen: np.ndarray, geometry, unit: str, max_layers: int = 6,
                        names: tuple[str, str] = ("reference", "generated")):
    """Mean energy per cell of each layer (at most ``max_layers``, spread over the depth) of two sets of showers
    (N, cells) and (M, cells), named ``names`` (top row, bottom row), on one colour scale per layer with its colour
    bar in ``unit``. Grid layers are drawn rows x columns, ring-and-sector layers angular bin x radial bin."""
    import matplotlib.pyplot as plt

    from .geometry import GridLayer

    layers = geometry.layers
    pick = np.unique(np.linspace(0, len(layers) - 1, min(max_layers, len(layers))).astype(int))
    rp, gp = geometry.split(np.asarray(ref, np.float64)), geometry.split(np.asarray(gen, np.float64))
    fig, axes = plt.subplots(2, len(pick), figsize=(2.9 * len(pick), 5.2), squeeze=False)
    for c, k in enumerate(pick):
        layer = layers[k]
        shape = layer.shape if isinstance(layer, GridLayer) else (layer.n_alpha, layer.n_r)
        means = [p[k].mean(0).reshape(shape) for p in (rp, gp)]
        hi = max(float(max(m.max() for m in means)), 1e-12)
        for r, (m, what) in enumerate(zip(means, names)):
            ax = axes[r][c]
            im = ax.imshow(m, cmap="viridis", vmin=0, vmax=hi, aspect="auto", interpolation="nearest")
            ax.set_title(f"layer {layer.id}, {what}", fontsize=9)
            ax.set_xlabel("column" if isinstance(layer, GridLayer) else "radial bin", fontsize=9)
            ax.set_ylabel("row" if isinstance(layer, GridLayer) else "angular bin", fontsize=9)
            ax.tick_params(labelsize=8)
            fig.colorbar(im, ax=ax, label=f"mean energy per cell ({unit})")
    fig.suptitle(f"{geometry.name}: mean layer images, {names[0]} (top, {len(ref)} showers) and {names[1]} (bottom, "
                 f"{len(gen)} showers)", fontsize=10)
    fig.tight_layout()
    return fig


def reference_and_generated(run, ds, seed: int = 0) -> tuple[dict, dict]:
    """The reference rows of the shower file behind ``ds`` and as many generated showers at their conditions
    (the same draws as the validation's), both in the reference's energy unit."""
    from .files import read_showers, to_gev

    ref = read_showers(ds.source)
    index = ds.info.get("index", np.arange(len(ds)))
    ref.update({k: ref[k][index] for k in ("showers", "incident_energies", "conditions")})
    showers = run.sample(len(ds), ds.cond if run.conditional else None, seed=seed, layout="model")
    unit = run.data_info.get("energy_unit")
    if unit and unit != ref["energy_unit"]:
        ratio = to_gev(np.asarray(1.0), unit) / to_gev(np.asarray(1.0), ref["energy_unit"])
        showers = (showers * ratio).astype(np.float32)
    return ref, {"showers": showers, "incident_energies": ref["incident_energies"]}


def shower_sections(run, test, result: dict[str, Any], *, seed: int = 0) -> list[str]:
    """The report's shower section: the validation in words, tables of response and separation power, the mean
    layer images and the observables' histograms (``result``: ``evaluate``'s ``showers`` entry)."""
    import html

    from ...analysis.report_html import figure_html, table_html
    from .figures import histogram_figure

    parts = ["<h2>Showers: generated against reference</h2>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in result.get("in_words") or shower_words(result)]
    if result.get("classifiers"):
        parts.append("<h3>Classifiers: generated against reference, beside the floor (reference half against "
                     "reference half; k-fold mean and standard error)</h3>" + table_html(classifier_rows(result)))
    parts.append("<h3>Response and resolution per incident-energy bin</h3>" + table_html(response_rows(result)))
    parts.append("<h3>Observables told apart best (separation power S, bootstrap standard error)</h3>"
                 + table_html(separation_rows(result)))
    ref, gen = reference_and_generated(run, test, seed=seed)
    if ref.get("geometry") is not None:
        unit = ref.get("energy_unit", "GeV")
        parts.append(figure_html(layer_images_figure(ref["showers"], gen["showers"], ref["geometry"], unit),
                                 f"mean layer images ({unit} per cell), reference (top) and generated (bottom)"))
        parts.append(figure_html(histogram_figure(ref, gen), "observables' histograms, reference against generated, "
                                 "each titled with its separation power S"))
    return parts
