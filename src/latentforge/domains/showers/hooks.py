"""What the shower domain adds to the core's registries (``register`` is called once, by ``domains.load``)."""

from __future__ import annotations

import numpy as np

from ...analysis.hooks import DATA_KINDS, REPORT_SECTIONS, TRANSLATION_MEASURES, DataKind, TranslationMeasure
from ...analysis.validations import VALIDATIONS, Validation
from ...catalog import MODELS, WGAN_GP, ModelSpec
from ...data.files import add_data_keys
from ...data.records import INFO_KEYS, InfoKey
from ...hooks import SIMULATORS, Simulator
from ...io.writers import LAYOUT_WRITERS, VALUE_NAMES

#: calogan's game: WGAN-GP with Adam (0, 0.9) at 5e-4 and 2 critic steps per generator step, the energy-regression
#: term at weight 0.2 (benchmarks/wgan_showers.py: at 1e-4 and 5 critic steps the response is still 30 of its
#: standard deviations off after 100 generator steps; at these, within one. The term's minimum is a shower of zero
#: spread: at weight 1 the generated resolution was 0.33-0.88x the simulator's, at 0.2 0.87-1.02x, 5000 e+)
CALOGAN_GAME = {**WGAN_GP, "lr_g": 5e-4, "lr_d": 5e-4, "n_critic": 2, "energy_weight": 0.2, "sample_every": 0}


def _applies(run, ds) -> str | None:
    from .files import is_shower_file

    if not is_shower_file(ds.source):
        return ""
    if not run.can("sampling"):
        return "the shower validation compares generated with reference showers; this model cannot generate"
    if "geometry" not in ds.info:
        from .files import unknown_geometry

        return unknown_geometry(int(np.prod(ds.example_shape)))
    return None


def _measure(run, full, split, *, seed=0):
    from .validation import shower_validation

    return shower_validation(run, run.select(full, split), seed=seed)


def _report(run, test, metrics: dict, *, seed: int = 0) -> list[str]:
    result = metrics.get("showers")
    if not (isinstance(result, dict) and "auc" in result):
        return []
    from .report import shower_sections

    return shower_sections(run, test, result, seed=seed)


def register() -> None:
    """Register the layout and scalings (at import of their modules), the model, the validation, the figures,
    the report sections, the writers and the simulator."""
    # layer_log, layers, layout, scaling and stream register themselves at import
    from . import commands, kind, layer_log, layers, layout, scaling, stream, translation, writers  # noqa: F401
    from .gan_model import CaloGAN
    from .gan_objective import CaloGANObjective
    from .flow_model import ShowerFlowVAE
    from .flow_objective import ShowerFlowObjective

    MODELS.register("shower-flow-vae", ModelSpec(
        "shower-flow-vae", ShowerFlowVAE, ShowerFlowObjective,
        "two-stage calorimeter-shower surrogate: an autoregressive mixture density network of the layer "
        "energies (u-space) given the condition, then a free-bits cVAE of the cells as fractions of their "
        "layer (each cell a compound Poisson-Gamma reading whose noise scales with the deposit; codes from "
        "a Gaussian mixture), rescaled to the sampled layer energies; "
        "cells below the readout threshold are exactly 0",
        train_defaults={"scaling": "shower-layers", "lr": 1e-3, "batch_size": 256, "epochs": 100,
                        "lr_schedule": "cosine"}))
    MODELS.register("calogan", ModelSpec(
        "calogan", CaloGAN, CaloGANObjective,
        "CaloGAN's calorimeter-shower GAN (Paganini et al. 2018) as a WGAN-GP: per-layer generator heads with "
        "a tanh-bounded ReLU output (exact zeros) on the layer-log scaling, a critic with energy features and "
        "minibatch discrimination, an energy-regression term on E_total / E_inc; conditioned on E_inc and "
        "particle",
        objective_defaults=CALOGAN_GAME,
        # the recipe benchmarks/wgan_showers.py measured (README): 30 epochs of batch 128, cosine learning rate
        train_defaults={"scaling": "layer-log", "epochs": 30, "batch_size": 128, "lr_schedule": "cosine"}))
    VALIDATIONS.register("showers", Validation(
        "CaloChallenge-style observables, separation power, classifier AUC, response", _applies, _measure))
    DATA_KINDS.register("showers", DataKind(kind.detects, kind.reconstructions, kind.samples, kind.energy_unit))
    REPORT_SECTIONS.register("showers", _report)
    VALUE_NAMES.register("showers", writers.cell_names)
    LAYOUT_WRITERS.register("showers", writers.write_layout)
    INFO_KEYS.register("energy_unit", InfoKey(names_only=False))  # the unit the cells are generated in
    INFO_KEYS.register("file_layout", InfoKey())
    INFO_KEYS.register("geometry", InfoKey(to_json=lambda g: g.to_dict()))
    TRANSLATION_MEASURES.register("showers", TranslationMeasure(
        translation.concerns, translation.measure, translation.figure))
    SIMULATORS.register("showers", Simulator(
        "writes calorimeter showers (CaloChallenge-style HDF5)", commands.add_flags, commands.simulate))
    add_data_keys("showers")
