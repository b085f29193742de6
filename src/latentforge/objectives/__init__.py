"""Loss terms and objectives."""

from .autoencoder import DenoisingObjective, ReconstructionObjective, SparseObjective
from .elbo import ELBOObjective, importance_weights, iwae_bound
from .gan import GANObjective
from .likelihoods import bernoulli_log_likelihood, gaussian_log_likelihood, log_likelihood
from .losses import (bce_with_logits, critic_wasserstein, discriminator_bce, generator_minimax,
                     generator_nonsaturating, gradient_penalty, kl_sparsity, l1_activity, squared_error)

__all__ = ["DenoisingObjective", "ELBOObjective", "GANObjective", "critic_wasserstein", "discriminator_bce",
           "generator_minimax", "generator_nonsaturating", "gradient_penalty", "ReconstructionObjective", "SparseObjective",
           "bce_with_logits", "bernoulli_log_likelihood", "gaussian_log_likelihood", "importance_weights",
           "iwae_bound", "kl_sparsity", "l1_activity", "log_likelihood", "squared_error"]
