"""A simulator of galaxy spectra with known physical parameters, realistic noise and masked pixels.

Each spectrum is built in the rest frame and then redshifted onto one fixed observed grid, uniform in
log10(wavelength) from 3800 to 9200 Å (``n_pix`` pixels; SDSS-like, about 130 km/s per pixel at 2048):

- continuum: a mix of a young (blue power law, Balmer absorption) and an old stellar population (red, a
  4000 Å break, Ca II H & K, G band, Mg b, Na D absorption), weighted by ``age`` in [0, 1];
- dust: attenuation A_V in [0, 1] mag with k(lambda) = (5500 / lambda)^0.7 (applied to lines too);
- emission lines, all scaled by ``line_strength`` in [0, 1] (a "gas fraction"): H-alpha with rest
  equivalent width 120 Å x line_strength; H-beta = H-alpha / 2.86; [N II] 6584 / H-alpha, [O III] 5007 /
  H-beta and [O II] 3727 / H-beta drawn per spectrum (nuisance ratios); [N II] 6548 = 6584 / 3 and
  [O III] 4959 = 5007 / 2.98;
- velocity dispersion 50-250 km/s broadens lines and absorption features (added in quadrature to an
  instrumental resolution of one pixel);
- redshift z in [0, 0.3]: a rest wavelength lambda lands at (1 + z) lambda;
- an overall flux ``amplitude`` (log-uniform 0.3-30), so flux normalisation matters.

Noise: each spectrum has its own median signal-to-noise per pixel (log-uniform in ``snr_range``); the
per-pixel sigma follows a sky spectrum (a red-rising continuum plus the night-sky emission lines [O I]
5577, Na D 5890, [O I] 6300 / 6364 and an OH forest beyond 6800 Å, whose brightness varies from exposure
to exposure by a log-uniform factor 0.1-2) divided by a throughput that falls at both ends. Pixels where
the sky outshines ``sky_mask_threshold`` times its continuum and a few random "bad column" runs per
spectrum are masked (flux 0, inverse variance 0). Because the sky brightness varies, no pixel is masked
in every spectrum. The clean spectrum is returned too.

Outliers: with ``outlier_fraction`` > 0 a share of the spectra are broad-line objects (broad H-alpha,
H-beta, H-gamma with dispersions of 1500-3500 km/s on top of a blue power-law continuum); ``broad_line``
flags them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, DataError

C_KMS = 299_792.458
WAVE_RANGE = (3800.0, 9200.0)

#: emission lines: name -> rest wavelength (Å, air, as usually quoted)
EMISSION_LINES = {"OII_3727": 3727.4, "Hgamma_4340": 4340.5, "Hbeta_4861": 4861.3, "OIII_4959": 4958.9,
                  "OIII_5007": 5006.8, "NII_6548": 6548.1, "Halpha_6563": 6562.8, "NII_6584": 6583.5}
#: stellar absorption features: rest wavelength -> (depth in the old population, depth in the young one)
ABSORPTION = {3933.7: (0.35, 0.05), 3968.5: (0.30, 0.05), 4101.7: (0.05, 0.15), 4304.4: (0.12, 0.0),
              4340.5: (0.04, 0.12), 4861.3: (0.04, 0.10), 5175.0: (0.14, 0.0), 5893.0: (0.10, 0.0)}
#: the night sky in the observed frame: wavelength -> strength relative to the sky continuum at 5500 Å
SKY_LINES = {5577.3: 40.0, 5889.9: 12.0, 5895.9: 10.0, 6300.3: 20.0, 6363.8: 7.0}
PARAMETERS = ("redshift", "age", "dust_av", "line_strength", "velocity_dispersion", "snr", "amplitude",
              "nii_halpha", "oiii_hbeta", "oii_hbeta")


def observed_grid(n_pix: int = 2048, wave_range: tuple[float, float] = WAVE_RANGE) -> np.ndarray:
    """Observed wavelengths (Å) of the pixel centres, uniform in log10(lambda)."""
    if n_pix < 64:
        raise ConfigError(f"n_pix = {n_pix} is too few pixels for a spectrum; use at least 64 (default 2048)")
    lo, hi = wave_range
    if not 0 < lo < hi:
        raise ConfigError(f"wave_range must be increasing positive wavelengths in Å, got {wave_range}")
    return 10 ** np.linspace(np.log10(lo), np.log10(hi), n_pix)


def _oh_forest() -> dict[float, float]:
    """A fixed (instrument-like, seed-independent) forest of OH sky lines redward of 6800 Å."""
    rng = np.random.default_rng(20231)
    waves = np.sort(rng.uniform(6800, 9200, 60))
    return {float(w): float(s) for w, s in zip(waves, rng.uniform(2.0, 25.0, 60))}


def sky_spectrum(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sky brightness per pixel: (continuum rising to the red, emission lines ~one pixel wide)."""
    dlog = np.log(wave[1] / wave[0])
    continuum = 0.6 + 0.8 * ((wave - wave[0]) / (wave[-1] - wave[0])) ** 2
    lines = np.zeros_like(wave)
    for w0, s in {**SKY_LINES, **_oh_forest()}.items():
        lines = lines + s * np.exp(-0.5 * (np.log(wave / w0) / dlog) ** 2)
    return continuum, lines


