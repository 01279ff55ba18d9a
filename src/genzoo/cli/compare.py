"""``genzoo compare DIR... [--out table.md]``: one test bits/dim table over trained runs.

Refuses runs evaluated on different data, levels, sizes or test splits; says for every row
whether its number is exact or a bound.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="density estimation: one bits/dim table of many runs")
    p.add_argument("run_dirs", metavar="DIR", nargs="+", help="run directories (metrics.json)")
    p.add_argument("--out", default=None, help="also write the Markdown table to this file")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.cli.probe import write_result
    from genzoo.core.atomic import atomic_write
    from genzoo.evaluation.comparison import density_comparison, density_table

    result = density_comparison(args.run_dirs)
    table = density_table(result)
    print(table)
    if args.out:
        atomic_write(args.out, table + "\n")
        print(f"wrote {args.out}")
    write_result(args.json, result)
    return 0
