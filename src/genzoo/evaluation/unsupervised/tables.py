"""Markdown tables of the probe and clustering results."""

from __future__ import annotations

from typing import Any


def probe_table(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`~genzoo.evaluation.unsupervised.probe`'s rows, with the image
    counts above it."""
    first = result["rows"][0]
    lines = [
        f"linear probe on {result['dataset']}: fitted on {first['num_train']:,} training images "
        f"(C chosen on {first['num_validation']:,} of them held out), accuracy on "
        f"{first['num_test']:,} test images",
        "",
        "| representation | dim | test accuracy ± s.e. | C | validation accuracy |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        flag = "" if r["converged"] else " (not converged)"
        lines.append(
            f"| {r['representation']} | {r['dim']} | {r['accuracy']:.4f} ± "
            f"{r['accuracy_stderr']:.4f} | {r['C']:g}{flag} | {r['validation_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def cluster_table(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`~genzoo.evaluation.unsupervised.cluster`'s rows, with the
    setting above it."""
    methods = result["methods"]
    names = {"kmeans": "k-means", "gmm": f"GMM ({result['covariance']})"}
    head = " | ".join(f"{names[m]} NMI | {names[m]} ARI" for m in methods)
    lines = [
        f"clustering on {result['dataset']}: k = {result['k']}, fitted on "
        f"{result['num_train']:,} training images (no labels), NMI / ARI against the labels of "
        f"{result['num_test']:,} test images",
        "",
        f"| representation | dim | {head} |",
        "|---|---|" + "---|---|" * len(methods),
    ]
    for r in result["rows"]:
        cells = " | ".join(f"{r[m]['nmi']:.4f} | {r[m]['ari']:.4f}" for m in methods)
        lines.append(f"| {r['representation']} | {r['dim']} | {cells} |")
    return "\n".join(lines)