def throughput(wave: np.ndarray) -> np.ndarray:
    """Instrument throughput: about 1 in the middle, falling to ~0.35 at the ends."""
    x = (np.log(wave) - np.log(wave).mean()) / (np.log(wave[-1]) - np.log(wave).mean())
    return 1.0 - 0.65 * x ** 4


@dataclass
class SpectrumSimulator:
    """``simulate(n)`` -> dict of arrays; see the module docstring for the physics and the noise model."""

    n_pix: int = 2048
    snr_range: tuple[float, float] = (3.0, 40.0)
    redshift_range: tuple[float, float] = (0.0, 0.3)
    bad_columns: float = 1.5  # mean number of bad-column runs per spectrum
    sky_mask_threshold: float = 10.0  # mask pixels where the sky exceeds this many times its continuum
    seed: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.snr_range
        if not 0 < lo <= hi:
            raise ConfigError(f"snr_range must be 0 < low <= high, got {self.snr_range}")
        zlo, zhi = self.redshift_range
        if not 0 <= zlo <= zhi <= 1.0:
            raise ConfigError(f"redshift_range must lie in [0, 1] with low <= high, got {self.redshift_range}")
        self.wavelength = observed_grid(self.n_pix)
        self.loglam = np.log10(self.wavelength)
        self.rng = np.random.default_rng(self.seed)
        self._sky_continuum, self._sky_lines = sky_spectrum(self.wavelength)
        self._throughput = throughput(self.wavelength)
        #: instrumental resolution: one pixel, in km/s
        self.sigma_instrument_kms = C_KMS * np.log(self.wavelength[1] / self.wavelength[0])

    # ------------------------------------------------------------------ parameters
    def draw_parameters(self, n: int) -> dict[str, np.ndarray]:
        r = self.rng
        return {
            "redshift": r.uniform(*self.redshift_range, n),
            "age": r.uniform(0, 1, n),
            "dust_av": r.uniform(0, 1, n),
            "line_strength": r.uniform(0, 1, n),
            "velocity_dispersion": r.uniform(50, 250, n),
            "snr": np.exp(r.uniform(np.log(self.snr_range[0]), np.log(self.snr_range[1]), n)),
            "amplitude": np.exp(r.uniform(np.log(0.3), np.log(30.0), n)),
            "nii_halpha": r.uniform(0.1, 0.5, n),
            "oiii_hbeta": np.exp(r.uniform(np.log(0.3), np.log(3.0), n)),
            "oii_hbeta": r.uniform(1.0, 3.0, n),
        }

    # ------------------------------------------------------------------ noiseless spectra
    def clean_spectra(self, p: dict[str, np.ndarray], broad: np.ndarray | None = None,
                      broad_params: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Noiseless observed spectra (n, n_pix) for parameter arrays ``p``."""
        n = len(p["redshift"])
        z = p["redshift"][:, None]
        lam = self.wavelength[None, :] / (1 + z)  # rest wavelength of each observed pixel, (n, P)
        sig_kms = np.sqrt(p["velocity_dispersion"] ** 2 + self.sigma_instrument_kms ** 2)[:, None]
        sig_ln = sig_kms / C_KMS  # Gaussian width in ln(lambda)

        def gauss(center: float | np.ndarray, width_ln: np.ndarray) -> np.ndarray:
            # a unit-area line in lambda: profile in ln(lambda), area 1 when multiplied by lambda-spacing
            u = np.log(lam / center) / width_ln
            return np.exp(-0.5 * u ** 2) / (np.sqrt(2 * np.pi) * width_ln * center)

        # continuum: young and old populations, each normalised to 1 at 5500 Å (rest)
        young = (lam / 5500.0) ** -1.8
        old = (lam / 5500.0) ** 0.5 * (1 - 0.45 / (1 + np.exp((lam - 4000.0) / 40.0)))
        old = old / (1 - 0.45 / (1 + np.exp((5500.0 - 4000.0) / 40.0)))
        for w0, (d_old, d_young) in ABSORPTION.items():
            shape = np.exp(-0.5 * (np.log(lam / w0) / sig_ln) ** 2)
            old = old * (1 - d_old * shape)
            young = young * (1 - d_young * shape)
        a = p["age"][:, None]
        cont = (1 - a) * young + a * old
        # emission lines: fluxes in units of (continuum at H-alpha) x Å, so EW(H-alpha) = 120 Å x strength
        cont_ha = (1 - a[:, 0]) * (6562.8 / 5500.0) ** -1.8 + a[:, 0] * (6562.8 / 5500.0) ** 0.5
        f_ha = 120.0 * p["line_strength"] * cont_ha
        f_hb = f_ha / 2.86
        f_5007 = f_hb * p["oiii_hbeta"]
        fluxes = {"Halpha_6563": f_ha, "Hbeta_4861": f_hb, "Hgamma_4340": f_hb * 0.47,
                  "NII_6584": f_ha * p["nii_halpha"], "NII_6548": f_ha * p["nii_halpha"] / 3.0,
                  "OIII_5007": f_5007, "OIII_4959": f_5007 / 2.98, "OII_3727": f_hb * p["oii_hbeta"]}
        spec = cont
        for name, f in fluxes.items():
            spec = spec + f[:, None] * gauss(EMISSION_LINES[name], sig_ln)
        if broad is not None and broad.any():
            bp = broad_params
            b = broad[:, None].astype(float)
            bsig = (bp["broad_dispersion"][:, None] / C_KMS)
            f_bha = 120.0 * bp["broad_ew"] * cont_ha
            agn = (lam / 5500.0) ** -1.5 * bp["powerlaw"][:, None]
            spec = spec + b * (agn + f_bha[:, None] * gauss(6562.8, bsig)
                               + (f_bha / 3.1)[:, None] * gauss(4861.3, bsig)
                               + (f_bha / 6.5)[:, None] * gauss(4340.5, bsig))
        # dust, applied to the rest-frame light
        spec = spec * 10 ** (-0.4 * p["dust_av"][:, None] * (5500.0 / lam) ** 0.7)
        return (spec * p["amplitude"][:, None]).astype(np.float64).reshape(n, self.n_pix)

    # ------------------------------------------------------------------ observations
    def simulate(self, n: int, outlier_fraction: float = 0.0) -> dict[str, np.ndarray]:
        """n spectra: ``flux`` (noisy, 0 where masked), ``sigma``, ``ivar`` (0 where masked), ``mask``
        (True = bad pixel), ``clean``, ``wavelength`` (n_pix,), ``broad_line`` (n,) and one array per
        parameter (``redshift``, ``line_strength`` ...) plus ``parameters`` (n, P) in PARAMETERS order."""
        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        if not 0 <= outlier_fraction <= 1:
            raise ConfigError(f"outlier_fraction must lie in [0, 1], got {outlier_fraction}")
        r = self.rng
        p = self.draw_parameters(n)
        broad = r.random(n) < outlier_fraction
        bp = {"broad_dispersion": r.uniform(1500, 3500, n), "broad_ew": r.uniform(0.5, 2.0, n),
              "powerlaw": r.uniform(0.3, 1.0, n)}
        clean = self.clean_spectra(p, broad, bp)
        # per-pixel sigma: the sky-and-throughput shape, scaled so that median(clean) / median(sigma) = snr
        sky_scale = np.exp(r.uniform(np.log(0.1), np.log(2.0), n))[:, None]  # sky-line brightness per exposure
        sky = self._sky_continuum[None, :] + sky_scale * self._sky_lines[None, :]
        shape = np.sqrt(sky) / self._throughput[None, :]
        scale = np.median(clean, axis=1) / (p["snr"] * np.median(shape, axis=1))
        sigma = scale[:, None] * shape
        flux = clean + sigma * r.standard_normal(clean.shape)
        mask = sky > self.sky_mask_threshold * self._sky_continuum[None, :]
        for i in range(n):
            for _ in range(r.poisson(self.bad_columns)):
                width = int(r.integers(4, 21))
                start = int(r.integers(0, self.n_pix - width))
                mask[i, start:start + width] = True
        flux = np.where(mask, 0.0, flux)
        ivar = np.where(mask, 0.0, 1.0 / sigma ** 2)
        out = {"flux": flux.astype(np.float32), "sigma": sigma.astype(np.float32), "ivar": ivar.astype(np.float32),
               "mask": mask, "clean": clean.astype(np.float32), "wavelength": self.wavelength.copy(),
               "broad_line": broad, "parameters": np.stack([p[k] for k in PARAMETERS], 1).astype(np.float32)}
        out.update({k: v.astype(np.float32) for k, v in p.items()})
        return out


SPECTRA_KIND = "galaxy-spectra"
_WRITE_KEYS = ("flux", "ivar", "mask", "clean", "wavelength", "broad_line", "parameters", *PARAMETERS)


def write_spectra(path: str | os.PathLike, data: dict) -> None:
    """HDF5 with ``flux``, ``ivar`` (0 = masked), ``mask``, ``clean``, ``wavelength``, ``parameters`` (N, P)
    (names in the attribute ``parameter_names``), one dataset per parameter and ``broad_line``. The reader
    of the package turns ``ivar`` into sigma. Written to a temporary file, then renamed."""
    import h5py

    path = str(path)
    missing = [k for k in _WRITE_KEYS if k not in data]
    if missing:
        raise DataError(f"spectra to write lack {', '.join(missing)}; pass the dict SpectrumSimulator.simulate returns")
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        for k in _WRITE_KEYS:
            v = np.asarray(data[k])
            f.create_dataset(k, data=v, compression="gzip" if v.ndim == 2 else None)
        f.attrs["kind"] = SPECTRA_KIND
        f.attrs["parameter_names"] = ",".join(PARAMETERS)
        f.attrs["wavelength_unit"] = "Angstrom (observed frame, log-uniform grid)"
    os.replace(tmp, path)


def read_spectra(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Everything ``write_spectra`` wrote, with ``sigma`` recomputed (1 where masked) and ``mask`` as bool."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            out = {k: f[k][()] for k in _WRITE_KEYS if k in f}
            missing = [k for k in ("flux", "ivar", "mask", "wavelength") if k not in f]
    except OSError as e:
        raise DataError(f"{path}: cannot read as HDF5 ({e})") from None
    if missing:
        raise DataError(f"{path}: not a spectra file; it lacks {', '.join(missing)} "
                        "(write one with `latentforge simulate spectra`)")
    out["mask"] = np.asarray(out["mask"], bool)
    ivar = out["ivar"]
    out["sigma"] = np.where(ivar > 0, 1 / np.sqrt(np.where(ivar > 0, ivar, 1)), 1.0).astype(np.float32)
    return out


def is_spectra_file(path: str | os.PathLike) -> bool:
    """True for an HDF5 file written by ``write_spectra`` (it holds the clean truth)."""
    s = str(path)
    if not s.lower().endswith((".h5", ".hdf5")) or not os.path.exists(s):
        return False
    import h5py

    try:
        with h5py.File(s, "r") as f:
            return f.attrs.get("kind") == SPECTRA_KIND
    except OSError:
        return False
