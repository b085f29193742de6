"""The main job: autoencoders and a VAE on built-in MNIST digits, evaluated, with plots.

1. ``ae-2d``: a 784-256-64-2 autoencoder; its 2-D codes coloured by digit (latent.png).
2. ``ae-16d`` and ``vae-16d``: the same MLP with a 16-D code, trained as an autoencoder and as a VAE;
   decoding the same random vectors z ~ N(0, I) shows the classic difference (ae_vs_vae_random_codes.png):
   the VAE was trained to make its prior decode to data and gives digits; nothing tied the autoencoder's
   codes to N(0, I), and it gives smudges.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .analysis import save_figure
from .analysis.plots import random_code_comparison
from .analysis.report import write_report
from .io import RunLayout
from .run import train


def run_demo(out: str = "latentforge-demo", data: str = "mnist", epochs: int = 30, progress: bool = True,
             overwrite: bool = True, device: str = "cpu"):
    """The main job: train ``ae-2d``, ``ae-16d`` and ``vae-16d`` on built-in data, print their test metrics, write
    their plots, the AE-vs-VAE random-code picture and the VAE's report; returns the three runs. ``device``: where
    the networks train and are measured (cpu, cuda, mps or auto)."""
    t0 = time.perf_counter()
    out = Path(out)
    # the default precision, as a user's run: auto trains in fp32 unless bf16 is safe for the model and measured
    # faster on this machine (the choice is printed and kept in each run's config.json)
    common = dict(hidden=(256, 64), epochs=epochs, batch_size=64, lr=2e-3, seed=0, progress=progress,
                  overwrite=overwrite, device=device)
    print(f"latentforge demo on built-in '{data}' ({epochs} epochs per model)")
    print("[1/3] autoencoder with a 2-D code")
    ae2 = train("ae", data, out=out / "ae-2d", latent_dim=2, **common)
    print("[2/3] autoencoder with a 16-D code")
    ae16 = train("ae", data, out=out / "ae-16d", latent_dim=16, **common)
    print("[3/3] variational autoencoder with a 16-D latent space")
    vae16 = train("vae", data, out=out / "vae-16d", latent_dim=16, **common)
    for run in (ae2, ae16, vae16):
        run.to(device)  # measured where they trained

    z = np.random.default_rng(0).normal(size=(32, 16)).astype(np.float32)  # the same z ~ N(0, I) for both
    fig = random_code_comparison(ae16.decode(z), vae16.decode(z))
    save_figure(fig, out / "ae_vs_vae_random_codes.png")

    rows = {"ae-2d": ae2.evaluate(data, "test"), "ae-16d": ae16.evaluate(data, "test"),
            "vae-16d": vae16.evaluate(data, "test", k=200)}
    print(f"held-out test split ({rows['ae-2d']['n']} digits):")
    for name, m in rows.items():
        words = [f"reconstruction MSE {m['recon_mse']:.4f}", f"PSNR {m['psnr_recon']:.1f} dB"]
        if "elbo" in m:
            bpd = f" ({m['bits_per_dim']:.3f} bits per pixel)" if m.get("bits_per_dim") is not None else ""
            words += [f"-ELBO {-m['elbo']:.1f} nats per digit in data units",
                      f"NLL (IWAE, K = {m['K']}) {m['nll_iwae']:.1f} nats{bpd}", f"KL {m['kl']:.1f} nats"]
        print(f"  {name:8s}", ", ".join(words))
    print("writing the VAE's report (metrics, baselines, latent pictures) ...")
    report = write_report(vae16, data, k=200, progress=progress)
    print(f"done in {time.perf_counter() - t0:.1f} s. Plots:")
    for p in [RunLayout(out / "ae-2d").latent_plot, RunLayout(out / "ae-2d").reconstructions_plot,
              RunLayout(out / "vae-16d").samples_plot,
              out / "ae_vs_vae_random_codes.png"]:
        print(f"  {p}")
    print(f"report (open it in a browser): {report}")
    print(f"next: latentforge info {out / 'vae-16d'}   |   latentforge sample {out / 'vae-16d'} -n 64 "
          f"--out samples.npz")
    return {"ae-2d": ae2, "ae-16d": ae16, "vae-16d": vae16}


#: the corruption levels of the denoising-filters figure (Vincent et al. 2008 show 0 %, 25 % and 50 %)
FILTER_LEVELS = (0.0, 0.25, 0.5)


def run_filters_demo(out: str = "latentforge-demo-filters", data: str = "mnist", levels=FILTER_LEVELS,
                     epochs: int = 60, units: int = 256, corruption: str = "masking", seed: int = 0,
                     progress: bool = True, device: str = "cpu") -> dict:
    """The denoising autoencoder's filters as corruption grows (Vincent et al. 2008, figure 3): the same one-layer
    network (``units`` sigmoid units; the denoising-ae model with no hidden layer) trained at each corruption level (``masking``: that share of
    the pixels set to 0), its first-layer weights drawn side by side in ``out/filters.png`` with the median
    localisation of each set (``analysis.filters``); ``out/summary.json`` holds the numbers. Returns the summary."""
    from .analysis.filters import filters_figure, first_layer_filters, localisation, strongest
    from .io import write_json

    t0 = time.perf_counter()
    out = Path(out)
    panels, rows, pixel_std = {}, [], None
    for level in levels:
        name = f"corruption-{int(round(100 * level))}"
        print(f"[{len(rows) + 1}/{len(levels)}] denoising autoencoder, {corruption} {100 * level:.0f} %")
        run = train("denoising-ae", data, out=out / name, hidden=(), latent_dim=units, code_activation="sigmoid",
                    corruption=corruption, noise_level=float(level), epochs=epochs, batch_size=32, lr=1e-3,
                    seed=seed, progress=progress, overwrite=True, device=device).to(device)
        if pixel_std is None:  # the same training rows at every level
            pixel_std = run.to_model_space(run.select(data, "train")).numpy().std(0)
        f = first_layer_filters(run.model)
        loc = localisation(f, pixel_std)
        m = run.evaluate(data, "test", seed=seed)
        panels[f"{corruption} {100 * level:.0f} %"] = strongest(f)
        rows.append({"corruption": corruption, "level": level, "localisation_median": float(np.median(loc)),
                     "localisation_mean": float(loc.mean()), "recon_mse": m["recon_mse"],
                     "psnr_gain_db": m["psnr_gain_db"] if level > 0 else None})
        print(json.dumps(rows[-1]))
    save_figure(filters_figure(panels, pixel_std=pixel_std), out / "filters.png")
    summary = {"data": data, "units": units, "epochs": epochs, "levels": rows, "figure": str(out / "filters.png"),
               "seconds": round(time.perf_counter() - t0, 1)}
    write_json(out / "summary.json", summary)
    print(f"done in {summary['seconds']} s: {out / 'filters.png'}")
    return summary
