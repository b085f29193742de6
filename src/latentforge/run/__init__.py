"""The user-facing facade, one file per step: preprocessing (raw data <-> model space), the trained model and
its capabilities, fitting, and evaluation."""

from .capabilities import CAPABILITIES, Capability
from .fit import train
from .preprocess import Preprocessor
from .trained import TrainedModel, load

__all__ = ["CAPABILITIES", "Capability", "Preprocessor", "TrainedModel", "load", "train"]
