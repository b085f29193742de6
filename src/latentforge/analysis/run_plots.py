"""The plots written into a run directory after training (names from ``io.RunLayout``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import RunLayout
from .hooks import RUN_PLOTS
from .figures import sample_grid_figure
from .kind_figures import reconstruction_figures
from .plots import gan_curves, generator_loss_curves, latent_scatter, loss_curve, save_figure


def loss_axis_label(run) -> str:
    """The y label of a run's training curve: what its loss is, in which unit and space."""
    oc = run.info().get("objective_config", {})
    if run.can("posterior"):
        beta = oc.get("beta", 1.0)
        weighted = "" if beta in (None, 1, 1.0) else f", KL weighted by beta = {beta:g}"
        return f"-ELBO (nats per example{weighted}, scaled space)"
    return "loss per example (scaled space)"


def write_run_plots(run, ds, layout: RunLayout, n: int = 10, *, held_out: bool = True) -> list[Path]:
    """loss.png; for models with an encoder reconstructions.png, for tables residuals.png, and (with labels)
    latent.png; for models that sample samples.png; for models that sample a 2-D mode-collapse benchmark modes.png;
    for a GAN with a discriminator (not a critic) generator_losses.png. Each drawn for the data's kind
    (``kind_figures``). ``ds``: raw examples, held out from training (the test split) unless ``held_out`` is False
    (every row trained on), as the titles say."""
    paths = []

    def put(fig, path: Path) -> None:
        save_figure(fig, path)
        paths.append(path)

    if run.history:
        adversarial = "d_loss" in run.history[0]
        put(gan_curves(run.history) if adversarial else loss_curve(run.history, ylabel=loss_axis_label(run)),
            layout.loss_plot)
    if run.can("encoding"):
        shown_as = "held-out" if held_out else "training"
        if run.can("corrupting"):
            from .plots import comparison_grid

            shown = ds.subset(np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).astype(int)))
            noisy = run.add_noise(shown.x, seed=run.train_config.seed)
            rows = {"input": shown.x, "noisy": noisy, "denoised": run.reconstruct(noisy)}
            put(comparison_grid(rows, n=n, title=f"{run.name}: {shown_as} examples"), layout.reconstructions_plot)
        else:
            figures = reconstruction_figures(run, ds, seed=run.train_config.seed, what=shown_as)
            for (fig, _), path in zip(figures, (layout.reconstructions_plot, layout.residuals_plot)):
                put(fig, path)
        if ds.y is not None:
            put(latent_scatter(run.encode(ds), ds.y, title=f"{run.name} codes"), layout.latent_plot)
    if run.can("sampling"):
        put(sample_grid_figure(run, seed=run.train_config.seed, data=ds), layout.samples_plot)
    for _, extra in RUN_PLOTS.items():
        paths += [Path(p) for p in extra(run, ds)]
    if run.can("scoring") and not run.objective.game.critic:
        put(generator_loss_curves(), layout.generator_losses_plot)
    return paths
