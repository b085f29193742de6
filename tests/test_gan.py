import json
import math

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.models import Discriminates
from latentforge.analysis.quality import frechet_distance, precision_recall
from latentforge.cli.main import main
from latentforge.training import TrainConfig
from latentforge.objectives import (critic_wasserstein, discriminator_bce, generator_minimax, generator_nonsaturating,
                                    gradient_penalty)
from latentforge.training import Trainer

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([0.5, -3.0, 1.0])
sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731


def test_losses_match_hand_computation_on_fixed_logits():
    hand_d = np.mean([-math.log(sig(a)) for a in REAL]) + np.mean([-math.log(1 - sig(a)) for a in FAKE])
    assert discriminator_bce(REAL, FAKE).item() == pytest.approx(hand_d, rel=1e-6)
    smoothed = np.mean([-(0.9 * math.log(sig(a)) + 0.1 * math.log(1 - sig(a))) for a in REAL]) + \
        np.mean([-math.log(1 - sig(a)) for a in FAKE])
    assert discriminator_bce(REAL, FAKE, 0.9).item() == pytest.approx(smoothed, rel=1e-6)
    assert generator_nonsaturating(FAKE).item() == pytest.approx(np.mean([-math.log(sig(a)) for a in FAKE]), rel=1e-6)
    assert generator_minimax(FAKE).item() == pytest.approx(np.mean([math.log(1 - sig(a)) for a in FAKE]), rel=1e-6)
    assert critic_wasserstein(REAL, FAKE).item() == pytest.approx(FAKE.mean().item() - REAL.mean().item())


def test_minimax_gradient_vanishes_where_the_non_saturating_one_does_not():
    a = torch.tensor([-6.0], requires_grad=True)  # D(G(z)) ~ 0.0025: the discriminator rejects the sample
    (g_mm,) = torch.autograd.grad(generator_minimax(a), a)
    (g_ns,) = torch.autograd.grad(generator_nonsaturating(a), a)
    assert abs(g_mm.item()) < 0.003 and abs(g_ns.item()) > 0.99


