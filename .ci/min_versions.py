"""Print ``name==floor`` for every dependency of the package (and of the extras named on the command line) that
states a floor (``>=``), for a CI run against the oldest versions the package claims to support.

torch is left out: only torch 2.13.0 can be installed on the CI machine (any other version is a multi-GB CUDA
download there), so its floor in pyproject.toml is checked by reading the APIs the code uses.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += project["optional-dependencies"][extra]
pins = {}
for req in requirements:
    m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)", req)
    if m and m.group(1).lower() != "torch":
        pins[m.group(1).lower()] = m.group(3)
print("\n".join(f"{name}=={version}" for name, version in sorted(pins.items())))
