"""The user-facing facade, one file per step: preprocessing (raw data <-> model space), the trained model and
its capabilities, fitting, and evaluation; callbacks and experiment trackers for fitting."""

from .callbacks import Callback
from .capabilities import CAPABILITIES, Capability
from .fit import train
from .preprocess import Preprocessor
from .tracking import MLflowLogger, TensorBoardLogger, tracking_callbacks
from .trained import TrainedModel, load

__all__ = ["CAPABILITIES", "Callback", "Capability", "MLflowLogger", "Preprocessor", "TensorBoardLogger", "TrainedModel",
           "load", "tracking_callbacks", "train"]