def test_gradient_penalty_zero_for_unit_norm_linear_critic_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, 3, 4, 4, generator=g), torch.randn(16, 3, 4, 4, generator=g)
    w = torch.randn(48, generator=g)
    unit = w / w.norm()
    assert gradient_penalty(lambda x: x.flatten(1) @ unit, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(lambda x: x.flatten(1) @ (3 * unit), real, fake).item() == pytest.approx(4.0, rel=1e-5)
    assert gradient_penalty(lambda x: (x.flatten(1) ** 2).sum(1), real, fake, generator=g).item() > 0


def test_gradient_penalty_draws_one_weight_per_sample():
    seen = {}

    def critic(x):  # gradient of 0.5 * ||x||^2 is x itself
        seen["x"] = x
        return 0.5 * x.flatten(1).pow(2).sum(1)

    real, fake = torch.ones(200, 2, 3), torch.zeros(200, 2, 3)
    gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    x = seen["x"].detach().flatten(1)  # x_hat = a * 1 + (1 - a) * 0 = a, one a per sample
    assert torch.allclose(x, x[:, :1].expand_as(x))  # the same weight on every feature of a sample
    a = x[:, 0]
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.2  # different, U(0, 1)-spread weights across samples


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_frozen_network_is_untouched_in_the_other_phase(name):
    torch.manual_seed(0)
    model, obj = lf.build(name, (1, 8, 8), **({"g_hidden": (32,), "d_hidden": (32,)} if name == "gan" else {}))
    tr = Trainer(model, obj, TrainConfig(), progress=False)
    batch = {"x": torch.rand(16, 1, 8, 8)}
    snap = lambda m: [p.detach().clone() for p in m.parameters()]  # noqa: E731
    g0, d0 = snap(model.generator), snap(model.discriminator)
    # the trainer records the generator's pass in a discriminator step that a generator step follows
    obj.freeze(model, train_d=True, record_generator=True)
    d = obj.discriminator_terms(model, batch, keep_fake=True)
    fake = d.pop("fake")
    tr.step("d", d["loss"])
    assert all(torch.equal(a, b) for a, b in zip(g0, snap(model.generator)))
    assert all(p.grad is None for p in model.generator.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(d0, snap(model.discriminator)))
    d1 = snap(model.discriminator)
    model.discriminator.zero_grad(set_to_none=True)
    obj.freeze(model, train_d=False)
    tr.step("g", obj.generator_terms(model, batch, fake=fake)["loss"])
    assert all(torch.equal(a, b) for a, b in zip(d1, snap(model.discriminator)))
    assert all(p.grad is None for p in model.discriminator.parameters())  # no gradient computed for D at all
    assert not all(torch.equal(a, b) for a, b in zip(g0, snap(model.generator)))


def test_wgan_critic_refuses_batch_norm():
    with pytest.raises(lf.ConfigError, match="must not use batch norm.*norm='none'"):
        lf.build("conv-wgan-gp", (1, 28, 28), norm="batch")


TINY = {"gan": {"g_hidden": (32,), "d_hidden": (32,)}, "dcgan": {"g_channels": 8, "d_channels": 8},
        "wgan-gp": {"g_hidden": (32,), "d_hidden": (32,)}, "conv-wgan-gp": {"g_channels": 8, "d_channels": 8},
        "cgan": {"g_hidden": (32,), "d_hidden": (32,)}}


#: GANs that take layered calorimeter showers only, tested on them in their own file
SHOWERS_ONLY = {"calogan": "tests/test_calogan.py"}


def test_every_gan_in_the_catalogue_is_tested():
    gans = {n for n in lf.MODELS.names() if issubclass(lf.MODELS.get(n).model_class, Discriminates)}
    assert set(TINY) | set(SHOWERS_ONLY) == gans


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_load_gives_identical_samples_and_resume_is_exact(name, digits, tmp_path):
    common = dict(epochs=2, batch_size=64, seed=0, progress=False, sample_every=1, ema_decay=0.9, **TINY[name])
    run = lf.train(name, digits, out=tmp_path / "a", **common)
    back = lf.load(tmp_path / "a")
    cond = [3] if name == "cgan" else []
    np.testing.assert_array_equal(run.sample(16, *cond, seed=4), back.sample(16, *cond, seed=4))
    assert not np.array_equal(back.sample(16, *cond, seed=4), back.sample(16, *cond, seed=5))
    assert (tmp_path / "a" / "samples" / "epoch_0002.png").exists() and (tmp_path / "a" / "samples.png").exists()
    rows = [json.loads(r) for r in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    for key in ("d_real", "d_fake", "d_acc", "d_loss", "g_loss", "grad_norm_d", "grad_norm_g", "diversity"):
        assert all(np.isfinite(r[key]) for r in rows), key
    # resume: 1 epoch, then continue to 2 -> the same weights as the uninterrupted run
    lf.train(name, digits, out=tmp_path / "b", **{**common, "epochs": 1})
    lf.train(name, digits, out=tmp_path / "b", resume=True, **common)
    a = lf.io.load_tensors(tmp_path / "a" / "model.safetensors")[0]
    b = lf.io.load_tensors(tmp_path / "b" / "model.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_collapse_warning_when_samples_lose_diversity(digits):
    torch.manual_seed(0)
    model, obj = lf.build("gan", (1, 8, 8), **TINY["gan"])
    with torch.no_grad():  # a generator that ignores z: every sample is the same
        for lin in model.generator.linears:
            lin.weight.zero_()
    obj = type(obj)(obj.config.replace(lr_g=1e-12, lr_d=1e-12))
    x = torch.from_numpy(digits.x[:256] / 16.0).float()
    with pytest.warns(UserWarning, match="mode collapse"):
        Trainer(model, obj, TrainConfig(epochs=1, batch_size=64), progress=False).fit(x)


def test_quality_metric_building_blocks():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(800, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + 3.0
    assert frechet_distance(a, shifted) == pytest.approx(8 * 9.0, rel=0.02)  # ||mu||^2 = 8 * 3^2
    p, r = precision_recall(a, a)
    assert p == 1.0 and r == 1.0
    p, r = precision_recall(a, rng.normal(size=(800, 8)) + 10)
    assert p == 0.0 and r == 0.0
    narrow = rng.normal(size=(800, 8)) * 0.2  # inside the real manifold but covering little of it
    p, r = precision_recall(a, narrow)
    assert p > 0.9 and r < 0.5


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_conditional_gan_honours_the_label(tmp_path):
    from sklearn.linear_model import LogisticRegression

    ds = lf.load_dataset("digits")
    # the label takes over only after a while: 150 short epochs (about 20 s)
    run = lf.train("cgan", ds, g_hidden=(128, 128), d_hidden=(128, 64), latent_dim=16, epochs=150, batch_size=32,
                   seed=0, progress=False, sample_every=0)
    clf = LogisticRegression(max_iter=2000).fit(ds.x.reshape(len(ds), -1), ds.y)
    labels = np.repeat(np.arange(10), 20)
    agree = (clf.predict(run.sample(len(labels), labels, seed=0).reshape(len(labels), -1)) == labels).mean()
    assert agree > 0.6, agree  # chance: 0.1


def test_cli_gan_train_sample_score_evaluate(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["train", "gan", "--data", "digits", "--epochs", "3", "--g-hidden", "64", "--d-hidden", "64",
                 "--no-progress", "--out", str(out)]) == 0
    assert main(["sample", str(out), "-n", "12", "--out", str(tmp_path / "s.npz")]) == 0
    s = np.load(tmp_path / "s.npz")["samples"]
    assert s.shape == (12, 1, 8, 8) and s.min() >= 0 and s.max() <= 16 and (tmp_path / "s.png").exists()
    capsys.readouterr()
    assert main(["score", "--json", str(out), "--data", "digits", "--out", str(tmp_path / "p.npz")]) == 0
    summary = json.loads(capsys.readouterr().out)
    p = np.load(tmp_path / "p.npz")["score"]
    assert summary["score"] == "p_real" and p.shape == (1797,) and 0 <= p.min() and p.max() <= 1
    assert main(["evaluate", "--json", str(out), "--data", "digits"]) == 0
    m = json.loads(capsys.readouterr().out)
    for k in ("fd_classifier", "precision", "recall", "mode_coverage", "d_real", "d_fake"):
        assert np.isfinite(m[k]), k
    assert m["split"] == "all" and m["n_generated"] == 1797
    assert (out / "classifier" / "classifier.safetensors").exists()
    assert (out / "generator_losses.png").exists() and (out / "loss.png").exists()
    code = main(["encode", str(out), "--data", "digits", "--out", str(tmp_path / "z.npz")])
    assert code == 2 and "encode needs a model with an encoder" in capsys.readouterr().err


def test_hinge_loss_has_a_margin():
    from latentforge.objectives import GAN_LOSSES

    hinge = GAN_LOSSES.get("hinge")()
    real, fake = torch.tensor([1.0, 2.5]), torch.tensor([-1.0, -3.0])
    assert hinge.discriminator(real, fake, 0.0).item() == 0.0  # beyond the margin: nothing to learn
    inside = hinge.discriminator(torch.tensor([0.5]), torch.tensor([0.25]), 0.0).item()
    assert inside == pytest.approx((1 - 0.5) + (1 + 0.25))
    assert hinge.generator(torch.tensor([0.5, -1.5])).item() == pytest.approx(0.5)  # -mean D(G(z))
    assert hinge.realness(torch.tensor([-2.0])).item() == -2.0  # scores, not probabilities


@pytest.mark.parametrize("name,shape", [("gan", (1, 8, 8)), ("dcgan", (1, 16, 16))])
def test_spectral_norm_holds_every_discriminator_layer_at_one(name, shape):
    torch.manual_seed(0)
    opts = {"g_hidden": (32,), "d_hidden": (64, 32)} if name == "gan" else {"g_channels": 4, "d_channels": 8}
    model, _ = lf.build(name, shape, spectral_norm=True, **opts)
    plain, _ = lf.build(name, shape, spectral_norm=False, **opts)  # gan has it on by default
    model.train()
    for _ in range(30):  # one power iteration per forward pass in training
        model.discriminate(torch.rand(8, *shape))

    def sigmas(m):
        return [torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
                for layer in m.discriminator.modules() if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d))]

    assert sigmas(model) == pytest.approx([1.0] * len(sigmas(model)), abs=0.02)
    assert max(abs(s - 1) for s in sigmas(plain)) > 0.1  # without it the layers are not normalised


def test_cli_hinge_gan_with_spectral_norm_trains_and_reloads(tmp_path, capsys):
    out = tmp_path / "hinge"
    assert main(["train", "dcgan", "--data", "digits", "--loss", "hinge", "--spectral-norm", "--epochs", "1",
                 "--g-channels", "8", "--d-channels", "8", "--out", str(out), "--no-progress"]) == 0
    run = lf.load(out)
    assert run.objective.config.loss == "hinge" and run.model.config.spectral_norm
    x = np.random.default_rng(0).uniform(0, 16, size=(4, 8, 8)).astype(np.float32)
    assert run.score(x).shape == (4,)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "dcgan", "--help"])
    text = capsys.readouterr().out
    assert "--spectral-norm" in text and "hinge" in text


