"""The run directory: the one place that names every file of a run.

    config.json             everything needed to rebuild the model and replay the run (format tag, model name,
                            configs, data description)
    model.safetensors       the inference weights
    transform.json          the preprocessing state (scaling, conditions)
    metrics.jsonl           one JSON object per epoch
    checkpoint.safetensors  resumable training state (weights, optimisers, RNG, epoch), kept apart
    loss.png, reconstructions.png, latent.png, samples.png, generator_losses.png   plots
    modes.png               samples over the true density of a 2-D mode-collapse benchmark
    translation.png         a translator's domain observables before / after translation
    samples/epoch_NNNN.png  GAN sample grids during training
    classifier/             the feature classifier of the sample-quality metrics
    report.html             ``latentforge report``
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run directory's files."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    config = property(lambda self: self.root / "config.json")
    model = property(lambda self: self.root / "model.safetensors")
    transform = property(lambda self: self.root / "transform.json")
    #: hashes of the rows training saw (``data.arrays.row_hashes``), to recognise them in any data set
    training_rows = property(lambda self: self.root / "training_rows.safetensors")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    checkpoint = property(lambda self: self.root / "checkpoint.safetensors")
    loss_plot = property(lambda self: self.root / "loss.png")
    reconstructions_plot = property(lambda self: self.root / "reconstructions.png")
    residuals_plot = property(lambda self: self.root / "residuals.png")
    latent_plot = property(lambda self: self.root / "latent.png")
    samples_plot = property(lambda self: self.root / "samples.png")
    generator_losses_plot = property(lambda self: self.root / "generator_losses.png")
    modes_plot = property(lambda self: self.root / "modes.png")
    translation_plot = property(lambda self: self.root / "translation.png")
    classifier = property(lambda self: self.root / "classifier")
    report = property(lambda self: self.root / "report.html")

    def epoch_samples(self, epoch: int) -> Path:
        return self.root / "samples" / f"epoch_{epoch:04d}.png"


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a metrics.jsonl file; a torn last line (an interrupted write) ends the list."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows
