"""Loss terms and objectives."""

from .autoencoder import DenoisingObjective, ReconstructionObjective, SparseObjective
from .losses import bce_with_logits, kl_sparsity, l1_activity, squared_error

__all__ = ["DenoisingObjective", "ReconstructionObjective", "SparseObjective", "bce_with_logits", "kl_sparsity",
           "l1_activity", "squared_error"]
