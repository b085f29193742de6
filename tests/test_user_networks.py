"""Your own nn.Module networks inside the catalogue's models: trained by lf.train, saved as weights, loaded with
the same modules passed again, and checked at build time with a one-line error naming the shapes."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import latentforge as lf

LATENT = 4


def conv_encoder(out: int) -> nn.Module:
    """(B, 1, 8, 8) -> (B, out)."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, out))


def conv_decoder(latent: int = LATENT, channels: int = 1) -> nn.Module:
    """(B, latent) -> (B, channels, 8, 8)."""
    return nn.Sequential(nn.Linear(latent, 8 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                         nn.Upsample(scale_factor=2), nn.Conv2d(8, channels, 3, padding=1))


@pytest.fixture(scope="module")
def digits():
    return lf.load_dataset("digits").subset(np.arange(240))


def test_a_conv_vae_of_your_own_trains_samples_saves_and_loads(digits, tmp_path):
    torch.manual_seed(0)
    enc, dec = conv_encoder(2 * LATENT), conv_decoder()
    run = lf.train("vae", digits, encoder=enc, decoder=dec, latent_dim=LATENT, epochs=1, progress=False)
    run.save(tmp_path / "run")  # what lf.train(..., out=) writes at the end, without the plots
    assert run.model.encoder is enc and run.model.decoder is dec  # trained in place
    assert len(run.history) == 1 and np.isfinite(run.history[-1]["train_loss"])
    assert np.isfinite(run.history[-1]["val_loss"])
    assert run.sample(5, seed=1).shape == (5, 1, 8, 8)
    assert run.encode(digits.x[:7]).shape == (7, LATENT)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["own_networks"] == {"encoder": "torch.nn.modules.container.Sequential",
                                     "decoder": "torch.nn.modules.container.Sequential"}

    back = lf.load(tmp_path / "run", encoder=conv_encoder(2 * LATENT), decoder=conv_decoder())
    np.testing.assert_array_equal(back.reconstruct(digits.x[:10]), run.reconstruct(digits.x[:10]))
    np.testing.assert_array_equal(back.sample(3, seed=2), run.sample(3, seed=2))

    with pytest.raises(lf.ConfigError) as e:  # the architecture is user code, which a run never holds
        lf.load(tmp_path / "run")
    said = str(e.value)
    assert "\n" not in said and "your own networks" in said and "encoder=Sequential(...)" in said
    assert "decoder=Sequential(...)" in said
    other = nn.Sequential(nn.Linear(LATENT, 64), nn.Unflatten(1, (1, 8, 8)))  # right shapes, other weights
    with pytest.raises(lf.ArtifactError, match="do not fit the networks passed"):
        lf.load(tmp_path / "run", encoder=conv_encoder(2 * LATENT), decoder=other)


def test_a_gan_of_your_own_trains_and_generates(digits):
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 64), nn.Unflatten(1, (1, 8, 8)))
    disc = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    before = [p.detach().clone() for p in gen.parameters()]
    run = lf.train("gan", digits, generator=gen, discriminator=disc, latent_dim=8, epochs=2, progress=False)
    last = run.history[-1]
    assert np.isfinite(last["g_loss"]) and np.isfinite(last["d_loss"]) and last["generator_steps"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, gen.parameters()))  # the generator was trained
    samples = run.sample(6, seed=0)
    assert samples.shape == (6, 1, 8, 8) and np.isfinite(samples).all()
    assert run.score(digits.x[:4]).shape == (4,)


def test_collapse_advice_for_your_own_discriminator_names_no_option_it_would_refuse(digits):
    gen = nn.Sequential(nn.Linear(8, 64), nn.Unflatten(1, (1, 8, 8)))
    with torch.no_grad():
        gen[0].weight.zero_()  # every noise vector gives the same image: collapsed from the start
    disc = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    run = lf.train("gan", digits, generator=gen, discriminator=disc, latent_dim=8, lr_g=1e-12, epochs=1,
                   progress=False)
    [note] = [d for d in run.history[-1]["diagnostics"] if d.startswith("possible mode collapse")]
    assert "a minibatch-std feature in your discriminator, r1_weight=1" in note and "minibatch_std" not in note


