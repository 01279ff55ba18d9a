"""``genzoo runs [DIR]``: the runs under DIR with their model, data, budget and headline metric."""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list trained runs and their headline metric")
    p.add_argument("root", metavar="DIR", nargs="?", default="runs", help="where (default: runs)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.core.run import find_runs

    root = Path(args.root)
    if not root.is_dir():
        raise GenzooError(f"{root} is not a folder; pass the folder your runs are in")
    runs = find_runs(root)
    if not runs:
        print(f"no runs under {root} (train one: genzoo train MODEL --data digits)")
        return 0
    rows = [describe(r) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    header = ("run", "model", "data", "budget", "result")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    for row in (header, *rows):
        print("  ".join(text.ljust(w) for text, w in zip(row, widths)).rstrip())
    return 0


def describe(run) -> tuple[str, str, str, str, str]:
    """``(path, model, data, budget, headline)`` of one run; what cannot be read says so."""
    from genzoo.errors import ModelError

    try:
        record = run.read_train_config()
    except ModelError:
        record = {}
    model = str(record.get("model", "?"))
    data = dict(record.get("dataset") or {})
    spec = run.read_data_spec() if run.data_spec.is_file() else None
    name = (spec or {}).get("name") or data.get("name", "?")
    task = (spec or {}).get("task")
    shown = f"{name}" + (f" ({task['name']})" if task else "")
    step = record.get("step")
    budget = "?" if step is None else f"{int(step):,} steps"
    try:
        headline = run.read_metrics().headline
    except ModelError:
        headline = "not evaluated (genzoo eval)"
    return str(run.path), model, shown, budget, headline
