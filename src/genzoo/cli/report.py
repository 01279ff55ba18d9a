"""``genzoo report RUN... --out DIR``: a static HTML page of runs (opens offline)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="an HTML report of runs: model cards, curves, metrics, samples, comparison",
        description="Write DIR/index.html: per run a model card, training curves, test metrics "
        "(exact / bound / estimate), its figures and sample quality; across runs a comparison "
        "table by family and two plots. The page opens offline; images are copied into "
        "DIR/img/ (or embedded with --embed).",
    )
    p.add_argument("run_dirs", metavar="RUN", nargs="+", help="run directories (metrics.json)")
    p.add_argument("--out", required=True, help="folder of the report (replaced if a report)")
    p.add_argument("--title", default="genzoo report", help="the page's title")
    p.add_argument(
        "--embed", action="store_true", help="embed the images: one self-contained index.html"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.report import build_report

    index = build_report(args.run_dirs, args.out, title=args.title, embed=args.embed)
    print(f"wrote {index}")
    return 0
