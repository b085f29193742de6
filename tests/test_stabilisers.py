"""Each GAN stabiliser does what its paper says: R1, one-sided label smoothing, instance noise, the minibatch
standard deviation, minibatch discrimination, separate learning rates (TTUR), DiffAugment; spectral normalisation
and the hinge loss are tested in test_gan.py."""

import math

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.cli.main import main
from latentforge.nn import MinibatchDiscrimination, MinibatchStd
from latentforge.objectives.stabilisers import annealed, cutout, diff_augment, r1_penalty, translation
from latentforge.training import Trainer, TrainConfig

SMALL = {"g_hidden": (16,), "d_hidden": (16,), "latent_dim": 4, "dropout": 0.0}


def gan(shape=(1, 8, 8), seed=0, **opts):
    torch.manual_seed(seed)
    return lf.build("gan", shape, **{**SMALL, **opts})


# ---------------------------------------------------------------------------------------------------- R1
def test_r1_is_the_squared_input_gradient_of_the_discriminator():
    w = torch.tensor([3.0, -4.0])  # D(x) = w . x has gradient w everywhere: ||w||^2 = 25
    x = torch.rand(10, 2)
    assert r1_penalty(lambda h: h @ w, x).item() == pytest.approx(25.0)
    assert r1_penalty(lambda h: (h ** 2).sum(1), x).item() == pytest.approx(float((2 * x).pow(2).sum(1).mean()))


def test_r1_enters_the_discriminator_loss_with_weight_gamma_over_two():
    model, plain = gan(r1_weight=0.0)
    _, with_r1 = gan(r1_weight=4.0)
    model.eval()
    batch = {"x": torch.rand(8, 1, 8, 8)}
    a = plain.discriminator_terms(model, batch, torch.Generator().manual_seed(0))
    b = with_r1.discriminator_terms(model, batch, torch.Generator().manual_seed(0))
    assert "r1" not in a and b["r1"] > 0
    assert (b["loss"] - a["loss"]).item() == pytest.approx(0.5 * 4.0 * b["r1"].item(), rel=1e-5)


def test_r1_keeps_the_discriminator_flat_on_real_data():
    """Trained against the same fixed fakes, a discriminator with R1 has a far smaller input gradient at the real
    data (Mescheder et al. 2018: R1 stops D from growing a steep slope at the data)."""
    g = torch.Generator().manual_seed(0)
    real = 0.5 + 0.02 * torch.randn(256, 2, generator=g)
    norms = {}
    for gamma in (0.0, 10.0):
        # spectral normalisation (on by default) bounds the slope by itself: off, so R1 alone is measured
        model, obj = lf.build("gan", (2,), g_hidden=(8,), d_hidden=(32, 32), latent_dim=2, dropout=0.0,
                              r1_weight=gamma, lr_d=1e-3, spectral_norm=False)
        torch.manual_seed(0)
        tr = Trainer(model, obj, TrainConfig(), progress=False)
        obj.freeze(model, train_d=True)
        for _ in range(150):
            tr.step("d", obj.discriminator_terms(model, {"x": real}, g)["loss"])
        norms[gamma] = r1_penalty(lambda h: model.discriminate(h), real).sqrt().item()
    assert norms[10.0] < 0.3 * norms[0.0], norms


# ---------------------------------------------------------------------------------------------------- label smoothing
def test_one_sided_label_smoothing_moves_only_the_real_target():
    """BCE with target t on a logit a is softplus(-a) + (1 - t) a: smoothing s adds s * mean(a_real), and the
    fake term (target 0) does not change."""
    model, plain = gan()
    _, smooth = gan(label_smoothing=0.2)
    model.eval()
    batch = {"x": torch.rand(8, 1, 8, 8)}
    a = plain.discriminator_terms(model, batch, torch.Generator().manual_seed(0))
    b = smooth.discriminator_terms(model, batch, torch.Generator().manual_seed(0))
    real_logits = model.discriminate(batch["x"])
    assert (b["loss"] - a["loss"]).item() == pytest.approx(0.2 * real_logits.mean().item(), abs=1e-5)


def test_label_smoothing_caps_the_optimal_real_probability():
    from latentforge.objectives import discriminator_bce

    logit = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([logit], lr=0.1)
    for _ in range(500):
        opt.zero_grad()
        discriminator_bce(logit, torch.full((1,), -20.0), 0.9).backward()
        opt.step()
    assert torch.sigmoid(logit).item() == pytest.approx(0.9, abs=1e-3)  # not 1: D is never fully sure


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge", "lsgan"])
def test_label_smoothing_is_refused_where_there_are_no_labels(loss):
    with pytest.raises(lf.ConfigError, match="--label-smoothing.*does nothing|would do nothing"):
        lf.build("gan", (4,), loss=loss, label_smoothing=0.1)


