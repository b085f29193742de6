"""Calibration of a model's predictive distribution: does the model's stated uncertainty hold on held-out data?

For a model with a probabilistic decoder (the VAE family) the predictive distribution of a held-out example x is
the reconstruction predictive p(x' | x) = E_{z ~ q(z|x)} p(x' | z), estimated with K draws of z: a mixture of K
Gaussians per point, N(mu_k, sigma_k^2 + sigma_i^2) with the decoder's sigma_k and, where the data carry them,
each point's measurement sigma_i. Measured per point (unmasked points only):

- the probability integral transform (PIT) u = F(x), the mixture's CDF at the true value (Dawid 1984; Gneiting,
  Balabdaoui & Raftery 2007): uniform on [0, 1] for a calibrated model; too many values near 0 and 1 means
  intervals that are too narrow, a hump in the middle intervals that are too wide;
- the coverage of the central interval of level a: the share of points with |u - 1/2| <= a / 2 (68 % and 95 %);
  its standard error comes from the spread of the per-example coverage over the rows measured;
- split-conformal multipliers (Vovk et al. 2005; Lei et al. 2018): on calibration rows the (1 - a) finite-sample
  quantile k_a of |x - m| / s, where m and s are the mixture's mean and standard deviation, so that m +- k_a s
  covers a share a of exchangeable new points whatever the model's own sigma.

The PIT and the coverage are computed in the model's scaled space; every scaling is increasing per point, so the
same numbers hold in data units. A Bernoulli or hurdle decoder has a discrete part and no continuous PIT.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..models.likelihoods import gaussian_decoder_missing

#: the central interval levels measured
LEVELS = (0.68, 0.95)
#: coverage further than this from its level (fraction) gets a warning line
TOLERANCE = 0.05
#: latent draws per example of the mixture predictive
DRAWS = 32
#: rows measured at most (a seeded subset beyond it)
MAX_ROWS = 2000
#: bins of the PIT histogram
PIT_BINS = 10


def applies(run) -> str | None:
    """None when ``run`` has a continuous predictive distribution; else a one-line reason."""
    if not run.can("posterior"):
        return ""
    missing = gaussian_decoder_missing(run.model)
    if missing is not None:
        return (f"calibration needs a continuous (Gaussian) predictive distribution and {run.name} has none: {missing} "
                "(a vae trained with --likelihood gaussian-hetero or --likelihood gaussian-shared has one)")
    return None


def predictive_scores(run, data: Any, *, samples: int = DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Per point of ``data`` (raw examples or a dataset): ``pit`` (the mixture predictive's CDF at the value),
    ``score`` (|x - m| / s with the mixture's mean m and standard deviation s), ``mean`` and ``std`` (m, s) and
    ``keep`` (unmasked), each (N, D) over the flattened model-space example; float64. ConfigError for a model
    without a continuous predictive."""
    reason = applies(run)
    if reason is not None:
        raise ConfigError(reason or f"{run.name} has no predictive distribution (it has no probabilistic decoder)")
    if samples < 1:
        raise ConfigError(f"samples must be at least 1, got {samples}")
    ds = run.dataset(data)
    b = run.batch(ds)
    out = mixture_scores(run, b, samples=samples, seed=seed).numpy()
    keep = ~b["mask"].reshape(len(ds), -1).numpy() if "mask" in b else np.ones(out[:, 0].shape, bool)
    return {"pit": out[:, 0], "score": out[:, 1], "mean": out[:, 2], "std": out[:, 3], "keep": keep}


