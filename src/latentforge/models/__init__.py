"""Networks with encode / decode / sample; no losses here."""

from .autoencoder import Autoencoder, ConvAutoencoder, LinearAutoencoder, MLPAutoencoder, TiedAutoencoder
from .distributions import DiagonalGaussian, standard_normal_log_prob
from .vae import VAE, ConvVAE, MLPVAE

__all__ = ["VAE", "Autoencoder", "ConvAutoencoder", "ConvVAE", "DiagonalGaussian", "LinearAutoencoder",
           "MLPAutoencoder", "MLPVAE", "TiedAutoencoder", "standard_normal_log_prob"]
