"""The model catalogue: each name ties a network class to its objective and their default options.

``build("denoising-ae", input_shape=(1, 28, 28), latent_dim=8, noise_level=0.3)`` routes each option to
the config that owns it and refuses options that neither owns. A new model is one entry here (plus its
network or objective class where it needs a new one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import ConfigError
from .models import (DCGAN, MLPGAN, ConvAutoencoder, ConvVAE, CycleGAN, LinearAutoencoder, MLPAutoencoder, MLPVAE,
                     TiedAutoencoder)
from .data.conditions import NO_CONDITION
from .models.own import NETWORK_ROLES, OWN_FAMILIES, own_model
from .objectives import (CycleGANObjective, DenoisingObjective, ELBOObjective, GANObjective, ReconstructionObjective,
                         SparseObjective)
from .objectives.tcvae import TCVAEObjective
from .registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """A catalogue entry: network class, objective class, a one-line summary and default options."""

    name: str
    model_class: type[Any]
    objective_class: type[Any]
    summary: str
    model_defaults: dict = field(default_factory=dict)
    objective_defaults: dict = field(default_factory=dict)
    train_defaults: dict = field(default_factory=dict)  # TrainConfig values this model starts from

    @property
    def model_config_class(self) -> type[Config]:
        return self.model_class.config_class

    @property
    def objective_config_class(self) -> type[Config]:
        return self.objective_class.config_class

    def option_names(self) -> set[str]:
        return (self.model_config_class.field_names() | self.objective_config_class.field_names()) - {"input_shape"}

    def split_options(self, options: dict[str, Any]) -> tuple[dict, dict]:
        """Route options to (model config, objective config); ConfigError names any option neither owns."""
        m_names = self.model_config_class.field_names()
        o_names = self.objective_config_class.field_names()
        unknown = sorted(set(options) - m_names - o_names)
        if unknown:
            raise ConfigError(
                f"model {self.name!r} has no option(s) {', '.join(unknown)}; its options: "
                f"{', '.join(sorted(self.option_names()))}"
            )
        m = {**self.model_defaults, **{k: v for k, v in options.items() if k in m_names}}
        o = {**self.objective_defaults, **{k: v for k, v in options.items() if k in o_names}}
        return m, o

    def default(self, option: str) -> Any:
        """The value an option takes when the user gives none (this entry's default, else the config's)."""
        for defaults, cls in ((self.model_defaults, self.model_config_class),
                              (self.objective_defaults, self.objective_config_class)):
            fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # a Config mixin
            if option in fields:
                return defaults.get(option, fields[option].default)
        raise ConfigError(f"model {self.name!r} has no option {option!r}")

    def configs(self, input_shape=(), **options):
        m, o = self.split_options(options)
        if input_shape:
            m["input_shape"] = tuple(int(s) for s in input_shape)
        return self.model_config_class(**m), self.objective_config_class(**o)

    def build(self, model_config, objective_config, networks: dict[str, Any] | None = None):
        """(network, objective) from their configs; the objective checks that it can train the network.
        ``networks``: your own ``nn.Module`` networks by role (encoder, decoder, generator, discriminator) in place
        of the built-in ones (``models.own``)."""
        model = (own_model(self.name, self.model_class, model_config, networks, takes_own_networks()) if networks
                 else self.model_class(model_config))
        objective = self.objective_class(objective_config)
        objective.check_model(model)
        return model, objective


MODELS: Registry[ModelSpec] = Registry("model")
WGAN_GP = {"loss": "wgan-gp", "n_critic": 5, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9}
#: the MLP GAN's stabilisers, on by default: without them its samples drop digit classes on MNIST (the README's
#: GAN section and benchmarks/gan_defaults.py give the figures): an EMA of the generator for sampling, the
#: minibatch standard deviation and spectral normalisation in a discriminator without dropout, and TTUR with
#: Adam betas (0, 0.9)
MLP_GAN_MODEL = {"ema_decay": 0.999, "minibatch_std": True, "spectral_norm": True, "dropout": 0.0}
MLP_GAN_GAME = {"lr_g": 2e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.9}

for _spec in [
    ModelSpec("ae", MLPAutoencoder, ReconstructionObjective,
              "MLP encoder / decoder with a narrow bottleneck"),
    ModelSpec("linear-ae", LinearAutoencoder, ReconstructionObjective,
              "linear encoder / decoder; learns the PCA subspace", objective_defaults={"loss": "mse"}),
    ModelSpec("tied-ae", TiedAutoencoder, ReconstructionObjective,
              "MLP autoencoder whose decoder uses the encoder's transposed weights"),
    ModelSpec("conv-ae", ConvAutoencoder, ReconstructionObjective,
              "Conv + MaxPool encoder, UpSampling / ConvTranspose decoder, any image size"),
    ModelSpec("denoising-ae", MLPAutoencoder, DenoisingObjective,
              "MLP autoencoder trained on corrupted inputs against clean targets", model_defaults={"latent_dim": 32}),
    ModelSpec("denoising-conv-ae", ConvAutoencoder, DenoisingObjective,
              "convolutional autoencoder trained on corrupted inputs against clean targets",
              model_defaults={"latent_dim": 32}),
    ModelSpec("sparse-ae", MLPAutoencoder, SparseObjective,
              "MLP autoencoder with an L1 or KL sparsity penalty on a wide code",
              model_defaults={"latent_dim": 64, "code_activation": "relu"}),
    ModelSpec("vae", MLPVAE, ELBOObjective,
              "MLP variational autoencoder: Bernoulli or Gaussian decoder (fixed, shared or per-output sigma)"),
    ModelSpec("conv-vae", ConvVAE, ELBOObjective, "convolutional variational autoencoder, any image size"),
    ModelSpec("beta-tcvae", MLPVAE, TCVAEObjective,
              "MLP VAE whose KL splits into mutual information, total correlation (weighted by --beta) and "
              "dimension-wise KL (Chen et al. 2018)"),
    ModelSpec("cvae", MLPVAE, ELBOObjective,
              "conditional VAE: encoder and decoder both see a class label or a parameter vector",
              model_defaults={"condition": "label"}),
    ModelSpec("gan", MLPGAN, GANObjective,
              "MLP generator and MLP discriminator (spectral norm, minibatch std; EMA generator for sampling); "
              "non-saturating or minimax game", model_defaults=MLP_GAN_MODEL, objective_defaults=MLP_GAN_GAME),
    ModelSpec("dcgan", DCGAN, GANObjective,
              "DCGAN: transposed-conv generator, strided-conv discriminator, batch norm where DCGAN puts it"),
    ModelSpec("wgan-gp", MLPGAN, GANObjective,
              "Wasserstein GAN with gradient penalty: MLP generator and critic, n_critic critic steps per step",
              model_defaults={"dropout": 0.0}, objective_defaults=WGAN_GP),
    ModelSpec("conv-wgan-gp", DCGAN, GANObjective,
              "Wasserstein GAN with gradient penalty on DCGAN networks (critic without batch norm)",
              model_defaults={"norm": "none"}, objective_defaults=WGAN_GP),
    ModelSpec("cgan", MLPGAN, GANObjective,
              "conditional GAN: generator and discriminator both see a class label or a parameter vector",
              model_defaults={"condition": "label"}),
    ModelSpec("cyclegan", CycleGAN, CycleGANObjective,
              "CycleGAN: unpaired translation between two data sets (--data and --data-b): two generators, two "
              "discriminators, cycle-consistency and identity losses (Zhu et al. 2017)"),
]:
    MODELS.register(_spec.name, _spec)


def takes_own_networks() -> list[str]:
    """The catalogue models that take your own networks: unconditional ones built on a class of ``OWN_FAMILIES``."""
    return [n for n, s in MODELS.items() if s.model_class in OWN_FAMILIES
            and s.model_defaults.get("condition", NO_CONDITION) == NO_CONDITION]


def build(name: str, input_shape, **options):
    """Build (model, objective) for a catalogue name with options routed to their configs; ``encoder=``,
    ``decoder=``, ``generator=`` and ``discriminator=`` put your own ``nn.Module`` networks in place of the
    built-in ones (``models.own`` gives their shapes). Raises ConfigError for an unknown name or option, or a
    network of the wrong shapes.

    Examples:
        >>> model, objective = build("vae", (1, 28, 28), latent_dim=2)
    """
    spec = MODELS.get(name)
    networks = {k: options.pop(k) for k in NETWORK_ROLES if k in options}
    model_config, objective_config = spec.configs(input_shape, **options)
    return spec.build(model_config, objective_config, networks)
