"""One contract for every catalogue model (in the manner of diffusers' ModelTesterMixin): a tiny, untrained
instance of each gives the output shapes its capabilities promise, a finite loss with a gradient for every
parameter that should get one, the same numbers for the same seed, and identical outputs after save -> load.
Training quality is tested elsewhere; this suite runs untrained and in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.data import Conditioner, Scaler
from latentforge.models import Decodes, Discriminates, Encodes, HasPosterior, HasPrior, Translates
from latentforge.run import Preprocessor, TrainedModel

IMG = (1, 8, 8)
SPEC = (96,)
#: a tiny configuration and example shape for every catalogue name
TINY = {
    "ae": ({"hidden": (16,), "latent_dim": 3}, IMG),
    "linear-ae": ({"latent_dim": 3}, IMG),
    "tied-ae": ({"hidden": (16,), "latent_dim": 3}, IMG),
    "conv-ae": ({"channels": (4, 8), "latent_dim": 3}, IMG),
    "denoising-ae": ({"hidden": (16,), "latent_dim": 4}, IMG),
    "denoising-conv-ae": ({"channels": (4,), "latent_dim": 4}, IMG),
    "sparse-ae": ({"hidden": (16,), "latent_dim": 8}, IMG),
    "vae": ({"hidden": (16,), "latent_dim": 3}, IMG),
    "conv-vae": ({"channels": (4, 8), "latent_dim": 3}, IMG),
    "cvae": ({"hidden": (16,), "latent_dim": 3, "condition_dim": 3}, IMG),
    "beta-tcvae": ({"hidden": (16,), "latent_dim": 3, "dataset_size": 100}, IMG),
    "spectrum-vae": ({"latent_dim": 3, "channels": (4, 8), "hidden": (16, 32), "wave_min": 4000.0,
                      "wave_max": 8000.0, "max_redshift": 0.1}, SPEC),
    "gan": ({"g_hidden": (16,), "d_hidden": (16,), "latent_dim": 4}, IMG),
    "dcgan": ({"g_channels": 4, "d_channels": 4, "latent_dim": 4}, IMG),
    "wgan-gp": ({"g_hidden": (16,), "d_hidden": (16,), "latent_dim": 4}, IMG),
    "conv-wgan-gp": ({"g_channels": 4, "d_channels": 4, "latent_dim": 4}, IMG),
    "cgan": ({"g_hidden": (16,), "d_hidden": (16,), "latent_dim": 4, "condition_dim": 3}, IMG),
    "cyclegan": ({"g_hidden": (16,), "d_hidden": (16,)}, IMG),
    "calogan": ({"layer_cells": (4, 2), "layer_eps": (0.01, 0.02), "layer_hi": (2.0, 3.0), "g_hidden": (16,),
                 "head_hidden": 8, "d_hidden": (16,), "latent_dim": 4, "minibatch_features": 4, "condition_dim": 3},
                (6,)),
    "shower-flow-vae": ({"layer_cells": (4, 2), "u_mean": (-1.0, 0.5), "u_std": (0.2, 1.5), "hidden": (16,),
                         "energy_hidden": (8,), "latent_dim": 3, "condition_dim": 3}, (2 + 6,)),
}
B = 5


def test_every_catalogue_name_has_a_contract():
    assert set(TINY) == set(lf.MODELS.names())


def build(name, seed=0):
    opts, shape = TINY[name]
    torch.manual_seed(seed)
    return lf.build(name, shape, **opts)


def batch_for(name, model, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = TINY[name][1]
    x = torch.rand(B, *shape, generator=g)
    b = {"x": x}
    if name == "spectrum-vae":  # spectra carry measurement errors and masks
        b["x"] = 1.0 + 0.1 * x
        b["sigma"] = torch.full_like(x, 0.05)
        b["mask"] = torch.rand(B, *shape, generator=g) < 0.05
    if model.conditional:
        b["c"] = torch.eye(model.condition_dim)[torch.arange(B) % model.condition_dim]
    if isinstance(model, Translates):  # a second, unpaired domain
        b["x_b"] = torch.rand(B, *shape, generator=g)
    return b


@pytest.mark.parametrize("name", sorted(TINY))
def test_outputs_have_the_promised_shapes(name):
    model, _ = build(name)
    model.eval()
    b = batch_for(name, model)
    c = b.get("c")
    shape = (B, *TINY[name][1])
    with torch.no_grad():
        if isinstance(model, Encodes):
            z = model.encode(b["x"], c)
            assert z.shape == (B, model.latent_dim) and torch.isfinite(z).all()
        z = torch.randn(B, model.latent_dim)
        if isinstance(model, Decodes):
            assert model.decode(z, c).shape == shape
        if isinstance(model, HasPosterior):
            q = model.encode_dist(b["x"], c)
            assert q.mean.shape == q.std.shape == (B, model.latent_dim) and q.kl().shape == (B,)
            p = model.decode_dist(z, c)
            assert p.mean.shape == p.stddev.shape == shape
            assert p.log_prob(b["x"], b.get("sigma"), b.get("mask")).shape == (B,)
        if isinstance(model, HasPrior):
            assert model.sample(B, c, torch.Generator().manual_seed(0)).shape == shape
        if isinstance(model, Discriminates):
            assert model.discriminate(b["x"], c).shape == (B,)
        if isinstance(model, Translates):
            for direction in ("a_to_b", "b_to_a"):
                assert model.translate(b["x"], direction).shape == shape


def losses(name, model, objective, b):
    """The loss of each player on one batch: {player: loss}."""
    g = torch.Generator().manual_seed(1)
    if isinstance(model, Discriminates):
        return {"d": objective.discriminator_terms(model, b, g)["loss"],
                "g": objective.generator_terms(model, b, g)["loss"]}
    if isinstance(model, Translates):
        gen = objective.generator_terms(model, b, g)
        return {"d": objective.discriminator_terms(model, b, gen["fake_a"], gen["fake_b"], g)["loss"],
                "g": gen["loss"]}
    return {"model": objective(model, b, g)["loss"]}


@pytest.mark.parametrize("name", sorted(TINY))
def test_finite_loss_and_a_gradient_for_every_trained_parameter(name):
    model, objective = build(name)
    model.train()
    players = {p.name: p for p in objective.players(model, lf.TrainConfig())}
    trained = [p for p in model.parameters() if p.requires_grad]
    owned = [p for pl in players.values() for p in pl.module.parameters()]
    # the players' parameter groups cover every trainable parameter exactly once
    assert sorted(map(id, owned)) == sorted(map(id, trained))
    for player, loss in losses(name, model, objective, batch_for(name, model)).items():
        assert torch.isfinite(loss), (player, loss)
        model.zero_grad(set_to_none=True)
        loss.backward()
        params = list(players[player].module.named_parameters())
        missing = [n for n, p in params if p.grad is None or not torch.isfinite(p.grad).all()]
        assert not missing, (player, missing)
        assert any(p.grad.abs().sum() > 0 for _, p in params)


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_seed_same_numbers(name):
    (m1, o1), (m2, o2), (m3, _) = build(name, 0), build(name, 0), build(name, 1)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1 if s1[k].is_floating_point())
    l1 = losses(name, m1.eval(), o1, batch_for(name, m1))
    l2 = losses(name, m2.eval(), o2, batch_for(name, m2))
    assert all(torch.equal(l1[k], l2[k]) for k in l1)


def trained_model(name) -> TrainedModel:
    model, objective = build(name)
    shape = TINY[name][1]
    conditioner = Conditioner("label").fit(np.arange(3)) if model.conditional else None
    pre = Preprocessor(Scaler("minmax").fit(np.array([0.0, 2.0])), conditioner, shape, val_fraction=0.1,
                       test_fraction=0.1, seed=0)
    return TrainedModel.compose(name, model, objective, pre, lf.TrainConfig())


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_load_gives_identical_outputs(name, tmp_path):
    run = trained_model(name)
    # the oldest safetensors the project supports (0.4.0) cannot read a tensor of no elements back
    assert not [k for k, v in run.model.state_dict().items() if v.numel() == 0]
    run.save(tmp_path / name)
    back = lf.load(tmp_path / name)
    assert back.methods() == run.methods()
    x = np.random.default_rng(0).uniform(0, 2, size=(B, *TINY[name][1])).astype(np.float32)
    cond = np.arange(B) % 3 if run.conditional else None
    z = np.random.default_rng(1).normal(size=(B, run.model.latent_dim)).astype(np.float32)
    for method, cap, args in (("encode", "encoding", (x, cond)), ("reconstruct", "encoding", (x, cond)),
                              ("decode", "decoding", (z, cond)), ("score", "scoring", (x, cond)),
                              ("translate", "translating", (x, "a_to_b")), ("translate", "translating", (x, "b_to_a"))):
        if run.can(cap):
            np.testing.assert_array_equal(getattr(back, method)(*args), getattr(run, method)(*args))
    if run.can("sampling"):
        np.testing.assert_array_equal(back.sample(B, cond, seed=3), run.sample(B, cond, seed=3))


@pytest.mark.parametrize("name", sorted(TINY))
def test_missing_capabilities_are_refused_by_name(name):
    run = trained_model(name)
    for method, cap in (("encode", "encoding"), ("sample", "sampling"), ("score", "scoring"),
                        ("predict", "posterior"), ("add_noise", "corrupting"), ("translate", "translating")):
        if not run.can(cap):
            assert not hasattr(run, method)
            with pytest.raises(lf.CapabilityError, match=f"{method} needs"):
                getattr(run, method)


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_saved_config_replays_as_options(name):
    # what a run's config.json holds must be options of its model again (resume and --config read it back):
    # every field filled from the data is marked so, and left out
    from latentforge.run.replay import options_from_config

    model, objective = build(name)
    spec = lf.MODELS.get(name)
    cfg = {"model": name, "model_config": model.config.to_dict(), "objective_config": objective.config.to_dict()}
    got, _, options = options_from_config(cfg)
    assert got == name
    from latentforge.config import filled_from_data

    filled = filled_from_data(spec.model_config_class) | filled_from_data(spec.objective_config_class)
    assert not filled & set(options)  # values the data fills in are not replayed as options
    again = {k: v for k, v in options.items() if k not in lf.TrainConfig.field_names()}
    again.update({k: v for k, v in TINY[name][0].items() if k in filled})  # the data fills them in again
    m, o = spec.configs(TINY[name][1], **again)
    assert m.to_dict() == model.config.to_dict() and o.to_dict() == objective.config.to_dict()
