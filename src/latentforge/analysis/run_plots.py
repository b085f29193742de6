"""The plots written into a run directory after training (names from ``io.RunLayout``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.modes import MODE_BENCHMARKS
from ..io import RunLayout
from .figures import sample_grid_figure
from .plots import comparison_grid, gan_curves, generator_loss_curves, latent_scatter, loss_curve, save_figure


def write_run_plots(run, ds, layout: RunLayout, n: int = 10, *, held_out: bool = True) -> list[Path]:
    """loss.png; for models with an encoder reconstructions.png and (with labels) latent.png; for models that
    sample from images samples.png; for models that sample a 2-D mode-collapse benchmark modes.png; for a GAN with a
    discriminator (not a critic) generator_losses.png.
    ``ds``: raw examples, held out from training (the test split) unless ``held_out`` is False (every row
    trained on), as the titles say."""
    paths = []

    def put(fig, path: Path) -> None:
        save_figure(fig, path)
        paths.append(path)

    if run.history:
        adversarial = "d_loss" in run.history[0]
        put(gan_curves(run.history) if adversarial else loss_curve(run.history), layout.loss_plot)
    if run.can("encoding"):
        shown = ds.subset(np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).astype(int)))  # spread over the set
        x = shown.x[:n]
        rows = {"input": x}
        if run.can("corrupting"):
            noisy = run.add_noise(x, seed=run.train_config.seed)
            rows.update(noisy=noisy, denoised=run.reconstruct(noisy))
        else:
            rows["reconstruction"] = run.reconstruct(shown)
        shown_as = "held-out" if held_out else "training"
        put(comparison_grid(rows, n=n, title=f"{run.name}: {shown_as} examples"), layout.reconstructions_plot)
        if ds.y is not None:
            put(latent_scatter(run.encode(ds), ds.y, title=f"{run.name} codes"), layout.latent_plot)
    if run.can("sampling") and len(run.input_shape) == 3:
        put(sample_grid_figure(run, seed=run.train_config.seed), layout.samples_plot)
    if run.can("sampling") and ds.source in MODE_BENCHMARKS:
        from .modes import mode_validation

        paths.append(Path(mode_validation(run, ds, seed=run.train_config.seed)["figure"]))
    if run.can("scoring") and not run.objective.game.critic:
        put(generator_loss_curves(), layout.generator_losses_plot)
    return paths
