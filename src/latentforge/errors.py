"""The project's own exception types.

Every error a user can cause (bad data, bad config, a damaged artifact) is raised as one of these,
with a message that names the problem and the fix.
"""

from .spelling import speak_error


class LatentforgeError(Exception):
    """Base class of every error latentforge raises on purpose.

    The message is written once in the command line's spelling (``--device cpu``); raised from Python it reads in
    keyword arguments (``device='cpu'``), see :func:`latentforge.spelling.speak_error`. A message that already names
    both (``... (CLI: --key flux)``, ``(Python: train(..., data_b=...))``) is kept as written.
    """

    def __init__(self, *args: object):
        if args and isinstance(args[0], str) and not ("CLI:" in args[0] or "Python:" in args[0]):
            args = (speak_error(args[0]), *args[1:])
        super().__init__(*args)


class DataError(LatentforgeError, ValueError):
    """The data cannot be used as given (shape, values, labels, unknown dataset, unreadable file)."""


class ConfigError(LatentforgeError, ValueError):
    """A configuration value is invalid or inconsistent."""


class ArtifactError(LatentforgeError, OSError):
    """A run directory or artifact file is missing, truncated, foreign or would be overwritten."""


class TrainingDiverged(LatentforgeError, RuntimeError):
    """The loss became NaN or infinite; a run directory is left as it was before the training started."""


class CapabilityError(ConfigError, AttributeError):
    """The model cannot do what was asked (an autoencoder has no prior to sample from, a GAN no encoder).

    Also an ``AttributeError``, so ``hasattr(run, "sample")`` answers False for a model without that capability.
    """
