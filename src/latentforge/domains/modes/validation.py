"""Mode collapse, measured on the 2-D benchmarks of ``data.modes``: modes covered, the share of high-quality
samples (within 3 standard deviations of a mode) and a picture of the samples over the true density; and, for
labelled data read by the feature classifier (``analysis.quality``), the sentence that names the classes a
generator drops (``mode_collapse_note``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..data.modes import COVER_PER, MODE_BENCHMARKS, ModeBenchmark, mode_statistics


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
    from ..io import RunLayout
    from .plots import save_figure

    bench = MODE_BENCHMARKS.get(ds.source)
    samples = run.sample(n, seed=seed, layout="model").reshape(n, -1)
    out = mode_statistics(bench, samples)
    out.update(mode_errors(bench, samples, seed=seed))
    if run.run_dir is not None:
        path = RunLayout(run.run_dir).modes_plot
        save_figure(modes_figure(bench, samples, title=f"{run.name} on {bench.name}", stats=out), path)
        out["figure"] = str(path)
    return out


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
