"""Each data kind draws its own figures with the axis labels and units the run knows: a table's columns by name
and unit, spectra as flux against wavelength in Å with masked pixels shaded, showers as layer images in their
energy unit, images as pictures; the labels are read back from the matplotlib Axes."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis.figures import sample_grid_figure
from latentforge.analysis.kind_figures import reconstruction_figures
from latentforge.analysis.plots import image_grid, latent_scatter
from latentforge.analysis.run_plots import loss_axis_label
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.spectra.simulator import SpectrumSimulator
from latentforge.domains.showers.files import write_showers

TINY = dict(epochs=1, progress=False, hidden=(16,), latent_dim=2)
FLUX_UNIT = "1e-17 erg/(s cm2 Angstrom)"


def labels(fig) -> str:
    """Every title, axis label, tick label, colour-bar label and suptitle of a figure, as one text."""
    out = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.get_xticklabels()]
    plt.close(fig)
    return "\n".join(out)


def write_catalogue(path, n=160, seed=0):
    rng = np.random.default_rng(seed)
    teff, logg, mass = rng.normal(5800, 600, n), rng.normal(4.3, 0.3, n), rng.gamma(4, 0.25, n)
    with open(path, "w") as f:
        f.write("teff [K],logg (dex),mass_msun\n")
        f.writelines(f"{a:.6g},{b:.6g},{c:.6g}\n" for a, b, c in zip(teff, logg, mass))
    return np.stack([teff, logg, mass], 1)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "stars.csv"
    write_catalogue(path)
    return lf.train("vae", path, **TINY), path


def test_table_figures_name_each_column_with_its_unit(table):
    run, path = table
    test = run.select(path, "test")
    (scatter, _), (residuals, _) = reconstruction_figures(run, test)
    panels = scatter.axes
    assert [ax.get_title() for ax in panels] == ["teff [K]", "logg (dex)", "mass_msun"]
    assert (panels[0].get_xlabel(), panels[0].get_ylabel()) == ("input (K)", "reconstruction (K)")
    assert panels[1].get_xlabel() == "input (dex)" and panels[2].get_xlabel() == "input (data units)"
    # each panel on its own column's scale: logg's axis is not stretched over teff's thousands
    lo, hi = panels[1].get_xlim()
    assert test.x[:, 1].min() - 1 < lo and hi < test.x[:, 1].max() + 1
    np.testing.assert_allclose(np.sort(panels[0].collections[0].get_offsets()[:, 0]), np.sort(test.x[:, 0]),
                               rtol=1e-6)
    text = labels(residuals)
    assert "standardised residual (no unit)" in text and "teff [K]" in text and "feature index" not in text
    plt.close(scatter)
    samples = labels(sample_grid_figure(run, seed=0, data=test))
    assert "64 samples against" in samples and "teff (K)" in samples and "logg (dex)" in samples
    assert loss_axis_label(run) == "-ELBO (nats per example, scaled space)"


def test_spectra_figures_are_flux_against_wavelength_with_masks_shaded(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    d = SpectrumSimulator(n_pix=160, seed=1).simulate(40)
    n, p = d["flux"].shape
    cols = [fits.Column(name="FLUX", format=f"{p}E", array=d["flux"], unit=FLUX_UNIT),
            fits.Column(name="IVAR", format=f"{p}E", array=d["ivar"]),
            fits.Column(name="LOGLAM", format=f"{p}D", array=np.tile(np.log10(d["wavelength"]), (n, 1)))]
    fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "spectra.fits")
    ds = lf.load_dataset(str(tmp_path / "spectra.fits"))
    assert ds.info["flux_unit"] == FLUX_UNIT
    run = lf.train("spectrum-vae", tmp_path / "spectra.fits", epochs=1, progress=False, channels=(4,), hidden=(16,),
                   latent_dim=2)
    test = run.select(str(tmp_path / "spectra.fits"), "test")
    [(fig, caption)] = reconstruction_figures(run, test)
    first = fig.axes[0]
    assert fig.axes[-1].get_xlabel() == "wavelength (Å)" and first.get_ylabel() == f"flux ({FLUX_UNIT})"
    shown = test.subset(np.unique(np.linspace(0, len(test) - 1, 3).astype(int)))
    observed = first.lines[0].get_ydata()
    masked = shown.mask[0]
    assert masked.any() and np.isnan(observed[masked]).all()  # a masked pixel is not drawn as zero flux
    np.testing.assert_allclose(observed[~masked], shown.x[0][~masked])
    np.testing.assert_allclose(first.lines[0].get_xdata(), d["wavelength"], rtol=1e-6)
    legend = [t.get_text() for t in first.get_legend().get_texts()]
    assert f"masked ({int(masked.sum())} pixels)" in legend and "predicted mean ± sigma" in legend
    plt.close(fig)
    samples = labels(sample_grid_figure(run, seed=0, data=test))
    assert "4 of 64 samples" in samples and "wavelength (Å)" in samples and f"flux ({FLUX_UNIT})" in samples


def test_shower_figures_are_mean_layer_images_in_the_energy_unit(tmp_path):
    write_showers(tmp_path / "e.h5", ShowerSimulator(seed=2).simulate(80, "e+", energies=np.geomspace(1, 50, 80)))
    run = lf.train("cvae", tmp_path / "e.h5", cond_key="conditions", condition="vector",
                   scaling="fractions-response", likelihood="hurdle", **TINY)
    test = run.select(str(tmp_path / "e.h5"), "test")
    [(fig, _)] = reconstruction_figures(run, test)
    text = labels(fig)
    assert "layer 0, input" in text and "layer 0, reconstruction" in text
    assert "mean energy per cell (MeV)" in [ax.get_ylabel() for ax in fig.axes]  # the colour bars
    geometry = test.info["geometry"]
    first = geometry.layers[0]
    want = test.x[:, :first.n_cells].mean(0).reshape(first.shape)  # the layer's mean, computed here
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), want, rtol=1e-5)


def test_image_samples_say_how_many_are_shown_and_labels_are_readable(digits):
    run = lf.train("vae", digits.subset(np.arange(300)), **TINY)
    fig = sample_grid_figure(run, n=16, seed=0)
    assert fig.axes[0].get_title().startswith(f"{run.name}: 16 samples")
    plt.close(fig)
    grid = image_grid(np.zeros((4, 1, 8, 8)), ncols=2, row_labels=["z1", "z2"], col_labels=["-1σ", "+1σ"])
    assert min(t.get_fontsize() for t in grid.axes[0].texts) >= 9
    plt.close(grid)
    z = np.random.default_rng(0).normal(size=(60, 2))
    fig = latent_scatter(z, np.repeat(np.arange(3), 20))
    legend = fig.axes[0].get_legend()
    fig.canvas.draw()
    box, axes_box = legend.get_window_extent(), fig.axes[0].get_window_extent()
    assert box.x0 >= axes_box.x1 - 1  # the legend sits beside the points, not on them
    plt.close(fig)
