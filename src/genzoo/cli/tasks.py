"""``genzoo tasks``: list the tasks ``--task`` accepts and their options."""

from __future__ import annotations

import argparse
import dataclasses


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="list tasks: (condition, target) pairs made from images")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.data.tasks import TASKS

    items = dict(TASKS.items())
    width = max(map(len, items))
    for name, cls in items.items():
        print(f"{name:<{width}}  {cls.description}")
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            print(f"{'':<{width}}  {flag} (default {f.default!r}): {f.metadata.get('help', '')}")
    print("train an image-conditional model on one: genzoo train MODEL --data NAME --task TASK")
    return 0
