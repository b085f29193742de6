"""Evaluation: the objective's own metrics, reconstruction errors in both spaces for models that encode, and
every domain validation registered for data of this kind (``analysis.validations``); a validation that
cannot apply is named, with the reason, under ``skipped``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..analysis.columns import per_column_errors, table_columns
from ..analysis.metrics import bootstrap_error
from ..analysis.quality import TooFewRows
from ..analysis.validations import VALIDATIONS
from ..data import as_dataset
from ..data.arrays import row_hashes
from ..errors import ConfigError, LatentforgeError
from ..objectives.elbo import model_input
from ..objectives.measures import mse, psnr
from ..spelling import speak, speak_all
from .likelihood import data_unit_likelihoods


def evaluate(run, data: Any, split: str = "auto", *, seed: int = 0, k: int = 1000, calibrate: str | None = None,
             **data_kw: Any) -> dict[str, Any]:
    """Metrics of ``run`` on the ``split`` of ``data`` as a flat dict (model space unless named ``_raw``):

    - ``recon_mse``, ``recon_mse_raw``, ``psnr_recon``: models with an encoder, each with its standard error over
      the examples (``_err``); the PSNR (and a denoiser's ``psnr_*``) for images only; for a table of named
      columns ``recon_error_by_column`` (name -> RMSE in the column's unit ...) instead of the pooled
      ``recon_mse_raw``, which is kept only where every column states the same unit;
    - the objective's terms and metrics (VAE: ``elbo``, ``nll_iwae`` with ``K`` in nats per example in data
      units, ``nll_iwae_per_dim`` per observed point, ``bits_per_dim`` for 8-bit images, the scaled-space
      ``elbo_scaled`` / ``nll_iwae_scaled`` and the ``log_jacobian`` between them (``run.likelihood``); ``kl``;
      denoising: ``psnr_noisy``, ``psnr_denoised``; GAN: both players' terms);
    - one entry per applicable validation (sample quality, a science domain's, ``calibration`` of a predictive
      distribution, ``two_sample`` of a generator ...), ``skipped`` for the rest; ``calibrate="conformal"`` adds
      split-conformal intervals to the calibration (ConfigError for a model without a continuous predictive);
    - ``n_duplicates_of_training``: rows of a held-out part whose values equal a row training saw (and, when there
      are any, ``duplicates_warning`` in words, also given as a UserWarning): scores on them are optimistic;
    - ``condition_warning``: conditions of a conditional model's rows beyond the training range (or labels no
      training row had), also given once as a ``ConditionOutsideTraining`` warning.
    """
    with run.preprocess.flagging_once():  # conditions beyond the training range: one warning, not one per step
        # every note and reason in the caller's language: flags on the command line, keyword arguments from Python
        return speak_all(_measure(run, data, split, seed=seed, k=k, calibrate=calibrate, **data_kw))


def _measure(run, data: Any, split: str, *, seed: int, k: int, calibrate: str | None = None,
             **data_kw: Any) -> dict[str, Any]:
    full = as_dataset(data, **data_kw)
    options = {"calibrate": calibrate}
    if calibrate not in (None, "none"):
        from ..analysis.calibration import applies

        reason = applies(run)
        if reason is not None:
            raise ConfigError(f"--calibrate {calibrate}: " + (reason or f"{run.name} has no predictive distribution "
                                                                         "(a VAE's decoder gives one)"))
    split = run.resolve_split(full, split)
    part = run.select(full, split)
    duplicates = training_duplicates(run, full, split, part)
    ds = run.dataset(part)  # data on another sample grid: measured on the model's
    b = run.batch(ds)
    xs = b["x"].numpy()
    peak = 1.0 if run.scaler.unit_range else float(xs.max() - xs.min())
    out: dict[str, Any] = {"model": run.name, "data": str(getattr(ds, "source", "")), "split": split, "n": len(ds),
                           "split_reason": split_reason(run, full, split)}
    if duplicates is not None:
        out["n_duplicates_of_training"] = int(duplicates.sum())
        note = duplicates_warning(int(duplicates.sum()), len(part))
        if note:
            out["duplicates_warning"] = note
            warnings.warn(speak(note), stacklevel=4)
    if run.conditional:
        note = run.preprocess.flag_conditions(run.conditioner.values_of(ds))
        if note:
            out["condition_warning"] = note
    if run.can("encoding"):
        out.update(reconstruction_metrics(run, ds, b, peak, seed=seed))
    out.update(run.objective.metrics(run.model, b, seed=seed, k=k, peak=peak))
    if len(run.input_shape) != 3:  # a peak signal-to-noise ratio is a picture's measure: not for tables or vectors
        for name in [m for m in out if m.startswith("psnr")]:
            del out[name]
    out.update(data_unit_likelihoods(run, ds, out))  # a VAE's likelihoods: scaled space -> data units
    skipped = {}
    for name, validation in VALIDATIONS.items():
        reason = validation.applies(run, ds)
        if reason is None:
            try:
                result = validation.measure(run, full, split, seed=seed,
                                            **{o: options[o] for o in validation.takes if o in options})
            except TooFewRows:  # a sample-based metric on a handful of rows: refused, not quietly left out
                raise
            except LatentforgeError as e:  # the other metrics still count; say why this one is missing
                skipped[name] = str(e)
                continue
            out.update(result) if validation.flat else out.update({name: result})
        elif reason:
            skipped[name] = reason
    if skipped:
        out["skipped"] = skipped
    return out


def reconstruction_metrics(run, ds, b: dict, peak: float, *, seed: int = 0) -> dict[str, Any]:
    """Mean squared reconstruction error in model space and in the data's own units (unmasked points), and
    the PSNR of the reconstruction (dB, ``peak``: 1 for data scaled to [0, 1], else the data's range); each with
    its standard error ``_err`` over the examples (a bootstrap of examples; the PSNR's by the delta method). For a
    table of named columns also ``recon_error_by_column`` (``analysis.columns.per_column_errors``: RMSE in each
    column's unit with its bootstrap error, rows measured on); the pooled ``recon_mse_raw`` is then dropped unless
    every column states the same unit (a mean over kelvin and dex has no unit)."""
    recon = run.infer(lambda s: run.model.decode(run.model.encode(model_input(s), s.get("c")), s.get("c")), b).numpy()
    xs = b["x"].numpy()
    keep = ~ds.mask if ds.mask is not None else np.ones(xs.shape, bool)  # raw and model shapes agree here
    keep_raw = ~ds.mask if ds.mask is not None else np.ones(ds.x.shape, bool)
    raw = run.preprocess.to_raw(recon, run.preprocess.factors(ds))
    model_err = per_example_mse_error(recon, xs, keep, seed=seed)
    out: dict[str, Any] = {"recon_mse": mse(recon[keep], xs[keep]), "recon_mse_err": model_err,
           "recon_mse_raw": mse(raw[keep_raw], ds.x[keep_raw]),
           "recon_mse_raw_err": per_example_mse_error(raw, ds.x, keep_raw, seed=seed),
           "psnr_recon": psnr(xs[keep], recon[keep], peak)}
    if out["recon_mse"] > 0:  # d(10 log10(peak^2 / m)) = -10 / ln 10 dm / m
        out["psnr_recon_err"] = float(10 / np.log(10) * model_err / out["recon_mse"])
    columns = table_columns(run, ds)
    if columns is not None and raw.shape == ds.x.shape:  # columns in their own units: one error each, not pooled
        out["recon_error_by_column"] = per_column_errors(ds.x, raw, keep_raw, columns, seed=seed)
        units = {u for _, u in columns}
        if len(units) != 1 or "" in units:
            del out["recon_mse_raw"], out["recon_mse_raw_err"]
    return out


def per_example_mse_error(a: np.ndarray, b: np.ndarray, keep: np.ndarray, *, seed: int = 0) -> float:
    """Bootstrap standard error over examples of the mean squared difference of ``a`` and ``b`` (N, ...) on the
    points ``keep`` (the pointwise mean is a ratio of per-example sums, so examples are resampled whole)."""
    n = len(a)
    sq = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2 * keep).reshape(n, -1).sum(1)
    count = keep.reshape(n, -1).sum(1).astype(np.float64)
    return bootstrap_error(lambda rows: sq[rows].sum() / max(count[rows].sum(), 1.0), n, seed=seed) if n > 1 \
        else float("nan")


def training_duplicates(run, full, split: str, part) -> np.ndarray | None:
    """Per row of ``part`` (the ``split`` of ``full``): whether its values equal those of a row training saw,
    compared by ``data.arrays.row_hashes`` (float32 values; collisions about 2^-63). For the run's own test
    (validation) split the reference is its training and validation (training) rows; for other data the run's
    stored hashes of the rows training saw. None where the question does not arise (the training rows
    themselves) or cannot be answered (a run that does not know its rows)."""
    training = run.is_training_data(full)
    if split == "train" or (split == "all" and training):
        return None
    if training and split in ("test", "val"):
        idx = run.preprocess.split(len(full))
        saw = np.concatenate([idx["train"], idx["val"]]) if split == "test" else idx["train"]
        return np.isin(row_hashes(part.x), row_hashes(full.x, saw))
    return run.preprocess.seen_in(part)


def duplicates_warning(n_dup: int, n: int) -> str | None:
    """The sentence for ``n_dup`` of ``n`` evaluated rows that duplicate training rows (None for none)."""
    if n_dup == 0:
        return None
    return (f"{n_dup} of {n} evaluated rows duplicate training rows (equal values); scores on them are optimistic; "
            "--split unseen leaves them out")


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