def test_a_feature_classifier_at_chance_is_named_not_trusted():
    from latentforge.analysis.quality import classifier_warning

    assert classifier_warning(0.9, 10) is None and classifier_warning(0.6, 2) is None
    message = classifier_warning(0.12, 10)
    assert "only 12%" in message and "chance 10%" in message and "say little" in message
    assert classifier_warning(0.52, 2) is not None


def test_sample_quality_on_labels_the_data_does_not_separate_carries_the_warning():
    r = np.random.default_rng(0)
    x, y = r.random((300, 8, 8)).astype(np.float32), r.integers(0, 4, 300)  # labels unrelated to the images
    run = lf.train("gan", x, labels=y, epochs=1, progress=False, g_hidden=(16,), d_hidden=(16,))
    with pytest.warns(UserWarning, match="feature classifier tells the 4 classes apart on only"):
        m = run.evaluate(lf.as_dataset(x, labels=y))
    assert "say little" in m["classifier_warning"]


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_evaluate_prints_the_games_losses_as_numbers_with_units(digits, tmp_path, capsys):
    from latentforge.analysis.readable import summary_lines

    run = lf.train("gan", digits, epochs=1, g_hidden=(32,), d_hidden=(32,), latent_dim=4, seed=1, progress=False,
                   out=tmp_path / "g")
    m = run.evaluate(digits.x[:200])
    assert m["game"] == "ns" and "loss" not in m  # the game's name is not a loss value
    lines = summary_lines(m)
    assert f"  generator loss: {m['g_loss']:.4g} nats per example" in lines
    assert f"  discriminator loss: {m['d_loss']:.4g} nats per example" in lines
    assert "  adversarial game (the GAN loss): ns" in lines
    assert not any("ns per example" in line for line in lines)
    assert main(["evaluate", str(tmp_path / "g"), "--data", "digits"]) == 0
    printed = capsys.readouterr().out
    assert "generator loss:" in printed and "nats per example" in printed and "ns per example" not in printed
    # a critic's loss is in its own units, not nats; a name never gets a unit
    from latentforge.analysis.readable import describe

    rows = {r[0]: r for r in describe({"game": "wgan-gp", "g_loss": 1.5, "d_loss": -0.25})}
    assert rows["generator loss"][1:3] == ("1.5", "critic units per example")
    assert rows["adversarial game (the GAN loss)"][1:] == ("wgan-gp", "", "")
    assert describe({"loss": "hinge"}) == [("training loss on these data", "hinge", "", "")]
