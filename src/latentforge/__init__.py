"""latentforge: autoencoders, variational autoencoders and GANs for scientists.

The public API (re-exports only):

    import latentforge as lf
    ds = lf.load_dataset("mnist")
    run = lf.train("ae", ds, out="runs/ae", latent_dim=2, epochs=10)
    codes = run.encode(ds.x)
    run = lf.load("runs/ae")
"""

from .version import __version__  # noqa: E402,F401

from .catalog import MODELS, build  # noqa: E402
from .data import ArrayDataset, Scaler, as_dataset, corrupt, dataset_table, load_dataset  # noqa: E402
from .errors import (ArtifactError, CapabilityError, ConfigError, DataError, LatentforgeError,  # noqa: E402
                     TrainingDiverged)
from .models import ConvAutoencoderConfig, LinearAutoencoderConfig, MLPAutoencoderConfig  # noqa: E402
from .objectives import DenoisingConfig, ReconstructionConfig, SparseConfig  # noqa: E402
from .run import (Callback, MLflowLogger, TensorBoardLogger, TrainedModel, load, plan, save_arrays,  # noqa: E402
                  train)
from .training import TrainConfig  # noqa: E402

__all__ = [
    "MODELS", "ArrayDataset", "ArtifactError", "AutoencoderEstimator", "Callback", "CapabilityError", "ConfigError",
    "ConvAutoencoderConfig", "DataError", "DenoisingConfig", "LatentforgeError", "LinearAutoencoderConfig",
    "MLPAutoencoderConfig", "MLflowLogger", "ReconstructionConfig", "Scaler", "SparseConfig", "TensorBoardLogger",
    "TrainConfig", "TrainedModel", "TrainingDiverged", "VAEEstimator", "as_dataset", "build", "corrupt",
    "dataset_table", "load", "load_dataset", "plan", "save_arrays", "train",
]


def __getattr__(name: str):
    # scikit-learn (and with it scipy) is imported when an estimator is first asked for, not with the package
    if name in ("AutoencoderEstimator", "VAEEstimator"):
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'latentforge' has no attribute {name!r}")

from .domains import load_all as _load_domains  # noqa: E402

_load_domains()  # the science domains register their readers, models, validations ... (latentforge.domains)
