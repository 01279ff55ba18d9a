"""Density estimation: one bits/dim table over many run directories, on one test split.

Reads each run's ``metrics.json`` (written by ``genzoo train`` / ``genzoo eval``) and refuses to
put numbers side by side unless they were measured on the same test images: the same dataset
name, number of levels, image shape and number of test images, and a test estimate covering all
of them.

Every row says what its number is (the ``density`` of the run):

* ``exact``: the exact test log-likelihood (autoregressive models);
* ``bound``: an upper bound on the true bits/dim (a lower bound on ``log p(x)``): the model is
  at least this good. For latent-variable models the tighter IWAE bound is used when it was
  computed on every test image; otherwise the ELBO, which always is (the row says which, and
  ``genzoo eval DIR --iwae-images 0`` computes the IWAE bound on all of them);
* any other value a model declares is shown as it is, with its own caveat.

A row whose estimate failed a recorded check (:attr:`genzoo.core.metrics.Estimate.trusted` is
False, e.g. an RBM's AIS ``log Z`` below a certain lower bound) is marked invalid: its number is
kept in the JSON rows but the table shows "invalid" in its place, and it sorts last.

Rows of class-conditional models are marked: they report ``log p(x | y)``, which is not
comparable with an unconditional ``log p(x)``. Runs without a density (``density == "none"``,
the GANs and the autoencoder) are listed apart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genzoo.core.metrics import Estimate, RunMetrics
from genzoo.core.run import RunFolder
from genzoo.errors import ConfigError, ModelError

#: metrics that must agree between runs for their numbers to share a table
SPLIT_KEYS = ("dataset", "levels", "shape", "num_test_images")
SUMMARY_KEYS = ("bits_per_dim", "bits_per_dim_stderr", "nll_nats", "nll_nats_stderr")
MEANINGS = {
    "exact": "exact test log-likelihood",
    "bound": "upper bound on the true bits/dim (the model is at least this good)",
}


def _estimate(run: RunFolder, metrics: RunMetrics) -> tuple[Estimate, str]:
    """The test NLL summary covering every test image, and what it is."""
    n = metrics.num_test_images
    bound = metrics.bound
    if bound is not None:
        if bound.iwae_images == n:
            return bound.iwae, f"IWAE k={bound.k}"
        return bound.elbo, f"ELBO (IWAE on {bound.iwae_images} only)"
    test = metrics.test
    if test is None:
        raise ModelError(f"{run.path}/{run.METRICS_JSON} has no test likelihood; run `genzoo eval`")
    if test.num_images != n:
        raise ConfigError(
            f"{run.path}: the test likelihood covers {test.num_images} of the {n} test "
            f"images; re-evaluate it on all of them with `genzoo eval {run.path}`"
        )
    return test, ""


def _conditional(run: RunFolder) -> bool:
    """Whether the run's model is class-conditional (its ``config.json`` has ``num_classes``)."""
    meta = run.read_json(run.model_config)
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ModelError(
            f"{run.path} has no readable {run.model_config.name}; pass run directories written "
            "by `genzoo train`"
        )
    return config.get("num_classes") is not None


