"""Evaluation: the objective's own metrics, reconstruction errors in both spaces for models that encode, and
every domain validation registered for data of this kind (``analysis.validations``); a validation that
cannot apply is named, with the reason, under ``skipped``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analysis.validations import VALIDATIONS
from ..data import as_dataset
from ..errors import LatentforgeError
from ..objectives.elbo import model_input
from ..objectives.measures import mse, psnr
from .likelihood import data_unit_likelihoods


def evaluate(run, data: Any, split: str = "auto", *, seed: int = 0, k: int = 1000, **data_kw: Any) -> dict[str, Any]:
    """Metrics of ``run`` on the ``split`` of ``data`` as a flat dict (model space unless named ``_raw``):

    - ``recon_mse``, ``recon_mse_raw``, ``psnr_recon``: models with an encoder;
    - the objective's terms and metrics (VAE: ``elbo``, ``nll_iwae`` with ``K`` in nats per example in data
      units, ``nll_iwae_per_dim`` per observed point, ``bits_per_dim`` for 8-bit images, the scaled-space
      ``elbo_scaled`` / ``nll_iwae_scaled`` and the ``log_jacobian`` between them (``run.likelihood``); ``kl``;
      denoising: ``psnr_noisy``, ``psnr_denoised``; GAN: both players' terms);
    - one entry per applicable validation (sample quality, calorimeter showers ...), ``skipped`` for the rest.
    """
    full = as_dataset(data, **data_kw)
    split = run.resolve_split(full, split)
    ds = run.dataset(run.select(full, split))  # spectra on another wavelength grid: measured on the model's
    b = run.batch(ds)
    xs = b["x"].numpy()
    peak = 1.0 if run.scaler.unit_range else float(xs.max() - xs.min())
    out: dict[str, Any] = {"model": run.name, "data": str(getattr(ds, "source", "")), "split": split, "n": len(ds),
                           "split_reason": split_reason(run, full, split)}
    if run.can("encoding"):
        out.update(reconstruction_metrics(run, ds, b, peak))
    out.update(run.objective.metrics(run.model, b, seed=seed, k=k, peak=peak))
    out.update(data_unit_likelihoods(run, ds, out))  # a VAE's likelihoods: scaled space -> data units
    skipped = {}
    for name, validation in VALIDATIONS.items():
        reason = validation.applies(run, ds)
        if reason is None:
            try:
                result = validation.measure(run, full, split, seed=seed)
            except LatentforgeError as e:  # the other metrics still count; say why this one is missing
                skipped[name] = str(e)
                continue
            out.update(result) if validation.flat else out.update({name: result})
        elif reason:
            skipped[name] = reason
    if skipped:
        out["skipped"] = skipped
    return out


def reconstruction_metrics(run, ds, b: dict, peak: float) -> dict[str, float]:
    """Mean squared reconstruction error in model space and in the data's own units (unmasked points), and
    the PSNR of the reconstruction (dB, ``peak``: 1 for data scaled to [0, 1], else the data's range)."""
    recon = run.infer(lambda s: run.model.decode(run.model.encode(model_input(s), s.get("c")), s.get("c")), b).numpy()
    xs = b["x"].numpy()
    keep = ~ds.mask if ds.mask is not None else np.ones(xs.shape, bool)  # raw and model shapes agree here
    keep_raw = ~ds.mask if ds.mask is not None else np.ones(ds.x.shape, bool)
    raw = run.preprocess.to_raw(recon, run.preprocess.factors(ds))
    return {"recon_mse": mse(recon[keep], xs[keep]), "recon_mse_raw": mse(raw[keep_raw], ds.x[keep_raw]),
            "psnr_recon": psnr(xs[keep], recon[keep], peak)}


def split_reason(run, full, split: str) -> str:
    """One line saying which rows were evaluated and why."""
    training = run.is_training_data(full)
    if split == "test":
        return (f"the held-out test split ({len(run.select(full, 'test'))} of {len(full)} rows): the data is the run's "
                "training data" if training else "the test split asked for")
    if split == "all":
        if training and not run.can("encoding"):
            return "every row: a generator is compared with the whole real set"
        if training:
            return "every row, training rows included (asked for)"
        seen = run.preprocess.seen_in(full)
        if seen is not None and seen.any():
            return (f"every row, {int(seen.sum())} of the {len(full)} are training rows"
                    + (" (asked for)" if not seen.all() else ": nothing here was held out, so this measures the fit"))
        return "every row: the data is not the run's training data"
    if split == "unseen":
        kept = len(run.select(full, "unseen"))
        return (f"the {kept} of {len(full)} rows the run did not train or validate on: the other {len(full) - kept} "
                "are training rows (recognised by their values)")
    return f"the {split} split of the run's seeded split"
