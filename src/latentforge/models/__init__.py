"""Networks with encode / decode / sample; no losses here."""

from .autoencoder import Autoencoder, ConvAutoencoder, LinearAutoencoder, MLPAutoencoder, TiedAutoencoder
from .distributions import DiagonalGaussian, standard_normal_log_prob
from .gan import DCGAN, GAN, MLPGAN
from .spectrum import SpectrumVAE
from .vae import VAE, ConvVAE, MLPVAE

__all__ = ["DCGAN", "GAN", "MLPGAN", "VAE", "Autoencoder", "ConvAutoencoder", "ConvVAE", "DiagonalGaussian", "LinearAutoencoder",
           "MLPAutoencoder", "MLPVAE", "SpectrumVAE", "TiedAutoencoder", "standard_normal_log_prob"]
