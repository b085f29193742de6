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

from ...errors import ConfigError, DataError
from ...analysis.baselines import pca_reconstruction
from .figures import (calibration_figure, denoise_figure, inpaint_figure, outlier_figure, probe_figure,
                              table_figure, walk_figure)
from .metrics import (SNR_BINS, calibration_curve, chi2_per_pixel, conformal_multipliers, denoising_table,
                              interpolate_masked, interval_coverage, measured_snr, psnr_per_spectrum, savgol_denoise,
                              snr_bin_labels)

__all__ = ["analyse_spectra", "calibration_curve", "chi2_per_pixel", "conformal_multipliers", "denoising_table",
           "interpolate_masked", "interval_coverage", "markdown_summary", "measured_snr", "psnr_per_spectrum",
           "savgol_denoise", "snr_bin_labels"]

SG_WINDOWS = (5, 9, 15, 21, 31, 45)


# ---------------------------------------------------------------------------------------------- analysis
def _split_with_truth(run, data: str | os.PathLike, split: str):
    from .simulator import read_spectra

    ds = run.select(data, split)
    truth = read_spectra(data)
    index = ds.info.get("index", np.arange(len(ds)))
    return ds, {k: (v if k == "wavelength" else v[index]) for k, v in truth.items()}


def analyse_spectra(run, data: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                    outliers: str | os.PathLike | None = None, samples: int = 50, seed: int = 0,
                    max_test: int | None = None) -> dict[str, Any]:
    """The denoising / calibration / inpainting / probe / outlier story on the run's held-out split of
    ``data`` (an HDF5 file written by ``write_spectra``); PNGs go to ``out_dir``."""
    from .simulator import PARAMETERS
    from .simulator import is_spectra_file

    if not is_spectra_file(data):
        raise DataError(f"{data}: the spectra analysis needs a simulated spectra file with clean truth "
                        "(write one with `latentforge simulate spectra`)")
    if not run.can("posterior"):
        raise ConfigError(f"the spectra analysis needs a VAE (spectrum-vae); {run.name!r} has no posterior")
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

        from .simulator import read_spectra

        o = run.select(outliers, "all")
        flags = read_spectra(outliers)["broad_line"].astype(bool)
        if flags.all() or not flags.any():
            raise DataError(f"{outliers}: needs both normal and broad-line spectra (simulate with --outlier-fraction)")
        ll = run.log_likelihood(o, k=16, seed=seed)
        # each spectrum in its own median-normalised units (the scaled space): a ranking of shapes, not of fluxes
        score = -ll["elbo_scaled"]
        result["outliers"] = {"n": int(len(o)), "n_broad_line": int(flags.sum()), "elbo_space": "scaled",
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
        denoise_figure(wave, test.x, clean, post, sg, mask, snr, out / "spectra_denoising.png")
        table_figure(result["denoising"], out / "spectra_denoising_table.png")
        calibration_figure(clean, mean, std, mean_lat, std_lat, post, post_std, keep, snr,
                            out / "spectra_calibration.png")
        if mask.any():
            inpaint_figure(wave, test.x, clean, post, interp, mask, out / "spectra_inpainting.png")
        probe_figure(probes, out / "spectra_probes.png")
        walk_figure(wave, walk_x, walk_pred, float(np.median(tr["redshift"])), out / "spectra_line_strength_walk.png")
        if score is not None:
            outlier_figure(score, flags, result["outliers"]["auc_negative_elbo"], out / "spectra_outliers.png")
    return result


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
                  f"AUC of the negative ELBO (median-normalised units) {o['auc_negative_elbo']:.3f}; of the negative ELBO minus the entropy of the "
                  f"measurement noise {o['auc_negative_elbo_minus_noise_entropy']:.3f}; of the chi2 per pixel "
                  f"{o['auc_chi2_per_pixel']:.3f}."]
    return "\n".join(lines) + "\n"
