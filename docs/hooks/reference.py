"""MkDocs hook: generates the reference pages at build time, so they cannot drift from the code.

- ``cli/*.md``: the command-line reference, rendered from the argparse parsers themselves
  (``latentforge.cli.main.build_parser()`` and ``latentforge.cli.train.train_parser()``): every command,
  every model's ``train`` options, with their help text and defaults.
- ``reference/*.md``: one page per module of the package (``::: module`` for mkdocstrings), found by walking the
  installed package, so a new module gets its page without editing anything: the "Internals" section.
- In the hand-written pages of the public API (``docs/api/``), two markers are filled in from the code:
  ``<!-- fields: dotted.path.ConfigClass -->`` becomes a table of the config's fields (default, meaning, allowed
  values) and ``<!-- capabilities -->`` a table of the methods each catalogue model's ``TrainedModel`` offers.

The generated sections are appended to the navigation, after the public API that ``mkdocs.yml`` lists.
``tests/test_docs.py`` checks that every option of every parser reaches the pages and runs every example of the
API pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import pkgutil
import re
from pathlib import Path

#: the pages this hook generates: path inside docs -> markdown
GENERATED: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------- the CLI
def escape(text: str) -> str:
    """Text for a markdown table cell."""
    return (text.replace("%%", "%").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("*", "\\*").replace("_", "\\_").replace("\n", " "))


def flags_of(action: argparse.Action) -> str:
    """``--latent-dim LATENT-DIM``, ``--beta / --no-beta`` or ``RUN_DIR`` as code."""
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if isinstance(action, argparse.BooleanOptionalAction):
        return " / ".join(f"`{o}`" for o in action.option_strings)
    metavar = ""
    if action.nargs != 0:
        if action.choices is not None:
            metavar = "{" + ",".join(map(str, action.choices)) + "}"
        else:
            mv = action.metavar or action.dest.upper()
            metavar = " ".join(mv) if isinstance(mv, tuple) else mv
            if isinstance(action.nargs, int) and action.nargs > 1 and not isinstance(mv, tuple):
                metavar = " ".join([mv] * action.nargs)
    return ", ".join(f"`{o}{' ' + metavar if metavar else ''}`" for o in action.option_strings)


def groups(parser: argparse.ArgumentParser) -> list[tuple[str, list[argparse.Action]]]:
    """(title, actions) of each argument group that has arguments to show (help and sub-commands left out)."""
    out = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and a.help != argparse.SUPPRESS]
        if actions:
            out.append((group.title or "options", actions))
    return out


def parser_markdown(parser: argparse.ArgumentParser, title: str, level: int = 2) -> str:
    """One parser as a section: its usage, its description and a table per argument group."""
    usage = parser.format_usage().strip().removeprefix("usage: ")
    lines = [f"{'#' * level} {title}", "", "```text", usage, "```", ""]
    if parser.description and "\n" in parser.description:  # laid out by hand (RawDescriptionHelpFormatter)
        lines += ["```text", parser.description.strip(), "```", ""]
    elif parser.description:
        lines += [escape(parser.description).replace("\\_", "_").replace("\\*", "*"), ""]
    for group_title, actions in groups(parser):
        lines += [f"**{escape(group_title)}**", "", "| option | meaning |", "|---|---|"]
        for action in actions:
            text = escape(action.help or "")
            if action.required and action.option_strings:
                text += " (required)"
            lines.append(f"| {flags_of(action)} | {text} |")
        lines.append("")
    return "\n".join(lines)


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """name -> sub-parser, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_pages() -> dict[str, str]:
    """cli/index.md (the command and every subcommand but train) and cli/train.md (train and each model)."""
    from latentforge.cli.main import build_parser
    from latentforge.cli.train import train_parser

    note = ("*Generated from the command's own argument parsers when this site was built; "
            "`latentforge COMMAND --help` prints the same.*\n")
    main = build_parser()
    page = ["# Command line", "", note, parser_markdown(main, "latentforge")]
    for name, sub in subparsers(main).items():
        if name == "train":
            page.append("## latentforge train\n\nTrains a model and writes a run directory: see "
                        "[latentforge train](train.md), one section per model.\n")
            continue
        page.append(parser_markdown(sub, f"latentforge {name}"))
    train = train_parser()
    models = subparsers(train)
    train_page = ["# latentforge train", "", note, parser_markdown(train, "Usage"),
                  "Options may come before or after the model's name. Each model:", ""]
    train_page += [f"- [`{name}`](#{name.replace('.', '')})" for name in models] + [""]
    for name, sub in models.items():
        train_page.append(parser_markdown(sub, name))
    return {"cli/index.md": "\n".join(page), "cli/train.md": "\n".join(train_page)}


