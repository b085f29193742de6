"""Networks with encode / decode / sample / discriminate, each declaring its capabilities; no losses here."""

from .autoencoder import (ConvAutoencoder, ConvAutoencoderConfig, LinearAutoencoder, LinearAutoencoderConfig,
                          MLPAutoencoder, MLPAutoencoderConfig, TiedAutoencoder)
from .base import ConfiguredModel, Decodes, Discriminates, Encodes, HasPosterior, HasPrior, Translates
from .cyclegan import CycleGAN, CycleGANConfig
from .distributions import Bernoulli, DiagonalGaussian, Gaussian, Hurdle, standard_normal_log_prob
from .gan import DCGAN, GAN, MLPGAN, DCGANConfig, MLPGANConfig
from .likelihoods import LIKELIHOODS
from .vae import VAE, ConvVAE, ConvVAEConfig, MLPVAE, VAEConfig

__all__ = ["DCGAN", "GAN", "LIKELIHOODS", "MLPGAN", "MLPVAE", "VAE", "Bernoulli", "ConfiguredModel", "ConvAutoencoder",
           "ConvAutoencoderConfig", "ConvVAE", "ConvVAEConfig", "CycleGAN", "CycleGANConfig", "DCGANConfig", "Decodes",
           "DiagonalGaussian", "Discriminates", "Encodes", "Gaussian", "HasPosterior", "HasPrior", "Hurdle",
           "LinearAutoencoder", "LinearAutoencoderConfig", "MLPAutoencoder", "MLPAutoencoderConfig", "MLPGANConfig",
           "TiedAutoencoder", "Translates", "VAEConfig", "standard_normal_log_prob"]
