"""Metric names in words, with units and which direction is better, for reports and command summaries.

``describe(metrics)`` turns the flat dict ``evaluate`` returns into rows (label, value, unit, better) and drops
the duplicates a reader would trip over (the one-draw training objective ``loss`` / ``loss_elbo`` beside the
importance-sampled ELBO, ``loss_kl`` beside ``kl``); the ELBO is shown as -ELBO, the quantity training
minimises and its curves show; numbers keep four significant digits.
"""

from __future__ import annotations

from typing import Any

HIGHER, LOWER = "higher is better", "lower is better"

#: name -> (words, unit, better)
METRICS: dict[str, tuple[str, str, str]] = {
    "recon_mse": ("reconstruction error, mean squared", "model units", LOWER),
    "recon_mse_raw": ("reconstruction error, mean squared", "data units", LOWER),
    "recon_error_by_column": ("reconstruction error, root mean square", "", LOWER),
    "psnr_recon": ("reconstruction PSNR", "dB", HIGHER),
    "loss": ("training loss on these data", "per example, scaled space", LOWER),
    "loss_recon": ("reconstruction term of the loss", "per example, scaled space", LOWER),
    "elbo": ("-ELBO (negative evidence lower bound, K draws)", "nats per example in data units", LOWER),
    "nll_iwae": ("negative log-likelihood, importance-weighted bound", "nats per example in data units", LOWER),
    "nll_iwae_per_dim": ("negative log-likelihood per dimension", "nats per observed point in data units", LOWER),
    "bits_per_dim": ("negative log-likelihood per dimension, 8-bit pixel scale", "bits per dimension", LOWER),
    "kl": ("KL(q(z|x) || p(z))", "nats per example", ""),
    "tc": ("total correlation of the codes", "nats", LOWER),
    "mi": ("mutual information codes / examples", "nats", ""),
    "dim_kl": ("dimension-wise KL to the prior", "nats", LOWER),
    "psnr_noisy": ("PSNR of the corrupted input", "dB", ""),
    "psnr_denoised": ("PSNR of the denoised output", "dB", HIGHER),
    "psnr_gain_db": ("PSNR gained by denoising", "dB", HIGHER),
    "active_fraction": ("share of active code units", "", ""),
    "fd_classifier": ("Fréchet distance in a classifier's features (not FID)", "", LOWER),
    "precision": ("precision: share of samples on the data's manifold", "", HIGHER),
    "recall": ("recall: share of the data's manifold the samples reach", "", HIGHER),
    "mode_coverage": ("classes generated at >= 1/4 of their share", "", HIGHER),
    "game": ("adversarial game (the GAN loss)", "", ""),
    "g_loss": ("generator loss", "per example", ""),
    "d_loss": ("discriminator loss", "per example", ""),
    "cycle_a": ("cycle error A -> B -> A, mean absolute", "model units", LOWER),
    "identity_a": ("identity error of the B -> A generator on A, mean absolute", "model units", LOWER),
    "d_b_of_translated": ("mean D_B of the translated examples", "", ""),
    "d_real": ("mean D(x) on real data", "", ""),
    "d_fake": ("mean D(G(z)) on samples", "", ""),
    "d_acc": ("discriminator accuracy", "", ""),
    "gp": ("gradient penalty", "", ""),
}
#: shown elsewhere (the header) or duplicates of a row already shown
HIDDEN = {"model", "data", "split", "n", "split_reason", "K", "likelihood", "beta", "corruption", "noise_level",
          "elbo_scaled", "nll_iwae_scaled", "log_jacobian", "likelihood_units",
          "psnr_peak", "active_threshold", "n_real", "n_generated", "class_histogram", "classifier_val_accuracy",
          "class_histogram_real", "mode_collapse",
          "loss_elbo", "loss_kl", "n_duplicates_of_training", "fd_classifier_bias"}


