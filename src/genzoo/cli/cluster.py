"""``genzoo cluster [DIR]``: k-means and a Gaussian mixture on a model's features; NMI and ARI
against the test labels, next to the same on raw pixels and PCA of the same dimension."""

from __future__ import annotations

import argparse

from genzoo.cli.probe import add_baseline_arguments, add_source_arguments, load_source, write_result
from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    from genzoo.evaluation.unsupervised import CLUSTER_METHODS, COVARIANCES

    p = sub.add_parser("cluster", help="clustering: NMI / ARI of k-means and GMM on features")
    add_source_arguments(p)
    add_baseline_arguments(p)
    p.add_argument("--k", type=int, default=None, help="clusters (default: the number of classes)")
    p.add_argument(
        "--method",
        choices=[*CLUSTER_METHODS, "both"],
        default="both",
        help="clustering method (default: both)",
    )
    p.add_argument(
        "--covariance",
        choices=COVARIANCES,
        default="diag",
        help="covariance of the Gaussian mixture's components (default: diag)",
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.evaluation.unsupervised import CLUSTER_METHODS, cluster, cluster_table

    if args.k is not None and args.k < 2:
        raise GenzooError(f"--k must be at least 2, got {args.k}")
    model, dataset = load_source(args)
    result = cluster(
        dataset,
        model,
        k=args.k,
        methods=CLUSTER_METHODS if args.method == "both" else (args.method,),
        covariance=args.covariance,
        pca_dim=args.pca_dim,
        max_train=args.max_train,
        seed=args.seed,
        batch_size=args.batch_size,
        untrained=args.untrained,
    )
    print(cluster_table(result))
    write_result(args.json, result)
    return 0
