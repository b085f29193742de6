"""Loss terms and objectives."""

from .autoencoder import DenoisingObjective, ReconstructionObjective, SparseObjective
from .elbo import ELBOObjective, importance_weights, iwae_bound
from .likelihoods import bernoulli_log_likelihood, gaussian_log_likelihood, log_likelihood
from .losses import bce_with_logits, kl_sparsity, l1_activity, squared_error

__all__ = ["DenoisingObjective", "ELBOObjective", "ReconstructionObjective", "SparseObjective",
           "bce_with_logits", "bernoulli_log_likelihood", "gaussian_log_likelihood", "importance_weights",
           "iwae_bound", "kl_sparsity", "l1_activity", "log_likelihood", "squared_error"]
