"""Networks with encode / decode / sample / discriminate, each declaring its capabilities; no losses here."""

from .autoencoder import (ConvAutoencoder, ConvAutoencoderConfig, LinearAutoencoder, LinearAutoencoderConfig,
                          MLPAutoencoder, MLPAutoencoderConfig, TiedAutoencoder)
from .base import ConfiguredModel, Decodes, Discriminates, Encodes, HasPosterior, HasPrior
from .distributions import Bernoulli, DiagonalGaussian, Gaussian, Hurdle, standard_normal_log_prob
from .gan import DCGAN, GAN, MLPGAN, DCGANConfig, MLPGANConfig
from .likelihoods import LIKELIHOODS
from .spectrum import SpectrumVAE, SpectrumVAEConfig
from .vae import VAE, ConvVAE, ConvVAEConfig, MLPVAE, VAEConfig

__all__ = ["DCGAN", "GAN", "LIKELIHOODS", "MLPGAN", "VAE", "Bernoulli", "ConfiguredModel", "ConvAutoencoder",
           "ConvAutoencoderConfig", "ConvVAE", "ConvVAEConfig", "DCGANConfig", "Decodes", "DiagonalGaussian",
           "Discriminates", "Encodes", "Gaussian", "HasPosterior", "HasPrior", "Hurdle", "LinearAutoencoder",
           "LinearAutoencoderConfig", "MLPAutoencoder", "MLPAutoencoderConfig", "MLPGANConfig", "MLPVAE",
           "SpectrumVAE", "SpectrumVAEConfig", "TiedAutoencoder", "VAEConfig", "standard_normal_log_prob"]
