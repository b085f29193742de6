"""A fish completion script made from the parser tree.

shtab, which writes the bash, zsh and tcsh scripts, has no fish output; fish's ``complete`` lines are simple
enough to derive from argparse directly: one line per command, per ``train`` model and per option, each with its
help text as the description.
"""

from __future__ import annotations

import argparse


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _helps(p: argparse.ArgumentParser) -> dict[str, str]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def _options(p: argparse.ArgumentParser, condition: str) -> list[str]:
    lines = []
    for action in p._actions:
        longs = [s[2:] for s in action.option_strings if s.startswith("--")]
        shorts = [s[1:] for s in action.option_strings if len(s) == 2 and s[0] == "-"]
        if not longs and not shorts or action.help == argparse.SUPPRESS:
            continue
        parts = [f"complete -c latentforge -n {_quote(condition)}"]
        parts += [f"-l {name}" for name in longs] + [f"-s {name}" for name in shorts]
        if action.choices:
            parts.append("-x -a " + _quote(" ".join(map(str, action.choices))))
        elif action.nargs != 0:
            parts.append("-r")  # takes a value: files complete by default
        parts.append("-d " + _quote((action.help or "").split(" (default")[0][:80]))
        lines.append(" ".join(parts))
    return lines


def fish_script(parser: argparse.ArgumentParser) -> str:
    """The fish completion script for ``parser`` (the whole tree, ``train`` with its model sub-parsers).

    Install: ``latentforge completion fish > ~/.config/fish/completions/latentforge.fish``."""
    commands = _subparsers(parser)
    helps = _helps(parser)
    names = " ".join(commands)
    lines = ["# latentforge completion for fish", "complete -c latentforge -f"]
    for name in commands:
        lines.append(f"complete -c latentforge -n {_quote('not __fish_seen_subcommand_from ' + names)} -a {name} "
                     f"-d {_quote(helps.get(name, '')[:80])}")
    for name, sub in commands.items():
        if name == "train":
            models = _subparsers(sub)
            model_names = " ".join(models)
            lines.append(f"complete -c latentforge -n {_quote(f'__fish_seen_subcommand_from train; and not __fish_seen_subcommand_from {model_names}')} "
                         f"-a {_quote(model_names)}")
            lines += _options(sub, "__fish_seen_subcommand_from train")
            for model, mp in models.items():
                lines += _options(mp, f"__fish_seen_subcommand_from train; and __fish_seen_subcommand_from {model}")
        else:
            lines += _options(sub, f"__fish_seen_subcommand_from {name}")
    return "\n".join(lines) + "\n"
