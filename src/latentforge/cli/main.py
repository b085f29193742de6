"""The ``latentforge`` command: each subcommand parses its arguments and calls the Python API."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..catalog import MODELS
from ..config import TrainConfig
from ..errors import LatentforgeError

SKIP_FIELDS = {"input_shape"}


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,64, got {text!r}") from None


def add_config_flags(parser: argparse.ArgumentParser, config_class: type, title: str,
                     defaults: dict | None = None) -> list[str]:
    """One flag per dataclass field (``latent_dim`` -> ``--latent-dim``); returns the destinations added."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(config_class)
    dests = []
    for f in dataclasses.fields(config_class):
        if f.name in SKIP_FIELDS:
            continue
        default = (defaults or {}).get(f.name, f.default)
        tp = hints[f.name]
        kw: dict[str, Any] = {"dest": f.name, "default": None}
        help_text = f.metadata.get("help", "")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = _int_tuple if typing.get_origin(tp) is tuple else tp
            kw["metavar"] = f.name.upper().replace("_", "-") if not f.metadata.get("choices") else None
            if f.metadata.get("choices"):
                kw["choices"] = f.metadata["choices"]
        group.add_argument("--" + f.name.replace("_", "-"), help=f"{help_text} (default: {shown})", **kw)
        dests.append(f.name)
    return dests


def _data_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=required,
                   help="a built-in dataset name (see `latentforge datasets`) or a file: .npy, .npz, .h5/.hdf5, "
                        "MNIST idx (.idx, *-ubyte, optionally .gz)")
    g.add_argument("--key", help="array / dataset name inside an .npz or HDF5 file")
    g.add_argument("--labels-key", help="labels array / dataset name inside an .npz or HDF5 file")
    g.add_argument("--labels", help="a separate labels file (.npy, .npz, idx)")
    g.add_argument("--channels-last", action="store_true", help="images are stored (N, H, W, C)")
    g.add_argument("--sigma-key", help="per-point measurement errors (same shape as the data) in an .npz / HDF5 file "
                                       "(default: an array named sigma, if present)")
    g.add_argument("--ivar-key", help="per-point inverse variances instead of sigma (0 marks a point without data; "
                                      "default: an array named ivar, if present)")
    g.add_argument("--mask-key", help="per-point mask, True/1 = ignore the point (default: an array named mask)")
    g.add_argument("--cond-key", help="per-example parameters (N, P) for --condition vector models")


def _data_kw(a: argparse.Namespace) -> dict[str, Any]:
    return {"key": a.key, "labels_key": a.labels_key, "labels": a.labels, "channels_last": a.channels_last,
            "sigma_key": a.sigma_key, "ivar_key": a.ivar_key, "mask_key": a.mask_key, "cond_key": a.cond_key}


def _condition(text: str | None):
    """--condition 3 (a class label) or --condition 0.5,1.2 (a parameter vector)."""
    if text is None:
        return None
    parts = [t for t in text.split(",") if t.strip()]
    try:
        if len(parts) == 1 and parts[0].strip().lstrip("-").isdigit():
            return int(parts[0])
        return np.array([float(t) for t in parts], dtype=np.float32)
    except ValueError:
        raise LatentforgeError(f"--condition {text!r}: give a class label (e.g. 3) or comma-separated numbers") \
            from None


def _split_flag(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--split", choices=("all", "train", "val", "test", "auto"), default=default,
                   help="which part of DATA to use; train/val/test repeat the run's seeded split; auto: test when "
                        f"DATA is the training data, else all (default: {default})")


