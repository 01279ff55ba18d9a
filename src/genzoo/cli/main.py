"""``genzoo`` entry point: dispatch to sub-commands; user errors become one line and exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from genzoo.errors import GenzooError

EXIT_USER_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a :class:`GenzooError` (one line, exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GenzooError(f"{self.prog}: {message} (see --help)")


def build_parser(argv: Sequence[str] = ()) -> ArgumentParser:
    """The full parser; ``argv`` lets ``train MODEL`` add that model's hyper-parameter flags."""
    from genzoo import __version__
    from genzoo.cli import complete, datasets, evaluate, interpolate, models, sample, tasks, train

    parser = ArgumentParser(
        prog="genzoo", description="Deep generative models of images behind one contract."
    )
    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module in (datasets, tasks, models, evaluate, sample, complete, interpolate):
        module.register(sub)
    from genzoo.cli import cluster, compare, embed, probe  # the unsupervised tasks

    for module in (probe, cluster, embed, compare):
        module.register(sub)
    from genzoo.cli import series  # time-series models

    series.register(sub)
    from genzoo.cli import colorize, upscale  # image-conditional tools

    for module in (upscale, colorize):
        module.register(sub)
    train.register(sub, argv)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USER_ERROR
        return int(args.run(args) or 0)
    except GenzooError as exc:
        print(f"genzoo: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
