"""Mode collapse, measured on the 2-D benchmarks of ``benchmarks``: modes covered, the share of high-quality
samples (within 3 standard deviations of a mode) and a picture of the samples over the true density. (Dropped
classes of labelled data: ``analysis.collapse``.)"""

from __future__ import annotations

from typing import Any

import numpy as np

from .benchmarks import COVER_PER, MODE_BENCHMARKS, ModeBenchmark, mode_statistics


def modes_figure(benchmark: ModeBenchmark, samples: np.ndarray, title: str = "", stats: dict | None = None,
                 ax=None):
    """Generated points (n, 2) as dots over the true density (shaded, log scale), high-quality points in one
    colour and the rest in another; the title gives modes covered and the high-quality share. Draws into ``ax``
    when given (a panel of a larger figure), else into a new figure; returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    stats = stats or mode_statistics(benchmark, samples)
    x0, x1, y0, y1 = benchmark.extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    dens = benchmark.density(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.4))
    fig = ax.figure
    peak = float(dens.max())
    ax.pcolormesh(gx, gy, np.maximum(dens, peak * 1e-6), norm=LogNorm(vmin=peak * 1e-6, vmax=peak), cmap="Greys",
                  shading="auto")
    _, good = benchmark.assign(samples)
    ax.scatter(samples[good, 0], samples[good, 1], s=2, c="tab:blue", alpha=0.5, label="high quality (<= 3 sd)")
    ax.scatter(samples[~good, 0], samples[~good, 1], s=2, c="tab:red", alpha=0.5, label="elsewhere")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(fontsize=7, loc="upper right", markerscale=4)
    ax.set_title(f"{title}\nmodes {stats['modes_covered']}/{stats['modes_total']}, high quality "
                 f"{100 * stats['high_quality']:.1f} %", fontsize=9)
    return fig


def mode_errors(benchmark: ModeBenchmark, samples: np.ndarray, *, n_boot: int = 50, seed: int = 0) -> dict[str, Any]:
    """Bootstrap standard errors over the samples (n, 2) of ``modes_covered``, ``high_quality`` and ``mode_kl``
    (``_err``; the samples are resampled ``n_boot`` times, not generated again)."""
    rng = np.random.default_rng(seed)
    keys = ("modes_covered", "high_quality", "mode_kl")
    draws = [mode_statistics(benchmark, samples[rng.integers(0, len(samples), len(samples))]) for _ in range(n_boot)]
    return {f"{k}_err": float(np.std([d[k] for d in draws], ddof=1)) for k in keys}


def mode_validation(run, ds, *, seed: int = 0, n: int = COVER_PER) -> dict[str, Any]:
    """``n`` samples of ``run`` (raw units) scored against the benchmark that ``ds`` comes from; with a run
    directory the picture is written there (``modes.png``) and its path returned under ``figure``."""
    from ...io import RunLayout
    from ...analysis.plots import save_figure

    bench = MODE_BENCHMARKS.get(ds.source)
    samples = run.sample(n, seed=seed, layout="model").reshape(n, -1)
    out = mode_statistics(bench, samples)
    out.update(mode_errors(bench, samples, seed=seed))
    if run.run_dir is not None:
        path = RunLayout(run.run_dir).modes_plot
        save_figure(modes_figure(bench, samples, title=f"{run.name} on {bench.name}", stats=out), path)
        out["figure"] = str(path)
    return out
