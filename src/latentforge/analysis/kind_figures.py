"""Figures drawn in the data's own terms: a table's columns by name and unit, images as pictures, and a science
domain's kinds by the figures it registers (``analysis.hooks.DATA_KINDS``).

Every function returns a matplotlib Figure; ``reconstruction_figures`` and ``sample_figures`` pick those that
fit a run's data (``columns.data_kind``) and return (figure, caption) pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .columns import _UNIT_IN_NAME, data_kind, vector_columns
from .hooks import DATA_KINDS
from .plots import comparison_grid, image_grid, plt, profile_grid

#: panels of a per-column figure, at most
MAX_COLUMNS = 16


def _label(name: str, unit: str) -> str:
    """``name [unit]`` unless the name already ends in its unit."""
    return name if not unit or name.endswith(("[" + unit + "]", "(" + unit + ")")) else f"{name} [{unit}]"


def _bare(name: str, unit: str) -> str:
    """The column's name without the unit written at its end (``teff [K]`` -> ``teff``)."""
    m = _UNIT_IN_NAME.match(name)
    return m.group("name") if m and unit and m.group("unit").strip() == unit else name


def _grid(n: int, ncols: int = 4, w: float = 3.0, h: float = 2.7):
    ncols = min(ncols, n)
    rows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(rows, ncols, figsize=(w * ncols, h * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _shown(columns: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str]:
    shown = columns[:MAX_COLUMNS]
    return shown, ("" if len(shown) == len(columns) else f", the first {len(shown)} of {len(columns)} columns")


def table_scatter_figure(x: np.ndarray, recon: np.ndarray, columns: list[tuple[str, str]],
                         keep: np.ndarray | None = None, title: str = ""):
    """One panel per column (at most 16): input (x axis) against reconstruction (y axis) of rows (N, D) in the
    column's own unit, the diagonal y = x drawn; masked points (``keep`` False) left out."""
    keep = np.ones(x.shape, bool) if keep is None else keep
    shown, note = _shown(columns)
    fig, axes = _grid(len(shown))
    for j, (ax, (name, unit)) in enumerate(zip(axes, shown)):
        a, b = x[keep[:, j], j], recon[keep[:, j], j]
        ax.scatter(a, b, s=5, alpha=0.5)
        if len(a):
            lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="y = x")
        u = unit or "data units"
        ax.set_title(_label(name, unit), fontsize=10)
        ax.set_xlabel(f"input ({u})", fontsize=9)
        ax.set_ylabel(f"reconstruction ({u})", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.suptitle((title + ": " if title else "") + f"input against reconstruction, {len(x)} rows{note}", fontsize=10)
    fig.tight_layout()
    return fig


def residuals_figure(x: np.ndarray, recon: np.ndarray, columns: list[tuple[str, str]], std: np.ndarray,
                     keep: np.ndarray | None = None, title: str = ""):
    """Standardised residuals (reconstruction - input) / std of each column (``std`` (D,): the column's standard
    deviation over the rows shown) as one box per column (whiskers 5 to 95 %), on one axis without unit."""
    keep = np.ones(x.shape, bool) if keep is None else keep
    shown, note = _shown(columns)
    res = [((recon[:, j] - x[:, j]) / (std[j] if std[j] > 0 else 1.0))[keep[:, j]] for j in range(len(shown))]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(shown) + 2), 3.8))
    ax.boxplot(res, whis=(5, 95), showfliers=False)
    ax.set_xticks(np.arange(1, len(shown) + 1), [_label(n, u) for n, u in shown], rotation=45, ha="right",
                  fontsize=9)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("standardised residual (no unit)")
    ax.set_title((title + ": " if title else "") + f"(reconstruction - input) / column std, {len(x)} rows{note}",
                 fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def column_histograms_figure(real: np.ndarray | None, fake: np.ndarray, columns: list[tuple[str, str]],
                             title: str = ""):
    """Per column (at most 16): histograms of real rows (N, D) (None: generated alone) and generated rows (M, D),
    each normalised to unit area, in the column's unit."""
    shown, note = _shown(columns)
    fig, axes = _grid(len(shown))
    for j, (ax, (name, unit)) in enumerate(zip(axes, shown)):
        f = fake[:, j][np.isfinite(fake[:, j])]
        r = f[:0] if real is None else real[:, j][np.isfinite(real[:, j])]
        edges = np.histogram_bin_edges(np.concatenate([r, f]), 30)
        if real is not None:
            ax.hist(r, edges, density=True, histtype="step", label="data")
        ax.hist(f, edges, density=True, histtype="step", label="generated")
        ax.set_title(_label(name, unit), fontsize=10)
        ax.set_xlabel(f"{_bare(name, unit)} ({unit or 'data units'})", fontsize=9)
        ax.set_ylabel(f"density (per {unit or 'data unit'})", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8)
    against = "" if real is None else f" against {len(real)} data rows"
    fig.suptitle((title + ": " if title else "") + f"{len(fake)} samples{against}{note}", fontsize=10)
    fig.tight_layout()
    return fig


def spread_rows(ds, n: int):
    """At most ``n`` rows of ``ds`` spread evenly over it (first and last included)."""
    return ds.subset(np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).astype(int)))


