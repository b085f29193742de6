"""The shape of the code, checked on every run (diffusers keeps such checks in utils/check_*.py):

- imports point one way along the data flow, package by package: no cycle;
- no private name is imported from another package;
- no file under src/ is longer than 400 lines;
- no family or kind name (a model, likelihood, GAN loss, scaling, corruption, condition kind) is compared as a
  string outside the registries that hold them: behaviour comes from classes and capabilities.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import latentforge as lf
from latentforge.data import CORRUPTIONS, SCALINGS
from latentforge.data.conditions import CONDITIONS
from latentforge.models import LIKELIHOODS
from latentforge.objectives import GAN_LOSSES

SRC = Path(lf.__file__).parent
#: the data flow, lowest first; a module may import from its own layer and the layers before it
LAYERS = [
    {"errors", "registry", "config", "version", "spelling", "hooks"},
    {"data"},
    {"nn"},
    {"models"},
    {"objectives"},
    {"catalog"},
    {"training"},
    {"io"},
    {"analysis"},
    {"run"},
    {"estimator", "demo", "compare"},
    {"domains"},  # science domains plug into the layers below through their registries; none imports them
    {"cli", "__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path, path.relative_to(SRC)


def unit(rel: Path) -> str:
    """The first path part: a package (data, run, ...) or a top-level module (catalog, demo, ...)."""
    return rel.parts[0][:-3] if len(rel.parts) == 1 else rel.parts[0]


def imports(path: Path, rel: Path):
    """(imported unit, names, line) for every import of a latentforge module in ``path``, lazy ones included."""
    tree = ast.parse(path.read_text())
    package = list(rel.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "latentforge":
                target = node.module.split(".")[1:]
            else:
                continue
            if not target:  # "from . import __version__" at the top of the package
                target = [alias.name for alias in node.names][:1]
            yield target[0], [a.name for a in node.names], node.lineno, target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "latentforge" and len(parts) > 1:
                    yield parts[1], [], node.lineno, parts[1:]


def test_every_unit_has_a_layer():
    units = {unit(rel) for _, rel in modules()} - {"__init__"}
    assert units <= set(LAYER_OF), sorted(units - set(LAYER_OF))


def test_imports_follow_the_data_flow():
    wrong = []
    for path, rel in modules():
        me = unit(rel)
        if me == "__init__":
            continue  # the package's public face re-exports from everywhere
        for target, _, line, _ in imports(path, rel):
            if target == "__version__" or target not in LAYER_OF:
                continue
            if LAYER_OF[target] > LAYER_OF[me]:
                wrong.append(f"{rel}:{line} imports {target} (layer {LAYER_OF[target]} above {me}'s {LAYER_OF[me]})")
    assert not wrong, "\n".join(wrong)


def test_no_private_name_crosses_a_package():
    wrong = []
    for path, rel in modules():
        me = unit(rel)
        for target, names, line, _ in imports(path, rel):
            if target != me:
                wrong += [f"{rel}:{line} imports {n} from {target}" for n in names if n.startswith("_") and
                          n != "__version__"]
    assert not wrong, "\n".join(wrong)


def test_no_file_is_longer_than_400_lines():
    long = {str(rel): n for path, rel in modules() if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long


def kind_names() -> set[str]:
    names = set(lf.MODELS.names()) | {"autoencoder", "vae", "gan"}
    for registry in (LIKELIHOODS, GAN_LOSSES, SCALINGS, CORRUPTIONS, CONDITIONS):
        names |= set(registry.names())
    return names - {"none"}  # also the plain word of many options (--norm none); conditions use NO_CONDITION


def test_no_family_or_kind_string_is_compared_outside_registries():
    names = kind_names()
    found = []
    for path, rel in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in [node.left, *node.comparators]
                          if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                if any(c in names for c in consts):
                    found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.Attribute) and node.attr == "family":
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("cls", [lf.MODELS.get(n).model_config_class for n in lf.MODELS] +
                         [lf.MODELS.get(n).objective_config_class for n in lf.MODELS])
def test_each_config_sits_beside_its_class(cls):
    assert cls.__module__ != "latentforge.config", cls


def test_public_library_functions_and_classes_have_docstrings():
    import importlib
    import inspect
    import pkgutil

    missing = []
    for info in pkgutil.walk_packages(lf.__path__, "latentforge."):
        if info.name.endswith("__main__") or ".cli" in info.name:
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip():
                missing.append(f"{mod.__name__}.{name}")
    assert not missing, missing


def test_importing_the_package_and_its_program_loads_no_plotting_analysis_or_compiler_code():
    """Start-up cost: matplotlib, scikit-learn, scipy, file-format readers and torch's compiler load when used."""
    import subprocess
    import sys

    heavy = ("matplotlib", "sklearn", "scipy", "h5py", "astropy", "uproot", "torch._dynamo", "pandas")
    code = ("import sys, latentforge, latentforge.cli.main; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    done = subprocess.run([sys.executable, "-m", "latentforge", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip()  # the program's entry (entry(): main, then exit)


def test_the_optimizer_imports_are_prefetched_in_the_background_and_the_switch_interval_restored():
    import subprocess
    import sys

    code = ("import sys, os; from latentforge.training import runtime; before = sys.getswitchinterval(); "
            "t = runtime.prefetch_optimizer_imports(); t.join(); "
            "os.environ['WORLD_SIZE'] = '2'; "
            "print('torch._dynamo' in sys.modules, sys.getswitchinterval() == before, "
            "runtime.prefetch_optimizer_imports())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "None"]  # loaded, interval back; nothing to do once loaded or under torchrun


def module_graph() -> dict[str, set[str]]:
    """Every module under src/latentforge (a package by its __init__) -> the modules it imports, imports inside
    functions included. Relative imports are resolved; ``from . import x`` imports the module x where x is one,
    else the package itself; ``from a.b import c`` imports a.b (or a.b.c when c is a module). The package a module
    sits in is not counted for it (Python runs a package's __init__ first, which is not an import between files)."""
    names = {}
    for path, rel in modules():
        parts = ["latentforge", *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = (path, rel.name == "__init__.py")

    def known(name: str) -> str | None:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in names}
    for me, (path, is_package) in names.items():
        package = me if is_package else me.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] != "latentforge":
                    continue
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    targets.append(sub if sub in names else known(module))
            elif isinstance(node, ast.Import):
                targets = [known(a.name) for a in node.names if a.name.split(".")[0] == "latentforge"]
            graph[me] |= {t for t in targets if t and t != me}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_import_graph_finds_a_cycle_hidden_in_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    found = module_graph()
    assert "latentforge.data.records" in found["latentforge.data.files"]  # a top-level import
    assert "latentforge.data.images" in found["latentforge.data.files"]  # `from . import images`
    assert "latentforge.data.scaling" in found["latentforge.data.stream"]  # an import inside a function


def test_no_import_cycle_between_files():
    cycle = find_cycle(module_graph())
    assert cycle is None, "import cycle between files: " + " -> ".join(cycle)


def test_no_subpackage_shares_a_name_with_a_public_function():
    """``import latentforge.X as m`` must give the module X, not a function of the same name exported at the top
    (``latentforge.train`` was once both the function and a package, and the import gave the function)."""
    import importlib
    import inspect
    import pkgutil
    import types

    import latentforge as lf

    for info in pkgutil.iter_modules(lf.__path__):
        exported = getattr(lf, info.name, None)
        assert exported is None or isinstance(exported, types.ModuleType), (
            f"latentforge.{info.name} is both a module and the public {type(exported).__name__} lf.{info.name}")
    module = importlib.import_module("latentforge.training")
    assert inspect.ismodule(module) and hasattr(module, "Trainer")
    assert callable(lf.train) and not inspect.ismodule(lf.train)
