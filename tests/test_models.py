import re

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

import latentforge as lf
from latentforge.cli.main import main
from latentforge.models import Discriminates
from latentforge.objectives import evaluate_objective

TINY = {
    "ae": {"hidden": (32,), "latent_dim": 3},
    "linear-ae": {"latent_dim": 3},
    "tied-ae": {"hidden": (32,), "latent_dim": 3},
    "conv-ae": {"channels": (4, 8), "latent_dim": 3},
    "denoising-ae": {"hidden": (32,), "latent_dim": 8},
    "denoising-conv-ae": {"channels": (4,), "latent_dim": 8},
    "sparse-ae": {"hidden": (32,), "latent_dim": 16},
    "vae": {"hidden": (32,), "latent_dim": 3},
    "conv-vae": {"channels": (4, 8), "latent_dim": 3},
    "cvae": {"hidden": (32,), "latent_dim": 3, "condition_dim": 10},
    "beta-tcvae": {"hidden": (32,), "latent_dim": 3},
}


def test_every_encoder_decoder_model_has_a_tiny_config():  # GANs: tests/test_gan.py
    spectra_only = {"spectrum-vae"}  # takes 1-D spectra, not images: tests/test_spectra.py
    spectra_only |= {"shower-flow-vae"}  # layered calorimeter showers only: tests/test_shower_flow.py
    two_domains = {n for n in lf.MODELS.names() if lf.MODELS.get(n).objective_class.second_domain}  # test_cyclegan
    assert two_domains == {"cyclegan"}
    assert set(TINY) == {n for n in lf.MODELS.names()
                         if not issubclass(lf.MODELS.get(n).model_class, Discriminates)} - spectra_only - two_domains


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_encode_decode(name):
    model, _ = lf.build(name, (1, 8, 8), **TINY[name])
    x = torch.rand(5, 1, 8, 8)
    c = (torch.eye(10)[:5],) if name == "cvae" else ()
    z = model.encode(x, *c)
    assert z.shape == (5, TINY[name]["latent_dim"])
    assert model.decode(z, *c).shape == (5, 1, 8, 8)
    assert model.reconstruct(x, *c).shape == (5, 1, 8, 8)
    with pytest.raises(lf.ConfigError, match="expects examples of shape"):
        model.encode(torch.rand(5, 1, 8, 9), *c)


@pytest.mark.parametrize("name", sorted(TINY))
def test_loss_falls_on_real_data_and_save_load_is_identical(name, digits, tmp_path):
    opts = dict(TINY[name])
    if name == "linear-ae":
        opts["lr"] = 1e-2
    opts.pop("condition_dim", None)  # filled in from the data
    run = lf.train(name, digits, out=tmp_path / name, epochs=4, batch_size=64, seed=1, progress=False, **opts)
    # loss on held-out data is lower than the untrained network's
    x_val = run.batch(run.select(digits, "val"))
    torch.manual_seed(1)
    untrained, objective = lf.build(name, (1, 8, 8), **TINY[name])
    # the same loss function for both; for VAEs the negative ELBO (beta-TCVAE's weighted MWS terms carry constants)
    def score(net):
        terms = evaluate_objective(net, run.objective, x_val, seed=0)
        return -terms["elbo"] if "elbo" in terms else terms["loss"]

    before, after = score(untrained), score(run.model)
    assert after < 0.8 * before, (before, after)
    # artifacts rebuild the same model
    loaded = lf.load(tmp_path / name)
    assert loaded.name == name and loaded.n_parameters == run.n_parameters
    x = digits.subset(np.arange(0, 1797, 90))  # carries labels, which the cvae is conditioned on
    cond = x.y if name == "cvae" else None
    np.testing.assert_array_equal(loaded.encode(x), run.encode(x))
    np.testing.assert_array_equal(loaded.reconstruct(x), run.reconstruct(x))
    np.testing.assert_array_equal(loaded.decode(run.encode(x), cond), run.reconstruct(x))
    files = ["config.json", "model.safetensors", "transform.json", "metrics.jsonl", "checkpoint.safetensors",
             "loss.png", "reconstructions.png", "latent.png"] + (["samples.png"] if "vae" in name else [])
    for f in files:
        assert (tmp_path / name / f).stat().st_size > 0, f
    if "vae" in name:
        s1 = loaded.sample(8, *([3] if name == "cvae" else []), seed=5)
        s2 = run.sample(8, *([3] if name == "cvae" else []), seed=5)
        np.testing.assert_array_equal(s1, s2)


def test_tied_autoencoder_shares_weights():
    ae, _ = lf.build("ae", (1, 28, 28), hidden=(128,), latent_dim=4)
    tied, _ = lf.build("tied-ae", (1, 28, 28), hidden=(128,), latent_dim=4)
    n_ae = sum(p.numel() for p in ae.parameters())
    n_tied = sum(p.numel() for p in tied.parameters())
    weights = 784 * 128 + 128 * 4
    assert n_ae - n_tied == weights  # the decoder's weight matrices are not parameters of their own
    # the decoder's output moves when an encoder weight is changed
    z = torch.randn(2, 4)
    before = tied.decode(z)
    with torch.no_grad():
        tied.encoder.linears[0].weight[5, 10] += 1.0
    assert not torch.allclose(before, tied.decode(z))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 10, 7), (2, 5, 13)])
