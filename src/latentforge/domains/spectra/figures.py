"""The figures of the spectra analysis (matplotlib PNGs with labelled axes)."""

from __future__ import annotations

import numpy as np

from ...analysis.plots import plt, save_figure
from .metrics import SNR_BINS, calibration_curve, snr_bin_labels


def denoise_figure(wave, noisy, clean, vae, sg, mask, snr, path):
    """Three held-out spectra (low, middle, high S/N): noisy input, Savitzky-Golay, clean truth and the VAE."""
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


def table_figure(table, path):
    """chi2 per pixel and PSNR of each denoising method per S/N bin."""
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


def calibration_figure(clean, mean, std, mean_lat, std_lat, post, post_std, keep, snr, path):
    """Observed against nominal coverage of the central predictive intervals (all, and per S/N bin)."""
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


def inpaint_figure(wave, noisy, clean, vae, interp, mask, path):
    """The widest masked run of one spectrum filled by the VAE and by linear interpolation, with the truth."""
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


def probe_figure(probes, path):
    """Held-out R^2 of a linear probe from the latent space to each physical parameter."""
    names = list(probes)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar(names, [max(probes[n]["r2_heldout"], 0) for n in names], color="tab:purple")
    ax.axhline(0.8, color="k", lw=0.8, ls="--")
    ax.set_ylabel("held-out R^2 of a linear probe")
    ax.set_ylim(0, 1)
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.set_title("what the latent space encodes linearly")
    save_figure(fig, path)


def walk_figure(wave, walk_x, pred, z_med, path):
    """Spectra decoded along the latent line-strength direction (whole range and around H-alpha)."""
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


def outlier_figure(score, flags, auc, path):
    """The negative ELBO of normal and broad-line spectra, and its ROC curve."""
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


