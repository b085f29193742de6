"""shower-flow-vae on showers shaped like the CaloChallenge dataset-2 geometry (45 layers x 16 x 9 = 6480 cells,
the simulator's incident energies): the cell reading's quanta stay within their physical bounds for any noise
parameters, and training stays finite with the defaults a user runs."""

import math

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.domains.showers.cells_model import LOG_LAMBDA_RANGE
from latentforge.domains.showers.files import write_showers
from latentforge.domains.showers.flow_model import NOISE_GAIN, Y_LIMIT, ShowerFlowVAE, ShowerFlowVAEConfig
from latentforge.domains.showers.simulator import ShowerSimulator

LAYERS, CELLS = 45, 144


def ds2_model(seed: int) -> ShowerFlowVAE:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = ShowerFlowVAEConfig(input_shape=(LAYERS + LAYERS * CELLS,), layer_cells=(CELLS,) * LAYERS,
                              u_mean=tuple(rng.normal(-2.0, 1.0, LAYERS)), u_std=tuple(rng.uniform(0.5, 3.0, LAYERS)),
                              share_eps=2e-4, share_hi=8.0, condition_dim=4, hidden=(32,), latent_dim=4)
    return ShowerFlowVAE(cfg)


@pytest.mark.parametrize("scale", [0.0, 1.0, 30.0])
def test_no_cell_expects_more_quanta_than_its_layer_for_any_noise_parameters(scale):
    """Noise maps with weights up to 30 / NOISE_GAIN (exponents far outside any sane range), layer energies up to
    20 standard deviations out: every cell's lambda is at most its layer's expected quanta m_l = (E_l / E_inc)
    exp(a_l), computed here in float64 (u-space written out in logs) and capped at e^18, and the density is finite."""
    model = ds2_model(1)
    with torch.no_grad():
        model.noise.weight.normal_(0.0, scale / NOISE_GAIN)
        model.noise.bias.normal_(0.0, scale / NOISE_GAIN)
    g = torch.Generator().manual_seed(2)
    y = torch.randn(8, LAYERS, generator=g) * 6.0
    y[0, -10:] = -20.0  # empty back layers of a 1 GeV shower
    c = torch.cat([torch.linspace(-1.7, 1.7, 8)[:, None], torch.tensor([[1.0, 0.0, 0.0]]).expand(8, 3)], 1)
    z = torch.randn(8, 4, generator=g)
    with torch.no_grad():
        cells = model.shape_dist(z, y, c)
    # float64 reference of the layer's expected quanta
    v = y.double().numpy() * model.u_std.double().numpy() + model.u_mean.double().numpy()
    log_u, log_rest = -np.logaddexp(0.0, -v), -np.logaddexp(0.0, v)  # log u and log(1 - u), u = sigmoid(v)
    left = log_u[:, :1] + np.concatenate([np.zeros((8, 1)), np.cumsum(log_rest[:, 1:], 1)], 1)
    share = np.exp(np.concatenate([left[:, :-1] + log_u[:, 1:], left[:, -1:]], 1))
    w, b = model.noise.weight.detach().double().numpy(), model.noise.bias.detach().double().numpy()
    inputs = np.concatenate([c.double().numpy(), Y_LIMIT * np.tanh(y.double().numpy() / Y_LIMIT)], 1)
    a = NOISE_GAIN * (inputs @ w.T + b)[:, :LAYERS]
    with np.errstate(divide="ignore", over="ignore"):
        m = np.minimum(share * np.exp(a), math.exp(LOG_LAMBDA_RANGE[1]))
    lam = cells.lam.double().numpy().reshape(8, LAYERS, CELLS)
    assert np.isfinite(lam).all() and (lam <= math.exp(LOG_LAMBDA_RANGE[1]) * (1 + 1e-6)).all()
    bound = np.maximum(m, math.exp(LOG_LAMBDA_RANGE[0] + 1))[:, :, None]  # lambdas below e^-29 are bent up
    assert (lam <= bound * (1 + 1e-4) + 1e-30).all()
    s = cells.sample(g)
    assert torch.isfinite(cells.log_prob(s)).all() and torch.isfinite(cells.log_prob(torch.zeros_like(s))).all()


@pytest.mark.slow
def test_training_on_dataset_2_showers_stays_finite_and_the_loss_falls(tmp_path):
    """The defaults on 1500 simulated e+ showers of the dataset-2 geometry (1-100 GeV, the simulator's range), two
    epochs (about a minute): every epoch's loss is finite and it falls (it once grew from 3.4e4 to 2.5e7 nats per
    shower in the second epoch and became NaN later), and the reconstruction term is a few nats per cell at most."""
    path = tmp_path / "e.h5"
    write_showers(path, ShowerSimulator(seed=0, geometry="calochallenge-2").simulate(1500, "e+"))
    run = lf.train("shower-flow-vae", path, cond_key="conditions", epochs=2, progress=False)
    losses = [h["train_loss"] for h in run.history]
    assert all(math.isfinite(v) for v in losses) and all(math.isfinite(h["val_loss"]) for h in run.history)
    assert losses[-1] < losses[0]
    assert abs(run.history[-1]["val_recon"]) < LAYERS * CELLS