# ---------------------------------------------------------------------------------------------------- instance noise
def test_instance_noise_reaches_every_discriminator_input_while_training_and_anneals():
    model, obj = gan(instance_noise=0.3, instance_noise_epochs=4)
    x = torch.full((4000, 1, 8, 8), 0.5)
    model.train()
    obj.begin_epoch(1)
    noisy = obj.d_input(model, x, torch.Generator().manual_seed(0))
    assert (noisy - x).std().item() == pytest.approx(0.3, rel=0.02)
    obj.begin_epoch(3)
    assert (obj.d_input(model, x, torch.Generator().manual_seed(0)) - x).std().item() == pytest.approx(0.15, rel=0.02)
    obj.begin_epoch(5)
    assert torch.equal(obj.d_input(model, x, torch.Generator().manual_seed(0)), x)  # annealed to zero
    assert [annealed(0.3, e, 4) for e in (1, 2, 5)] == pytest.approx([0.3, 0.225, 0.0])
    obj.begin_epoch(1)
    model.eval()
    assert torch.equal(obj.d_input(model, x, None), x)  # scoring and evaluation see the data as they are


# ---------------------------------------------------------------------------------------------------- minibatch std
def test_minibatch_std_feature_is_the_mean_feature_std_of_the_batch():
    h = torch.tensor([[0.0, 1.0], [2.0, 3.0]])  # population std per feature: 1 and 1
    out = MinibatchStd()(h)
    assert out.shape == (2, 3) and torch.allclose(out[:, 2], torch.ones(2), atol=1e-4)
    maps = MinibatchStd()(torch.zeros(3, 4, 5, 6))
    assert maps.shape == (3, 5, 5, 6) and maps[:, 4].abs().max() < 1e-3  # identical examples: ~0


@pytest.mark.parametrize("name,shape,opts", [("gan", (1, 8, 8), SMALL),
                                             ("dcgan", (1, 16, 16), {"g_channels": 4, "d_channels": 4})])
def test_minibatch_std_lets_the_discriminator_see_a_collapsed_batch(name, shape, opts):
    torch.manual_seed(0)
    with_std, _ = lf.build(name, shape, minibatch_std=True, **opts)
    without, _ = lf.build(name, shape, minibatch_std=False, **opts)  # on by default for gan
    x = torch.rand(16, *shape)
    collapsed = x[:1].expand(16, *shape)
    for model in (with_std, without):
        model.eval()
    # the same first example, once among varied examples and once among copies of itself
    a, b = with_std.discriminate(x)[0], with_std.discriminate(collapsed)[0]
    assert abs(a - b) > 1e-4
    assert torch.allclose(without.discriminate(x)[0], without.discriminate(collapsed)[0], atol=1e-6)


def test_minibatch_discrimination_sums_each_kernels_closeness_to_the_other_examples():
    """o_i[b] = sum_{j != i} exp(-||M_i[b] - M_j[b]||_1) with M = h T (Salimans et al. 2016), here with one
    dimension per kernel: kernel 0 reads feature 0, kernel 1 feature 1."""
    layer = MinibatchDiscrimination(3, 2, dims=1)
    with torch.no_grad():
        layer.T.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    h = torch.tensor([[0.0, 0.0, 5.0], [1.0, 0.0, 7.0], [0.0, 2.0, 9.0]])
    e = math.exp
    expected = [[1 + e(-1), 1 + e(-2)], [2 * e(-1), 1 + e(-2)], [1 + e(-1), 2 * e(-2)]]
    out = layer(h)
    assert out.shape == (3, 5) and torch.equal(out[:, :3], h)
    assert torch.allclose(out[:, 3:], torch.tensor(expected), atol=1e-6)
    model, _ = gan(minibatch_features=6)
    model.eval()
    x = torch.rand(16, 1, 8, 8)  # the first example among varied ones, then among copies of itself
    assert abs(model.discriminate(x)[0] - model.discriminate(x[:1].expand(16, 1, 8, 8))[0]) > 1e-4
    with pytest.raises(lf.ConfigError, match="minibatch_features must be >= 0"):
        gan(minibatch_features=-1)


