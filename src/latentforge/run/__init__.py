"""The user-facing facade, one file per step: preprocessing (raw data <-> model space), the trained model and
its capabilities, fitting, and evaluation."""

from .capabilities import CAPABILITIES, Capability
from .fit import plan, train
from .replay import options_from_config, read_config
from .preprocess import Preprocessor
from .trained import TrainedModel, load

__all__ = ["CAPABILITIES", "Capability", "Preprocessor", "TrainedModel", "load", "options_from_config", "plan",
           "read_config", "train"]
