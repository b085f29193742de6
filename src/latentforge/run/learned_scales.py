"""What training fits beside the network's weights: a learned likelihood sigma set to the decoder's residual
after the last epoch, and a VAE's two-stage prior sampler fitted to the encoded training data afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trained import TrainedModel

#: training rows the first epoch's residual is measured on
SCALE_ROWS = 4096


def scale_callback(net, first: dict, notes: list):
    """After the last epoch: a learned likelihood sigma set to the decoder's residual on ``first`` (a few
    training rows), its maximum-likelihood value for the trained decoder, so that the predictive intervals are
    calibrated whatever sigma's start and however far Adam moved it; the sentence goes to ``notes``."""

    def set_scales(trainer, row: dict) -> None:
        # set once training is over: set after the first epoch, a sigma as wide as an untrained decoder's
        # residual let the KL term win (a VAE on 400 sines then ignored its codes: reconstruction MSE 0.125
        # against 0.025 with the default start); the last epoch's residual is the maximum-likelihood sigma of
        # the decoder the run keeps
        if row.get("epoch") != trainer.config.epochs:
            return
        dev = next(net.parameters()).device
        b = {k: v.to(dev) for k, v in first.items()}
        was = net.training
        net.eval()
        said = net.start_scales_from_residual(b["x"], b.get("mask"), b.get("c"))
        net.train(was)
        if said:
            notes.append(said)

    return set_scales


def fit_prior_sampler(run: TrainedModel, batch: dict, *, seed: int) -> str:
    """Fit a VAE's prior sampler (gmm / flow) to the posterior means of the training rows in ``batch``."""
    from ..objectives.elbo import model_input

    net: Any = run.model  # a VAE (checked by the caller through its prior_sampler)
    codes = run.infer(lambda s: net.encode(model_input(s), s.get("c")), batch).numpy()
    return net.fit_prior_sampler(codes, seed=seed)
