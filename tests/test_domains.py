"""Domains are plug-ins: no file of the core names a science domain, and a domain registered from outside the
package (``tests/toy_domain.py``) becomes usable with one call."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import latentforge as lf
from latentforge import domains

SRC = Path(lf.__file__).parent
#: the words that name a built-in domain: showers (calorimeters, CaloGAN / CaloChallenge, Geant4), spectra
#: ("spectral", as in spectral normalisation, is not the domain), their FITS files and wavelength grids, SDSS,
#: and the 2-D mode sets by name
DOMAIN_WORDS = re.compile(r"(?i:shower|calo|spectr(?:um|a)(?!l)|wavelength|geant|sdss|ring8|grid25|cs771)"
                          r"|\bFITS\b|\.fits\b|[\"']\.fit[\"']|\.fts\b|\bfits_|_fits\b|astropy")


def core_offences() -> dict[str, list[str]]:
    """file (relative to the package) -> 'line: text' of each line outside ``domains/`` that names a domain."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "domains":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if DOMAIN_WORDS.search(line):
                found.setdefault(str(rel), []).append(f"{rel}:{i}: {line.strip()}")
    return found


#: files of the core that still name a domain, with how many lines do: their domain code is still to move into
#: the domain's package. A file not listed, or a listed file naming a domain on more lines, fails the test.
STILL_TO_MOVE: dict[str, int] = {
}


def test_the_word_list_finds_a_domain_and_leaves_spectral_normalisation_alone():
    assert DOMAIN_WORDS.search("from ..domains.showers.files import read_showers")
    assert DOMAIN_WORDS.search("a CaloChallenge layout") and DOMAIN_WORDS.search("spectra on a grid")
    assert DOMAIN_WORDS.search("write .fits") and DOMAIN_WORDS.search("FITS TUNIT")
    assert not DOMAIN_WORDS.search("spectral_norm: spectral normalisation of the discriminator")
    assert not DOMAIN_WORDS.search("the scaling fits the training rows; calibration of the intervals")


def test_no_core_file_names_a_domain():
    found = core_offences()
    new = [line for rel, lines in found.items() if rel not in STILL_TO_MOVE for line in lines]
    grown = [f"{rel}: {len(lines)} lines name a domain, {STILL_TO_MOVE[rel]} allowed:\n  " + "\n  ".join(lines)
             for rel, lines in found.items() if rel in STILL_TO_MOVE and len(lines) > STILL_TO_MOVE[rel]]
    assert not new and not grown, "\n".join(new + grown)
    cleaned = sorted(set(STILL_TO_MOVE) - set(found))
    assert not cleaned, f"no longer names a domain, take it off STILL_TO_MOVE: {cleaned}"


def test_no_core_file_imports_a_domain_package():
    """The core reaches the domains through its registries only; the package's face loads them
    (``domains.load_all``)."""
    import ast

    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "domains" or str(rel) == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                depth = len(rel.parts) - 1  # packages between the file and latentforge/
                up = node.level and node.level - 1 == depth
                names = [node.module or ""] if up else [(node.module or "").removeprefix("latentforge.")]
                if node.level and not up:
                    continue
            elif isinstance(node, ast.Import):
                names = [a.name.removeprefix("latentforge.") for a in node.names if a.name.startswith("latentforge")]
            found += [f"{rel}:{node.lineno}" for n in names if n == "domains" or n.startswith("domains.")]
    assert not found, found


def test_the_built_in_domains_are_loaded_with_the_package():
    assert domains.loaded()[:3] == [f"latentforge.domains.{d}" for d in domains.DOMAINS]
    assert {"shower-flow-vae", "spectrum-vae"} <= set(lf.MODELS.names())
    from latentforge.data import DATASETS

    assert {"ring8", "grid25", "cs771-ring"} <= set(DATASETS.names())


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    module = domains.load("toy_domain")  # the one registration call
    yield module
    domains.unload("toy_domain")
    sys.modules.pop("toy_domain", None)


def test_a_domain_registered_from_outside_is_usable_with_one_call(toy, tmp_path, capsys):
    from latentforge.cli.main import main
    from latentforge.data import READERS, supported

    assert "toy" in READERS and ".toy" in supported() and "toy-ae" in lf.MODELS
    assert domains.load("toy_domain") is toy  # loaded once
    out = tmp_path / "points.toy"
    wrong = tmp_path / "points.h5"  # the simulator names its own file endings
    assert main(["simulate", "toy", "-n", "40", "--out", str(wrong)]) == 2 and not wrong.exists()
    assert capsys.readouterr().err.strip().endswith("give a file name ending in .toy")
    assert main(["simulate", "toy", "-n", "40", "--seed", "3", "--toy-spread", "2", "--out", str(out)]) == 0
    ds = lf.load_dataset(out)  # the domain's reader, and what it describes kept in info
    x, _ = toy.blobs(40, 3)
    np.testing.assert_allclose(ds.x, 2 * x, rtol=1e-6)
    assert ds.info["toy_unit"] == "toy units"
    builtin = lf.load_dataset("toy-blobs")
    np.testing.assert_array_equal(builtin.x, toy.blobs()[0])
    run = lf.train("toy-ae", builtin, epochs=1, batch_size=64, progress=False)
    assert run.encode(builtin.x[:5]).shape == (5, 2)


def test_unloading_a_domain_takes_its_entries_out(monkeypatch):
    from latentforge.data import READERS

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    domains.load("toy_domain")
    domains.unload("toy_domain")
    sys.modules.pop("toy_domain", None)
    assert "toy" not in READERS and "toy-ae" not in lf.MODELS and "toy_domain" not in domains.loaded()
    with pytest.raises(lf.DataError, match="unknown dataset 'toy-blobs'"):
        lf.load_dataset("toy-blobs")
