"""The documentation: its command-line reference is generated from the parsers and misses no option, its API
section leads the reference with every name `import latentforge as lf` offers and runs every example it shows,
the internals reference covers every module, and every command the pages tell users to run parses."""

import argparse
import dataclasses
import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

import latentforge as lf
from latentforge.cli.main import build_parser
from latentforge.cli.train import model_first, train_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"


def hook():
    spec = importlib.util.spec_from_file_location("docs_reference_hook", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")}


def test_cli_reference_holds_every_option_of_every_command_and_model():
    pages = hook().cli_pages()
    main, train = pages["cli/index.md"], pages["cli/train.md"]
    commands = hook().subparsers(build_parser())
    assert set(commands) >= {"encode", "evaluate", "sample", "explore", "report", "simulate", "demo", "train"}
    for name, parser in commands.items():
        if name != "train":
            assert f"## latentforge {name}" in main
            missing = [o for o in options(parser) if f"`{o}" not in main]
            assert not missing, (name, missing)
    models = hook().subparsers(train_parser())
    for name, parser in models.items():
        section = train.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        missing = [o for o in options(parser) if f"`{o}" not in section]
        assert not missing, (name, missing)
        assert "--log-to" in section and "--epochs" in section


def test_api_reference_has_a_page_for_every_public_module():
    h = hook()
    modules = h.public_modules()
    files = {p.relative_to(ROOT / "src").with_suffix("") for p in (ROOT / "src" / "latentforge").rglob("*.py")}
    public = {".".join(p.parts[:-1] if p.name == "__init__" else p.parts) for p in files
              if not any(part.startswith("_") and part != "__init__" for part in p.parts)}
    assert set(modules) == public
    pages = h.api_pages(modules)
    assert pages["reference/latentforge.run.tracking.md"].strip().endswith("::: latentforge.run.tracking")
    nav_pages = re.findall(r"reference/[\w.]+\.md", repr(h.api_nav(modules)))
    assert sorted(nav_pages) == sorted(pages)


def doc_commands():
    """(page, argv) for every latentforge command in the bash blocks of the documentation pages."""
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    words = shlex.split(part, comments=True)
                    if "latentforge" in words and "pip" not in words and "mlflow" not in words:
                        yield page.relative_to(DOCS), words[words.index("latentforge") + 1:]


def test_every_documented_command_parses():
    commands = list(doc_commands())
    assert len(commands) > 40
    bad = []
    for page, argv in commands:
        try:
            if argv and argv[0] == "train":
                rest = argv[1:]
                if "--config" in rest and not any(w in lf.MODELS.names() for w in rest):
                    rest = ["ae", *rest]  # the model comes from the config file, which the page only names
                train_parser().parse_args(model_first(rest))
            else:
                build_parser().parse_args(argv)
        except SystemExit:
            bad.append(f"{page}: latentforge {' '.join(argv)}")
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------------------------- the public API
def site_nav() -> list:
    """The site's navigation as MkDocs builds it: mkdocs.yml's, plus the sections the hook appends."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    return hook().on_config({"nav": config["nav"], "docs_dir": str(DOCS)})["nav"]


def section_pages(entries) -> list[str]:
    """Every page path of a navigation section, in order."""
    out = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += section_pages(value) if isinstance(value, list) else [value]
    return out


def api_section() -> list[str]:
    return section_pages(next(e["API"] for e in site_nav() if isinstance(e, dict) and "API" in e))


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


def identifiers(page: Path) -> list[str]:
    """The objects a page documents through mkdocstrings (``::: dotted.path``)."""
    return re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)


def defining_path(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def capability_methods() -> dict[str, str]:
    """method name -> defining path of every method a TrainedModel gets from a capability."""
    from latentforge.run.capabilities import CAPABILITIES, Capability

    return {m: defining_path(f) for _, cap in CAPABILITIES.items() for m, f in vars(cap).items()
            if callable(f) and not m.startswith("_") and m not in vars(Capability)}


def test_the_api_section_leads_the_reference_and_lists_every_api_page():
    titles = [next(iter(e)) for e in site_nav() if isinstance(e, dict)]
    assert titles.index("API") < titles.index("Command line") < titles.index("Internals")
    pages = api_section()
    assert pages[0] == "api/index.md"
    assert sorted(pages) == sorted(f"api/{p.name}" for p in API.glob("*.md"))
    assert len(pages) >= 8 and all((DOCS / p).is_file() for p in pages)
    internals = section_pages(next(e["Internals"] for e in site_nav() if isinstance(e, dict) and "Internals" in e))
    assert "reference/latentforge.run.fit.md" in internals and not set(internals) & set(pages)


def test_the_api_overview_links_every_public_name_and_method_to_its_page():
    overview = (API / "index.md").read_text()
    documented = {path: page.name for page in API.glob("*.md") for path in identifiers(page)}
    targets = {}
    for name in lf.__all__:
        obj = getattr(lf, name)
        targets[f"lf.{name}"] = "latentforge.catalog.MODELS" if name == "MODELS" else defining_path(obj)
    targets.update({f"run.{m}": path for m, path in capability_methods().items()})
    missing = []
    for label, path in targets.items():
        page = documented.get(path)
        if page is None or not re.search(rf"\[`{re.escape(label)}\b[^]]*`\]\({re.escape(page)}#{re.escape(path)}\)",
                                         overview):
            missing.append(f"{label} -> {page}#{path}")
    assert not missing, "\n".join(missing)


def test_every_api_identifier_is_the_objects_defining_path():
    h = hook()
    checked = 0
    for page in API.glob("*.md"):
        for path in identifiers(page):
            obj = h.find_object(path)
            if path == "latentforge.catalog.MODELS":  # an instance: defined by assignment in its module
                assert re.search(r"^MODELS\b[^=\n]*=", (ROOT / "src/latentforge/catalog.py").read_text(), re.M)
            else:
                assert defining_path(obj) == path, (page.name, path, defining_path(obj))
            checked += 1
    assert checked > 40


def test_the_generated_tables_hold_every_config_field_and_every_model():
    h = hook()
    build = h.fill_markers((API / "build.md").read_text())
    assert "<!--" not in build
    for config in (lf.MLPAutoencoderConfig, lf.LinearAutoencoderConfig, lf.ConvAutoencoderConfig,
                   lf.ReconstructionConfig, lf.DenoisingConfig, lf.SparseConfig):
        table = h.fields_table(defining_path(config))
        assert table in build
        assert [f.name for f in dataclasses.fields(config)] == re.findall(r"^\| `(\w+)` \|", table, re.M)
    rows = dict(re.findall(r"^\| `([\w-]+)` \| (.*) \|$", h.capability_table(), re.M))
    assert list(rows) == lf.MODELS.names()
    assert "`sample`" not in rows["ae"] and "`encode`" in rows["ae"] and "`score`" in rows["gan"]
    assert "`translate`" in rows["cyclegan"] and "`add_noise`" in rows["denoising-ae"]


def test_internal_pages_link_to_the_api_instead_of_repeating_it():
    h = hook()
    pages = h.api_pages(h.public_modules(), h.api_documented(DOCS))
    tracking = pages["reference/latentforge.run.tracking.md"]
    assert "(../api/callbacks.md#latentforge.run.tracking.TensorBoardLogger)" in tracking
    assert '"!^TensorBoardLogger$"' in tracking and '"!^MLflowLogger$"' in tracking
    assert '"!^train$"' in pages["reference/latentforge.md"]  # the re-export, documented under API
    assert pages["reference/latentforge.spelling.md"].strip().endswith("::: latentforge.spelling")  # nothing public


@pytest.mark.parametrize("page", sorted(p.name for p in API.glob("*.md")))
def test_api_page_examples_run(page, tmp_path, monkeypatch, capsys):
    """Every Python block of an API page runs as it stands, in order, in one namespace (as a reader pastes them),
    in an empty folder."""
    assert f"api/{page}" in api_section()
    blocks = python_blocks(API / page)
    assert blocks, f"{page} shows no example"
    if page != "index.md":
        assert identifiers(API / page), f"{page} documents no object"
    if page == "callbacks.md":  # its examples use the optional trackers, as the tracking tests do
        pytest.importorskip("tensorboardX",
                            reason="the TensorBoard logger needs pip install 'latentforge[tensorboard]'")
        pytest.importorskip("mlflow", reason="the MLflow logger needs pip install 'latentforge[mlflow]'")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/api/{page}, example {i + 1}", "exec"), namespace)
    assert capsys.readouterr().out.strip()  # each page's examples show their results
