"""``genzoo models``: list the registered models with their density type and hyper-parameters."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.models import available_models, get_model_class, hyperparameters
    from genzoo.models.capabilities import capabilities

    names = available_models()
    width = max(map(len, names))
    for name in names:
        cls = get_model_class(name)
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        params = ", ".join(f"{k}={p.default!r}" for k, p in hyperparameters(name).items())
        print(f"{name:<{width}}  density={cls.density:<5}  {summary}")
        print(f"{'':<{width}}  can: {capabilities(cls).describe()}")
        if params:
            print(f"{'':<{width}}  hyper-parameters: {params}")
    return 0
