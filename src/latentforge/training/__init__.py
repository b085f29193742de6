"""Training: the configuration, one loop for every objective, and where it runs (device, precision, DDP)."""

from . import distributed, runtime
from .config import LR_SCHEDULES, TrainConfig, lr_factor
from .trainer import Trainer

__all__ = ["LR_SCHEDULES", "TrainConfig", "Trainer", "distributed", "lr_factor", "runtime"]
