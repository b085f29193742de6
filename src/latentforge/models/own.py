"""Your own networks inside the catalogue's models: an ``nn.Module`` encoder and decoder in an autoencoder or a
VAE, a generator and a discriminator in a GAN, trained by the model's objective and the trainer like the
built-in ones.

The contract, for examples of shape S in the model's space (``(C, H, W)`` for images, channels first; ``(D,)``
for a table or a 1-D signal; a batch is (B, *S)) and codes of ``latent_dim`` numbers:

============  ==================================  =====================================================
role          takes                               gives
============  ==================================  =====================================================
encoder (ae)  examples (B, *S)                    codes (B, latent_dim)
encoder (vae) examples (B, *S)                    (B, 2 * latent_dim): the posterior's means, then its
                                                  log-variances (q(z|x) = N(mean, exp(logvar)))
decoder (ae)  codes (B, latent_dim)               (B, *S) or (B, prod(S)), before the ``output`` map
decoder (vae) codes (B, latent_dim)               the likelihood's parameters: (B, k * C, *S[1:]) or
                                                  (B, k * prod(S)), k numbers per output point stacked
                                                  on dimension 1 (1: bernoulli logits, gaussian means;
                                                  2 gaussian-hetero: means, log sigmas; 3 hurdle)
generator     noise (B, latent_dim)               (B, *S) or (B, prod(S)) before the ``output`` map
                                                  (tanh by default, mapped to the scaled range [0, 1])
discriminator examples (B, *S) in [-1, 1]         (B,) or (B, 1) logits (critic scores for a WGAN)
============  ==================================  =====================================================

Each network is checked once when the model is built, on a batch of two zero examples (codes) in evaluation
mode: a failure, or an output of another shape, is a one-line ConfigError naming the shapes expected and got.
The networks are the user's code: a run saves their weights (safetensors) and their class names, never the
code, so loading a run needs the same modules passed again.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from ..config import Config
from ..data.conditions import NO_CONDITION
from ..errors import ConfigError
from .autoencoder import Autoencoder, ConvAutoencoder, MLPAutoencoder
from .gan import DCGAN, GAN, MLPGAN
from .vae import VAE, ConvVAE, MLPVAE

#: the keyword arguments that hand a model your own networks
NETWORK_ROLES = ("encoder", "decoder", "generator", "discriminator")
#: options that shape only the built-in networks: with your own they would do nothing, so they are refused
ARCHITECTURE_OPTIONS = frozenset({"hidden", "activation", "channels", "kernel_size", "upsample", "g_hidden",
                                  "d_hidden", "dropout", "minibatch_std", "g_channels", "d_channels", "norm"})
#: rows of the batch each network is checked on
PROBE_ROWS = 2


def module_name(module: nn.Module) -> str:
    """``module.qualname`` of a network's class: what a run records of it (never its code)."""
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _first_device(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next((t for t in module.parameters() if t.is_floating_point()), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def _shape(s) -> str:
    return "(" + ", ".join(map(str, s)) + ")"


def probe(role: str, net: nn.Module, given: tuple[int, ...], wanted: list[tuple[int, ...]], meaning: str,
          fix: Callable[[tuple[int, ...] | None], str] | None = None) -> None:
    """Run ``net`` once on zeros of shape ``given`` (evaluation mode, no gradients, its mode restored); ConfigError
    (one line) when it fails or its output's shape is none of ``wanted``, ending with ``fix(shape got)`` (the
    shape is None when the network failed): a change that makes them agree."""
    if not isinstance(net, nn.Module):
        raise ConfigError(f"{role}= takes a torch.nn.Module, got {type(net).__name__}")
    device, dtype = _first_device(net)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(given, device=device, dtype=dtype))
    except Exception as e:  # the user's module: any failure is reported as a mismatch of shapes
        said = " ".join(str(e).split())
        raise ConfigError(f"your {role} fails on a batch of shape {_shape(given)}: {type(e).__name__}: {said}; "
                          f"it must map {_shape(given)} to {_shape(wanted[0])} ({meaning})"
                          + (fix(None) if fix else "")) from None
    finally:
        net.train(was_training)
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if got not in wanted:
        shown = _shape(got) if got is not None else f"a {type(out).__name__}"
        options = " or ".join(_shape(w) for w in wanted)
        raise ConfigError(f"your {role} maps a batch of shape {_shape(given)} to {shown}; it must give {options} "
                          f"({meaning})" + (fix(got) if fix else ""))


def _flat_or_shaped(rows: int, shape: tuple[int, ...], k: int = 1) -> list[tuple[int, ...]]:
    """The output shapes accepted for k numbers per point of examples ``shape``: stacked on dimension 1, or flat."""
    shaped = (rows, k * shape[0], *shape[1:])
    flat = (rows, k * math.prod(shape))
    return [shaped] if shaped == flat else [shaped, flat]


def codes_fix(latent_dim: int, per_code: int = 0,
              example: tuple[int, ...] = ()) -> Callable[[tuple[int, ...] | None], str]:
    """The advice on a network's shapes. One that gives ``per_code`` numbers per code (an encoder, taking
    examples of shape ``example``): the latent_dim its output implies, or, when it failed, the shape its input
    has. One that takes codes (``per_code`` == 0): when it failed, the latent_dim it was given."""
    def fix(got: tuple[int, ...] | None) -> str:
        if per_code and got is not None and len(got) == 2 and got[1] % per_code == 0 and got[1] // per_code > 0:
            return f"; pass latent_dim={got[1] // per_code} to match it, or change its last layer"
        if per_code and got is None:
            return (f"; it receives each example as the model sees it, of shape {_shape(example)} (images channels "
                    "first; a fully connected network starts with nn.Flatten())")
        if not per_code and got is None:
            return f"; it was given latent_dim={latent_dim}: pass the latent_dim your networks take"
        return ""

    return fix


def _check_config(family: str, config: Config, accepted: tuple[type, ...]) -> None:
    if not isinstance(config, accepted):
        raise ConfigError(f"own networks in a {family} need one of {', '.join(c.__name__ for c in accepted)}, got "
                          f"{type(config).__name__}")
    if getattr(config, "condition", NO_CONDITION) != NO_CONDITION:
        raise ConfigError("your own networks take no condition vector; train an unconditional model "
                          "(condition='none'), or the built-in networks for a conditional one")


class OwnAutoencoder(Autoencoder):
    """An autoencoder (``ae``, ``conv-ae``, ``denoising-ae``, ``sparse-ae`` ...) around your encoder and decoder;
    the config's ``output`` and ``code_activation`` still apply."""

    config_class = Config  # checked in __init__: the configs of the models that accept own networks

    def __init__(self, config, encoder: nn.Module, decoder: nn.Module):
        _check_config("autoencoder", config, (MLPAutoencoder.config_class, ConvAutoencoder.config_class))
        super().__init__(config)
        b, d = PROBE_ROWS, config.latent_dim
        probe("encoder", encoder, (b, *self.input_shape), [(b, d)], "examples to codes of latent_dim numbers",
              codes_fix(d, 1, self.input_shape))
        probe("decoder", decoder, (b, d), _flat_or_shaped(b, self.input_shape),
              "codes to examples, before the output map", codes_fix(d))
        self.encoder, self.decoder = encoder, decoder
        self.own_networks = {"encoder": module_name(encoder), "decoder": module_name(decoder)}

    def _encode(self, x):
        return self.encoder(x)

    def _decode(self, z):
        return self.decoder(z).reshape(z.shape[0], *self.input_shape)


class OwnVAE(VAE):
    """A VAE (``vae``, ``conv-vae``, ``beta-tcvae``) around your encoder (to the posterior's means and
    log-variances) and decoder (to the likelihood's parameters)."""

    config_class = Config

    def __init__(self, config, encoder: nn.Module, decoder: nn.Module):
        _check_config("VAE", config, (MLPVAE.config_class, ConvVAE.config_class))
        super().__init__(config)
        b, d = PROBE_ROWS, config.latent_dim
        probe("encoder", encoder, (b, *self.input_shape), [(b, 2 * d)],
              "examples to the posterior's latent_dim means, then its latent_dim log-variances",
              codes_fix(d, 2, self.input_shape))
        k = self.out_factor
        per_point = {1: "one number per output point", 2: "2 numbers per output point stacked on dimension 1: "
                     "means, then log sigmas", 3: "3 numbers per output point stacked on dimension 1: means, log "
                     "sigmas, logits of being non-zero"}[k]
        probe("decoder", decoder, (b, d), _flat_or_shaped(b, self.input_shape, k),
              f"codes to the {config.likelihood} likelihood's parameters, {per_point}", codes_fix(d))
        self.encoder, self.decoder = encoder, decoder
        self.own_networks = {"encoder": module_name(encoder), "decoder": module_name(decoder)}

    def _encode(self, x, c):
        return self.encoder(x)

    def _decode(self, z, c):
        out = self.decoder(z)
        return out.reshape(z.shape[0], self.out_factor * self.input_shape[0], *self.input_shape[1:])


class OwnGAN(GAN):
    """A GAN (``gan``, ``dcgan``, ``wgan-gp``, ``conv-wgan-gp``) around your generator and discriminator; the
    config's ``output``, ``ema_decay`` and ``spectral_norm`` still apply."""

    config_class = Config

    def __init__(self, config, generator: nn.Module, discriminator: nn.Module):
        _check_config("GAN", config, (MLPGAN.config_class, DCGAN.config_class))
        super().__init__(config)
        b, d = PROBE_ROWS, config.latent_dim
        probe("generator", generator, (b, d), _flat_or_shaped(b, self.input_shape),
              "noise of latent_dim numbers to examples, before the output map", codes_fix(d))
        probe("discriminator", discriminator, (b, *self.input_shape), [(b,), (b, 1)], "examples to one logit each")
        self.generator, self.discriminator = generator, discriminator
        self.own_networks = {"generator": module_name(generator), "discriminator": module_name(discriminator)}
        self._finish()

    def _generate(self, net, z, c):
        return net(z)

    def _discriminate(self, x, c):
        return self.discriminator(x)


#: catalogue network class -> (the class holding your networks, the roles it takes)
OWN_FAMILIES: dict[type, tuple[type, tuple[str, ...]]] = {
    MLPAutoencoder: (OwnAutoencoder, ("encoder", "decoder")),
    ConvAutoencoder: (OwnAutoencoder, ("encoder", "decoder")),
    MLPVAE: (OwnVAE, ("encoder", "decoder")),
    ConvVAE: (OwnVAE, ("encoder", "decoder")),
    MLPGAN: (OwnGAN, ("generator", "discriminator")),
    DCGAN: (OwnGAN, ("generator", "discriminator")),
}


def own_model(name: str, model_class: type, config: Config, networks: Mapping[str, Any],
              takers: Sequence[str] = ()) -> nn.Module:
    """The network of catalogue model ``name`` (built-in class ``model_class``) with your ``networks`` (a dict
    role -> nn.Module) in place of its own. ConfigError for a model that takes no own networks (``takers``: the
    catalogue names that do, for the message), a role it does not have, a missing role, or a network of the
    wrong shapes (``probe``)."""
    family = OWN_FAMILIES.get(model_class)
    if family is None:
        raise ConfigError(f"model {name!r} takes no networks of your own; these do: {', '.join(takers)}")
    cls, roles = family
    wrong = sorted(set(networks) - set(roles))
    missing = [r for r in roles if networks.get(r) is None]
    if wrong or missing:
        said = f"not {', '.join(w + '=' for w in wrong)}" if wrong else f"{', '.join(m + '=' for m in missing)} too"
        raise ConfigError(f"model {name!r} takes {' and '.join(r + '=' for r in roles)}; give both ({said})")
    return cls(config, *(networks[r] for r in roles))


def check_own_networks(run_dir: Any, saved: dict[str, str], given: Mapping[str, nn.Module], *,
                       resume: bool = False) -> None:
    """ConfigError unless ``given`` holds exactly the roles of the run's own networks (``saved``: role -> class
    name, from config.json): a run directory holds their weights, never their code. ``resume``: the advice names
    ``lf.train(..., resume=True)`` rather than ``lf.load``."""
    if not saved and given:
        raise ConfigError(f"{run_dir} was trained with latentforge's own networks; drop "
                          f"{', '.join(k + '=' for k in given)}")
    missing = [r for r in saved if given.get(r) is None]
    wrong = sorted(set(given) - set(saved))
    if missing or wrong:
        call = ", ".join(f"{r}={name.rsplit('.', 1)[-1]}(...)" for r, name in saved.items())
        how = (f"lf.train(MODEL, DATA, out={str(run_dir)!r}, resume=True, {call})" if resume
               else f"lf.load({str(run_dir)!r}, {call})")
        raise ConfigError(f"{run_dir} was trained with your own networks ({', '.join(saved.values())}); a run holds "
                          f"their weights, not their code: {'resume' if resume else 'load'} it from Python as "
                          f"{how} with the modules built as in training")
