"""The documentation: its command-line reference is generated from the parsers and misses no option, its API
reference covers every public module, and every command the pages tell users to run parses."""

import argparse
import importlib.util
import re
import shlex
from pathlib import Path

import latentforge as lf
from latentforge.cli.main import build_parser
from latentforge.cli.train import model_first, train_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


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
