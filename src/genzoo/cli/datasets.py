"""``genzoo datasets``: list the dataset names ``--data`` accepts."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list datasets")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.data import available_datasets

    items = available_datasets()
    width = max(map(len, items))
    for name, description in items.items():
        print(f"{name:<{width}}  {description}")
    return 0
