"""Monte-Carlo simulators that give the project real, expensive ground truth to learn fast surrogates of."""

from ..showers import PARTICLES, is_shower_file, read_showers, write_showers
from .showers import SAMPLING_FRACTION, ShowerSimulator
from .spectra import PARAMETERS as SPECTRUM_PARAMETERS
from .spectra import SpectrumSimulator, is_spectra_file, read_spectra, write_spectra

__all__ = ["PARTICLES", "SAMPLING_FRACTION", "SPECTRUM_PARAMETERS", "ShowerSimulator", "SpectrumSimulator",
           "is_shower_file", "is_spectra_file", "read_showers", "read_spectra", "write_showers", "write_spectra"]