def reconstruction_figures(run, ds, *, seed: int = 0, what: str = "held-out") -> list[tuple[Any, str]]:
    """(figure, caption) pairs of ``ds``'s rows (raw) and ``run``'s reconstructions, drawn for the data's kind."""
    kind = data_kind(run, ds)
    columns = vector_columns(run, ds)
    if columns is not None:
        shown = ds.subset(np.arange(min(len(ds), 500)))
        x, recon = shown.x.reshape(len(shown), -1), run.reconstruct(shown).reshape(len(shown), -1)
        keep = ~shown.mask.reshape(x.shape) if shown.mask is not None else np.isfinite(x)
        std = np.array([x[keep[:, j], j].std() if keep[:, j].any() else 1.0 for j in range(x.shape[1])])
        return [(table_scatter_figure(x, recon, columns, keep, title=f"{run.name}, {what} rows"),
                 f"each column's {what} values against their reconstruction, in the column's unit"),
                (residuals_figure(x, recon, columns, std, keep, title=f"{run.name}, {what} rows"),
                 "standardised residuals: (reconstruction - input) over the column's standard deviation in these "
                 "rows (no unit), box 25 to 75 %, whiskers 5 to 95 %")]
    hook = DATA_KINDS.get(kind) if kind in DATA_KINDS else None
    figures = hook.reconstructions(run, ds, seed=seed, what=what) if hook is not None else None
    if figures is not None:
        return figures
    shown = spread_rows(ds, 10)
    rows = {"input": shown.x, "reconstruction": run.reconstruct(shown)}
    return [(comparison_grid(rows, n=len(shown), title=f"{run.name}: {len(shown)} {what} examples of {len(ds)}"),
             f"{len(shown)} {what} inputs (top) and their reconstructions")]


def samples_picture(run, x: np.ndarray, title: str, ds=None):
    """Generated examples ``x`` (model layout, raw units) as a picture for the data's kind: an image grid, a
    domain kind's own figure, per-column histograms (with ``ds``'s rows beside them), else one small line plot per example
    (at most 16); ``title`` names what is shown and the figure adds how many."""
    kind = data_kind(run, ds)
    if x.ndim == 4:
        return image_grid(x, title=f"{title}: {len(x)} samples")
    columns = vector_columns(run, ds)
    if columns is not None:
        real = None if ds is None else ds.x.reshape(len(ds), -1)
        return column_histograms_figure(real, x.reshape(len(x), -1), columns, title=title)
    hook = DATA_KINDS.get(kind) if kind in DATA_KINDS else None
    figure = hook.samples(run, x, ds, title=title) if hook is not None else None
    if figure is not None:
        return figure
    k = min(len(x), 16)
    return profile_grid(x[:k], title=f"{title}: {k} of {len(x)} samples")
