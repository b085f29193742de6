"""First-layer filters of denoising autoencoders: drawn by explore, measured for localisation, and the
corruption-level figure."""

import json

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.analysis.filters import first_layer_filters, localisation
from latentforge.cli.main import main


def test_localisation_is_one_for_a_point_and_the_disc_share_for_a_flat_filter():
    point = np.zeros((1, 1, 28, 28))
    point[0, 0, 5, 20] = 1.0
    flat = np.ones((1, 1, 28, 28))
    blob = np.zeros((1, 1, 28, 28))
    blob[0, 0, 10:14, 10:14] = 1.0
    loc = localisation(np.concatenate([point, flat, blob]))
    assert loc[0] == pytest.approx(1.0) and loc[2] == pytest.approx(1.0)
    disc = np.sum((np.mgrid[0:28, 0:28] - 13.5) ** 2, axis=0) <= (28 / 6) ** 2
    assert loc[1] == pytest.approx(disc.mean())  # about 0.09: spread over the whole image


def test_first_layer_filters_are_the_encoder_weights_of_a_dense_network():
    torch.manual_seed(0)
    model, _ = lf.build("denoising-ae", (1, 8, 8), hidden=(), latent_dim=12)
    f = first_layer_filters(model)
    assert f.shape == (12, 1, 8, 8)
    np.testing.assert_array_equal(f.reshape(12, 64), model.encoder.linears[0].weight.detach().numpy())
    conv, _ = lf.build("denoising-conv-ae", (1, 8, 8), channels=(4,))
    assert first_layer_filters(conv) is None  # no dense layer reads the whole image
    vectors, _ = lf.build("ae", (64,))
    assert first_layer_filters(vectors) is None


def test_explore_on_a_denoising_autoencoder_draws_its_filters(tmp_path, capsys):
    out = tmp_path / "dae"
    assert main(["train", "denoising-ae", "--data", "digits", "--hidden", "32", "--latent-dim", "4", "--epochs", "1",
                 "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["explore", "--json", str(out), "--data", "digits", "--out", str(tmp_path / "ex")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (tmp_path / "ex" / "filters.png").exists() and summary["filters"]["n_filters"] == 32
    assert 0 < summary["filters"]["localisation_median"] <= 1


def test_the_corruption_levels_figure(tmp_path, capsys):
    assert main(["demo", "--filters", "--data", "digits", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "f")]) == 0
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert [r["level"] for r in summary["levels"]] == [0.0, 0.25, 0.5]
    assert all(0 < r["localisation_median"] <= 1 for r in summary["levels"])
    assert (tmp_path / "f" / "filters.png").exists()
    assert lf.load(tmp_path / "f" / "corruption-50").objective.config.noise_level == 0.5
