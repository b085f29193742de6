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
                          r"|\bFITS\b|\.fits?\b|\bfits_|_fits\b|astropy")


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
