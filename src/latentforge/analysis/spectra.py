"""What a spectrum VAE shows on held-out simulated spectra whose clean truth and parameters are known.

``analyse_spectra(run, "spectra.h5", out_dir, outliers="outliers.h5")`` returns one dict and writes PNGs:

- denoising: chi-square per pixel ((estimate - clean) / sigma_i)^2 over unmasked pixels and PSNR
  (10 log10(peak^2 / MSE), peak = max - min of the clean spectrum) against the clean truth, per S/N bin,
  for the noisy input, a Savitzky-Golay filter (window tuned on training spectra against their clean
  truth, which favours the baseline), PCA with as many components as latent dimensions (fitted on the
  noisy training spectra) and two VAE estimates: the decoder's mean at the posterior-mean code (the model
  alone) and the posterior mean of the clean spectrum given the data (``TrainedModel.denoise``: each pixel's
  decoder mean and sigma_model as prior, its measurement with sigma_i as likelihood, over latent draws);
- calibration: the fraction of pixels whose clean value lies inside the central 68 % / 95 % predictive
  interval. The interval comes from the model's own uncertainty only (latent draws from q(z|x) through
  the decoder, plus the decoder's sigma_model), because clean truth differs from the prediction by the
  model's error alone, not by the measurement noise; beside them, split-conformal intervals whose width
  multipliers are fitted on the validation split (pooled, and per bin of measured S/N), and the posterior
  intervals of the clean spectrum given the data;
- inpainting: masked pixels (sky lines, bad columns) filled by the VAE (posterior mean, which there is the
  decoder mean over latent draws) vs linear interpolation across
  the gap, RMSE against the clean truth in median-normalised flux units;
- interpretability: linear probes latent -> each physical parameter (fitted on training codes, R^2 on
  held-out codes) and a decoded walk along the line-strength direction;
- outliers: negative ELBO as anomaly score for broad-line objects, ROC AUC (also with the entropy of the
  measurement noise subtracted, which takes out the score's dependence on S/N, and for chi2 per pixel).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtri

from ..errors import ConfigError, DataError
from .baselines import pca_reconstruction
from .plots import plt, save_figure

SNR_BINS = (3.0, 6.0, 12.0, 24.0, 50.0)
SG_WINDOWS = (5, 9, 15, 21, 31, 45)


# ---------------------------------------------------------------------------------------------- metrics
def interval_coverage(truth: np.ndarray, mean: np.ndarray, std: np.ndarray, levels=(0.68, 0.95),
                      keep: np.ndarray | None = None) -> dict[float, float]:
    """Fraction of points whose truth lies in the central Gaussian interval mean +- z_level * std.

    ``keep`` (bool, same shape) selects the points to count; z_level = Phi^-1((1 + level) / 2)."""
    truth, mean, std = (np.asarray(a, np.float64) for a in (truth, mean, std))
    if not truth.shape == mean.shape == std.shape:
        raise ConfigError(f"truth, mean and std need one shape, got {truth.shape}, {mean.shape}, {std.shape}")
    if (std[keep] if keep is not None else std).min() <= 0:
        raise ConfigError("predictive standard deviations must be > 0")
    pull = np.abs(truth - mean) / std
    if keep is not None:
        pull = pull[np.asarray(keep, bool)]
    out = {}
    for level in levels:
        if not 0 < level < 1:
            raise ConfigError(f"coverage levels lie in (0, 1), got {level}")
        out[float(level)] = float(np.mean(pull <= ndtri((1 + level) / 2)))
    return out


def calibration_curve(truth, mean, std, keep=None, levels: np.ndarray | None = None):
    """(nominal levels, observed coverage) for a calibration plot."""
    levels = np.linspace(0.05, 0.95, 19) if levels is None else np.asarray(levels)
    cov = interval_coverage(truth, mean, std, tuple(levels), keep)
    return levels, np.array([cov[float(v)] for v in levels])


def chi2_per_pixel(estimate: np.ndarray, clean: np.ndarray, sigma: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Mean over kept pixels of ((estimate - clean) / sigma)^2, one value per spectrum."""
    r = np.where(keep, ((estimate - clean) / sigma) ** 2, 0.0)
    return r.sum(1) / np.maximum(keep.sum(1), 1)