def fmt(v: Any) -> str:
    """A number with four significant digits (integers as they are); other values as text."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.4g}"


def with_error(metrics: dict[str, Any], name: str) -> str:
    """``metrics[name]`` as text, followed by "± <standard error>" when ``<name>_err`` is given (a number measured
    on samples)."""
    value = fmt(metrics[name])
    err = metrics.get(f"{name}_err")
    if isinstance(err, (int, float)) and not isinstance(err, bool):
        value += f" ± {fmt(err)}"
    return value


#: the unit of a GAN player's loss, by game: the cross-entropy games in nats, the others in the discriminator's
#: own output units (a critic score, a margin, a squared distance to a target label)
GAME_UNITS = {"ns": "nats per example", "minimax": "nats per example", "wgan-gp": "critic units per example",
              "hinge": "critic units per example", "lsgan": "squared output units per example"}


def describe(metrics: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows (words, value, unit, better) for the known metrics in ``metrics``, in catalogue order; nested
    results (validations) and bookkeeping entries are left out. A unit or a direction is given to numbers only
    (a name such as the GAN's game is shown as text)."""
    rows = []
    for name, (words, unit, better) in METRICS.items():
        if name == "recon_error_by_column" and isinstance(metrics.get(name), dict):
            rows += [(f"{words}: {column}", with_error(e, "rmse"), e["unit"], better)
                     for column, e in metrics[name].items()]
            continue
        if name == "loss" and "elbo" in metrics:
            continue  # a VAE's one-draw training objective: the K-draw -ELBO above says it better
        if name in metrics and not isinstance(metrics[name], (dict, list)):
            if not isinstance(metrics[name], (int, float)) or isinstance(metrics[name], bool):
                rows.append((words, fmt(metrics[name]), "", ""))
                continue
            if name in ("g_loss", "d_loss") and metrics.get("game") in GAME_UNITS:
                unit = GAME_UNITS[metrics["game"]]
            if name == "nll_iwae" and "K" in metrics:
                words = f"{words} (K = {metrics['K']})"
            sign = -1 if name == "elbo" else 1  # shown as -ELBO
            if name in ("elbo", "nll_iwae") and metrics[name] is None:  # no log-Jacobian for this scaling
                scaled = metrics.get(f"{name}_scaled")
                rows.append((words, fmt(None if scaled is None else sign * scaled), "nats per example in scaled "
                             f"space ({metrics.get('likelihood_units', '')})", better))
                continue
            if name in ("elbo", "nll_iwae") and metrics.get(f"{name}_scaled") is not None:
                unit = f"{unit} (scaled space: {fmt(sign * metrics[f'{name}_scaled'])})"
            if name == "elbo":
                rows.append((words, with_error({**metrics, name: -metrics[name]}, name), unit, better))
                continue
            if name == "bits_per_dim":
                unit = f"{unit} (pixel values 0..255, continuous density, no dequantisation)"
            if name == "loss_recon" and "elbo" in metrics:
                continue  # the ELBO's own terms are shown as elbo and kl
            rows.append((words, with_error(metrics, name), unit, better))
    return rows


def others(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalar entries of ``metrics`` without words in the catalogue (shown under their own names)."""
    return {k: v for k, v in metrics.items() if k not in METRICS and k not in HIDDEN
            and not (k.endswith("_err") and k[:-4] in metrics) and not isinstance(v, (dict, list))}


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """A short human summary of ``evaluate``'s dict: one line per metric in words."""
    lines = [f"{metrics.get('model')} on {metrics.get('data')}: {metrics.get('split_reason', metrics.get('split'))}"]
    for words, value, unit, better in describe(metrics):
        lines.append(f"  {words}: {value}" + (f" {unit}" if unit else "") + (f"  ({better})" if better else ""))
    for k in others(metrics):
        lines.append(f"  {k}: {with_error(metrics, k)}")
    if metrics.get("mode_collapse"):  # a sentence that starts with its own name
        lines.append(f"  warning: {metrics['mode_collapse']}")
    for k, v in metrics.items():
        if isinstance(v, dict) and isinstance(v.get("in_words"), list):  # a validation that speaks for itself
            lines += [f"  {k}: {line}" for line in v["in_words"]]
        elif k == "skipped" and isinstance(v, dict):
            lines += [f"  not measured, {name}: {reason}" for name, reason in v.items()]
        elif isinstance(v, dict) and k not in ("class_histogram", "class_histogram_real", "recon_error_by_column"):
            lines.append(f"  {k}: see --json")
    return lines
