"""The CLI reference page, rendered from genzoo's own argparse parsers.

Every sub-command's ``--help`` (recursively: ``genzoo series fit causal_ar`` too) and, for
``genzoo train``, each model's hyper-parameter flags (``genzoo train MODEL --help`` adds them).
Nothing here is typed by hand: a new flag or sub-command appears at the next build.

    python docs/gen/cli_reference.py > cli.md      # what the docs build puts in reference/cli.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator

#: help texts are wrapped at this width, whatever the terminal of the build
WIDTH = "100"


@contextlib.contextmanager
def fixed_width() -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-commands by name, in the order they were added."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(("series", "fit"), parser)`` for the parser and every sub-command below it."""
    yield path, parser
    for name, child in subcommands(parser).items():
        yield from walk(child, (*path, name))


def group_help(parser: argparse.ArgumentParser, title: str) -> str | None:
    """The ``--help`` text of one argument group of ``parser`` (None when it has none)."""
    for group in parser._action_groups:
        if group.title == title:
            formatter = parser._get_formatter()
            formatter.start_section(group.title)
            formatter.add_text(group.description)
            formatter.add_arguments(group._group_actions)
            formatter.end_section()
            return formatter.format_help().rstrip()
    return None


def fenced(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```\n"


def render() -> str:
    from genzoo.cli.main import build_parser
    from genzoo.models import available_models

    with fixed_width():
        root = build_parser()
        out = []
        commands = list(walk(root))
        out.append("")
        for path, _ in commands[1:]:
            anchor = "-".join(path)
            out.append(f"- [`genzoo {' '.join(path)}`](#{anchor})")
        out.append("")
        for path, parser in commands:
            if path:
                out.append(f"## `genzoo {' '.join(path)}` {{ #{'-'.join(path)} }}\n")
            out.append(fenced(parser.format_help()))
            if path == ("train",):
                out.append(train_hyperparameters(available_models()))
        return "\n".join(out)


def train_hyperparameters(models: list[str]) -> str:
    """Each model's hyper-parameter flags, as ``genzoo train MODEL --help`` adds them."""
    from genzoo.cli.main import build_parser

    out = [
        "### Model hyper-parameters { #train-hyper-parameters }\n",
        "`genzoo train MODEL --help` adds MODEL's hyper-parameter flags (from its constructor and "
        "its parameter table) to the flags above:\n",
    ]
    for name in models:
        parser = subcommands(build_parser(["train", name]))["train"]
        text = group_help(parser, f"{name} hyper-parameters")
        out.append(f"#### `{name}` {{ #train-{name.replace('_', '-')} }}\n")
        out.append(fenced(text) if text else "No hyper-parameters.\n")
    return "\n".join(out)


if __name__ == "__main__":
    print(render())