def mixture_scores(run, b: dict, *, samples: int = DRAWS, seed: int = 0, scale: float | None = None) -> torch.Tensor:
    """(N, 4, D) float64 for a model-space batch ``b``: the PIT, the score |x - m| / s, the mean m and the standard
    deviation s of each point's reconstruction predictive, a mixture of ``samples`` Gaussians N(mu_k, sigma_k^2)
    over z_k ~ q(z|x). With the model's ``predictive_scale`` c (or ``scale``) the mixture is calibrated: the
    means mu_k spread c times as far about m, the sigmas c times as wide (a scale family about m; c = 1 is the
    model's own predictive). A point's measurement sigma_i, where the data carry it, adds in quadrature after."""
    from ..models.base import repeat_condition
    from ..objectives.elbo import model_input

    c = float(getattr(run.model, "predictive_scale", 1.0)) if scale is None else float(scale)
    g = torch.Generator().manual_seed(seed)

    def one(s: dict) -> torch.Tensor:
        q = run.model.encode_dist(model_input(s), s.get("c"))
        z = q.sample(g, n=samples)  # (K, B, latent)
        k, nb, d = z.shape
        p = run.model.decode_dist(z.reshape(k * nb, d), repeat_condition(s.get("c"), k)).unflatten(k)
        loc = p.mean.double().reshape(k, nb, -1)
        m = loc.mean(0)
        loc = m + c * (loc - m)
        var = c * c * p.stddev.double().pow(2).reshape(k, nb, -1)
        if "sigma" in s:  # the measurement's own error widens the predictive of the measured value
            var = var + s["sigma"].double().reshape(1, nb, -1).pow(2)
        x = s["x"].double().reshape(1, nb, -1)
        pit = torch.special.ndtr((x - loc) / var.sqrt()).mean(0)
        sd = (loc.var(0, unbiased=False) + var.mean(0)).sqrt()
        return torch.stack([pit, (x[0] - m).abs() / sd, m, sd], 1)  # (B, 4, D)

    return run.infer(one, b, rows=max(1, 4096 // samples))


def coverage_from_pit(pit: np.ndarray, keep: np.ndarray | None = None,
                      levels=LEVELS) -> dict[float, tuple[float, float]]:
    """{level: (coverage, standard error)}: the share of kept points inside the central interval of each level
    (|pit - 1/2| <= level / 2); the error is the standard deviation of the per-row share over sqrt(rows)."""
    pit = np.asarray(pit, np.float64).reshape(len(pit), -1)
    keep = np.ones(pit.shape, bool) if keep is None else np.asarray(keep, bool).reshape(pit.shape)
    rows = keep.any(1)
    out = {}
    for lv in levels:
        inside = (np.abs(pit - 0.5) <= lv / 2) & keep
        share = inside.sum(1)[rows] / keep.sum(1)[rows]
        err = float(share.std(ddof=1) / math.sqrt(len(share))) if len(share) > 1 else float("nan")
        out[float(lv)] = (float(inside.sum() / max(keep.sum(), 1)), err)
    return out


def conformal_multipliers(score: np.ndarray, keep: np.ndarray | None = None, levels=LEVELS) -> dict[float, float]:
    """Split-conformal multipliers {level: k}: the ceil((n + 1) level) / n empirical quantile (the finite-sample
    correction of Lei et al. 2018) of the kept scores |x - m| / s on calibration points, so that m +- k s covers
    at least ``level`` of exchangeable new points. ConfigError with no kept score."""
    s = np.asarray(score, np.float64)
    s = s[np.asarray(keep, bool)] if keep is not None else s.ravel()
    n = s.size
    if n == 0:
        raise ConfigError("split-conformal calibration needs at least one calibration point; pass more rows")
    return {float(lv): float(np.quantile(s, min(1.0, math.ceil((n + 1) * lv) / n), method="higher"))
            for lv in levels}


def _subset(ds, seed: int, rows: int = MAX_ROWS):
    if len(ds) <= rows:
        return ds
    return ds.subset(np.sort(np.random.default_rng(seed).choice(len(ds), rows, replace=False)))


def calibration(run, full, split: str, *, seed: int = 0, calibrate: str | None = None,
                samples: int = DRAWS) -> dict[str, Any]:
    """The calibration validation of ``evaluate``: coverage of the central 68 % and 95 % intervals of the
    predictive on the ``split`` rows of ``full`` (at most MAX_ROWS, a seeded subset), their PIT histogram, a
    ``warning`` when a coverage is more than TOLERANCE from its level, and with ``calibrate="conformal"`` the
    split-conformal multipliers (fitted on the run's validation rows when ``full`` is its training data, else on
    a seeded half of the measured rows, measured on the other half) and the coverage they reach."""
    if calibrate not in (None, "none", "conformal"):
        raise ConfigError(f"unknown calibration {calibrate!r}; choose none or conformal")
    test = _subset(run.select(full, split), seed)
    sc = predictive_scores(run, test, samples=samples, seed=seed)
    cov = coverage_from_pit(sc["pit"], sc["keep"])
    kept = sc["pit"][sc["keep"]]
    hist, _ = np.histogram(kept, bins=PIT_BINS, range=(0.0, 1.0))
    out: dict[str, Any] = {
        "coverage": {f"{lv:.2f}": c for lv, (c, _) in cov.items()},
        "coverage_error": {f"{lv:.2f}": e for lv, (_, e) in cov.items()},
        "n_rows": len(test), "n_points": int(sc["keep"].sum()), "draws": samples,
        "predictive": "reconstruction predictive E_q(z|x) p(x|z)" + (" with each point's measurement sigma"
                                                                     if test.sigma is not None else ""),
        "space": "model (scaled) space; the same in data units (every scaling is increasing per point)",
        "pit_histogram": (hist / max(kept.size, 1) * PIT_BINS).tolist(),
    }
    off = [f"{100 * c:.1f} % inside the central {100 * lv:.0f} % intervals" for lv, (c, _) in cov.items()
           if abs(c - lv) > TOLERANCE]
    if off:
        wide = cov[LEVELS[0]][0] > LEVELS[0]
        out["warning"] = (f"the model's uncertainties are miscalibrated: {', '.join(off)} (held-out, {len(test)} rows); "
                          f"its intervals are too {'wide' if wide else 'narrow'}; use --calibrate conformal for "
                          "intervals that hold their level")
    if calibrate == "conformal":
        out["conformal"] = _conformal(run, full, split, test, sc, seed=seed, samples=samples)
    out["in_words"] = calibration_words(out)
    return out


def _conformal(run, full, split, test, sc, *, seed: int, samples: int) -> dict[str, Any]:
    if split != "val" and run.is_training_data(full) and run.preprocess.val_fraction > 0:
        cal = _subset(run.select(full, "val"), seed)
        cal_sc = predictive_scores(run, cal, samples=samples, seed=seed + 1)
        mult = conformal_multipliers(cal_sc["score"], cal_sc["keep"])
        score, keep, where = sc["score"], sc["keep"], f"the run's validation rows ({len(cal)})"
    else:  # other data: calibrate on a seeded half of the rows, measure on the other half
        if len(test) < 4:
            raise ConfigError("split-conformal calibration on data other than the training data splits the rows "
                              f"in two halves and needs at least 4 rows; got {len(test)}")
        perm = np.random.default_rng(seed).permutation(len(test))
        a, b = perm[: len(test) // 2], perm[len(test) // 2:]
        mult = conformal_multipliers(sc["score"][a], sc["keep"][a])
        score, keep, where = sc["score"][b], sc["keep"][b], f"a seeded half of the measured rows ({len(a)})"
    inside = {lv: float(((score <= k) & keep).sum() / max(keep.sum(), 1)) for lv, k in mult.items()}
    return {"multipliers": {f"{lv:.2f}": k for lv, k in mult.items()},
            "gaussian_multipliers": {f"{lv:.2f}": float(_gauss_k(lv)) for lv in mult},
            "coverage": {f"{lv:.2f}": c for lv, c in inside.items()}, "calibrated_on": where}


def _gauss_k(level: float) -> float:
    from scipy.special import ndtri

    return float(ndtri((1 + level) / 2))


def conformal_intervals(run, calibration_data: Any, data: Any, level: float = 0.95, *, samples: int = DRAWS,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split-conformal predictive intervals (lower, upper) of ``data`` in the data's units, each (N, *shape):
    m +- k s in the model's space mapped back through the scaling, with k fitted on ``calibration_data`` (rows
    exchangeable with ``data`` that the model did not train on). Raises ConfigError for a model without a
    continuous predictive or a level outside (0, 1)."""
    if not 0 < level < 1:
        raise ConfigError(f"level must lie in (0, 1), got {level}")
    cal = predictive_scores(run, calibration_data, samples=samples, seed=seed)
    k = conformal_multipliers(cal["score"], cal["keep"], (level,))[float(level)]
    ds = run.dataset(data)
    sc = predictive_scores(run, ds, samples=samples, seed=seed + 1)
    f = run.preprocess.factors(ds)
    shape = (len(ds), *run.input_shape)
    lo = run.preprocess.to_raw(torch.as_tensor((sc["mean"] - k * sc["std"]).reshape(shape), dtype=torch.float32), f)
    hi = run.preprocess.to_raw(torch.as_tensor((sc["mean"] + k * sc["std"]).reshape(shape), dtype=torch.float32), f)
    return run.preprocess.on_input_grid(lo, ds), run.preprocess.on_input_grid(hi, ds)


def calibration_words(cal: dict[str, Any]) -> list[str]:
    """Lines in words for ``evaluate``'s summary."""
    cov, err = cal["coverage"], cal["coverage_error"]
    lines = ["held-out coverage of the predictive's central intervals: " + ", ".join(
        f"{100 * float(lv):.0f} %: {100 * c:.1f} +- {100 * err[lv]:.1f} %" for lv, c in cov.items())
        + f" ({cal['n_points']} points of {cal['n_rows']} rows, {cal['draws']} latent draws each)"]
    if "conformal" in cal:
        cf = cal["conformal"]
        lines.append("split-conformal intervals (m +- k s, k fitted on " + cf["calibrated_on"] + "): " + ", ".join(
            f"{100 * float(lv):.0f} %: k {cf['multipliers'][lv]:.3g} (Gaussian {cf['gaussian_multipliers'][lv]:.3g}), "
            f"coverage {100 * c:.1f} %" for lv, c in cf["coverage"].items()))
    if cal.get("warning"):
        lines.append("warning: " + cal["warning"])
    return lines


def pit_figure(cal: dict[str, Any]):
    """A matplotlib figure of the PIT histogram of a ``calibration`` result (density; 1 is calibrated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dens = np.asarray(cal["pit_histogram"])
    edges = np.linspace(0, 1, len(dens) + 1)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar(edges[:-1], dens, width=np.diff(edges), align="edge", color="#4a7ab0", edgecolor="white")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="calibrated")
    ax.set_xlabel("PIT: predictive CDF at the held-out value")
    ax.set_ylabel("density (1 = calibrated)")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper center", fontsize=8)
    fig.tight_layout()
    return fig
