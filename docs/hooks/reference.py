"""MkDocs hook: generates the reference pages at build time, so they cannot drift from the code.

- ``cli/*.md``: the command-line reference, rendered from the argparse parsers themselves
  (``latentforge.cli.main.build_parser()`` and ``latentforge.cli.train.train_parser()``): every command,
  every model's ``train`` options, with their help text and defaults.
- ``reference/*.md``: one API page per public module of the package (``::: module`` for mkdocstrings), found by
  walking the installed package, so a new module gets its page without editing anything.

Both sections are appended to the navigation. Nothing here is written by hand about the CLI or the API.
``tests/test_docs.py`` checks that every option of every parser reaches the pages.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

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


def api_pages(modules: list[str]) -> dict[str, str]:
    """reference/<module>.md: the module's docstring and members through mkdocstrings."""
    return {f"reference/{m}.md": f"# `{m}`\n\n::: {m}\n" for m in modules}


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


# ---------------------------------------------------------------------------------------------- hooks
def on_config(config, **kwargs):
    """Generate the pages once per build and add them to the navigation."""
    modules = public_modules()
    GENERATED.clear()
    GENERATED.update(cli_pages())
    GENERATED.update(api_pages(modules))
    nav = config["nav"]
    nav.append({"Command line": [{"latentforge": "cli/index.md"}, {"latentforge train": "cli/train.md"}]})
    nav.append({"API reference": api_nav(modules)})
    return config


def on_files(files, config, **kwargs):
    """Add the generated pages to the site's files."""
    from mkdocs.structure.files import File  # imported here: the tests import this module without MkDocs

    for path, content in GENERATED.items():
        files.append(File.generated(config, path, content=content))
    return files
