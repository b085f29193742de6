"""The report of each data kind (a table, a folder of images, a shower file, a spectra file) renders in a headless
browser with every image decoded, speaks in the data's units, and carries its domain's validation in words; the
shower validation's sentences say its numbers."""

import html
import re

import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis.readable import fmt
from latentforge.analysis.report import write_report
from latentforge.domains.showers.words import shower_words
from latentforge.domains.showers.validation import validate
from latentforge.domains.showers.files import read_showers
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.spectra.simulator import SpectrumSimulator, write_spectra
from latentforge.domains.showers.files import write_showers

from browser import images_decoded
from test_figures_per_kind import write_catalogue


def test_the_shower_validation_in_words_says_its_numbers(tmp_path):
    write_showers(tmp_path / "a.h5", ShowerSimulator(seed=3).simulate(120, "e+", energies=np.geomspace(1, 50, 120)))
    write_showers(tmp_path / "b.h5", ShowerSimulator(seed=4).simulate(120, "pi+", energies=np.geomspace(1, 50, 120)))
    ref, other = read_showers(tmp_path / "a.h5"), read_showers(tmp_path / "b.h5")
    v = validate(ref, {"showers": other["showers"], "incident_energies": ref["incident_energies"]}, folds=3,
                 dnn_epochs=3)  # the classifiers' length is not what is tested here
    words = " ".join(v["in_words"])
    assert words == " ".join(shower_words(v))
    assert f"held-out AUC {fmt(v['auc'])} ± {fmt(v['auc_err'])}" in words and "120 reference and 120 generated" in words
    for name, what in (("project", "project's classifier"), ("calochallenge_low_level", "low-level DNN"),
                       ("calochallenge_high_level", "high-level DNN")):
        c = v["classifiers"][name]
        line = next(x for x in v["in_words"] if what in x)
        assert f"AUC {fmt(c['auc'])} ± {fmt(c['auc_err'])}" in line
        assert f"reference against reference: {fmt(c['floor'])} ± {fmt(c['floor_err'])}" in line
        assert "60 showers a side" in line and "3 folds" in line
    from latentforge.analysis.report_html import table_html
    from latentforge.domains.showers.report import classifier_rows

    table = table_html(classifier_rows(v))  # the report's table: each classifier with its floor
    for c in (v["classifiers"][k] for k in ("project", "calochallenge_low_level", "calochallenge_high_level")):
        assert f"{fmt(c['floor'])} ± {fmt(c['floor_err'])}" in table
    assert f"S of E_total/E_inc: {fmt(v['S_E_total_over_E_inc'])}" in words
    assert v["worst_observable"]["name"] in words and "MeV" in words and "bins of incident energy" in words


def _images(folder, n=48):
    from PIL import Image

    folder.mkdir()
    x = lf.load_dataset("digits").x[:n, 0]
    for i, img in enumerate(x):
        Image.fromarray(np.round(img * 255 / max(x.max(), 1e-9)).astype(np.uint8)).resize((16, 16)).save(
            folder / f"{i:03d}.png")
    return folder


def _train(kind, tmp_path):
    if kind == "table":
        write_catalogue(tmp_path / "stars.csv", n=300)
        return lf.train("vae", tmp_path / "stars.csv", epochs=3, progress=False, out=tmp_path / "run"), {}
    if kind == "images":
        return lf.train("vae", _images(tmp_path / "png"), epochs=3, progress=False, out=tmp_path / "run"), {}
    if kind == "showers":
        write_showers(tmp_path / "e.h5", ShowerSimulator(seed=1).simulate(300, "e+", energies=np.geomspace(1, 50, 300)))
        run = lf.train("cvae", tmp_path / "e.h5", cond_key="conditions", condition="vector",
                       scaling="fractions-response", likelihood="hurdle", epochs=3, progress=False,
                       out=tmp_path / "run")
        return run, {}
    write_spectra(tmp_path / "sp.h5", SpectrumSimulator(n_pix=200, seed=0).simulate(200))
    return lf.train("spectrum-vae", tmp_path / "sp.h5", epochs=2, progress=False, out=tmp_path / "run"), {}


#: what each kind's page must say (its units and its validation), and what it must not
SAYS = {"table": (["teff [K]", "root mean square", "standardised residual"], ["PSNR"]),
        "images": (["PSNR", "Traversal", "Interpolation"], []),
        "showers": (["Showers: generated against reference", "held-out AUC", "Separation power S of E_total/E_inc",
                     "Response and resolution", "MeV"], ["not computed", "see --json"]),
        "spectra": (["Calibration", "-ELBO"], ["PSNR"])}


@pytest.mark.slow  # four trainings and four reports: runs in the slow checks (pytest -m slow)
@pytest.mark.parametrize("kind", list(SAYS))
def test_the_report_of_each_kind_renders_with_every_image(kind, tmp_path):
    run, _ = _train(kind, tmp_path)
    path = write_report(run, out=tmp_path / "report.html", k=10)
    page = path.read_text()
    text = html.unescape(page)
    say, never = SAYS[kind]
    for words in say:
        assert words in text, words
    for words in never:
        assert words not in text, words
    assert "images loaded" not in page and "http://" not in page and "https://" not in page
    n_img = len(re.findall(r"<img ", page))
    assert n_img >= 4
    decoded = images_decoded(path, tmp_path)
    if decoded is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); the page was checked as text")
    assert decoded == (n_img, n_img)