@pytest.mark.parametrize("upsample", ["nearest", "transpose"])
def test_conv_ae_any_channels_and_size(shape, upsample):
    model, _ = lf.build("conv-ae", shape, channels=(4, 8, 8), latent_dim=5, upsample=upsample)
    x = torch.rand(3, *shape)
    assert model.reconstruct(x).shape == (3, *shape)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "MaxPool2d" in kinds and ("Upsample" in kinds if upsample == "nearest" else "ConvTranspose2d" in kinds)


def test_conv_ae_refuses_vectors():
    with pytest.raises(lf.ConfigError, match="images"):
        lf.build("conv-ae", (64,))


def test_linear_ae_spans_the_pca_subspace(digits):
    """Baldi & Hornik: a linear AE trained with squared error learns the top-k principal subspace."""
    k = 4
    # Adam needs a few thousand steps to escape the saddle of the 4th direction (eigen-gap 0.395 vs 0.271)
    run = lf.train("linear-ae", digits, latent_dim=k, epochs=300, batch_size=64, lr=3e-3, seed=0,
                   val_fraction=0.0, test_fraction=0.0, patience=0, progress=False)
    x = run.to_model_space(digits).numpy().reshape(len(digits), -1)
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    pcs = vt[:k].T  # (64, k)
    w = run.model.decoder_matrix().numpy()  # (64, k)
    angles = np.degrees(subspace_angles(w, pcs))
    assert angles.max() < 5.0, angles
    # and a random subspace is far away
    rand = np.random.default_rng(0).normal(size=(64, k))
    assert np.degrees(subspace_angles(rand, pcs)).max() > 45


def test_sparse_penalty_reduces_active_units(digits):
    common = dict(latent_dim=64, hidden=(64,), epochs=6, batch_size=64, seed=0, progress=False)
    dense = lf.train("sparse-ae", digits, sparsity_weight=0.0, **common)
    sparse = lf.train("sparse-ae", digits, sparsity_weight=0.2, **common)
    m_dense, m_sparse = dense.evaluate(digits, "test"), sparse.evaluate(digits, "test")
    assert 0 <= m_sparse["active_fraction"] < 0.4 * m_dense["active_fraction"], (m_dense, m_sparse)
    assert m_sparse["loss_recon"] < 1.15 * m_dense["loss_recon"]  # sparse codes still reconstruct
    # the KL variant needs codes in (0, 1)
    with pytest.raises(lf.ConfigError, match="code_activation=.sigmoid."):
        lf.build("sparse-ae", (64,), penalty="kl")
    kl = lf.train("sparse-ae", digits, penalty="kl", code_activation="sigmoid", sparsity_weight=0.5,
                  **{**common, "epochs": 3})
    z = kl.encode(digits.x[:200])
    assert z.min() >= 0 and z.max() <= 1


def test_denoising_ae_beats_the_noisy_input(digits):
    run = lf.train("denoising-ae", digits, latent_dim=16, hidden=(128,), noise_level=0.3, loss="mse",
                   epochs=15, batch_size=32, seed=0, progress=False)
    m = run.evaluate(digits, "test")
    assert m["psnr_denoised"] > m["psnr_noisy"] + 3, m
    assert m["corruption"] == "gaussian" and m["noise_level"] == 0.3


@pytest.mark.parametrize("model, flag, value, says", [
    ("conv-vae", "--kernel-size", 4, "must be odd to keep sizes, got 4"),
    ("conv-ae", "--channels", "", "needs at least one level, e.g. 16,32"),
    ("vae", "--latent-dim", 0, "must be > 0, got 0; give a positive value"),
])
def test_a_bad_model_option_is_named_as_the_caller_gives_it(tmp_path, capsys, model, flag, value, says):
    """The flag on the command line (--kernel-size), the keyword from Python (kernel_size), never the class."""
    code = main(["train", model, "--data", "digits", flag, str(value), "--epochs", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(f"{flag} {says}") and "Config" not in err, err
    keyword = flag[2:].replace("-", "_")
    with pytest.raises(lf.ConfigError, match="^" + re.escape(f"{keyword} {says}")):
        lf.build(model, (1, 8, 8), **{keyword: () if value == "" else value})
    assert not (tmp_path / "r").exists()


def test_unknown_options_and_bad_values_are_refused():
    with pytest.raises(lf.ConfigError, match="has no option.*latent_dims.*latent_dim"):
        lf.build("ae", (4,), latent_dims=3)
    with pytest.raises(lf.ConfigError, match="activation = 'relux'.*relu"):
        lf.build("ae", (4,), activation="relux")
    with pytest.raises(lf.ConfigError, match="latent_dim must be > 0"):
        lf.build("ae", (4,), latent_dim=0)
    with pytest.raises(lf.ConfigError, match="sigmoid output"):
        lf.build("ae", (4,), output="identity", loss="bce")
    with pytest.raises(lf.ConfigError, match="unknown model 'vaee'.*conv-ae"):
        lf.build("vaee", (4,))
