"""latentforge: autoencoders, variational autoencoders and GANs for scientists.

The public API (re-exports only):

    import latentforge as lf
    ds = lf.load_dataset("mnist")
    run = lf.train("ae", ds, out="runs/ae", latent_dim=2, epochs=10)
    codes = run.encode(ds.x)
    run = lf.load("runs/ae")
"""

__version__ = "0.1.0"

from .api import TrainedModel, load, train  # noqa: E402
from .catalog import MODELS, build  # noqa: E402
from .config import (ConvAutoencoderConfig, DenoisingConfig, LinearAutoencoderConfig,  # noqa: E402
                     MLPAutoencoderConfig, ReconstructionConfig, SparseConfig, TrainConfig)
from .data import ArrayDataset, Scaler, corrupt, dataset_table, load_dataset  # noqa: E402
from .errors import ArtifactError, ConfigError, DataError, LatentforgeError, TrainingDiverged  # noqa: E402
from .estimator import AutoencoderEstimator  # noqa: E402

__all__ = [
    "MODELS", "ArrayDataset", "ArtifactError", "AutoencoderEstimator", "ConfigError", "ConvAutoencoderConfig",
    "DataError", "DenoisingConfig", "LatentforgeError", "LinearAutoencoderConfig", "MLPAutoencoderConfig",
    "ReconstructionConfig", "Scaler", "SparseConfig", "TrainConfig", "TrainedModel", "TrainingDiverged",
    "build", "corrupt", "dataset_table", "load", "load_dataset", "train",
]