# ---------------------------------------------------------------------------------------------- the API
def public_modules() -> list[str]:
    """Every module of the package except private ones (a leading underscore) and ``__main__``."""
    import latentforge

    names = ["latentforge"]
    for info in pkgutil.walk_packages(latentforge.__path__, "latentforge."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        importlib.import_module(info.name)  # a module that cannot be imported should fail the build
        names.append(info.name)
    return names


INTERNAL_NOTE = ("!!! note \"Internal module\"\n    Its names may change from one version to the next. What "
                 "`import latentforge as lf` offers is documented, with examples, under [API](../api/index.md).\n")


def api_documented(docs_dir: str | Path) -> dict[str, str]:
    """dotted path -> API page (``api/train.md``) of every object a hand-written API page documents (``::: path``)."""
    out = {}
    for page in sorted((Path(docs_dir) / "api").glob("*.md")):
        for path in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M):
            out[path] = f"api/{page.name}"
    return out


def documented_here(module: str, documented: dict[str, str]) -> dict[str, str]:
    """name -> dotted path, for the members of ``module`` (its own, those of its classes, and the names its
    ``__all__`` re-exports) that an API page documents: their documentation is there, the module's page links to
    it."""
    mod = importlib.import_module(module)
    objects = {path: find_object(path) for path in documented}
    out = {}
    for path, obj in objects.items():
        parent, name = path.rsplit(".", 1)
        owner = find_object(parent)
        if parent == module or (isinstance(owner, type) and owner.__module__ == module):
            out[name] = path
    for name in getattr(mod, "__all__", ()):  # re-exports: mkdocstrings renders the names __all__ lists
        for path, obj in objects.items():
            if getattr(mod, name, None) is obj:
                out.setdefault(name, path)
    return out


def api_pages(modules: list[str], documented: dict[str, str] | None = None) -> dict[str, str]:
    """reference/<module>.md: the module's docstring and members through mkdocstrings, except the members that a
    page of the public API documents (``documented``: dotted path -> page), which are linked to instead."""
    pages = {}
    for m in modules:
        here = documented_here(m, documented or {})
        text = f"# `{m}`\n\n{INTERNAL_NOTE}\n"
        if here:
            links = ", ".join(f"[`{name}`](../{(documented or {})[path]}#{path})" for name, path in sorted(here.items()))
            text += f"Documented under API: {links}.\n\n"
            filters = ", ".join(['"!^_"'] + [f'"!^{name}$"' for name in sorted(here)])
            text += f"::: {m}\n    options:\n      filters: [{filters}]\n"
        else:
            text += f"::: {m}\n"
        pages[f"reference/{m}.md"] = text
    return pages


def api_nav(modules: list[str]) -> list:
    """Navigation entries: the package page, then one section per subpackage (its own page first)."""
    nav: list = [{"latentforge": "reference/latentforge.md"}]
    sections: dict[str, list] = {}
    for m in modules[1:]:
        parts = m.split(".")
        if len(parts) == 2 and not hasattr(importlib.import_module(m), "__path__"):
            nav.append({m: f"reference/{m}.md"})
        else:
            sections.setdefault(parts[1], []).append({m: f"reference/{m}.md"})
    nav += [{f"latentforge.{name}": entries} for name, entries in sections.items()]
    return nav


