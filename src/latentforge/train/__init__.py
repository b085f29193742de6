"""Training loops."""

from .trainer import Trainer, evaluate_objective

__all__ = ["Trainer", "evaluate_objective"]
