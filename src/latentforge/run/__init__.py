"""The user-facing facade, one file per step: preprocessing (raw data <-> model space), the trained model and
its capabilities, fitting, and evaluation; callbacks and experiment trackers for fitting."""

from .callbacks import Callback
from .capabilities import CAPABILITIES, Capability
from .fit import plan, train
from .outputs import save_arrays
from .replay import options_from_config, read_config
from .preprocess import Preprocessor
from .tracking import MLflowLogger, TensorBoardLogger, tracking_callbacks
from .trained import TrainedModel, load

__all__ = ["CAPABILITIES", "Callback", "Capability", "MLflowLogger", "Preprocessor", "TensorBoardLogger",
           "TrainedModel", "load", "options_from_config", "plan", "read_config", "save_arrays", "tracking_callbacks",
           "train"]
