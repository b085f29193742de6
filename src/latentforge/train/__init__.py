"""Training loops."""

from . import runtime
from .gan_trainer import GANTrainer
from .trainer import Trainer, evaluate_objective

__all__ = ["GANTrainer", "Trainer", "evaluate_objective", "runtime"]