# ---------------------------------------------------------------------------------------------------- TTUR
def test_separate_learning_rates_move_each_player_at_its_own_pace():
    """Adam's first step moves every weight with a clear gradient by almost exactly its learning rate."""
    model, obj = gan(lr_g=1e-4, lr_d=4e-4)
    tr = Trainer(model, obj, TrainConfig(), progress=False)
    assert {n: o.param_groups[0]["lr"] for n, o in tr.optimizers.items()} == {"d": 4e-4, "g": 1e-4}
    before = {n: [p.detach().clone() for p in pl.module.parameters()] for n, pl in tr.players.items()}
    batch = {"x": torch.rand(32, 1, 8, 8)}
    obj.freeze(model, train_d=True)
    tr.step("d", obj.discriminator_terms(model, batch)["loss"])
    obj.freeze(model, train_d=False)
    tr.step("g", obj.generator_terms(model, batch)["loss"])
    for name, lr in (("d", 4e-4), ("g", 1e-4)):
        moved = torch.cat([(p.detach() - q).abs().flatten() for p, q in zip(tr.players[name].module.parameters(),
                                                                           before[name])])
        assert moved.max().item() == pytest.approx(lr, rel=1e-3)


# ---------------------------------------------------------------------------------------------------- DiffAugment
def test_translation_shifts_whole_images_with_zero_fill():
    x = torch.zeros(200, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    out = translation(x, torch.Generator().manual_seed(0))
    pos = out[:, 0].flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert torch.allclose(out.flatten(1).sum(1), torch.ones(200))  # the pixel is moved, not lost
    assert dy.abs().max() == 2 and dx.abs().max() == 2 and (dy != 0).float().mean() > 0.5  # up to 16 / 8 pixels


def test_cutout_zeroes_one_rectangle_of_a_quarter_of_the_image_at_most():
    out = cutout(torch.ones(300, 2, 16, 16), torch.Generator().manual_seed(0))
    zeroed = (out == 0).float().mean((1, 2, 3))
    assert zeroed.max().item() == pytest.approx(0.25) and zeroed.min() > 0
    assert torch.equal(out[:, 0], out[:, 1])  # the same rectangle in every channel


def test_diffaugment_is_differentiable_seeded_and_applied_to_real_and_fake_in_both_steps():
    x = torch.rand(6, 3, 8, 8, requires_grad=True)
    policy = ["color", "translation", "cutout"]
    y1 = diff_augment(x, policy, torch.Generator().manual_seed(3))
    y2 = diff_augment(x, policy, torch.Generator().manual_seed(3))
    assert torch.equal(y1, y2) and not torch.equal(y1, x)
    y1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    model, obj = gan(diffaugment="cutout")
    seen = []
    original = model.discriminate
    model.discriminate = lambda h, c=None: (seen.append(h.detach().clone()), original(h, c))[1]
    model.train()
    batch = {"x": torch.ones(4, 1, 8, 8)}
    obj.discriminator_terms(model, batch, torch.Generator().manual_seed(0))
    obj.generator_terms(model, batch, torch.Generator().manual_seed(0))
    assert len(seen) == 3 and all((h == 0).flatten(1).any(1).all() for h in seen[:1])  # real inputs cut
    fakes = [h for h in seen[1:]]
    assert all((h.flatten(1) == 0).sum(1).min() >= 4 for h in fakes)  # fakes (in both steps) cut as well


def test_diffaugment_policies_are_checked():
    with pytest.raises(lf.ConfigError, match="unknown augmentation 'rotate'"):
        lf.build("gan", (1, 8, 8), diffaugment="rotate")
    with pytest.raises(lf.ConfigError, match="vectors: use diffaugment='color'"):
        lf.build("gan", (5,), diffaugment="translation")
    lf.build("gan", (5,), diffaugment="color")  # colour works on any shape


def test_cli_every_stabiliser_is_a_flag_and_trains(tmp_path):
    out = tmp_path / "s"
    assert main(["train", "dcgan", "--data", "digits", "--epochs", "1", "--g-channels", "4", "--d-channels", "4",
                 "--minibatch-std", "--r1-weight", "1", "--instance-noise", "0.1", "--instance-noise-epochs", "5",
                 "--diffaugment", "color,translation,cutout", "--label-smoothing", "0.1", "--spectral-norm",
                 "--lr-g", "1e-4", "--lr-d", "4e-4", "--no-progress", "--out", str(out)]) == 0
    run = lf.load(out)
    row = run.history[-1]
    assert np.isfinite(row["r1"]) and row["lr_g"] == 1e-4 and row["lr_d"] == 4e-4
    assert run.model.config.minibatch_std and run.objective.config.diffaugment == "color,translation,cutout"
