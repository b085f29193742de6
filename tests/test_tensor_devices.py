"""Every tensor a model, distribution, objective or inference method makes is made on the model's device.

Checked without a GPU in two ways:

- ``FactoryGuard``, a torch function mode, fails every tensor factory (``torch.zeros``, ``torch.randn``,
  ``torch.tensor`` ...) called from the project's model, objective, network, run or analysis code without a
  ``device=``, and every random draw whose generator lives on another device than the tensor it fills (CUDA
  refuses those; the CPU does not). It watches every catalogue model, each decoder likelihood, through its loss,
  inference, metrics and a short training run.
- The ``meta`` device: a network moved there computes shapes only, and refuses any CPU tensor mixed into its
  work, as a GPU does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import latentforge as lf
from latentforge.models import Decodes, Discriminates, Encodes, HasPosterior, HasPrior, Translates
from test_contract import TINY, B, batch_for, build, losses, trained_model

PACKAGE = Path(lf.__file__).resolve().parent
#: where every factory call must name its device
WATCHED = tuple(str(PACKAGE / part) for part in ("models", "objectives", "nn", "run", "analysis"))
FACTORIES = {torch.randn, torch.rand, torch.randint, torch.randperm, torch.zeros, torch.ones, torch.empty,
             torch.full, torch.arange, torch.linspace, torch.logspace, torch.eye, torch.tensor, torch.as_tensor,
             torch.scalar_tensor, torch.empty_strided, torch.tril_indices, torch.triu_indices}


def _device_of(args, kwargs) -> torch.device:
    if kwargs.get("device") is not None:
        return torch.device(kwargs["device"])
    first = next((a for a in args if torch.is_tensor(a)), None)
    return first.device if first is not None else torch.device("cpu")


class FactoryGuard(TorchFunctionMode):
    """Records (and with ``strict`` raises on) factory calls without ``device=`` made from the project's code
    under ``WATCHED``, and generator draws whose generator and target devices differ (from the project's code
    anywhere)."""

    def __init__(self, strict: bool = True):
        super().__init__()
        self.strict = strict
        self.faults: list[str] = []
        self.checked = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        caller = sys._getframe(1)
        where = caller.f_code.co_filename
        if where.startswith(str(PACKAGE)):
            fault = None
            factory = func in FACTORIES or (func is torch.normal and not any(torch.is_tensor(a) for a in args))
            if factory and where.startswith(WATCHED):
                self.checked += 1
                if kwargs.get("device") is None:
                    fault = f"{func.__name__} without device="
            gen = kwargs.get("generator")
            if fault is None and gen is not None and gen.device != _device_of(args, kwargs):
                fault = (f"{func.__name__} draws from a generator on {gen.device} for a tensor on "
                         f"{_device_of(args, kwargs)}")
            if fault:
                line = f"{Path(where).relative_to(PACKAGE)}:{caller.f_lineno}: {fault}"
                self.faults.append(line)
                if self.strict:
                    raise AssertionError(line)
        return func(*args, **kwargs)


def probe(code: str, part: str = "models") -> None:
    """Run ``code`` as if it were a line of the package (a file name under ``part``)."""
    exec(compile(code, str(PACKAGE / part / "probe.py"), "exec"), {"torch": torch})


def test_the_guard_fails_what_it_should_and_passes_the_rest():
    with FactoryGuard() as guard:
        with pytest.raises(AssertionError, match=r"models/probe.py:1: zeros without device="):
            probe("torch.zeros(3)")
        with pytest.raises(AssertionError, match="randn without device="):
            probe("torch.randn(2, 3, generator=torch.Generator().manual_seed(0))", "objectives")
        with pytest.raises(AssertionError, match="generator on cpu for a tensor on meta"):
            probe("torch.randn(2, generator=torch.Generator(), device='meta')", "run")
        with pytest.raises(AssertionError, match="bernoulli draws from a generator on cpu for a tensor on meta"):
            probe("torch.bernoulli(torch.ones(2, device='meta'), generator=torch.Generator())")
        probe("torch.zeros(3, device='cpu'); torch.randn(2, generator=torch.Generator(), device='cpu')")
        probe("torch.zeros(3)", "data")  # only the model / objective / network / run / analysis code is watched
        torch.zeros(3)  # nor is the test's own code
    assert guard.checked == 6


def vae_with(likelihood: str):
    torch.manual_seed(0)
    return lf.build("vae", TINY["vae"][1], likelihood=likelihood, **TINY["vae"][0])


def exercise_network(name, model, objective, b):
    """Everything a network, its distributions and its objective do on one batch, as training and evaluation
    use them."""
    g = torch.Generator(device=b["x"].device).manual_seed(0)
    model.train()
    for player, loss in losses(name, model, objective, b).items():
        loss.backward()
    model.eval()
    c = b.get("c")
    with torch.no_grad():
        if isinstance(model, Encodes):
            model.encode(b["x"], c)
        if isinstance(model, HasPosterior):
            q = model.encode_dist(b["x"], c)
            p = model.decode_dist(q.sample(g), c)
            p.log_prob(b["x"], b.get("sigma"), b.get("mask"))
            p.sample(g), p.generate(g), p.mean, p.stddev
            if hasattr(p, "signal_posterior"):
                p.signal_posterior(b["x"], torch.full_like(b["x"], 0.1))
        if isinstance(model, Decodes):
            model.decode(torch.zeros(B, model.latent_dim, device=b["x"].device), c)
        if isinstance(model, HasPrior):
            model.sample(B, c, g)
            model.sample(B, c)
        if isinstance(model, Discriminates):
            model.discriminate(b["x"], c)
        if isinstance(model, Translates):
            model.translate(b["x"], "a_to_b")


CASES = sorted(TINY) + [f"vae:{lk}" for lk in ("bernoulli", "gaussian", "gaussian-shared", "gaussian-hetero",
                                                "hurdle")]


def case(name):
    if name.startswith("vae:"):
        model, objective = vae_with(name[4:])
        return "vae", model, objective
    model, objective = build(name)
    return name, model, objective


@pytest.mark.parametrize("name", CASES)
def test_networks_and_objectives_name_the_device_of_every_tensor(name):
    name, model, objective = case(name)
    b = batch_for(name, model)
    if model.config.to_dict().get("likelihood") == "hurdle":
        b["x"] = torch.where(b["x"] < 0.3, 0.0, b["x"])  # sparse data, with exact zeros
    with FactoryGuard() as guard:
        exercise_network(name, model, objective, b)
        objective.metrics(model, {k: v for k, v in b.items() if k != "x_b"}, seed=0, k=4)
    assert guard.checked > 0 or not isinstance(model, HasPrior)  # a sampler draws: the guard saw it


@pytest.mark.parametrize("name", sorted(TINY))
def test_inference_methods_name_the_device_of_every_tensor(name):
    run = trained_model(name)
    x = np.random.default_rng(0).uniform(0, 2, size=(B, *TINY[name][1])).astype(np.float32)
    cond = np.arange(B) % 3 if run.conditional else None
    z = np.zeros((B, run.model.latent_dim), np.float32)
    with FactoryGuard():
        if run.can("encoding"):
            run.encode(x, cond), run.reconstruct(x, cond)
        if run.can("decoding"):
            run.decode(z, cond)
        if run.can("sampling"):
            run.sample(B, cond, seed=1)
        if run.can("posterior"):
            run.predict(x, samples=3, condition=cond)
            run.log_likelihood(x, k=4, condition=cond)
            if getattr(getattr(run.model, "likelihood", None), "gaussian", False):  # a Gaussian decoder denoises
                from latentforge.data import ArrayDataset

                run.denoise(ArrayDataset(x, sigma=np.full_like(x, 0.1)), samples=3, condition=cond)
        if run.can("scoring"):
            run.score(x, cond)
        if run.can("translating"):
            run.translate(x, "b_to_a")
        if run.can("corrupting"):
            run.add_noise(x, seed=0)
        if run.can("decoding") and not run.conditional:
            from latentforge.analysis.inversion import inpaint

            mask = np.zeros(x.shape[1:], bool)
            mask[..., : x.shape[-1] // 2] = True
            inpaint(run, x, mask, steps=2)


@pytest.mark.parametrize("name", ["vae", "beta-tcvae", "gan", "wgan-gp", "cgan", "denoising-ae", "sparse-ae",
                                  "cyclegan"])
def test_training_and_evaluation_name_the_device_of_every_tensor(name, digits):
    opts = {k: v for k, v in TINY[name][0].items() if k not in ("condition_dim", "dataset_size")}
    data = lf.as_dataset(digits.x[:64], labels=digits.y[:64])
    extra = {"data_b": lf.as_dataset(digits.x[64:128].max() - digits.x[64:128])} if name == "cyclegan" else {}
    if name == "cgan":
        extra["condition"] = "label"
    with FactoryGuard():
        run = lf.train(name, data, epochs=1, batch_size=16, progress=False, **opts, **extra)
        run.objective.metrics(run.model, run.batch(data.x[:16], data.y[:16] if run.conditional else None), k=4)


# ---------------------------------------------------------------------------------------------- the meta device
def to_meta(b):
    return {k: v.to("meta") for k, v in b.items()}


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_network_on_the_meta_device_makes_no_cpu_tensor(name):
    """A GPU's rule without a GPU: on ``meta`` any CPU tensor mixed into the work is an error (0-dim scalars
    aside, as on CUDA). Noise from a CPU stream and from none are both tried."""
    model, objective = build(name)
    model.to("meta")
    b = to_meta(batch_for(name, model))
    c = b.get("c")
    model.eval()
    with torch.no_grad():
        if isinstance(model, Encodes):
            assert model.encode(b["x"], c).device.type == "meta"
        if isinstance(model, HasPosterior):
            q = model.encode_dist(b["x"], c)
            z = q.sample(torch.Generator().manual_seed(0))
            assert z.device.type == "meta"
            p = model.decode_dist(z, c)
            p.sample(torch.Generator().manual_seed(0))
        if isinstance(model, HasPrior):
            assert model.sample(B, c, torch.Generator().manual_seed(0)).device.type == "meta"
            assert model.sample(B, c).device.type == "meta"
        if isinstance(model, Discriminates):
            assert model.discriminate(b["x"], c).device.type == "meta"
        if isinstance(model, Translates):
            assert model.translate(b["x"], "a_to_b").device.type == "meta"


def test_a_hurdle_decoder_on_the_meta_device_samples_there():
    model, _ = vae_with("hurdle")
    model.to("meta")
    with torch.no_grad():
        out = model.sample(4, None, torch.Generator().manual_seed(0))  # the fault: noise drawn on the CPU
    assert out.device.type == "meta" and out.shape == (4, *TINY["vae"][1])
