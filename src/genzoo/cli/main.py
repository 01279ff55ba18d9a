"""``genzoo`` entry point: dispatch to sub-commands; user errors become one line and exit 2,
Ctrl-C one line and exit 130 (training first writes a checkpoint that ``--resume`` continues)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from genzoo.core.progress import set_progress
from genzoo.errors import GenzooError

EXIT_USER_ERROR = 2
#: the shell's status for a process stopped by SIGINT (128 + 2)
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a :class:`GenzooError` (one line, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GenzooError(f"{self.prog}: {message} (see --help)")


class Command(NamedTuple):
    """A sub-command: its name, its one-line help in ``genzoo --help``, and the module of
    :mod:`genzoo.cli` that registers it."""

    name: str
    help: str
    module: str


#: every sub-command in ``genzoo --help`` order. ``genzoo --help`` and ``--version`` list these
#: without importing a single module (no torch: under a second); the help must equal what the
#: module registers (tests/cli/test_startup.py checks it).
COMMANDS: tuple[Command, ...] = (
    Command("datasets", "list datasets", "datasets"),
    Command("tasks", "list tasks: (condition, target) pairs made from images", "tasks"),
    Command("models", "list models", "models"),
    Command("runs", "list trained runs and their headline metric", "runs"),
    Command("eval", "evaluate a trained model", "evaluate"),
    Command("sample", "draw samples from a trained model", "sample"),
    Command("complete", "complete partly given test images or your own files", "complete"),
    Command(
        "interpolate",
        "walk the latent space: between test images (VAEs) or random latents (GANs)",
        "interpolate",
    ),
    # the unsupervised tasks
    Command("probe", "feature learning: linear-probe accuracy of a model's features", "probe"),
    Command("cluster", "clustering: NMI / ARI of k-means and GMM on features", "cluster"),
    Command("embed", "dimensionality reduction: a 2-D map of the test set", "embed"),
    Command("compare", "density estimation: one bits/dim table of many runs", "compare"),
    # the HTML report, the zoo comparison
    Command(
        "report",
        "an HTML report of runs: model cards, curves, metrics, samples, comparison",
        "report",
    ),
    Command(
        "zoo",
        "train one model per family on the same data and budget, then write the report",
        "zoo",
    ),
    Command("series", "time-series models: fit, evaluate, simulate futures", "series"),
    # using a density: OOD detection, Bayes' rule
    Command("ood", "out-of-distribution detection with a model's density", "ood"),
    Command(
        "classify",
        "classify with a class-conditional density model (Bayes' rule)",
        "classify",
    ),
    # your own images
    Command("score", "bits/dim of your own images under a trained model", "score"),
    Command("upscale", "super-resolve PNG/JPEG files with a super-resolution run", "upscale"),
    Command("colorize", "colorize PNG/JPEG files with a colorization run", "colorize"),
    Command("train", "train a model", "train"),
)


def build_parser(argv: Sequence[str] = (), *, lazy: bool = False) -> ArgumentParser:
    """The full parser; ``argv`` lets ``train MODEL`` add that model's hyper-parameter flags.

    ``lazy=True`` (what :func:`main` does) imports only the command named in ``argv``; the
    others are listed by name and help alone, so ``genzoo --help`` imports no command at all.
    """
    from genzoo import __version__

    parser = ArgumentParser(
        prog="genzoo", description="Deep generative models of images behind one contract."
    )
    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    wanted = command_name(argv)
    for command in COMMANDS:
        if lazy and command.name != wanted:
            sub.add_parser(command.name, help=command.help)  # listed; imported when used
            continue
        module = importlib.import_module(f"genzoo.cli.{command.module}")
        if command.name == "train":  # the model named after it adds its hyper-parameter flags
            module.register(sub, argv)
        else:
            module.register(sub)
    for choice in sub.choices.values():  # one switch for every command's progress bars
        if "--progress" not in choice._option_string_actions:
            choice.add_argument(
                "--progress",
                action=argparse.BooleanOptionalAction,
                default=None,
                help="progress bars on stderr (default: when stderr is a terminal)",
            )
    return parser


def command_name(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names: its first word that is not an option (the top-level
    parser takes no option with a value), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv, lazy=True)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USER_ERROR
        set_progress(getattr(args, "progress", None))
        return int(args.run(args) or 0)
    except GenzooError as exc:
        print(f"genzoo: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:  # Ctrl-C: training writes a checkpoint and says so
        print(f"genzoo: {one_line(exc) or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a third-party reason may span several)."""
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