def test_an_autoencoder_of_your_own_encodes_to_its_codes(digits):
    enc, dec = conv_encoder(LATENT), conv_decoder()
    run = lf.train("ae", digits, encoder=enc, decoder=dec, latent_dim=LATENT, epochs=1, progress=False)
    with torch.no_grad():  # the codes are the encoder's output on the scaled data
        want = enc(run.to_model_space(digits.x[:5])).numpy()
    np.testing.assert_allclose(run.encode(digits.x[:5]), want, rtol=1e-5, atol=1e-6)


def test_a_wrong_output_shape_is_one_line_naming_the_shapes_and_its_fix_works(digits):
    enc = conv_encoder(2 * LATENT)  # gives 8 numbers: a VAE with latent_dim=4
    with pytest.raises(lf.ConfigError) as e:
        lf.build("vae", (1, 8, 8), latent_dim=3, encoder=enc, decoder=conv_decoder(3))
    assert str(e.value) == (
        "your encoder maps a batch of shape (2, 1, 8, 8) to (2, 8); it must give (2, 6) (examples to the posterior's "
        "latent_dim means, then its latent_dim log-variances); pass latent_dim=4 to match it, or change its last layer")
    model, _ = lf.build("vae", (1, 8, 8), latent_dim=4, encoder=enc, decoder=conv_decoder(4))  # the fix
    assert model.encode(torch.zeros(2, 1, 8, 8)).shape == (2, 4)

    with pytest.raises(lf.ConfigError) as e:  # a Gaussian decoder with its own sigma: two numbers per pixel
        lf.build("vae", (1, 8, 8), latent_dim=4, likelihood="gaussian-hetero", encoder=enc, decoder=conv_decoder())
    assert "\n" not in str(e.value)
    assert "your decoder maps a batch of shape (2, 4) to (2, 1, 8, 8); it must give (2, 2, 8, 8) or (2, 128)" in \
        str(e.value)
    lf.build("vae", (1, 8, 8), latent_dim=4, likelihood="gaussian-hetero", encoder=enc,
             decoder=conv_decoder(channels=2))

    with pytest.raises(lf.ConfigError) as e:  # a fully connected encoder given images
        lf.build("ae", (1, 8, 8), latent_dim=4, encoder=nn.Linear(64, 4), decoder=conv_decoder(4))
    assert str(e.value).startswith("your encoder fails on a batch of shape (2, 1, 8, 8): RuntimeError: ")
    assert str(e.value).endswith("of shape (1, 8, 8) (images channels first; a fully connected network starts with "
                                 "nn.Flatten())") and "\n" not in str(e.value)
    lf.build("ae", (1, 8, 8), latent_dim=4, encoder=nn.Sequential(nn.Flatten(), nn.Linear(64, 4)),
             decoder=conv_decoder(4))  # the fix

    with pytest.raises(lf.ConfigError) as e:  # a network that fails on the batch is reported the same way
        lf.build("gan", (1, 8, 8), latent_dim=8, generator=nn.Linear(4, 64), discriminator=nn.Linear(64, 1))
    assert str(e.value).startswith("your generator fails on a batch of shape (2, 8): RuntimeError: ")
    assert str(e.value).endswith("it was given latent_dim=8: pass the latent_dim your networks take")