def _resolve_split(run, a: argparse.Namespace) -> str:
    if a.split != "auto":
        return a.split
    if run.family == "gan":  # sample quality is measured against the whole real set
        return "all"
    return "test" if str(a.data) == str(run.data_info.get("source")) else "all"


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o: Any):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _save_npz(path: str, **arrays: np.ndarray) -> None:
    from ..io import write_npz

    if not path.endswith(".npz"):
        raise LatentforgeError(f"--out {path}: give a file name ending in .npz")
    keys = write_npz(path, **arrays)
    print(f"wrote {path} ({', '.join(keys)})", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- train
def _train_parser(model: str | None) -> argparse.ArgumentParser:
    models = "\n".join(f"  {n:<18} {MODELS.get(n).summary}" for n in MODELS)
    p = argparse.ArgumentParser(
        prog="latentforge train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a model and write a run directory.\n\nmodels:\n" + models +
                    "\n\n`latentforge train MODEL --help` lists that model's own options.")
    p.add_argument("model", choices=MODELS.names(), metavar="MODEL", help="one of the models above")
    _data_flags(p)
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_config_flags(p, TrainConfig, "training", MODELS.get(model).train_defaults if model in MODELS else None)
    if model in MODELS:
        spec = MODELS.get(model)
        add_config_flags(p, spec.model_config_class, f"model options ({model})", spec.model_defaults)
        add_config_flags(p, spec.objective_config_class, f"objective options ({model})", spec.objective_defaults)
    return p


def cmd_train(argv: Sequence[str]) -> int:
    from ..api import train

    model = next((a for a in argv if not a.startswith("-")), None)
    a = _train_parser(model).parse_args(argv)
    spec = MODELS.get(a.model)
    names = [f.name for c in (TrainConfig, spec.model_config_class, spec.objective_config_class)
             for f in dataclasses.fields(c) if f.name not in SKIP_FIELDS]
    options = {n: getattr(a, n) for n in names if getattr(a, n, None) is not None}
    run = train(a.model, a.data, out=a.out, progress=not a.no_progress, resume=a.resume, overwrite=a.overwrite,
                **_data_kw(a), **options)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun rank 0 reports for all
        return 0
    last = run.history[-1] if run.history else {}
    print(f"trained {a.model} ({run.n_parameters} parameters) for {last.get('epoch', 0)} epochs: "
          + ", ".join(f"{k}={v:.5g}" for k, v in last.items() if k.endswith("_loss")))
    print(f"run directory: {a.out}")
    return 0


# ---------------------------------------------------------------------------------------------- others
def cmd_encode(a) -> int:
    from ..api import load

    run = load(a.run_dir)
    ds = run.select(a.data, _resolve_split(run, a), **_data_kw(a))
    _save_npz(a.out, z=run.encode(ds), labels=ds.y)
    return 0


def cmd_reconstruct(a) -> int:
    from ..api import load

    run = load(a.run_dir)
    ds = run.select(a.data, _resolve_split(run, a), **_data_kw(a))
    cond = _condition(a.condition)
    if a.with_data:
        mean, std = run.denoise(ds, samples=a.samples or 50, seed=a.seed, condition=cond)
        _save_npz(a.out, mean=mean, std=std, input=ds.x, labels=ds.y)
    elif a.samples:
        mean, std = run.predict(ds, samples=a.samples, seed=a.seed, condition=cond)
        _save_npz(a.out, mean=mean, std=std, input=ds.x, labels=ds.y)
    else:
        _save_npz(a.out, reconstruction=run.reconstruct(ds, cond), input=ds.x, labels=ds.y)
    return 0


def cmd_sample(a) -> int:
    from ..analysis import image_grid, save_figure
    from ..api import load

    run = load(a.run_dir)
    if a.n < 1:
        raise LatentforgeError("-n must be at least 1")
    cond = _condition(a.condition)
    x = run.sample(a.n, cond, seed=a.seed)
    _save_npz(a.out, samples=x)
    if len(run.input_shape) == 3:
        png = a.out[:-4] + ".png"
        title = f"{run.name}: {a.n} samples" + (f" given condition {a.condition}" if a.condition else "")
        save_figure(image_grid(x, title=title), png)
        print(f"wrote {png}", file=sys.stderr)
    return 0


def cmd_denoise(a) -> int:
    from ..analysis import psnr
    from ..api import load

    run = load(a.run_dir)
    ds = run.select(a.data, _resolve_split(run, a), **_data_kw(a))
    if a.add_noise:
        noisy = run.add_noise(ds.x, seed=a.seed)
        den = run.reconstruct(noisy)
        peak = float(ds.x.max() - ds.x.min())
        print(json.dumps({"psnr_noisy": psnr(ds.x, noisy, peak), "psnr_denoised": psnr(ds.x, den, peak)}))
        _save_npz(a.out, denoised=den, noisy=noisy, clean=ds.x, labels=ds.y)
    else:
        _save_npz(a.out, denoised=run.reconstruct(ds), input=ds.x, labels=ds.y)
    return 0


def cmd_score(a) -> int:
    from ..api import load

    run = load(a.run_dir)
    ds = run.select(a.data, _resolve_split(run, a), **_data_kw(a))
    score = run.score(ds, _condition(a.condition))
    kind = "critic_score" if run.objective.wasserstein else "p_real"
    summary = {"model": run.name, "n": len(score), "score": kind, "mean": float(score.mean()),
               "quantiles": {q: float(np.quantile(score, float(q))) for q in ("0.01", "0.1", "0.5", "0.9", "0.99")}}
    _print_json(summary)
    if a.out:
        _save_npz(a.out, score=score, labels=ds.y)
    return 0


def _mask_for(spec: str, ds, seed: int) -> np.ndarray:
    from ..analysis.inversion import mask_pattern

    if spec.lower().endswith((".npy", ".npz", ".h5", ".hdf5")):
        from ..data import read_file

        m = np.asarray(read_file(spec)["x"]).astype(bool)
        if m.shape == ds.x.shape[1:] or m.shape == ds.x.shape:
            return np.broadcast_to(m, ds.x.shape)
        if m.ndim == ds.x.ndim - 1 and m.shape[0] == len(ds) and ds.x.shape[1] == 1:
            return m[:, None]
        raise LatentforgeError(f"--mask {spec}: shape {m.shape} fits neither one example {ds.x.shape[1:]} "
                               f"nor the data {ds.x.shape}")
    return np.broadcast_to(mask_pattern(spec, ds.x.shape[1:], seed=seed), ds.x.shape) if not spec.startswith(
        "random") else np.stack([mask_pattern(spec, ds.x.shape[1:], seed=seed + i) for i in range(len(ds))])


def cmd_inpaint(a) -> int:
    from ..analysis.inversion import inpaint
    from ..api import load

    run = load(a.run_dir)
    ds = run.select(a.data, _resolve_split(run, a), **_data_kw(a))
    if a.limit:
        ds = ds.subset(np.arange(min(a.limit, len(ds))))
    mask = _mask_for(a.mask, ds, a.seed)
    res = inpaint(run, ds, mask, steps=a.steps, lr=a.lr, seed=a.seed)
    # the data given are complete, so the filled region can be scored against them
    miss = res["mask"]
    same = str(a.data) == str(run.data_info.get("source"))
    ref = run.select(a.data, "train", **_data_kw(a)) if same else ds  # the mean image the baseline fills in
    mean_fill = np.broadcast_to(ref.x.mean(0, keepdims=True), ds.x.shape)
    summary = {"model": run.name, "n": len(ds), "mask": a.mask, "missing_fraction": float(miss.mean()),
               "mse_filled_region": float(np.mean((res["filled"] - ds.x)[miss] ** 2)),
               "mse_mean_fill": float(np.mean((mean_fill - ds.x)[miss] ** 2)),
               "fit_error_observed": float(res["error"].mean()), "fit_error_start": float(res["error_start"].mean())}
    _print_json(summary)
    _save_npz(a.out, filled=res["filled"], reconstruction=res["reconstruction"], mask=miss, input=ds.x, z=res["z"],
              labels=ds.y)
    return 0


def cmd_explore(a) -> int:
    from ..analysis import explore
    from ..api import load

    run = load(a.run_dir)
    ds = run.select(a.data, _resolve_split(run, a), **_data_kw(a))
    summary = explore.explore(run, ds, a.out, method=a.method, steps=a.steps,
                              pair=_ints(a.interpolate), sets=_ints(a.arithmetic), param_key=a.param)
    _print_json(summary)
    return 0


def _ints(text: str | None):
    if not text:
        return None
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise LatentforgeError(f"expected comma-separated integers, got {text!r}") from None


def cmd_report(a) -> int:
    from ..analysis.report import write_report
    from ..api import load

    run = load(a.run_dir)
    path = write_report(run, a.data, a.out, k=a.k, baselines=not a.no_baselines)
    print(path)
    return 0


def cmd_simulate(a) -> int:
    import time

    from ..data.simulators import ShowerSimulator, write_showers

    if not a.out.lower().endswith((".h5", ".hdf5")):
        raise LatentforgeError(f"--out {a.out}: give a file name ending in .h5")
    if a.what == "spectra":
        return _simulate_spectra(a)
    t0 = time.perf_counter()
    data = ShowerSimulator(seed=a.seed, deposits_per_gev=a.deposits_per_gev).simulate(
        a.n, a.particle, tuple(a.energy_range))
    seconds = time.perf_counter() - t0
    write_showers(a.out, data)
    print(json.dumps({"file": a.out, "n": a.n, "particle": a.particle, "energy_range_gev": a.energy_range,
                      "ms_per_shower": round(1000 * seconds / a.n, 3),
                      "mean_response": float((data["showers"].sum(1) / data["incident_energies"][:, 0]).mean())}))
    return 0


def _simulate_spectra(a) -> int:
    import time

    from ..data.simulators import SpectrumSimulator, write_spectra

    if a.n < 1:
        raise LatentforgeError("-n must be at least 1")
    t0 = time.perf_counter()
    sim = SpectrumSimulator(n_pix=a.pixels, snr_range=tuple(a.snr_range), seed=a.seed)
    data = sim.simulate(a.n, outlier_fraction=a.outlier_fraction)
    seconds = time.perf_counter() - t0
    write_spectra(a.out, data)
    print(json.dumps({"file": a.out, "n": a.n, "pixels": a.pixels, "wavelength_range": [
        round(float(sim.wavelength[0]), 1), round(float(sim.wavelength[-1]), 1)], "snr_range": a.snr_range,
        "masked_fraction": round(float(data["mask"].mean()), 4), "broad_line": int(data["broad_line"].sum()),
        "ms_per_spectrum": round(1000 * seconds / a.n, 3)}))
    return 0


def cmd_evaluate(a) -> int:
    from ..api import load

    run = load(a.run_dir)
    split = _resolve_split(run, a)
    out = run.evaluate(a.data, split, seed=a.seed, k=a.k, **_data_kw(a))
    if a.baselines:
        from ..analysis.baselines import baseline_table

        full = run.select(a.data, "all", **_data_kw(a))
        train = run.select(full, "train") if split == "test" else full
        clf = run.feature_classifier(full) if run.family in ("vae", "gan") and full.y is not None else None
        out["baselines"] = baseline_table(run, train, run.select(full, split), seed=a.seed, classifier=clf)
    _print_json(out)
    return 0


def cmd_info(a) -> int:
    from ..api import load

    _print_json(load(a.run_dir).info())
    return 0


def cmd_datasets(a) -> int:
    from ..data import dataset_table

    rows = dataset_table()
    if a.json:
        _print_json(rows)
        return 0
    print(f"{'name':<15}{'examples':>9}  {'shape':<11}{'installed':<10} source / licence")
    for r in rows:
        print(f"{r['name']:<15}{r['examples']:>9}  {'x'.join(map(str, r['shape'])):<11}"
              f"{'yes' if r['available'] else 'no':<10} {r['source']}")
        print(f"{'':<45} licence: {r['licence']}" + (f"; install: {r['install']}" if "install" in r else ""))
    print("\nFiles work too: --data PATH with .npy, .npz, .h5/.hdf5 (--key NAME) or MNIST idx (optionally .gz).")
    return 0


def cmd_demo(a) -> int:
    if a.spectra:
        from ..spectra_demo import run_spectra_demo

        run_spectra_demo(out=a.out or "latentforge-demo-spectra", n=a.n, pixels=a.pixels, epochs=a.epochs or 40,
                         seed=a.seed, progress=not a.no_progress)
        return 0
    from ..demo import run_demo

    run_demo(out=a.out or "latentforge-demo", data=a.data, epochs=a.epochs or 30, progress=not a.no_progress,
             overwrite=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentforge",
                                description="Autoencoders, VAEs and GANs for scientists. "
                                            "`latentforge COMMAND --help` explains each command.")
    from .. import __version__

    p.add_argument("--version", action="version", version=f"latentforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("train", help="train a model: latentforge train MODEL --data DATA --out RUN_DIR", add_help=False)

    def run_cmd(name: str, help_text: str, out: bool = True, split: str = "all"):
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `latentforge train`")
        _data_flags(sp)
        _split_flag(sp, split)
        if out:
            sp.add_argument("--out", required=True, help="output .npz file")
        return sp

    run_cmd("encode", "encode DATA to latent codes (npz key z, plus labels)").set_defaults(fn=cmd_encode)
    r = run_cmd("reconstruct", "reconstruct DATA (npz keys reconstruction, input); with --samples K a VAE gives "
                               "the predictive mean and std (npz keys mean, std)")
    r.add_argument("--samples", type=int, default=0,
                   help="VAE: draw K latents from q(z|x) and write the predictive mean and std, the std "
                        "including the decoder's own sigma (default: 0, the posterior-mean reconstruction)")
    r.add_argument("--with-data", action="store_true",
                   help="VAE with a Gaussian decoder, data with per-point sigma: the posterior mean and std of the "
                        "noiseless signal given the data (decoder mean and sigma as prior, each measurement with "
                        "its sigma as likelihood; --samples latent draws, default 50)")
    r.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default: 0)")
    r.add_argument("--condition", help="conditional models: a class label or comma-separated parameters "
                                       "(default: the data's own labels / parameters)")
    r.set_defaults(fn=cmd_reconstruct)
    sm = sub.add_parser("sample", help="generate data from a VAE's prior or a GAN's generator (npz key samples, "
                                       "and a PNG grid)",
                        description="Draw z ~ N(0, I), decode, write FILE.npz and, for images, FILE.png.")
    sm.add_argument("run_dir", metavar="RUN_DIR")
    sm.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    sm.add_argument("--out", required=True, help="output .npz file; the PNG grid goes beside it")
    sm.add_argument("--condition", help="conditional models: a class label (e.g. 3) or comma-separated parameters")
    sm.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    sm.set_defaults(fn=cmd_sample)
    d = run_cmd("denoise", "denoise DATA with a denoising model (npz key denoised)")
    d.add_argument("--add-noise", action="store_true",
                   help="first corrupt DATA the way the model was trained, then denoise; prints PSNRs")
    d.add_argument("--seed", type=int, default=0, help="seed of the added noise (default: 0)")
    d.set_defaults(fn=cmd_denoise)
    sc = run_cmd("score", "GANs: the discriminator's probability that each example of DATA is real (a realism / "
                          "anomaly score; a WGAN critic gives its raw score)", out=False, split="all")
    sc.add_argument("--out", help="also write the scores to this .npz file (key score)")
    sc.add_argument("--condition", help="conditional models: a class label or comma-separated parameters "
                                        "(default: the data's own labels / parameters)")
    sc.set_defaults(fn=cmd_score)
    e = run_cmd("evaluate", "print metrics as one JSON object: recon_mse; psnr_* for denoising models; elbo, "
                            "nll_iwae, K, kl for VAEs (nats per example)",
                out=False, split="auto")
    e.add_argument("--seed", type=int, default=0, help="seed of evaluation randomness such as corruption")
    e.add_argument("--baselines", action="store_true",
                   help="also fit PCA (reconstruction) and Gaussian / mixture / KDE (samples) to the training "
                        "data and report their metrics beside the model's")
    e.add_argument("--k", type=int, default=1000,
                   help="VAE: importance samples per example for nll_iwae (default: 1000)")
    e.set_defaults(fn=cmd_evaluate)
    ip = run_cmd("inpaint", "fill masked points from the decoder: optimise the latent vector against the observed "
                            "points only (npz keys filled, reconstruction, mask, z); prints how the filled region "
                            "compares with a mean-fill", split="auto")
    ip.add_argument("--mask", required=True,
                    help="a mask file (.npy / .npz, True = missing; one example's shape or the data's) or a "
                         "pattern: bottom, top, left, right, center:K, random:P")
    ip.add_argument("--steps", type=int, default=300, help="optimiser steps on the latent vector (default: 300)")
    ip.add_argument("--lr", type=float, default=0.05, help="its learning rate (default: 0.05)")
    ip.add_argument("--limit", type=int, default=0, help="use only the first N examples (default: all)")
    ip.add_argument("--seed", type=int, default=0, help="seed for random masks (default: 0)")
    ip.set_defaults(fn=cmd_inpaint)
    ex = run_cmd("explore", "latent-space pictures: scatter, traversal, interpolation, arithmetic, probe direction",
                 out=False, split="auto")
    ex.add_argument("--out", required=True, help="output folder for the PNGs, latents (.npz) and summary.json")
    ex.add_argument("--method", choices=("pca", "tsne"), default="pca",
                    help="projection for latent spaces of more than 2 dimensions (default: pca)")
    ex.add_argument("--steps", type=int, default=10, help="interpolation steps (default: 10)")
    ex.add_argument("--interpolate", help="two example indices I,J to interpolate between (default: the first "
                                          "two examples of different classes)")
    ex.add_argument("--arithmetic", help="three class labels A,B,C: decode mean(A) - mean(B) + mean(C) "
                                         "(default: the first three classes)")
    ex.add_argument("--param", help="name of a per-example parameter for the probe: an array in the data file "
                                    "(npz key / HDF5 dataset), or 'labels' (default: the labels)")
    ex.set_defaults(fn=cmd_explore)
    rp = sub.add_parser("report", help="write report.html: one self-contained page with config, curves, "
                                       "reconstructions, samples, latent plots, metrics and baselines")
    rp.add_argument("run_dir", metavar="RUN_DIR")
    rp.add_argument("--data", help="data to measure on (default: the run's training data; its test split)")
    rp.add_argument("--out", help="output file (default: RUN_DIR/report.html)")
    rp.add_argument("--k", type=int, default=200, help="VAE: importance samples for nll_iwae (default: 200)")
    rp.add_argument("--no-baselines", action="store_true", help="skip the classical baselines table")
    rp.set_defaults(fn=cmd_report)
    sim = sub.add_parser("simulate", help="run a built-in simulator: `simulate showers` writes calorimeter showers "
                                          "(CaloChallenge-style HDF5); `simulate spectra` galaxy spectra with "
                                          "per-pixel sigma, masks, clean truth and parameters")
    sim.add_argument("what", choices=("showers", "spectra"), help="the simulator")
    sim.add_argument("-n", type=int, default=10000, help="number of showers or spectra (default: 10000)")
    sim.add_argument("--particle", choices=("e+", "gamma", "pi+"), default="e+", help="showers: incident particle")
    sim.add_argument("--pixels", type=int, default=2048,
                     help="spectra: pixels of the log-wavelength grid, 3800-9200 Å (default: 2048)")
    sim.add_argument("--snr-range", type=float, nargs=2, default=(3.0, 40.0), metavar=("LOW", "HIGH"),
                     help="spectra: median S/N per pixel, log-uniform (default: 3 40)")
    sim.add_argument("--outlier-fraction", type=float, default=0.0,
                     help="spectra: share of broad-line objects, flagged in broad_line (default: 0)")
    sim.add_argument("--energy-range", type=float, nargs=2, default=(1.0, 100.0), metavar=("LOW", "HIGH"),
                     help="incident energies, log-uniform, in GeV (default: 1 100)")
    sim.add_argument("--deposits-per-gev", type=int, default=400, help="Monte-Carlo deposits per GeV (default: 400)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", required=True, help="output .h5 file")
    sim.set_defaults(fn=cmd_simulate)
    i = sub.add_parser("info", help="describe a run: model, parameters, config, training result")
    i.add_argument("run_dir", metavar="RUN_DIR")
    i.set_defaults(fn=cmd_info)
    ds = sub.add_parser("datasets", help="list the built-in datasets with size, shape, source and licence")
    ds.add_argument("--json", action="store_true", help="print JSON")
    ds.set_defaults(fn=cmd_datasets)
    dm = sub.add_parser("demo", help="train autoencoders and a VAE on built-in MNIST digits, evaluate them and "
                                     "write their plots")
    dm.add_argument("--out", help="run directory (default: latentforge-demo, with --spectra "
                                  "latentforge-demo-spectra)")
    dm.add_argument("--data", default="mnist", help="built-in dataset (default: mnist)")
    dm.add_argument("--epochs", type=int, help="epochs per model (default: 30; with --spectra 40)")
    dm.add_argument("--spectra", action="store_true",
                    help="the spectra story instead: simulate galaxy spectra, train spectrum-vae, measure denoising, "
                         "calibration, inpainting, latent probes and outlier detection; summary.md + plots")
    dm.add_argument("-n", type=int, default=3000, help="--spectra: number of simulated spectra (default: 3000)")
    dm.add_argument("--pixels", type=int, default=2048, help="--spectra: pixels per spectrum (default: 2048)")
    dm.add_argument("--seed", type=int, default=0, help="--spectra: seed of the simulation, split and training "
                                                        "(default: 0)")
    dm.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    dm.set_defaults(fn=cmd_demo)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"latentforge: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _one_line_warning
    try:
        if argv and argv[0] == "train":
            return cmd_train(argv[1:])
        parser = build_parser()
        a = parser.parse_args(argv)
        if not getattr(a, "fn", None):
            parser.print_help()
            return 0 if not argv else 2
        return a.fn(a)
    except LatentforgeError as e:
        print(f"latentforge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
