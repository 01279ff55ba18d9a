"""``genzoo`` entry point: dispatch to sub-commands; user errors become one line and exit 2,
Ctrl-C one line and exit 130 (training first writes a checkpoint that ``--resume`` continues)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from genzoo.core.progress import set_progress
from genzoo.errors import GenzooError

EXIT_USER_ERROR = 2
#: the shell's status for a process stopped by SIGINT (128 + 2)
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a :class:`GenzooError` (one line, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GenzooError(f"{self.prog}: {message} (see --help)")


def build_parser(argv: Sequence[str] = ()) -> ArgumentParser:
    """The full parser; ``argv`` lets ``train MODEL`` add that model's hyper-parameter flags."""
    from genzoo import __version__
    from genzoo.cli import (
        complete,
        datasets,
        evaluate,
        interpolate,
        models,
        runs,
        sample,
        tasks,
        train,
    )

    parser = ArgumentParser(
        prog="genzoo", description="Deep generative models of images behind one contract."
    )
    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module in (datasets, tasks, models, runs, evaluate, sample, complete, interpolate):
        module.register(sub)
    from genzoo.cli import cluster, compare, embed, probe  # the unsupervised tasks

    for module in (probe, cluster, embed, compare):
        module.register(sub)
    from genzoo.cli import report, zoo  # the HTML report, the zoo comparison

    report.register(sub)
    zoo.register(sub)
    from genzoo.cli import series  # time-series models

    series.register(sub)
    from genzoo.cli import classify, ood  # using a density: OOD detection, Bayes' rule

    ood.register(sub)
    classify.register(sub)

    from genzoo.cli import colorize, score, upscale  # your own images

    for module in (score, upscale, colorize):
        module.register(sub)
    train.register(sub, argv)
    for command in sub.choices.values():  # one switch for every command's progress bars
        if "--progress" not in command._option_string_actions:
            command.add_argument(
                "--progress",
                action=argparse.BooleanOptionalAction,
                default=None,
                help="progress bars on stderr (default: when stderr is a terminal)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
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
