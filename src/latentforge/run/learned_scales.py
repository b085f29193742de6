"""What training fits beside the network's weights: a learned likelihood sigma set to the decoder's residual
after the last epoch, the scale of the calibrated reconstruction predictive, and a VAE's two-stage prior sampler
fitted to the encoded training data afterwards."""

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


#: training rows a streamed run encodes for its prior sampler, about (from chunks spread over the file)
STREAM_PRIOR_ROWS = 20000


def fit_prior_sampler(run: TrainedModel, batch: Any, *, seed: int) -> str:
    """Fit a VAE's prior sampler (gmm / flow) to the posterior means of the training rows in ``batch`` (a batch
    dict; or a stream of training rows, of which about STREAM_PRIOR_ROWS from chunks spread over the file are
    encoded a batch at a time)."""
    import numpy as np

    from ..objectives.elbo import model_input

    net: Any = run.model  # a VAE (checked by the caller through its prior_sampler)
    if hasattr(batch, "spread"):
        codes = np.concatenate([run.infer(lambda s: net.encode(model_input(s), s.get("c")), b).numpy()
                                for b in batch.spread(1024, STREAM_PRIOR_ROWS)])
    else:
        codes = run.infer(lambda s: net.encode(model_input(s), s.get("c")), batch).numpy()
    return net.fit_prior_sampler(codes, seed=seed)


PREDICTIVE_NOTE = "reconstruction predictive calibrated"
#: the level whose central interval the predictive scale makes exact on the calibration rows: mean +- 1 std
ONE_SIGMA = 0.6826894921370859


def fit_predictive_scale(run: TrainedModel, batch: dict, where: str) -> str | None:
    """Calibrate a VAE's reconstruction predictive on model-space rows ``batch`` (its validation rows; rows it did
    not train on where there are some): the factor c by which the predictive widens (c > 1) or narrows (c < 1)
    about its mean is the split-conformal multiplier (Vovk et al. 2005; Lei et al. 2018) of the one-sigma level,
    the finite-sample ceil((n + 1) a) / n quantile of |x - m| / s, so that m +- c s holds 68.3 % of such rows'
    values. Why it is needed: the predictive of x mixes decoder means over z ~ q(z|x), a posterior computed from
    x itself; whenever the codes carry most of the variance, the spread of those means alone exceeds the
    residual x - m (a linear-Gaussian VAE: Var_q[mu] = w^2 sigma^2 against a residual sigma^4, for
    w^2 + sigma^2 = 1), and the model's own intervals over-cover (99 % at one sigma on a Gaussian toy). Sets
    ``run.model.predictive_scale`` and returns a sentence, or None for a model without a continuous predictive."""
    import torch

    from ..analysis.calibration import applies, conformal_multipliers, mixture_scores

    net: Any = run.model
    if not hasattr(net, "predictive_scale") or applies(run) is not None:
        return None
    rows = {k: v[:SCALE_ROWS] for k, v in batch.items() if k in ("x", "mask", "c", "sigma")}
    net.predictive_scale.fill_(1.0)
    sc = mixture_scores(run, rows, seed=0).numpy()
    keep = ~rows["mask"].reshape(len(sc), -1).numpy() if "mask" in rows else None
    c = conformal_multipliers(sc[:, 1], keep, (ONE_SIGMA,))[ONE_SIGMA]
    if not (c > 0 and torch.isfinite(torch.tensor(c))):
        return None
    net.predictive_scale.fill_(c)
    said = run.data_info.get("chosen_from_data", [])
    said[:] = [s for s in said if not s.startswith(PREDICTIVE_NOTE)]  # a resumed run refits it: one sentence
    return (f"{PREDICTIVE_NOTE} on {where} ({len(sc)}): its intervals scaled by {c:.3g} so that "
            "mean +- 1 std holds 68.3 % of their values (the model's own predictive "
            f"{'over' if c < 1 else 'under'}states the residual)")
