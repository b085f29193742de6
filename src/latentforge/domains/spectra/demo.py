"""``latentforge demo --spectra``: the spectra story end to end on a small simulated set.

1. simulate galaxy spectra (per-pixel sigma, masks, clean truth, parameters) and a second set with
   broad-line objects mixed in;
2. train ``spectrum-vae`` on the first (its seeded train / validation / test split);
3. measure on the held-out test split: denoising against Savitzky-Golay and PCA per S/N bin, calibration of
   the predictive intervals, inpainting of masked pixels, linear probes of the latent space and a walk
   along the line-strength direction, and the outlier AUC on the second set;
4. write ``summary.json``, ``summary.md`` and the PNG plots into the output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .validation import analyse_spectra, markdown_summary
from ...run import train
from .simulator import SpectrumSimulator, write_spectra
from ...io import write_json

SPECTRA_DEMO_MODEL = dict(latent_dim=8, lr=2e-3, batch_size=32)


def run_spectra_demo(out: str | Path = "latentforge-demo-spectra", *, n: int = 3000, pixels: int = 2048,
                     epochs: int = 40, n_outliers: int = 400, seed: int = 0, progress: bool = True,
                     threads: int = 0, device: str = "cpu") -> dict:
    """``latentforge demo --spectra``: simulate, train ``spectrum-vae``, measure on held-out spectra, write
    ``summary.json`` / ``summary.md`` and the plots; returns the result dict. ``device``: where the network trains
    and is measured (cpu, cuda, mps or auto)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, outliers = out / "spectra.h5", out / "outliers.h5"
    print(f"latentforge spectra demo: {n} simulated galaxy spectra of {pixels} pixels, {epochs} epochs")
    print("[1/3] simulating spectra and a set with broad-line objects")
    write_spectra(data, SpectrumSimulator(n_pix=pixels, seed=seed).simulate(n))
    write_spectra(outliers, SpectrumSimulator(n_pix=pixels, seed=seed + 1).simulate(n_outliers, outlier_fraction=0.25))
    print("[2/3] training spectrum-vae (per-pixel sigma and mask in the likelihood, median normalisation)")
    t1 = time.perf_counter()
    # the default precision: auto keeps spectrum-vae in fp32 on every machine (the model declares bf16 unsafe)
    run = train("spectrum-vae", str(data), out=out / "spectrum-vae", epochs=epochs, patience=0, seed=seed,
                progress=progress, overwrite=True, threads=threads, device=device, **SPECTRA_DEMO_MODEL).to(device)
    train_s = time.perf_counter() - t1
    print("[3/3] measuring on the held-out spectra")
    result = analyse_spectra(run, str(data), out, outliers=str(outliers), seed=seed)
    result["seconds"] = {"total": round(time.perf_counter() - t0, 1), "training": round(train_s, 1)}
    result["settings"] = {"n": n, "pixels": pixels, "epochs": epochs, "n_outliers": n_outliers, "seed": seed,
                          **SPECTRA_DEMO_MODEL}
    write_json(out / "summary.json", json.loads(json.dumps(result, default=float)))
    md = markdown_summary(result) + f"\nTotal time {result['seconds']['total']} s (training {train_s:.1f} s).\n"
    (out / "summary.md").write_text(md)
    print(md)
    print(f"plots and summary in {out}/ (summary.md, summary.json, spectra_*.png)")
    return result