def density_comparison(run_dirs: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Rows of test bits/dim, one per run with a density, all on the same test split.

    Args:
        run_dirs: run directories, each holding ``metrics.json``.

    Returns:
        ``{"dataset", "levels", "shape", "num_test_images", "uniform_bits_per_dim", "rows":
        [{"model", "run", "density", "estimate", "conditional", "failed_checks",
        "bits_per_dim", "bits_per_dim_stderr", "nll_nats", "nll_nats_stderr"}] (sorted by
        bits/dim, rows with a failed check last), "no_density": [{"model", "run"}]}``;
        ``failed_checks`` names the checks the estimate failed (empty: none failed).

    Raises:
        ConfigError: the runs were evaluated on different data, levels, shapes or test splits,
            or no directory was given.
        ModelError: a directory has no usable ``metrics.json``.
    """
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise ConfigError("pass at least one run directory")
    runs = [(RunFolder(d), RunFolder(d).read_metrics()) for d in dirs]
    # the test images' fingerprint, when every run recorded it (runs evaluated since it exists)
    fingerprinted = all(m.test_sha256 is not None for _, m in runs)
    keys = (*SPLIT_KEYS, "test_sha256") if fingerprinted else SPLIT_KEYS
    reference = {k: getattr(runs[0][1], k) for k in keys}
    rows, no_density = [], []
    for run, metrics in runs:
        split = {k: getattr(metrics, k) for k in keys}
        if split != reference:
            diff = "; ".join(
                f"{k} {split[k]!r} vs {reference[k]!r}" for k in keys if split[k] != reference[k]
            )
            raise ConfigError(
                f"{run.path} was evaluated on a different test split than {dirs[0]} ({diff}); "
                "a bits/dim table only compares runs on the same dataset, levels, size and "
                "test images: compare them in separate tables"
            )
        if metrics.density == "none":
            no_density.append({"model": metrics.model, "run": str(run.path)})
            continue
        summary, estimate = _estimate(run, metrics)
        rows.append(
            {"model": metrics.model, "run": str(run.path), "density": metrics.density}
            | {"estimate": estimate, "conditional": _conditional(run)}
            | {"failed_checks": summary.failed_checks}
            | {k: getattr(summary, k) for k in SUMMARY_KEYS}
        )
    rows.sort(key=lambda r: (bool(r["failed_checks"]), r["bits_per_dim"]))
    return {
        **reference,
        "uniform_bits_per_dim": math.log2(int(reference["levels"])),
        "rows": rows,
        "no_density": no_density,
    }


def density_table(result: dict[str, Any]) -> str:
    """:func:`density_comparison` as Markdown: a heading line, the table, then what the density
    column means."""
    c, h, w = result["shape"]
    lines = [
        f"test bits/dim on {result['dataset']} ({result['num_test_images']:,} test images, "
        f"{c}x{h}x{w}, {result['levels']} levels)",
        "",
        "| model | density | bits/dim ± s.e. | NLL nats/image | run |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        density = r["density"] + (f": {r['estimate']}" if r["estimate"] else "")
        if r["conditional"]:
            density += ", conditional on the label"
        if r.get("failed_checks"):
            failed = ", ".join(r["failed_checks"])
            lines.append(
                f"| {r['model']} | {density} | invalid (failed {failed}) | — | {r['run']} |"
            )
            continue
        lines.append(
            f"| {r['model']} | {density} | {r['bits_per_dim']:.4f} ± "
            f"{r['bits_per_dim_stderr']:.4f} | {r['nll_nats']:.2f} | {r['run']} |"
        )
    lines.append(
        f"| uniform (reference) | exact | {result['uniform_bits_per_dim']:.4f} | "
        f"{result['uniform_bits_per_dim'] * math.log(2) * c * h * w:.2f} | |"
    )
    lines.append("")
    for density in sorted({r["density"] for r in result["rows"]} | {"exact"}):
        meaning = MEANINGS.get(density, "as declared by the model; not exact, not a bound")
        lines.append(f"- {density}: {meaning}")
    if any(r["conditional"] for r in result["rows"]):
        lines.append(
            "- conditional on the label: log p(x | y), the model was given each image's label; "
            "not comparable with an unconditional log p(x) (the label is worth up to "
            "log2(classes) bits per image)"
        )
    if any(r.get("failed_checks") for r in result["rows"]):
        lines.append(
            "- invalid: the estimate failed a check recorded in its metrics.json (e.g. an AIS "
            "log Z below a certain lower bound, which makes the NLL provably too good); it is "
            "not a likelihood"
        )
    if result["no_density"]:
        names = ", ".join(f"{r['model']} ({r['run']})" for r in result["no_density"])
        lines.append(f"- no density, not in the table: {names}")
    return "\n".join(lines)