# ---------------------------------------------------------------------------------------------- markers
def find_object(path: str):
    """The object at a dotted path: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def fields_table(path: str) -> str:
    """A config dataclass's fields as a markdown table: name, default, meaning and allowed values."""
    from latentforge.config import choice_names

    cls = find_object(path)
    lines = ["| field | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(cls):
        meaning = escape(f.metadata.get("help", ""))
        allowed = choice_names(f)
        if allowed:
            meaning += "; one of " + ", ".join(f"`{a}`" for a in allowed)
        default = "" if f.default is dataclasses.MISSING else f"`{f.default!r}`"
        lines.append(f"| `{f.name}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


def example_shape(spec) -> tuple[tuple[int, ...], dict]:
    """A small example shape and the options with which a catalogue model builds (images for conv networks)."""
    kw = {"condition_dim": 2} if "condition_dim" in spec.option_names() and spec.default("condition") != "none" else {}
    if "layer_cells" in spec.option_names():  # a shower model: 2 layer energies and 2 layers of 9 cells
        kw["layer_cells"] = (9, 9)
        kw.update({k: (1.0, 1.0) if k == "u_std" else (0.0, 0.0) for k in ("u_mean", "u_std")
                   if k in spec.option_names()})
    if "layer_eps" in spec.option_names():  # a model of per-layer log-scaled cells: 2 layers of 9 cells
        kw.update(layer_eps=(1e-3, 1e-3), layer_hi=(5.0, 5.0))
    for shape in ((20,), (18,), (1, 16, 16)):
        try:
            spec.configs(shape, **kw)
            return shape, kw
        except Exception:  # noqa: BLE001 - a conv model refuses vectors: try an image
            continue
    raise RuntimeError(f"cannot build {spec.name} on a small example")


def capability_table() -> str:
    """Which methods the TrainedModel of each catalogue model offers, from the capabilities that apply to it."""
    from latentforge.catalog import MODELS
    from latentforge.run.capabilities import CAPABILITIES, Capability

    methods = {name: [m for m, f in vars(cap).items() if callable(f) and not m.startswith("_")
                      and m not in vars(Capability)]
               for name, cap in CAPABILITIES.items()}
    lines = ["| model | methods beyond `evaluate`, `save`, `info` |", "|---|---|"]
    for name, spec in MODELS.items():
        shape, kw = example_shape(spec)
        model, objective = spec.build(*spec.configs(shape, **kw))
        have = [m for cap_name, cap in CAPABILITIES.items() if cap.applies(model, objective)
                for m in methods[cap_name]]
        lines.append(f"| `{name}` | {', '.join(f'[`{m}`](#{method_anchor(m)})' for m in have)} |")
    return "\n".join(lines) + "\n"


def method_anchor(method: str) -> str:
    """The anchor mkdocstrings gives a capability method: its full dotted path."""
    from latentforge.run.capabilities import CAPABILITIES

    for _, cap in CAPABILITIES.items():
        if method in vars(cap):
            return f"{cap.__module__}.{cap.__name__}.{method}"
    raise KeyError(method)


MARKERS = {
    re.compile(r"<!-- fields: ([\w.]+) -->"): lambda m: fields_table(m.group(1)),
    re.compile(r"<!-- capabilities -->"): lambda m: capability_table(),
}


def fill_markers(markdown: str) -> str:
    """The page with its markers replaced by the tables they name."""
    for pattern, fill in MARKERS.items():
        markdown = pattern.sub(fill, markdown)
    return markdown


# ---------------------------------------------------------------------------------------------- hooks
def on_config(config, **kwargs):
    """Generate the pages once per build and add them to the navigation, after the public API."""
    modules = public_modules()
    GENERATED.clear()
    GENERATED.update(cli_pages())
    GENERATED.update(api_pages(modules, api_documented(config["docs_dir"])))
    nav = config["nav"]
    nav.append({"Command line": [{"latentforge": "cli/index.md"}, {"latentforge train": "cli/train.md"}]})
    nav.append({"Internals": api_nav(modules)})
    return config


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Fill the markers of a page (the API pages' config tables and capability table)."""
    return fill_markers(markdown)


def on_files(files, config, **kwargs):
    """Add the generated pages to the site's files."""
    from mkdocs.structure.files import File  # imported here: the tests import this module without MkDocs

    for path, content in GENERATED.items():
        files.append(File.generated(config, path, content=content))
    return files
