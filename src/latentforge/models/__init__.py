"""Networks with encode / decode / sample; no losses here."""

from .autoencoder import Autoencoder, ConvAutoencoder, LinearAutoencoder, MLPAutoencoder, TiedAutoencoder

__all__ = ["Autoencoder", "ConvAutoencoder", "LinearAutoencoder", "MLPAutoencoder", "TiedAutoencoder"]
