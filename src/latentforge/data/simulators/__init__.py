"""Monte-Carlo simulators that give the project real, expensive ground truth to learn fast surrogates of."""

from .showers import LAYERS, N_CELLS, PARTICLES, ShowerSimulator, read_showers, write_showers

__all__ = ["LAYERS", "N_CELLS", "PARTICLES", "ShowerSimulator", "read_showers", "write_showers"]
