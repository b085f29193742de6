"""A VAE for 1-D spectra: a strided 1-D convolutional encoder and an MLP (or 1-D conv) decoder.

The encoder sees the (median-normalised) flux with masked pixels set to 0, as one channel (B, 1, D), or in
the rest frame (B, 1, n_rest) with ``frame="rest"``;
the decoder gives the mean spectrum and, with ``gaussian-hetero``, its own sigma_model per pixel. The
likelihood (``objectives.likelihoods.gaussian_log_likelihood``) uses sigma_model^2 + sigma_i^2 with each
pixel's measurement sigma_i and gives masked pixels no weight.

``frame="rest"`` (the default) builds redshift into the model. On a grid uniform in log wavelength a
redshift is a shift by log10(1 + z) / dloglam pixels, so:

- latent coordinate 0 is the redshift: redshift = max_redshift * Phi(u0), so the N(0, 1) prior on u0 is a
  uniform prior on the redshift;
- the encoder finds it as a pipeline would, by cross-correlating the continuum-subtracted spectrum with a
  template (learnable, started from the rest wavelengths of the strong emission lines, and a second one of
  the stellar absorption features) at every shift;
  the best shift, refined by a soft arg-max over its neighbours, gives the posterior mean of u0; the
  conv encoder, which reads the spectrum moved back to the rest frame by that shift (whole pixels), gives
  its spread and the other coordinates;
- the decoder draws the spectrum from the other coordinates in the rest frame (on a grid that extends
  the observed one blueward by the largest shift) and moves it to the observed pixels by a band-limited
  (Fourier) shift at the latent redshift.
Nothing here uses known redshifts: the redshift is inferred like every other latent coordinate.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dataclasses import dataclass

from ...config import Config, option, positive, widths
from ...errors import ConfigError
from ...nn import ACTIVATIONS, MLP, Conv1dDecoder, Conv1dEncoder
from ...models.distributions import DiagonalGaussian
from ...models.likelihoods import LIKELIHOODS
from ...models.vae import VAE

#: rest wavelengths (Å) and starting weights of the two templates the redshift search correlates with: the
#: emission lines, and the stellar absorption features (Ca II K & H, G band, Mg b, Na D) that carry the redshift
#: of spectra with weak lines (and the Balmer absorption of young populations)
TEMPLATE_LINES = {3727.4: 0.7, 4340.5: 0.15, 4861.3: 0.35, 4958.9: 0.17, 5006.8: 0.5, 6548.1: 0.1,
                  6562.8: 1.0, 6583.5: 0.3}
TEMPLATE_ABSORPTION = {3933.7: -1.0, 3968.5: -0.9, 4101.7: -0.4, 4304.4: -0.35, 4340.5: -0.4, 4861.3: -0.35,
                       5175.0: -0.4, 5893.0: -0.3}
CONTINUUM_WINDOW = 65  # pixels of the running mean subtracted before the cross-correlation
REFINE = 3  # the soft arg-max looks this many pixels either side of the best shift
FFT_PAD = 32  # the Fourier shift appends 2 x this many zeros (cyclically, a margin at both ends)


@dataclass(frozen=True)
class SpectrumVAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "pixels of one spectrum, (D,) (filled in from the data)", from_data=True)
    latent_dim: int = option(16, "number of latent dimensions")
    channels: tuple[int, ...] = option((8, 16, 32, 32), "1-D conv channels per encoder level; each stride-2 "
                                       "level halves the length (none: an MLP encoder)")
    kernel_size: int = option(5, "1-D convolution kernel size (odd)")
    hidden: tuple[int, ...] = option((256, 512), "widths: the encoder's head uses the first; the MLP decoder "
                                     "goes latent -> these -> pixels")
    activation: str = option("leaky_relu", "nonlinearity", ACTIVATIONS)
    decoder: str = option("mlp", "decoder: mlp (latent -> hidden widths -> pixels) or conv (a head to a coarse "
                          "sequence, then up-sampling 1-D convolutions mirroring the encoder's channels)",
                          ("mlp", "conv"))
    frame: str = option(
        "rest", "rest: latent 0 is the redshift (found by the encoder by cross-correlating the spectrum with "
        "learnable emission-line and absorption templates; prior uniform in [0, max_redshift]) and the decoder "
        "draws a rest-frame spectrum that it shifts by it; observed: the decoder draws the observed spectrum "
        "directly", ("rest", "observed"))
    max_redshift: float = option(0.3, "frame rest: the largest redshift the model considers")
    wave_min: float = option(3800.0, "frame rest: observed wavelength (Å) of the first pixel; pixels are uniform "
                             "in log wavelength")
    wave_max: float = option(9200.0, "frame rest: observed wavelength (Å) of the last pixel")
    likelihood: str = option(
        "gaussian-hetero", "p(x|z): gaussian-hetero (the decoder predicts sigma_model per pixel; variance "
        "sigma_model^2 + sigma_i^2), gaussian-shared or gaussian (fixed --sigma)",
        LIKELIHOODS.subset(lambda cls: cls.gaussian))
    sigma: float = option(0.05, "gaussian: the fixed sigma_model; gaussian-shared: its starting value (normalised "
                          "flux units)")

    @classmethod
    def data_options(cls, info, given):
        """``wave_min`` / ``wave_max`` from the data's wavelength grid (Å): the first and last pixel. With frame
        rest the grid must be uniform in log wavelength. ConfigError when ``given`` states other values."""
        w = info.get("wavelength")
        if w is None:
            return {}
        w = np.asarray(w, np.float64)
        step = np.diff(np.log10(w))
        frame = given.get("frame", cls.__dataclass_fields__["frame"].default)
        if frame == "rest" and not np.allclose(step, step.mean(), rtol=1e-3, atol=0):
            raise ConfigError("spectrum-vae with frame rest needs spectra on a grid uniform in log wavelength; these "
                              "are not (resample them with latentforge.domains.spectra.resample, or use --frame observed)")
        out = {"wave_min": float(w[0]), "wave_max": float(w[-1])}
        tolerance = 0.5 * float(step.mean()) * np.log(10)  # half a pixel, relative
        for k, v in out.items():
            if k in given and abs(given[k] / v - 1) > tolerance:
                raise ConfigError(f"--{k.replace('_', '-')} {given[k]} disagrees with the data's wavelength grid "
                                  f"({out['wave_min']:.2f}-{out['wave_max']:.2f} Å); drop it, the grid comes from "
                                  "the data")
        return out

    def validate(self) -> None:
        positive(self, "latent_dim", "kernel_size", "sigma")
        widths(self, "channels")
        widths(self, "hidden")
        widths(self, "input_shape")
        if not self.hidden:
            raise ConfigError("--hidden needs at least one width, e.g. 256,512")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"--kernel-size must be odd, got {self.kernel_size}")
        if self.input_shape and len(self.input_shape) != 1:
            raise ConfigError(f"spectrum-vae takes spectra as vectors (N, D); got example shape {self.input_shape}; "
                              "flatten each spectrum to one row of pixels")
        if self.input_shape and self.input_shape[0] < 2 ** len(self.channels):
            raise ConfigError(f"{self.input_shape[0]} pixels are too few for {len(self.channels)} stride-2 levels; "
                              "use fewer --channels")


class SpectrumVAE(VAE):
    """VAE for 1-D spectra (B, D) with a built-in redshift (see the module docstring); the likelihood uses each
    pixel's measurement sigma and mask (Melchior et al. 2023, spender, for the idea of a rest-frame decoder)."""

    config_class = SpectrumVAEConfig
    #: sigma_model is the model's error beside each pixel's measurement sigma: it starts small, not at the data's
    #: spread
    scales_from_data = False

    def reduced_precision_risk(self) -> str | None:
        return ("spectrum-vae weighs each pixel by its measurement variance plus the model's, and its first training "
                "step on simulated spectra is not finite under bf16")

    def __init__(self, config: SpectrumVAEConfig):
        super().__init__(config)
        if len(self.input_shape) != 1:
            raise ConfigError(f"spectrum-vae needs spectra as vectors (D,), got example shape {self.input_shape}")
        d = self.input_shape[0]
        self.rest = config.frame == "rest"
        if self.rest:
            if config.latent_dim < 2:
                raise ConfigError("spectrum-vae with frame rest needs latent_dim >= 2 (one is the redshift)")
            if not (0 < config.max_redshift <= 5 and 0 < config.wave_min < config.wave_max):
                raise ConfigError("spectrum-vae needs 0 < max_redshift <= 5 and 0 < wave_min < wave_max")
            self.dloglam = math.log10(config.wave_max / config.wave_min) / (d - 1)
            self.max_shift = int(math.ceil(math.log10(1 + config.max_redshift) / self.dloglam))
            self.n_rest = d + self.max_shift + 2  # rest-frame pixels the decoder draws
            self.template = nn.Parameter(self._line_template())
            self.sharpness = nn.Parameter(torch.tensor(2.0))  # log of the soft arg-max inverse temperature
        n_out = self.n_rest if self.rest else d
        shape_dim = config.latent_dim - 1 if self.rest else config.latent_dim
        self.encoder = Conv1dEncoder(1, n_out, config.channels, config.hidden[0], 2 * config.latent_dim,
                                     kernel_size=config.kernel_size, act=config.activation)
        if config.decoder == "conv":
            if not config.channels:
                raise ConfigError("spectrum-vae --decoder conv needs --channels (its levels mirror the encoder's)")
            self.decoder = Conv1dDecoder(shape_dim, self.out_factor, n_out, config.channels, config.hidden[-1],
                                         kernel_size=config.kernel_size, act=config.activation)
            bias = self.decoder.body[-1].bias[1:]
        else:
            self.decoder = MLP([shape_dim, *config.hidden, n_out * self.out_factor], config.activation)
            bias = self.decoder.linears[-1].bias[n_out:]
        if self.likelihood.out_factor == 2:  # start with a small sigma_model (normalised units): log 0.05
            with torch.no_grad():
                bias.fill_(math.log(0.05))

    # ------------------------------------------------------------------ redshift
    def _line_template(self) -> torch.Tensor:
        """(2, D + max_shift): the emission-line and the absorption template on the rest-frame grid."""
        loglam0 = math.log10(self.config.wave_min)
        r = torch.arange(self.input_shape[0] + self.max_shift, dtype=torch.float64)
        loglam = loglam0 + (r - self.max_shift) * self.dloglam  # rest-frame log10 wavelength of template pixel r
        rows = []
        for lines in (TEMPLATE_LINES, TEMPLATE_ABSORPTION):
            t = torch.zeros_like(r)
            for w, a in lines.items():
                t = t + a * torch.exp(-0.5 * ((loglam - math.log10(w)) / (1.5 * self.dloglam)) ** 2)
            rows.append(t)
        return torch.stack(rows).float()

    def redshift_of(self, u0: torch.Tensor) -> torch.Tensor:
        return self.config.max_redshift * 0.5 * (1 + torch.erf(u0 / math.sqrt(2)))

    def _u0_of(self, redshift: torch.Tensor) -> torch.Tensor:
        p = (redshift / self.config.max_redshift).clamp(1e-4, 1 - 1e-4)
        return math.sqrt(2) * torch.erfinv(2 * p - 1)

    def find_shift(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) normalised flux -> (B,) shift in pixels: template cross-correlation, soft arg-max refined."""
        k = CONTINUUM_WINDOW
        seen = (x != 0).to(x.dtype)  # masked pixels reach the encoder as exact zeros: they must not look like dips

        def pool(v: torch.Tensor) -> torch.Tensor:
            return F.avg_pool1d(v.unsqueeze(1), k, stride=1, padding=k // 2).squeeze(1)

        cont = pool(x * seen) / pool(seen).clamp_min(1e-6)
        lines = torch.asinh(x - cont) * seen  # (B, D): lines stand out, their huge range compressed
        # score[k, b, t] = sum_j template[k, t + j] * lines[b, j], t = max_shift - shift, t in [0, max_shift]
        score = F.conv1d(self.template.unsqueeze(1), lines.unsqueeze(1))  # (2, B, max_shift + 1)
        score = score.flip(2)  # index = shift
        # each template's score in units of its own spread over shifts, summed: a strong peak in either wins
        score = ((score - score.mean(2, keepdim=True)) / (score.std(2, keepdim=True) + 1e-6)).sum(0)
        best = score.argmax(1)  # (B,)
        offs = torch.arange(-REFINE, REFINE + 1, device=x.device)
        idx = (best[:, None] + offs[None]).clamp(0, self.max_shift)  # (B, 2R+1)
        w = torch.softmax(self.sharpness.exp() * score.gather(1, idx), 1)
        return (w * idx.to(w.dtype)).sum(1)

    def _to_rest(self, x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """(B, D) observed pixels -> (B, n_rest) rest-frame pixels for whole-pixel shifts (B,); 0 where the
        observed range does not reach."""
        d = self.input_shape[0]
        src = torch.arange(self.n_rest, device=x.device)[None, :] - self.max_shift + shift[:, None]
        inside = (src >= 0) & (src < d)
        return torch.where(inside, x.gather(1, src.clamp(0, d - 1)), torch.zeros((), dtype=x.dtype, device=x.device))

    def _shift_to_observed(self, rest: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """(B, n_rest) rest-frame pixels -> (B, D) observed pixels for per-example shifts (B,) in pixels.

        The shift is band-limited (a phase ramp in Fourier space), not a linear interpolation: emission lines
        are only 1-2 pixels wide, and linear interpolation at a half-pixel offset lowers a line of width 1 pixel
        by 7 % of its peak, far above the noise of a bright spectrum, whereas the Fourier shift of a sampled
        Gaussian that wide is exact to 0.1 %. The straight line through the two end pixels is taken out first
        and shifted exactly, and the rest is zero-padded, so the ends do not wrap around."""
        d, n = self.input_shape[0], rest.shape[1]
        i = torch.arange(n, device=rest.device, dtype=rest.dtype)
        slope = (rest[:, -1:] - rest[:, :1]) / (n - 1)
        line = rest[:, :1] + slope * i  # (B, n)
        pad = n + 2 * FFT_PAD
        spec = torch.fft.rfft(rest - line, n=pad)
        k = torch.arange(spec.shape[1], device=rest.device, dtype=rest.dtype)
        phase = torch.exp(torch.complex(torch.zeros_like(k), -2 * math.pi / pad * k)[None, :] * shift[:, None])
        moved = torch.fft.irfft(spec * phase, n=pad)[:, :n]  # moved[j] = (rest - line)[j - shift]
        j = self.max_shift + torch.arange(d, device=rest.device)
        return moved[:, j] + (rest[:, :1] + slope * (j[None, :] - shift[:, None]))

    # ------------------------------------------------------------------ VAE parts
    def encode_dist(self, x: torch.Tensor, c: torch.Tensor | None = None) -> DiagonalGaussian:
        if not self.rest:
            return super().encode_dist(x, c)
        self._check(x, c)
        shift = self.find_shift(x.float())
        # the encoder reads the spectrum moved to the rest frame (by the whole pixels of the found shift), so
        # a line sits at the same input position at every redshift and its strength is read off directly
        h = self.encoder(self._to_rest(x, shift.detach().round().long()).unsqueeze(1)).float()
        mean, logvar = h.chunk(2, dim=1)
        redshift = 10 ** (shift * self.dloglam) - 1
        u0 = self._u0_of(redshift)
        # the encoder's own guess for u0 is replaced by the cross-correlation's; its spread stays learned
        mean = torch.cat([u0[:, None], mean[:, 1:]], 1)
        return DiagonalGaussian(mean, logvar)

    def decoder_output(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if not self.rest:
            return super().decoder_output(z, c)
        out = self.decoder(z[:, 1:]).float().flatten(1)  # (B, factor * n_rest)
        shift = torch.log10(1 + self.redshift_of(z[:, 0])) / self.dloglam
        # each stacked part (the mean, then log sigma_model) is moved to the observed pixels by the same shift
        return torch.cat([self._shift_to_observed(part, shift) for part in out.chunk(self.out_factor, dim=1)], 1)

    def _encode(self, x, c):
        return self.encoder(x.unsqueeze(1))  # (B, 1, D) -> (B, 2 * latent)

    def _decode(self, z, c):
        return self.decoder(z).flatten(1)  # observed frame: (B, factor * D), loc first, then log_sigma