def psnr_per_spectrum(estimate: np.ndarray, clean: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """10 log10(peak^2 / MSE) over kept pixels, peak = max - min of each clean spectrum (dB)."""
    mse = np.where(keep, (estimate - clean) ** 2, 0.0).sum(1) / np.maximum(keep.sum(1), 1)
    peak = clean.max(1) - clean.min(1)
    return 10 * np.log10(peak ** 2 / np.maximum(mse, 1e-30))


def interpolate_masked(flux: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Linear interpolation across masked pixels of each spectrum (ends: nearest unmasked value)."""
    out = np.array(flux, dtype=np.float64, copy=True)
    pix = np.arange(flux.shape[1])
    for i in range(len(flux)):
        m = mask[i]
        if m.any() and not m.all():
            out[i, m] = np.interp(pix[m], pix[~m], out[i, ~m])
    return out


def savgol_denoise(flux: np.ndarray, mask: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky-Golay filter after filling masked pixels by linear interpolation."""
    from scipy.signal import savgol_filter

    return savgol_filter(interpolate_masked(flux, mask), window, order, axis=1)


def conformal_multipliers(truth, mean, std, keep, levels=(0.68, 0.95)) -> dict[float, float]:
    """Split-conformal calibration: for each level the quantile of |truth - mean| / std over the kept points,
    so that mean +- k_level * std covers the level on data like these (exchangeable with them)."""
    pull = (np.abs(np.asarray(truth, np.float64) - mean) / std)[np.asarray(keep, bool)]
    return {float(lv): float(np.quantile(pull, lv)) for lv in levels}


def measured_snr(flux: np.ndarray, sigma: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each spectrum's median of flux / sigma over its unmasked pixels (0 for a fully masked one)."""
    ratio = np.where(mask, np.nan, np.asarray(flux, np.float64) / np.asarray(sigma, np.float64))
    out = np.zeros(len(ratio))
    seen = (~np.asarray(mask, bool)).any(1)
    out[seen] = np.nanmedian(ratio[seen], axis=1)
    return out


def snr_bin_labels(bins=SNR_BINS) -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(bins[:-1], bins[1:])]


def denoising_table(clean, sigma, keep, snr, estimates: dict[str, np.ndarray], bins=SNR_BINS) -> dict[str, Any]:
    """{S/N bin: {method: {chi2_per_pixel (median over spectra), psnr_db (mean), n}}} plus an 'all' row."""
    per = {name: (chi2_per_pixel(e, clean, sigma, keep), psnr_per_spectrum(e, clean, keep))
           for name, e in estimates.items()}
    rows: dict[str, Any] = {}
    edges = list(zip(bins[:-1], bins[1:])) + [(bins[0], bins[-1])]
    for (lo, hi), label in zip(edges, snr_bin_labels(bins) + ["all"]):
        sel = (snr >= lo) & (snr < hi) if label != "all" else np.ones(len(snr), bool)
        if not sel.any():
            continue
        rows[label] = {name: {"chi2_per_pixel": float(np.median(c[sel])), "psnr_db": float(np.mean(p[sel])),
                              "n": int(sel.sum())} for name, (c, p) in per.items()}
    return rows


# ---------------------------------------------------------------------------------------------- analysis
def _split_with_truth(run, data: str | os.PathLike, split: str):
    from ..data.simulators import read_spectra

    ds = run.select(data, split)
    truth = read_spectra(data)
    index = ds.info.get("index", np.arange(len(ds)))
    return ds, {k: (v if k == "wavelength" else v[index]) for k, v in truth.items()}


def analyse_spectra(run, data: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                    outliers: str | os.PathLike | None = None, samples: int = 50, seed: int = 0,
                    max_test: int | None = None) -> dict[str, Any]:
    """The denoising / calibration / inpainting / probe / outlier story on the run's held-out split of
    ``data`` (an HDF5 file written by ``write_spectra``); PNGs go to ``out_dir``."""
    from ..data.simulators import SPECTRUM_PARAMETERS as PARAMETERS
    from ..data.simulators import is_spectra_file

    if not is_spectra_file(data):
        raise DataError(f"{data}: the spectra analysis needs a simulated spectra file with clean truth "
                        "(write one with `latentforge simulate spectra`)")
    if run.family != "vae":
        raise ConfigError(f"the spectra analysis needs a VAE (spectrum-vae); {run.name!r} is a {run.family}")
    out = Path(out_dir) if out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    test, t = _split_with_truth(run, data, "test")
    train, tr = _split_with_truth(run, data, "train")
    if max_test and len(test) > max_test:
        test = test.subset(np.arange(max_test))
        t = {k: (v if k == "wavelength" else v[:max_test]) for k, v in t.items()}
    clean, sigma, mask, snr = t["clean"].astype(np.float64), test.sigma, test.mask, t["snr"]
    keep = ~mask
    k = run.model.latent_dim
    result: dict[str, Any] = {"model": run.name, "data": str(data), "n_test": len(test), "n_train": len(train),
                              "latent_dim": k, "n_pix": int(clean.shape[1])}

    # ------------------------------------------------------------------ denoising
    f_test = run.scaler.factors(test.x, mask) if run.scaler.per_example else np.ones((len(test), 1), np.float32)
    f_train = run.scaler.factors(train.x, train.mask) if run.scaler.per_example else np.ones((len(train), 1),
                                                                                               np.float32)
    vae = run.reconstruct(test).astype(np.float64)
    sub = np.arange(min(len(train), 300))
    sg_err = {w: float(np.mean((savgol_denoise(train.x[sub], train.mask[sub], w) - tr["clean"][sub]) ** 2
                               / np.asarray(f_train[sub]) ** 2)) for w in SG_WINDOWS}
    window = min(sg_err, key=sg_err.get)
    sg = savgol_denoise(test.x, mask, window)
    pca = pca_reconstruction(interpolate_masked(train.x / f_train, train.mask), interpolate_masked(test.x / f_test, mask),
                      k) * f_test
    # the VAE's posterior mean of the clean spectrum given the data: decoder mean and sigma_model as the prior
    # of each pixel, the measurement (sigma_i) as its likelihood (see TrainedModel.denoise)
    post, post_std = run.denoise(test, samples=samples, seed=seed)
    post = post.astype(np.float64)
    estimates = {"noisy": test.x.astype(np.float64), f"savgol (window {window})": sg, f"pca ({k} comp.)": pca,
                 "vae decoder mean": vae, "vae posterior mean": post}
    result["denoising"] = denoising_table(clean, sigma, keep, snr, estimates)
    result["savgol_window"] = window

    # ------------------------------------------------------------------ calibration (model uncertainty only)
    mean, std = run.predict(test, samples=samples, seed=seed)
    mean_lat, std_lat = run.predict(test, samples=samples, seed=seed, include_decoder_noise=False)
    std_lat = np.maximum(std_lat, 1e-12)
    cal = {"latent+decoder_sigma": interval_coverage(clean, mean, std, keep=keep),
           "latent_only": interval_coverage(clean, mean_lat, std_lat, keep=keep),
           "posterior_with_data": interval_coverage(clean, post, post_std, keep=keep),
           "masked_pixels": interval_coverage(clean, mean, std, keep=mask) if mask.any() else None}
    per_bin = {}
    for (lo, hi), label in zip(zip(SNR_BINS[:-1], SNR_BINS[1:]), snr_bin_labels()):
        sel = (snr >= lo) & (snr < hi)
        if sel.any():
            per_bin[label] = interval_coverage(clean[sel], mean[sel], std[sel], keep=keep[sel])
    cal["per_snr_bin"] = per_bin
    cal["samples"] = samples
    # split-conformal recalibration: the multipliers k_level of std that cover the level on the validation
    # split's clean truth (never the test spectra), then applied to the test intervals
    val, v = _split_with_truth(run, data, "val")
    conformal = None
    if len(val):
        if max_test and len(val) > max_test:
            val, v = val.subset(np.arange(max_test)), {k: (x if k == "wavelength" else x[:max_test])
                                                       for k, x in v.items()}
        vm, vs = run.predict(val, samples=samples, seed=seed + 1)
        conformal = conformal_multipliers(v["clean"], vm, vs, ~val.mask)
        pull = np.abs(clean - mean) / std
        cal["conformal"] = {**{lv: float(np.mean(pull[keep] <= k)) for lv, k in conformal.items()},
                            "multipliers": {str(lv): k for lv, k in conformal.items()},
                            "gaussian_multipliers": {str(lv): float(ndtri((1 + lv) / 2)) for lv in conformal},
                            "fitted_on": "validation split"}
        cal["conformal_per_snr_bin"] = {
            label: {lv: float(np.mean(pull[sel][keep[sel]] <= k)) for lv, k in conformal.items()}
            for (lo, hi), label in zip(zip(SNR_BINS[:-1], SNR_BINS[1:]), snr_bin_labels())
            if (sel := (snr >= lo) & (snr < hi)).any()}
        # the same per S/N bin ("Mondrian" conformal): the model's intervals are too narrow for faint spectra and
        # too wide for bright ones, so each bin gets its own multipliers; spectra are binned by the S/N measured
        # from their own flux and sigma (median over unmasked pixels), as one can for real data
        s_val, s_test = measured_snr(val.x, val.sigma, val.mask), measured_snr(test.x, sigma, mask)
        edges = (0.0, *SNR_BINS[1:-1], np.inf)
        inside = {lv: np.zeros(pull.shape, bool) for lv in conformal}
        per_bin_k = {}
        for (lo, hi), label in zip(zip(edges[:-1], edges[1:]), snr_bin_labels()):
            vsel, tsel = (s_val >= lo) & (s_val < hi), (s_test >= lo) & (s_test < hi)
            k_bin = (conformal_multipliers(v["clean"][vsel], vm[vsel], vs[vsel], ~val.mask[vsel])
                     if vsel.sum() >= 5 else conformal)  # too few validation spectra: the pooled multipliers
            per_bin_k[label] = {str(lv): k for lv, k in k_bin.items()}
            for lv, k in k_bin.items():
                inside[lv][tsel] = pull[tsel] <= k
        cal["conformal_by_snr"] = {**{lv: float(np.mean(inside[lv][keep])) for lv in conformal},
                                   "multipliers": per_bin_k, "bins": "measured S/N"}
        cal["conformal_by_snr_per_snr_bin"] = {
            label: {lv: float(np.mean(inside[lv][sel][keep[sel]])) for lv in conformal}
            for (lo, hi), label in zip(zip(SNR_BINS[:-1], SNR_BINS[1:]), snr_bin_labels())
            if (sel := (snr >= lo) & (snr < hi)).any()}
    result["calibration"] = cal

    # ------------------------------------------------------------------ inpainting
    interp = interpolate_masked(test.x, mask)
    if mask.any():  # at masked pixels the posterior mean is the decoder's mean averaged over latent draws
        err_v = ((post - clean) / f_test)[mask]
        err_i = ((interp - clean) / f_test)[mask]
        rows = np.flatnonzero(mask.any(1))
        wins = [np.mean(((post[i] - clean[i])[mask[i]]) ** 2) < np.mean(((interp[i] - clean[i])[mask[i]]) ** 2)
                for i in rows]
        result["inpainting"] = {"masked_fraction": float(mask.mean()),
                                "rmse_vae": float(np.sqrt(np.mean(err_v ** 2))),
                                "rmse_linear_interpolation": float(np.sqrt(np.mean(err_i ** 2))),
                                "spectra_where_vae_wins": float(np.mean(wins)), "units": "median-normalised flux"}

    # ------------------------------------------------------------------ linear probes
    from sklearn.linear_model import LinearRegression

    z_tr, z_te = run.encode(train), run.encode(test)
    probes = {}
    for name in PARAMETERS:
        reg = LinearRegression().fit(z_tr, tr[name])
        probes[name] = {"r2_heldout": float(reg.score(z_te, t[name])), "r2_train": float(reg.score(z_tr, tr[name]))}
    result["probes"] = probes
    # the line-strength direction: how the mean code moves per unit of line strength (the regression of the
    # codes on the parameter), so dimensions the data hardly use do not dominate it; decoded from the mean code
    ls = np.asarray(tr["line_strength"], np.float64)
    slope = ((z_tr - z_tr.mean(0)) * (ls - ls.mean())[:, None]).mean(0) / ls.var()
    if getattr(run.model, "rest", False):  # latent 0 is the redshift: hold it, so the lines do not move
        slope[0] = 0.0
    levels = np.linspace(np.percentile(ls, 5), np.percentile(ls, 95), 7)
    walk = (z_tr.mean(0)[None] + (levels - ls.mean())[:, None] * slope[None]).astype(np.float32)
    walk_x = run.decode(walk)
    walk_pred = levels
    line_probe = LinearRegression().fit(z_tr, ls)
    result["line_strength_walk"] = {"line_strength": [float(v) for v in levels],
                                    "probe_prediction_along_walk": [float(v) for v in line_probe.predict(walk)]}

    # ------------------------------------------------------------------ outliers
    if outliers is not None:
        from sklearn.metrics import roc_auc_score

        from ..data.simulators import read_spectra

        o = run.select(outliers, "all")
        flags = read_spectra(outliers)["broad_line"].astype(bool)
        if flags.all() or not flags.any():
            raise DataError(f"{outliers}: needs both normal and broad-line spectra (simulate with --outlier-fraction)")
        ll = run.log_likelihood(o, k=16, seed=seed)
        score = -ll["elbo"]
        result["outliers"] = {"n": int(len(o)), "n_broad_line": int(flags.sum()),
                              "auc_negative_elbo": float(roc_auc_score(flags, score)),
                              "median_negative_elbo_normal": float(np.median(score[~flags])),
                              "median_negative_elbo_broad": float(np.median(score[flags]))}
        # -ELBO grows as the S/N falls (its log-variance term): subtract the entropy of the measurement noise,
        # sum over unmasked pixels of 0.5 log(2 pi e sigma_i^2) in the model's units, to compare across S/N
        f = run.scaler.factors(o.x, o.mask) if run.scaler.per_example else 1.0
        noise_entropy = np.where(o.mask, 0.0, 0.5 * np.log(2 * np.pi * np.e * (o.sigma / f) ** 2)).sum(1)
        result["outliers"]["auc_negative_elbo_minus_noise_entropy"] = float(roc_auc_score(flags, score - noise_entropy))
        # chi2 per unmasked pixel of the predictive mean, with the model's and the measurement's variance
        mo, so = run.predict(o, samples=8, seed=seed)
        var = so ** 2 + o.sigma ** 2
        chi = np.where(o.mask, 0.0, (o.x - mo) ** 2 / var).sum(1) / np.maximum((~o.mask).sum(1), 1)
        result["outliers"]["auc_chi2_per_pixel"] = float(roc_auc_score(flags, chi))
    else:
        score = flags = None

    if out:
        wave = t["wavelength"]
        _denoise_figure(wave, test.x, clean, post, sg, mask, snr, out / "spectra_denoising.png")
        _table_figure(result["denoising"], out / "spectra_denoising_table.png")
        _calibration_figure(clean, mean, std, mean_lat, std_lat, post, post_std, keep, snr,
                            out / "spectra_calibration.png")
        if mask.any():
            _inpaint_figure(wave, test.x, clean, post, interp, mask, out / "spectra_inpainting.png")
        _probe_figure(probes, out / "spectra_probes.png")
        _walk_figure(wave, walk_x, walk_pred, float(np.median(tr["redshift"])), out / "spectra_line_strength_walk.png")
        if score is not None:
            _outlier_figure(score, flags, result["outliers"]["auc_negative_elbo"], out / "spectra_outliers.png")
    return result


# ---------------------------------------------------------------------------------------------- figures
def _denoise_figure(wave, noisy, clean, vae, sg, mask, snr, path):
    order = np.argsort(snr)
    picks = [order[len(order) // 10], order[len(order) // 2], order[-len(order) // 10]]
    fig, axes = plt.subplots(len(picks), 1, figsize=(11, 2.6 * len(picks)), squeeze=False)
    for ax, i in zip(axes[:, 0], picks):
        m = ~mask[i]
        ax.plot(wave[m], noisy[i][m], color="0.7", lw=0.5, label="noisy input")
        ax.plot(wave, sg[i], color="tab:blue", lw=0.7, label="Savitzky-Golay")
        ax.plot(wave, clean[i], color="k", lw=0.9, label="clean truth")
        ax.plot(wave, vae[i], color="tab:red", lw=0.8, ls="--", label="VAE posterior mean")
        ax.set_title(f"held-out spectrum, S/N = {snr[i]:.1f}", fontsize=9)
        lo, hi = np.percentile(clean[i], [0.5, 99.9])
        ax.set_ylim(lo - 0.3 * (hi - lo), hi + 0.15 * (hi - lo))
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("observed wavelength (Å)")
    save_figure(fig, path)


def _table_figure(table, path):
    methods = list(next(iter(table.values())))
    bins = [b for b in table if b != "all"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    x = np.arange(len(bins))
    for j, m in enumerate(methods):
        axes[0].semilogy(x, [table[b][m]["chi2_per_pixel"] for b in bins], marker="o", label=m)
        axes[1].plot(x, [table[b][m]["psnr_db"] for b in bins], marker="o", label=m)
    for ax, lab in zip(axes, ("chi2 per pixel vs clean (median)", "PSNR vs clean (dB, mean)")):
        ax.set_xticks(x, bins)
        ax.set_xlabel("S/N bin")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("denoising held-out spectra")
    save_figure(fig, path)


def _calibration_figure(clean, mean, std, mean_lat, std_lat, post, post_std, keep, snr, path):
    fig, ax = plt.subplots(figsize=(5, 5))
    lv, obs = calibration_curve(clean, mean, std, keep)
    ax.plot(lv, obs, marker="o", color="tab:red", label="latent draws + decoder sigma (all)")
    lv2, obs2 = calibration_curve(clean, mean_lat, std_lat, keep)
    ax.plot(lv2, obs2, marker=".", color="0.5", ls=":", label="latent draws only")
    lv3, obs3 = calibration_curve(clean, post, post_std, keep)
    ax.plot(lv3, obs3, marker="s", ms=3, color="tab:green", label="posterior given the data")
    for (lo, hi), label in zip(zip(SNR_BINS[:-1], SNR_BINS[1:]), snr_bin_labels()):
        sel = (snr >= lo) & (snr < hi)
        if sel.any():
            _, o = calibration_curve(clean[sel], mean[sel], std[sel], keep[sel])
            ax.plot(lv, o, lw=0.8, alpha=0.7, label=f"S/N {label}")
    ax.plot([0, 1], [0, 1], color="k", lw=0.8)
    for level in (0.68, 0.95):
        ax.axvline(level, color="0.8", lw=0.8)
    ax.set_xlabel("nominal coverage of the central interval")
    ax.set_ylabel("fraction of clean pixels inside")
    ax.set_title("calibration of the predictive intervals")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def _inpaint_figure(wave, noisy, clean, vae, interp, mask, path):
    # the spectrum whose widest masked run has the largest clean variation
    best, best_span = None, -1.0
    for i in range(min(len(mask), 300)):
        m = mask[i].astype(int)
        edges = np.flatnonzero(np.diff(np.r_[0, m, 0]))
        for s, e in zip(edges[::2], edges[1::2]):
            if e - s >= 6:
                span = float(np.ptp(clean[i, s:e]) / (np.median(clean[i]) + 1e-12))
                if span > best_span:
                    best, best_span = (i, s, e), span
    if best is None:
        return
    i, s, e = best
    lo, hi = max(0, s - 60), min(mask.shape[1], e + 60)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    r = slice(lo, hi)
    m = ~mask[i, r]
    ax.plot(wave[r][m], noisy[i, r][m], ".", color="0.6", ms=3, label="observed pixels")
    ax.plot(wave[r], clean[i, r], color="k", lw=1, label="clean truth")
    ax.plot(wave[r], vae[i, r], color="tab:red", lw=1, ls="--", label="VAE")
    ax.plot(wave[s:e], interp[i, s:e], color="tab:blue", lw=1, label="linear interpolation")
    ax.axvspan(wave[s], wave[e - 1], color="orange", alpha=0.2, label="masked")
    ax.set_xlabel("observed wavelength (Å)")
    ax.set_title("inpainting a masked run of pixels")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def _probe_figure(probes, path):
    names = list(probes)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar(names, [max(probes[n]["r2_heldout"], 0) for n in names], color="tab:purple")
    ax.axhline(0.8, color="k", lw=0.8, ls="--")
    ax.set_ylabel("held-out R^2 of a linear probe")
    ax.set_ylim(0, 1)
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.set_title("what the latent space encodes linearly")
    save_figure(fig, path)


def _walk_figure(wave, walk_x, pred, z_med, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    colors = plt.cm.viridis(np.linspace(0, 1, len(walk_x)))
    ha = 6562.8 * (1 + z_med)
    for x, p, c in zip(walk_x, pred, colors):
        axes[0].plot(wave, x, color=c, lw=0.7, label=f"line strength {p:.2f}")
        sel = np.abs(wave - ha) < 150
        axes[1].plot(wave[sel], x[sel], color=c, lw=1)
    axes[0].set_xlabel("observed wavelength (Å)")
    axes[0].set_ylabel("decoded flux (median-normalised)")
    axes[0].legend(fontsize=6)
    axes[1].set_xlabel("observed wavelength (Å)")
    axes[1].set_title(f"around H-alpha at z = {z_med:.2f}", fontsize=9)
    fig.suptitle("decoding a walk along the latent line-strength direction")
    save_figure(fig, path)


def _outlier_figure(score, flags, auc, path):
    from sklearn.metrics import roc_curve

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    bins = np.histogram_bin_edges(np.log10(score - score.min() + 1), 40)
    axes[0].hist(np.log10(score[~flags] - score.min() + 1), bins, alpha=0.6, label="normal galaxies")
    axes[0].hist(np.log10(score[flags] - score.min() + 1), bins, alpha=0.6, label="broad-line objects")
    axes[0].set_xlabel("log10(negative ELBO - min + 1)")
    axes[0].legend(fontsize=8)
    fpr, tpr, _ = roc_curve(flags, score)
    axes[1].plot(fpr, tpr, color="tab:red")
    axes[1].plot([0, 1], [0, 1], color="0.6", lw=0.8)
    axes[1].set_xlabel("false positive rate")
    axes[1].set_ylabel("true positive rate")
    axes[1].set_title(f"ROC, AUC = {auc:.3f}")
    save_figure(fig, path)


def markdown_summary(result: dict[str, Any]) -> str:
    """The result dict as a short Markdown report."""
    lines = [f"# Spectrum VAE on held-out simulated spectra", "",
             f"{result['n_test']} held-out spectra, {result['n_pix']} pixels, latent dimension {result['latent_dim']}.",
             "", "## Denoising (against the clean truth; chi2 = median per-pixel ((estimate - clean) / sigma)^2)", ""]
    table = result["denoising"]
    methods = list(next(iter(table.values())))
    lines.append("| S/N bin | n | " + " | ".join(f"{m} chi2 / PSNR dB" for m in methods) + " |")
    lines.append("|---|---|" + "---|" * len(methods))
    for b, row in table.items():
        lines.append(f"| {b} | {row[methods[0]]['n']} | " + " | ".join(
            f"{row[m]['chi2_per_pixel']:.3f} / {row[m]['psnr_db']:.2f}" for m in methods) + " |")
    cal = result["calibration"]
    lines += ["", "## Calibration (clean truth inside the model's central interval, unmasked pixels)", "",
              "| intervals from | 68 % | 95 % |", "|---|---|---|"]
    for name in ("latent+decoder_sigma", "latent_only", "posterior_with_data", "masked_pixels", "conformal",
                 "conformal_by_snr"):
        if cal.get(name):
            lines.append(f"| {name} | {cal[name][0.68]:.3f} | {cal[name][0.95]:.3f} |")
    for b, c in cal["per_snr_bin"].items():
        lines.append(f"| S/N {b} (latent+decoder_sigma) | {c[0.68]:.3f} | {c[0.95]:.3f} |")
    for b, c in cal.get("conformal_per_snr_bin", {}).items():
        lines.append(f"| S/N {b} (conformal) | {c[0.68]:.3f} | {c[0.95]:.3f} |")
    for b, c in cal.get("conformal_by_snr_per_snr_bin", {}).items():
        lines.append(f"| S/N {b} (conformal_by_snr) | {c[0.68]:.3f} | {c[0.95]:.3f} |")
    if cal.get("conformal"):
        m, g = cal["conformal"]["multipliers"], cal["conformal"]["gaussian_multipliers"]
        lines += ["", f"Conformal: intervals mean +- k std with k = {m['0.68']:.3f} (68 %) and {m['0.95']:.3f} (95 %) "
                  f"instead of the Gaussian {g['0.68']:.3f} and {g['0.95']:.3f}, the quantiles of |clean - mean| / std "
                  "on the validation split; scored on the test split."]
    if "inpainting" in result:
        ip = result["inpainting"]
        lines += ["", "## Inpainting masked pixels (RMSE vs clean, median-normalised flux)", "",
                  f"VAE {ip['rmse_vae']:.4f}, linear interpolation {ip['rmse_linear_interpolation']:.4f}; "
                  f"the VAE wins in {100 * ip['spectra_where_vae_wins']:.1f} % of spectra with masked pixels."]
    lines += ["", "## Linear probes latent -> parameter (held-out R^2)", "", "| parameter | R^2 |", "|---|---|"]
    lines += [f"| {n} | {p['r2_heldout']:.3f} |" for n, p in result["probes"].items()]
    if "outliers" in result:
        o = result["outliers"]
        lines += ["", "## Outliers", "", f"{o['n_broad_line']} broad-line objects among {o['n']} spectra: "
                  f"AUC of the negative ELBO {o['auc_negative_elbo']:.3f}; of the negative ELBO minus the entropy of the "
                  f"measurement noise {o['auc_negative_elbo_minus_noise_entropy']:.3f}; of the chi2 per pixel "
                  f"{o['auc_chi2_per_pixel']:.3f}."]
    return "\n".join(lines) + "\n"