def test_what_your_own_networks_cannot_take_is_refused_in_one_line(digits):
    enc, dec = conv_encoder(2 * LATENT), conv_decoder()
    with pytest.raises(lf.ConfigError, match=r"^hidden shape\(s\) the built-in networks, which your own networks "
                                             r"replace; drop hidden=$"):
        lf.train("vae", digits, encoder=enc, decoder=dec, latent_dim=LATENT, hidden=(32,), epochs=1, progress=False)
    with pytest.raises(lf.ConfigError, match=r"^model 'vae' takes encoder= and decoder=; give both \(decoder= too\)$"):
        lf.build("vae", (1, 8, 8), latent_dim=LATENT, encoder=enc)
    with pytest.raises(lf.ConfigError, match=r"^model 'tied-ae' takes no networks of your own; these do: ae, "):
        lf.build("tied-ae", (1, 8, 8), latent_dim=LATENT, encoder=enc, decoder=dec)
    with pytest.raises(lf.ConfigError, match="take no condition vector"):
        lf.build("cvae", (1, 8, 8), latent_dim=LATENT, condition_dim=10, encoder=enc, decoder=dec)
    built_in = lf.train("ae", digits, latent_dim=2, epochs=1, progress=False, out=None)
    assert not hasattr(built_in.model, "own_networks")


def test_a_run_of_built_in_networks_refuses_networks_on_load(digits, tmp_path):
    lf.train("ae", digits, latent_dim=LATENT, epochs=1, progress=False).save(tmp_path / "ae")
    with pytest.raises(lf.ConfigError, match="trained with latentforge's own networks; drop encoder=$"):
        lf.load(tmp_path / "ae", encoder=conv_encoder(LATENT))


@pytest.mark.slow  # about 20 s on a loaded two-core machine: a full-size digits run written with its plots
def test_the_guides_examples_run_as_they_stand(tmp_path, monkeypatch, capsys):
    from pathlib import Path
    import re

    page = Path(__file__).resolve().parents[1] / "docs" / "guides" / "own-networks.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/guides/own-networks.md, example {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "same reconstructions: True" in out and "(4, 1, 8, 8)" in out
    assert (tmp_path / "runs" / "own-vae" / "model.safetensors").is_file()


@pytest.mark.slow  # two runs written with their plots
def test_a_run_of_your_own_networks_resumes_with_them(digits, tmp_path):
    out = tmp_path / "run"
    lf.train("vae", digits, encoder=conv_encoder(2 * LATENT), decoder=conv_decoder(), latent_dim=LATENT, epochs=1,
             out=out, progress=False)
    with pytest.raises(lf.ConfigError, match=r"resume it from Python as lf.train\(MODEL, DATA, out="):
        lf.train("vae", digits, latent_dim=LATENT, epochs=2, out=out, resume=True, progress=False)
    again = lf.train("vae", digits, encoder=conv_encoder(2 * LATENT), decoder=conv_decoder(), latent_dim=LATENT,
                     epochs=2, out=out, resume=True, progress=False)
    assert [r["epoch"] for r in again.history] == [1, 2]


def test_the_command_line_says_a_run_of_your_own_networks_is_used_from_python(digits, tmp_path, capsys):
    from latentforge.cli.main import main

    out = tmp_path / "run"
    lf.train("ae", digits, encoder=conv_encoder(LATENT), decoder=conv_decoder(), latent_dim=LATENT, epochs=1,
             progress=False).save(out)
    capsys.readouterr()
    for argv in (["info", str(out)], ["train", "ae", "--data", "digits", "--out", str(out), "--resume"],
                 ["train", "--config", str(out / "config.json"), "--out", str(tmp_path / "copy")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "your own networks" in err, err
        assert "encoder=" in err and "decoder=" in err and "from Python" in err
    assert not (tmp_path / "copy").exists()


def test_the_trainer_trains_a_model_built_with_your_own_networks():
    from latentforge.training import TrainConfig, Trainer

    torch.manual_seed(0)
    model, objective = lf.build("vae", (1, 8, 8), latent_dim=LATENT, encoder=conv_encoder(2 * LATENT),
                                decoder=conv_decoder())
    history = Trainer(model, objective, TrainConfig(epochs=2, batch_size=32), progress=False).fit(
        torch.rand(64, 1, 8, 8))
    assert len(history) == 2 and all(np.isfinite(r["train_loss"]) for r in history)
