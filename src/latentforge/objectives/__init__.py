"""Objectives (loss terms and the hooks a trainer calls), and the pure loss functions they use."""

from .autoencoder import (DenoisingConfig, DenoisingObjective, ReconstructionConfig, ReconstructionObjective,
                          SparseConfig, SparseObjective)
from .base import Objective, Player, evaluate_objective
from .cyclegan import CycleConfig, CycleGANObjective
from .elbo import ELBOConfig, ELBOObjective, importance_sampled, importance_weights, iwae_bound
from .gan import GANConfig, GANObjective
from .gan_losses import GAN_LOSSES, GANLoss
from .losses import (bce_with_logits, critic_wasserstein, discriminator_bce, generator_minimax,
                     generator_nonsaturating, gradient_penalty, kl_sparsity, l1_activity, squared_error)

__all__ = ["CycleConfig", "CycleGANObjective", "DenoisingConfig", "DenoisingObjective", "ELBOConfig", "ELBOObjective", "GANConfig", "GANLoss",
           "GANObjective", "GAN_LOSSES", "Objective", "Player", "ReconstructionConfig", "ReconstructionObjective",
           "SparseConfig", "SparseObjective", "bce_with_logits", "critic_wasserstein", "discriminator_bce",
           "evaluate_objective", "generator_minimax", "generator_nonsaturating", "gradient_penalty",
           "importance_sampled", "importance_weights", "iwae_bound", "kl_sparsity", "l1_activity", "squared_error"]
