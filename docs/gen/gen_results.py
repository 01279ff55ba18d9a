"""Results tables for the docs and the README, generated from ``benchmarks/results/``.

No number on the results pages is typed by hand: a page holds prose and directives such as
``<!-- results: autoregressive-digits -->``, and the docs build (``docs/gen/hooks.py``) replaces
each directive by the tables built here from the JSON files the benchmarks wrote. Every block
opens with one line naming the machine and the date of the measurement (from the file when it
records them, else from ``docs/gen/provenance.json``).

The README's small table is the block ``readme``, between ``<!-- results:start -->`` and
``<!-- results:end -->``:

    python docs/gen/gen_results.py --readme          # rewrite the README's block
    python docs/gen/gen_results.py --check-readme    # exit 1 when it is stale (tests do this)
    python docs/gen/gen_results.py BLOCK             # print one block
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PROVENANCE = Path(__file__).resolve().parent / "provenance.json"
README = ROOT / "README.md"

DIRECTIVE = re.compile(r"^<!--\s*results:\s*([\w.-]+)\s*-->\s*$", re.MULTILINE)
README_BLOCK = re.compile(r"(<!-- results:start -->\n)(.*?)(<!-- results:end -->)", re.DOTALL)

DATASETS = ("digits", "fashion-mnist")


# --- reading ------------------------------------------------------------------------------------


@functools.cache
def load(name: str) -> dict:
    """One results file, by its name in ``benchmarks/results/`` (e.g. ``vae-digits.json``)."""
    path = RESULTS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run its benchmark or drop the directive")
    return json.loads(path.read_text())


@functools.cache
def provenance() -> dict:
    return json.loads(PROVENANCE.read_text())


def measured(name: str) -> tuple[str, str]:
    """(date, machine description) of one results file."""
    meta = load(name).get("meta", {}) if name.endswith(".json") else {}
    entry = provenance()["files"].get(name, {})
    date = meta.get("date") or entry.get("date")
    machine = meta.get("machine_description") or entry.get("machine")
    if date is None or machine is None:
        raise KeyError(f"{name}: no date or machine; add it to {PROVENANCE.name}")
    machine = provenance()["machines"].get(machine, machine)
    return date, machine


def measured_line(names: Sequence[str]) -> str:
    """The one line at the top of a block: where and when its files were measured."""
    seen: dict[tuple[str, str], list[str]] = {}
    for name in names:
        seen.setdefault(measured(name), []).append(name)
    if len(seen) == 1:
        ((date, machine),) = seen
        files = ", ".join(f"`{n}`" for n in names)
        return f"*Measured on {date} on {machine}; from {files}.*\n"
    parts = [
        f"{', '.join(f'`{n}`' for n in group)} on {date} on {machine}"
        for (date, machine), group in seen.items()
    ]
    return "*Measured: " + "; ".join(parts) + ".*\n"


# --- formatting ---------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join("" if c is None else str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def f(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def signed(value: float, digits: int = 4) -> str:
    return f"{value:+.{digits}f}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def commands(rows: Iterable[dict], key: str = "model") -> str:
    """The exact command of every row, folded away."""
    body = "\n".join(f"    {r[key]}: {r['command']}" for r in rows if r.get("command"))
    if not body:
        return ""
    return f'\n??? note "The command of every row"\n\n    ```text\n{body}\n    ```\n'


# --- blocks -------------------------------------------------------------------------------------


def autoregressive(data: str) -> str:
    name = f"autoregressive-{data}.json"
    d = load(name)
    rows = sorted(d["results"], key=lambda r: r["test_bits_per_dim"])
    body = table(
        [
            "model",
            "parameters",
            "steps",
            "train img/s",
            "test bits/dim ± s.e.",
            "NLL nats/image",
            "periodic eval: lowest bits/dim (step)",
        ],
        (
            (
                r["model"],
                count(r["parameters"]),
                r["steps"],
                f(r["train_images_per_s"], 1),
                f"**{f(r['test_bits_per_dim'])}** ± {f(r['test_bits_per_dim_stderr'])}",
                f(r["test_nll_nats"], 2),
                "—"
                if not r.get("lowest_periodic_eval")
                else f"{f(r['lowest_periodic_eval'][0])} ({r['lowest_periodic_eval'][1]})",
            )
            for r in rows
        ),
    )
    n = rows[0]["num_test_images"]
    head = (
        f"**{data}, {d['minutes']:g} minutes of training per model**, exact test bits/dim on "
        f"all {n:,} test images (best first).\n"
    )
    return measured_line([name]) + "\n" + head + "\n" + body + commands(rows)


def paired(data: str) -> str:
    name = f"paired-{data}.json"
    d = load(name)
    rows = sorted(d["results"], key=lambda r: r["bits_per_dim_difference"])
    ref = d["reference"]
    body = table(
        [f"model − {ref}", "Δ bits/dim ± s.e. (paired)", "better on", "images"],
        (
            (
                r["model"],
                f"{signed(r['bits_per_dim_difference'])} ± {f(r['stderr'])}",
                f"{r['better_on_fraction_of_images']:.0%} of images",
                r["images"],
            )
            for r in rows
        ),
    )
    return measured_line([name]) + "\n" + body


def vae(data: str) -> str:
    name = f"vae-{data}.json"
    d = load(name)
    rows = d["results"]
    n_iwae = rows[0].get("iwae_images")
    k = rows[0].get("k")
    body = table(
        [
            "model",
            "likelihood",
            "parameters",
            "steps",
            "train img/s",
            "ELBO bits/dim ± s.e. (all test)",
            "reconstruction / KL nats",
            f"ELBO, first {n_iwae}",
            f"IWAE k={k:,}, first {n_iwae}",
        ],
        (
            (
                r["model"],
                r["likelihood"],
                count(r["parameters"]),
                r["steps"],
                f(r["train_images_per_s"], 1),
                f"{f(r['elbo_bits_per_dim'])} ± {f(r['elbo_bits_per_dim_stderr'])}",
                f"{r['reconstruction_nats']:.1f} / {r['kl_nats']:.1f}",
                f(r.get("elbo_bits_per_dim_on_iwae_images")),
                f"**{f(r.get('iwae_bits_per_dim'))}**",
            )
            for r in sorted(rows, key=lambda r: r.get("iwae_bits_per_dim") or math.inf)
        ),
    )
    best = d["best_vae"]
    same = table(
        [
            f"autoregressive model (exact, first {n_iwae})",
            "exact bits/dim",
            f"{best}'s IWAE bound − exact ± paired s.e.",
        ],
        (
            (
                r["model"],
                f(r["exact_bits_per_dim"]),
                f"{signed(r['best_vae_minus_exact_bits_per_dim'])} ± {f(r['paired_stderr'])}",
            )
            for r in d["autoregressive_same_images"]
        ),
    )
    head = (
        f"**{data}, {d['minutes']:g} minutes per model.** Upper bounds on bits/dim: the ELBO on "
        f"all {rows[0]['num_test_images']:,} test images, the IWAE bound on the first {n_iwae}."
    )
    paired_head = (
        f"On the same first {n_iwae} test images, the best VAE's bound ({best}) against each "
        "autoregressive model's exact bits/dim (positive: the autoregressive model is better):"
    )
    return measured_line([name]) + f"\n{head}\n\n{body}\n{paired_head}\n\n{same}" + commands(rows)


def sample_quality(data: str = "fashion-mnist") -> str:
    name = f"gan-{data}.json"
    d = load(name)
    net = d["feature_network"]
    head = (
        f"**{data}, {d['minutes']:g} minutes per model**: {d['num_samples']:,} samples per model "
        f"against {d['num_reference']:,} test images on the features of `{net['name']}` "
        f"(key `{net['key']}`, test accuracy {net['test_accuracy']:.3f}); the floor is as many "
        "real training images against the same test images. Precision in bold."
    )
    cols = ["fid", "kid", "precision", "recall", "density", "coverage"]
    rows = [
        (
            r["row"],
            r["family"],
            r["samples"],
            r["steps"],
            f(r["train_images_per_s"], 1),
            f(r["fid"], 2),
            f"{f(r['kid'])} ± {f(r['kid_std'])}",
            f"**{f(r['precision'], 3)}**",
            f(r["recall"], 3),
            f(r["density"], 3),
            f(r["coverage"], 3),
        )
        for r in d["results"]
    ]
    fl = d["floor"]
    rows.append(
        (
            "*floor: real training images*",
            "",
            "",
            "",
            "",
            f(fl["fid"], 2),
            f"{f(fl['kid'])} ± {f(fl['kid_std'])}",
            f(fl["precision"], 3),
            f(fl["recall"], 3),
            f(fl["density"], 3),
            f(fl["coverage"], 3),
        )
    )
    assert set(cols) <= set(fl)
    body = table(
        [
            "model",
            "family",
            "samples",
            "steps",
            "train img/s",
            "FID",
            "KID ± s.d.",
            "precision",
            "recall",
            "density",
            "coverage",
        ],
        rows,
    )
    claim = d["claim"]
    claim_table = table(
        [
            f"{claim['gan']} minus",
            "samples",
            "precision difference ± s.e.",
            "recall difference",
            "verdict",
        ],
        (
            (
                c["vae"],
                c["vae_samples"],
                f"{signed(c['precision_difference'], 3)} ± {f(c['standard_error'], 3)}",
                signed(c["recall_difference"], 3),
                c["verdict"],
            )
            for c in claim["comparisons"]
        ),
    )
    skipped = "".join(f"- not scored: {k} — {v}\n" for k, v in d.get("not_scored", {}).items())
    return (
        measured_line([name])
        + f"\n{head}\n\n{body}\n"
        + f"The lowest-FID unconditional GAN against the best VAE's samples:\n\n{claim_table}\n"
        + skipped
        + commands(d["results"], key="row")
    )


def fvbn(data: str) -> str:
    name = f"fvbn-{data}.json"
    d = load(name)
    rows = sorted(d["results"], key=lambda r: -r["test_nll_nats"])
    body = table(
        [
            "model",
            "density",
            "parameters",
            "steps",
            "train img/s",
            "test NLL nats/image ± s.e.",
            "bits/dim",
        ],
        (
            (
                r["model"],
                r["density"],
                count(r["parameters"]),
                r["steps"],
                f(r["train_images_per_s"], 1),
                f"**{f(r['test_nll_nats'], 2)}** ± {f(r['test_nll_nats_stderr'], 2)}"
                + (" (bound)" if r["density"] == "bound" else ""),
                f(r["test_bits_per_dim"]),
            )
            for r in rows
        ),
    )
    head = (
        f"**binarised {data} ({d['levels']} levels), {d['minutes']:g} minutes per model**, "
        f"{rows[0]['num_test_images']:,} test images."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}" + commands(rows)


def ais_check(prefix: str, data: str) -> str:
    """``dbn_ais.py``'s re-estimates of a top RBM's ``log Z`` for one run."""
    name = f"{prefix}-ais-{data}.json"
    d = load(name)
    rows = []
    for r in d["rows"]:
        if "lower_bound_log_z" in r:
            rows.append(
                (
                    f"certain lower bound ({r['states']:,} distinct up-pass states)",
                    f"≥ {f(r['lower_bound_log_z'], 2)}",
                    "",
                    f"≥ {f(r['test_nll_nats_at_least'], 2)}",
                )
            )
        else:
            rows.append(
                (
                    f"AIS, {r['steps']:,} steps, base rate: {r['base']}",
                    f(r["log_z"], 2),
                    f(r["stderr"], 3),
                    f(r["test_nll_nats"], 2),
                )
            )
    body = table(["estimate", "log Z", "reported s.e.", "test NLL nats/image"], rows)
    head = (
        f"`{d['run']}`: reported test NLL {f(d['reported_nll'], 2)} nats/image with "
        f"log Z = {f(d['log_z_used'], 2)} (the run's own AIS)."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}"


def classic(data: str) -> str:
    name = f"classic-{data}.json"
    d = load(name)
    rows = [
        (
            r["run"],
            r["levels"],
            r["density"] + (", conditional on the label" if r["conditional"] else ""),
            r["steps"],
            f"{f(r['test_bits_per_dim'])} ± {f(r['test_bits_per_dim_stderr'])}",
            f(r["test_accuracy"]) if "test_accuracy" in r else "",
        )
        for r in d["results"]
    ]
    rows += [(r["model"], "", r["density"], "", f(r["test_bits_per_dim"]), "") for r in d["deep"]]
    body = table(
        ["model", "levels", "density", "steps (EM iterations)", "test bits/dim ± s.e.", "accuracy"],
        rows,
    )
    head = (
        f"**{data}, {d['minutes']:g} minutes per model** ({d['results'][0]['num_test_images']:,} "
        f"test images; uniform: {f(d['uniform_bits_per_dim'])} bits/dim). Binarisation: "
        f"{d['binarization']}. The rows without levels are the deep models' numbers from "
        f"`autoregressive-{data}.json` and `vae-{data}.json`, measured as their own tables say."
    )
    ais = [r for r in d["results"] if "ais" in r]
    notes = "".join(
        f"\n`{r['run']}`: log Z by AIS ({r['ais']['ais_steps']:,} steps, "
        f"{r['ais']['ais_chains']} chains) from two seeds: "
        f"{f(r['ais']['log_z_seed1'], 3)} ± {f(r['ais']['log_z_seed1_stderr'], 3)} and "
        f"{f(r['ais']['log_z_seed2'], 3)} ± {f(r['ais']['log_z_seed2_stderr'], 3)}.\n"
        for r in ais
    )
    return measured_line([name]) + f"\n{head}\n\n{body}{notes}" + commands(d["results"], "run")


def _representation(m: dict, levels: int, trained: bool) -> str:
    rep = m["features" if trained else "untrained"]["representation"]
    if not trained:
        return f"{m['model']}, untrained weights"
    label = rep
    if m["levels"] != levels and "levels" not in rep:
        label += f" ({m['levels']} levels)"
    if m["run"] != m["model"]:
        label += f" (run {m['run']})"
    return f"**{label}**"


def unsupervised(data: str) -> str:
    name = f"unsupervised-{data}.json"
    d = load(name)
    levels = max(m["levels"] for m in d["models"])

    def row(label: str, r: dict) -> tuple:
        return (
            label,
            r["dim"],
            f"{f(r['accuracy'])} ± {f(r['accuracy_stderr'])}",
            f"{f(r['kmeans']['nmi'], 3)} / {f(r['kmeans']['ari'], 3)}",
            f"{f(r['gmm']['nmi'], 3)} / {f(r['gmm']['ari'], 3)}",
        )

    rows = [
        row(b["representation"] + (f" ({b['dim']})" if "PCA" in b["representation"] else ""), b)
        for b in d["baselines"]
    ]
    for m in d["models"]:
        rows.append(row(_representation(m, levels, True), m["features"]))
        if m.get("untrained"):
            rows.append(row(_representation(m, levels, False), m["untrained"]))
    body = table(
        [
            "representation",
            "dim",
            "probe accuracy ± s.e.",
            "k-means NMI / ARI",
            "GMM (diag) NMI / ARI",
        ],
        rows,
    )
    head = (
        f"**{data}**: probe fitted on {d['num_train']:,} training images (its L2 strength chosen "
        f"on 20 % of them), clusters (k = number of classes) fitted on them without labels, both "
        f"scored on {d['num_test']:,} test images."
    )
    skipped = ", ".join(s["run"] for s in d.get("skipped", []))
    tail = f"\nNot scored (no label-free features): {skipped}.\n" if skipped else ""
    return measured_line([name]) + f"\n{head}\n\n{body}{tail}"


def density(data: str) -> str:
    """``genzoo.evaluation.density_comparison``'s own table over the benchmark runs, as written."""
    name = f"density-{data}.md"
    text = (RESULTS / name).read_text().strip()
    return measured_line([name]) + "\n" + text + "\n"


def timeseries() -> str:
    name = "timeseries.json"
    d = load(name)
    rows = []
    for series, s in d["series"].items():
        first = True
        for r in s["results"]:
            diff = r["settings"].get("difference", 0)
            label = r["model"] + (" (seasonal)" if r["model"] == "naive" and diff > 1 else "")
            rows.append(
                (
                    f"{series} ({s['n_train']} / {s['n_test']}, {s['frequency']}, {s['unit']})"
                    if first
                    else "",
                    label,
                    diff,
                    f(r["log_likelihood_per_step"], 3),
                    f(r["crps"], 3 if r["crps"] < 10 else 1),
                    f"{r['coverage_50']:.2f} / {r['coverage_90']:.2f}",
                )
            )
            first = False
    body = table(
        [
            "series (train / test)",
            "model",
            "difference",
            "held-out nats/step ↑",
            "CRPS ↓",
            "50% / 90% coverage",
        ],
        rows,
    )
    st = d["settings"]
    head = (
        f"Last {st['test_fraction']:.0%} of each series held out; {st['paths']} simulated paths; "
        f"`causal_ar` {st['causal_ar_steps']} steps; seed {st['seed']}. Log-likelihood: "
        f"{st['log_likelihood']}. CRPS: {st['crps']}. Command: `{d['command']}`."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}"


def sampling(name: str = "sampling.json") -> str:
    d = load(name)
    body = table(
        ["model", "image", "batch", "cached img/s", "naive img/s", "speed-up"],
        (
            (
                r["model"],
                "×".join(str(s) for s in r["shape"]),
                r["batch"],
                f(r["cached_images_per_s"], 2),
                f(r["naive_images_per_s"], 3),
                f"**{r['speedup']:.0f}×**",
            )
            for r in d["results"]
        ),
    )
    meta = d["meta"]
    head = f"`{meta['command']}` ({meta['threads']} thread, torch {meta['torch']})."
    return measured_line([name]) + f"\n{head}\n\n{body}"


def throughput(name: str = "throughput.json") -> str:
    d = load(name)
    rows = d["results"]
    flops = all("genzoo_gflops" in r for r in rows)  # files from 2026-12-03 on count FLOPs
    headers = ["data", "model", "batch", "genzoo img/s", "reference img/s", "speed-up"]
    if flops:
        headers += ["GFLOP/s genzoo / reference (share of peak)"]
    headers += ["test bits/dim genzoo / reference after equal steps"]

    def cells(r: dict) -> tuple:
        out = [
            r["dataset"],
            r["model"],
            r["batch"],
            f(r["genzoo_images_per_s"], 1),
            f(r["reference_images_per_s"], 1),
            f"**{r['speedup']:.2f}×**",
        ]
        if flops:
            share = r.get("genzoo_peak_fraction")
            out.append(
                f"{f(r['genzoo_gflops'], 1)} / {f(r['reference_gflops'], 1)}"
                + ("" if share is None else f" ({share:.0%} / {r['reference_peak_fraction']:.0%})")
            )
        out.append(
            f"{f(r['genzoo_test_bpd'])} / {f(r['reference_test_bpd'])} ({r['quality_steps']} steps)"
        )
        return tuple(out)

    body = table(headers, (cells(r) for r in rows))
    meta = d["meta"]
    head = (
        f"{meta['threads']} thread, torch {meta['torch']}, CPU capability "
        f"{meta['cpu_capability']}." + (f" Note: {meta['note']}." if meta.get("note") else "")
    )
    if meta.get("command"):
        head = f"`{meta['command']}`: " + head
    if flops and meta.get("cpu_mhz"):
        peak = rows[0].get("peak_gflops")
        head += f" Peak: {f(peak, 1)} GFLOP/s ({meta['peak_assumption']})."
    return measured_line([name]) + f"\n{head}\n\n{body}"


def throughput_scaling(name: str = "throughput-scaling.json") -> str:
    """``throughput.py --threads 1,2``: genzoo's images/s at one and two threads."""
    d = load(name)
    rows = d["results"]
    counts = list(rows[0]["images_per_s"])
    body = table(
        ["data", "model", "batch", *(f"img/s at {t} thread(s)" for t in counts), "ratio"],
        (
            (
                r["dataset"],
                r["model"],
                r["batch"],
                *(f(r["images_per_s"][t], 1) for t in counts),
                f"**{r['ratio']:.2f}×**",
            )
            for r in rows
        ),
    )
    meta = d["meta"]
    head = f"`{meta['command']}` (torch {meta['torch']}, CPU capability {meta['cpu_capability']})."
    return measured_line([name]) + f"\n{head}\n\n{body}"


def overhead(name: str = "overhead.json") -> str:
    """``throughput.py --overhead``: where the default recipe's wall time goes."""
    d = load(name)
    rows = d["results"]
    parts = ["step", "data", "ema", "log", "eval", "checkpoint", "other"]
    body = table(
        [
            "model",
            "steps",
            *(f"{p} share" for p in parts),
            "not optimisation",
            "bare img/s",
            "recipe img/s (wall)",
        ],
        (
            (
                r["model"],
                r["steps"],
                *(f"{r['share'].get(p, 0.0):.1%}" for p in parts),
                f"**{r['not_optimisation_share']:.1%}**",
                f(r["bare_images_per_s"], 1),
                f(r["recipe_wall_images_per_s"], 1),
            )
            for r in rows
        ),
    )
    meta = d["meta"]
    head = (
        f"`{meta['command']}` ({meta['threads']} thread, torch {meta['torch']}), on "
        f"{rows[0]['dataset']} at batch {rows[0]['batch']}."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}"


def ema_batch_norm() -> str:
    name = "ema-batch-norm.json"
    d = load(name)
    body = table(
        ["weights", "FID (two sample seeds)", "precision (two sample seeds)"],
        (
            (
                variant,
                " / ".join(f(r["fid"], 2) for r in runs),
                " / ".join(f(r["precision"], 3) for r in runs),
            )
            for variant, runs in d["results"].items()
        ),
    )
    head = f"`{d['command']}`, feature network `{d['feature_network']}`."
    return measured_line([name]) + f"\n{head}\n\n{body}"


#: the README's families, one or two representatives each (Fashion-MNIST: one machine, one date)
README_MODELS = (
    ("autoregressive", "pixelcnn"),
    ("autoregressive", "gated_pixelcnn"),
    ("autoregressive", "pixelcnn_pp"),
    ("VAE", "vae"),
    ("VAE", "vae_hierarchical"),
    ("GAN", "gan"),
    ("GAN", "dcgan"),
    ("classic", "mixture_categorical"),
    ("baseline", "pixel_independent"),
)


def readme() -> str:
    """The README's small table: one row per representative, likelihood next to samples."""
    data = "fashion-mnist"
    files = [
        f"autoregressive-{data}.json",
        f"vae-{data}.json",
        f"gan-{data}.json",
        f"classic-{data}.json",
    ]
    ar = {r["model"]: r for r in load(files[0])["results"]}
    va = {r["model"]: r for r in load(files[1])["results"]}
    gan = {r["row"]: r for r in load(files[2])["results"]}
    cl = {r["run"]: r for r in load(files[3])["results"]}
    rows = []
    for family, model in README_MODELS:
        if model in ar:
            bpd, kind = f(ar[model]["test_bits_per_dim"]), "exact"
        elif model in va:
            bpd, kind = f(va[model]["elbo_bits_per_dim"]), "bound (ELBO)"
        elif model in cl:
            bpd, kind = f(cl[model]["test_bits_per_dim"]), cl[model]["density"]
        else:
            bpd, kind = "—", "none"
        q = gan.get(model)
        rows.append(
            (
                f"`{model}`",
                family,
                kind,
                bpd,
                f(q["fid"], 2) if q else "—",
                f(q["precision"], 3) if q else "—",
            )
        )
    q = load(files[2])
    n = q["num_samples"]
    body = table(
        ["model", "family", "density", "test bits/dim", f"FID ({n:,} samples)", "precision"],
        rows,
    )
    note = (
        f"{data}, the same training budget per model ({q['minutes']:g} minutes, one CPU thread). "
        f"Bits/dim on all {ar['pixelcnn']['num_test_images']:,} test images (a bound is an upper "
        f"bound); FID and precision of {n:,} samples against {q['num_reference']:,} test images "
        f"on a classifier's features (`{q['feature_network']['name']}`; not comparable with "
        f"Inception FIDs; the floor of real training images is FID {f(q['floor']['fid'], 2)}, "
        f"precision {f(q['floor']['precision'], 3)}).\n"
    )
    tasks = (
        "\n\n**Super-resolution and colorization**: every method at the same step budget on the "
        "same test images (the lecture's generative-vs-regression point; what the numbers say is "
        "on the [task page](docs/guide/conditional-tasks.md)).\n\n"
        + conditional("superres-digits.json")
        + "\n\n"
        + conditional("colorization-photos.json")
    )
    zoo_table = zoo("digits") + "\n\n"
    fashion = "**Fashion-MNIST**, more models, ten minutes each.\n\n"
    return zoo_table + fashion + measured_line(files) + "\n" + note + "\n" + body + tasks


#: the zoo's taxonomy keys, as the table names them
ZOO_FAMILIES = {
    "tractable": "explicit, tractable",
    "approximate": "explicit, approximate",
    "implicit": "implicit",
    "classic": "classic",
}


def zoo(data: str = "digits") -> str:
    """``benchmarks/zoo.py``: ``make zoo``'s comparison, one model per family."""
    name = f"zoo-{data}.json"
    d = load(name)
    rows = []
    for r in d["rows"]:
        bpd = "—"
        if r["bits_per_dim"] is not None:
            bpd = f(r["bits_per_dim"]) + (" (bound)" if r["density"] == "bound" else "")
        rows.append(
            (
                f"`{r['model']}`",
                ZOO_FAMILIES.get(r["family"], r["family"]),
                bpd,
                f(r["fid"], 1),
                f(r["precision"], 2),
                f(r["recall"], 2),
                count(int(r["steps"])) if r["steps"] is not None else "—",
                count(r["parameters"]),
            )
        )
    body = table(
        ["model", "density", "test bits/dim", "FID", "precision", "recall", "steps", "parameters"],
        rows,
    )
    split = d["split"]
    budget = (
        f"{d['minutes_per_model']:g} training minutes"
        if d["minutes_per_model"]
        else f"{d['steps_per_model']:,} steps"
    )
    before = d["machine"]["load_average_before"][0]
    real = next((r["fid_floor"] for r in d["rows"] if r["fid_floor"] is not None), None)
    recipe = " (`make zoo`'s recipe)" if d["command"].strip() == "python benchmarks/zoo.py" else ""
    head = (
        f"`{d['command']}`{recipe}: {budget} per model on {data} "
        f"({split['num_test_images']:,} test images; uniform = {split['uniform_bits_per_dim']:.2f} "
        f"bits/dim), {d['seconds_total'] / 60:.0f} minutes in all with both cores (load average "
        f"{before:.1f} at the start). FID, precision and recall of samples against the test "
        f"images on a small classifier's features (the floor of real training images: FID "
        f"{f(real, 1)}). A bound is an upper bound on the bits/dim."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}"


def ood(data: str = "digits") -> str:
    """``benchmarks/ood.py``: AUROC [bootstrap interval] of every score, both directions."""
    name = f"ood-{data}.json"
    d = load(name)
    scores = list(d["directions"][0]["scores"])
    rows = []
    for direction in d["directions"]:
        for score in scores:
            r = direction["scores"][score]
            low, high = r["auroc_ci"]
            rows.append((f"{direction['in']} in, {direction['out']} out", score,
                         f"{r['auroc']:.3f} [{low:.3f}, {high:.3f}]", f(r["auprc"], 3),
                         f(r["fpr_at_95_tpr"], 3)))  # fmt: skip
        typ = direction["typicality"]["auroc_by_batch_size"]
        shown = ", ".join(f"{k}: {v:.3f}" for k, v in typ.items())
        rows.append((f"{direction['in']} in, {direction['out']} out", "typicality (AUROC by batch)",
                     shown, "", ""))  # fmt: skip
    body = table(["direction", "score", "AUROC [95% bootstrap]", "AUPRC", "FPR at 95% TPR"], rows)
    cfg = d["model_config"]
    other = d["second_set"]
    second = f"second set {other['name']}"
    if "size" in other:
        second += f" at {other['size']}×{other['size']}, {other['levels']} levels"
    sizes = "; ".join(
        f"{r['in']} in: {r['num_in']:,} test images at {r['bits_per_dim']['in']:.3f} bits/dim, "
        f"{r['out']} out: {r['num_out']:,} at {r['bits_per_dim']['out']:.3f}"
        for r in d["directions"]
    )
    head = (
        f"`{d['command']}`: {d['model']} ({', '.join(f'{k} {v}' for k, v in cfg.items())}), "
        f"{d['steps_per_model']} steps per model, background trained with --perturb "
        f"{d['perturb']}; {second}. {sizes}. Higher score = more likely out of distribution."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}"


def generative_vs_discriminative(data: str = "digits") -> str:
    """``benchmarks/generative_vs_discriminative.py``: test error against labelled images."""
    name = f"gvd-{data}.json"
    d = load(name)
    methods = list(d["summary"])
    sizes = list(d["summary"][methods[0]])
    rows = []
    for m in methods:
        cells = []
        for n in sizes:
            r = d["summary"][m].get(n)
            if r is None:
                cells.append("")
                continue
            spread = f" ± {r['error_std']:.3f}" if r["seeds"] > 1 else ""
            cells.append(f"{r['error_mean']:.3f}{spread}")
        rows.append((m.replace("_", " "), *cells))
    body = table(["test error", *[f"n = {n}" for n in sizes]], rows)
    runs = " then ".join(f"`{c}`" for c in d.get("commands", [d["command"]]))
    pixelcnn = d["pixelcnn"]
    head = (
        f"{runs} ({d['num_test']:,} test images; ± is the spread over seeds; the conditional "
        f"PixelCNN trains {pixelcnn['steps']:,} steps at lr {pixelcnn['lr']:g})."
        if "conditional_pixelcnn" in d["summary"]
        else f"{runs} ({d['num_test']:,} test images; ± is the spread over seeds)."
    )
    return measured_line([name]) + f"\n{head}\n\n{body}"


def conditional(name: str) -> str:
    """``benchmarks/superres.py`` / ``colorization.py``: every method on the same test images."""
    d = load(name)
    labelled = any("classifier_accuracy" in r for r in d["results"])
    headers = ["method", "kind", "bits/dim", "PSNR one / mean of 8", "SSIM one", "consistent",
               "diversity"] + (["class kept", "FID"] if labelled else [])  # fmt: skip
    rows = []
    for r in d["results"]:
        psnr = f(r["psnr_sample"], 2)
        if not r.get("deterministic"):
            psnr += f" / {f(r['psnr_mean'], 2)}"
        bpd = r.get("test_bits_per_dim")
        row = [r["method"], r["kind"], "–" if bpd is None else f(bpd),
               psnr, f(r["ssim_sample"], 3), f(r["consistency_pixels"], 3),
               f(r["diversity_std"], 2)]  # fmt: skip
        if labelled:
            row += [f(r.get("classifier_accuracy"), 3), f(r.get("fid"), 1)]
        rows.append(row)
    head = (
        f"{d['data']}. {d['steps']} training steps per model at batch {d['batch_size']}, "
        f"{d['threads']} thread; {d['images']} test images, 8 answers each. PSNR/SSIM by "
        "scikit-image; consistent = fraction of condition pixels a sample gives back; diversity "
        "= per-pixel standard deviation across the 8 answers, in levels."
    )
    return measured_line([name]) + f"\n{head}\n\n{table(headers, rows)}"


def conditional_sampling() -> str:
    """``benchmarks/conditional_sampling.py``: cached against naive sampling given ``c``."""
    name = "conditional-sampling.json"
    d = load(name)
    rows = [
        (r["model"], "×".join(map(str, r["condition"])) + " → " + "×".join(map(str, r["target"])),
         r["batch"], f(r["cached_images_per_s"], 2), f(r["naive_images_per_s"], 3),
         f"**{r['speedup']:.0f}×**")
        for r in d["results"]
    ]  # fmt: skip
    head = f"`{d['meta']['command']}` ({d['meta']['threads']} thread, torch {d['meta']['torch']})."
    body = table(["model", "condition → target", "batch", "cached img/s", "naive img/s",
                  "speed-up"], rows)  # fmt: skip
    return measured_line([name]) + f"\n{head}\n\n{body}"


def memory() -> str:
    """``benchmarks/memory.py``: the peak RSS of ``genzoo sample --n N`` against N."""
    name = "memory.json"
    d = load(name)
    rows = [(f"{r['n']:,}", f(r["peak_rss_mib"], 0), f(r["x_int64_mib"], 0), f(r["seconds"], 1))
            for r in d["rows"]]  # fmt: skip
    head = (
        f"`genzoo sample RUN --n N --out x.npz` on {d['model']}, {d['threads']} thread; importing "
        f"genzoo alone takes {d['baseline_rss_mib']:.0f} MiB."
    )
    body = table(["--n", "peak RSS (MiB)", "the samples as int64 (MiB)", "seconds"], rows)
    return measured_line([name]) + f"\n{head}\n\n{body}"


def cost_growth() -> str:
    """``benchmarks/cost_growth.py``: sampling time against size, training time against width."""
    name = "cost-growth.json"
    d = load(name)
    s = d["summary"]
    samp = table(
        ["image", "sub-pixels D", "cached s/image", "naive s/image", "naive / cached"],
        (
            (
                f"{r['size']}×{r['size']}",
                r["subpixels"],
                f(r["cached_s_per_image"], 4),
                f(r["naive_s_per_image"], 3),
                f"{r['naive_s_per_image'] / r['cached_s_per_image']:.0f}×",
            )
            for r in d["sampling"]
        ),
    )
    samp += (
        f"| **slope** of log time against log D | | **{s['cached_slope']:.2f}** "
        f"(predicted {s['cached_predicted']:.0f}) | **{s['naive_slope']:.2f}** "
        f"(predicted {s['naive_predicted']:.0f}) | |\n"
    )
    train = table(
        ["width (channels)", "s/image", "GFLOP/image", "GFLOP/s"],
        (
            (r["width"], f(r["s_per_image"], 4), f(r["gflop_per_image"], 3), f(r["gflop_per_s"], 1))
            for r in d["training"]
        ),
    )
    train += (
        f"| **slope** of log against log width | **{s['train_slope']:.2f}** "
        f"| **{s['train_predicted']:.2f}** (the prediction) | |\n"
    )
    first = d["sampling"][0]
    check = (
        f" At {first['size']}×{first['size']} the naive sampler was also timed over the whole "
        f"image: the per-row estimate is {first['naive_scaled_vs_full']:.3f}× the full time."
        if "naive_scaled_vs_full" in first
        else ""
    )
    meta = d["meta"]
    head = (
        f"`{meta['command']}` ({meta['threads']} thread, torch {meta['torch']}, CPU capability "
        f"{meta['cpu_capability']}); model {d['sampling'][0]['model']}, sampling at batch "
        f"{d['sampling'][0]['batch']}, training at batch {d['training'][0]['batch']} on 28×28."
        + check
    )
    return measured_line([name]) + f"\n{head}\n\n{samp}\n{train}"


def budget() -> str:
    """``benchmarks/budget.py``: genzoo against a plain-PyTorch Gated PixelCNN, same budget."""
    name = "budget.json"
    d = load(name)
    groups: dict[tuple, dict[str, dict]] = {}
    for r in d["results"]:
        groups.setdefault((r["data"], r["minutes"], r["threads"]), {})[r["system"]] = r
    rows = []
    for (data, minutes, threads), systems in sorted(groups.items()):
        ours, plain = systems.get("genzoo"), systems.get("plain PyTorch")
        lead = (
            f"**{plain['test_bits_per_dim'] - ours['test_bits_per_dim']:+.3f}**"
            if ours and plain
            else "—"
        )
        for r in (ours, plain):
            if r is None:
                continue
            rows.append(
                (
                    data,
                    f"{minutes:g}",
                    threads,
                    r["system"],
                    f"{r['parameters']:,}",
                    r["steps"],
                    f(r["train_images_per_s"], 1),
                    f"**{r['test_bits_per_dim']:.4f}** ± {r['test_bits_per_dim_stderr']:.4f}",
                    lead if r is ours else "",
                )
            )
    body = table(
        ["data", "minutes", "threads", "system", "parameters", "steps", "train img/s",
         "test bits/dim ± s.e.", "genzoo's lead"],
        rows,
    )  # fmt: skip
    commands = "\n".join(f"- {r['system']}: `{r['command']}`" for r in d["results"])
    return measured_line([name]) + f"\n{body}\nCommands:\n\n{commands}\n"


def startup() -> str:
    """``benchmarks/startup.py``: wall seconds of ``genzoo --version`` / ``--help`` and of the
    imports, against their targets and the floor of ``import torch``."""
    name = "startup.json"
    d = load(name)
    rows = [
        (
            f"`{r['command']}`",
            f(r["median_seconds"], 2),
            f(r["min_seconds"], 2),
            "—" if r["target_seconds"] is None else f"< {r['target_seconds']:g} s",
            "—" if r["met"] is None else ("yes" if r["met"] else "**no**"),
            "yes" if r["imports_torch"] else "no",
        )
        for r in d["results"]
    ]
    meta = d["meta"]
    head = (
        f"`{meta['command']}`: median of {meta['runs']} fresh processes each, {meta['threads']} "
        f"thread, torch {meta['torch']} ({meta['cpu_capability']}), Python {meta['python']}."
    )
    body = table(["command", "median (s)", "min (s)", "target", "met", "imports torch"], rows)
    return measured_line([name]) + f"\n{head}\n\n{body}"


def _per_data(fn: Callable[[str], str], prefix: str, data: Sequence[str] = DATASETS) -> dict:
    return {f"{prefix}-{d}": functools.partial(fn, d) for d in data}


BLOCKS: dict[str, Callable[[], str]] = {
    **_per_data(autoregressive, "autoregressive"),
    **_per_data(paired, "paired"),
    **_per_data(vae, "vae"),
    "gan-fashion-mnist": sample_quality,
    **_per_data(fvbn, "fvbn"),
    **_per_data(functools.partial(ais_check, "dbn"), "dbn-ais"),
    **_per_data(functools.partial(ais_check, "rbm"), "rbm-ais"),
    **_per_data(classic, "classic"),
    **_per_data(unsupervised, "unsupervised"),
    **_per_data(density, "density"),
    "timeseries": timeseries,
    "sampling": sampling,
    "sampling-pixelsnail": functools.partial(sampling, "sampling-pixelsnail.json"),
    "throughput": throughput,
    "throughput-avx2": functools.partial(throughput, "throughput-avx2.json"),
    "throughput_pixelcnn": functools.partial(throughput, "throughput_pixelcnn.json"),
    "throughput-scaling": throughput_scaling,
    "overhead": overhead,
    "ema-batch-norm": ema_batch_norm,
    "ood-digits": ood,
    "ood-fashion-mnist": functools.partial(ood, "fashion-mnist"),
    "superres-digits": functools.partial(conditional, "superres-digits.json"),
    "colorization-photos": functools.partial(conditional, "colorization-photos.json"),
    "memory": memory,
    "cost-growth": cost_growth,
    "budget": budget,
    "startup": startup,
    "conditional-sampling": conditional_sampling,
    "gvd-digits": generative_vs_discriminative,
    "gvd-fashion-mnist": functools.partial(generative_vs_discriminative, "fashion-mnist"),
    "zoo-digits": zoo,
    "readme": readme,
}


def render(name: str) -> str:
    if name not in BLOCKS:
        raise KeyError(f"unknown results block {name!r}; known: {', '.join(sorted(BLOCKS))}")
    return BLOCKS[name]().rstrip() + "\n"


def expand(markdown: str) -> str:
    """``markdown`` with every ``<!-- results: NAME -->`` line replaced by its block."""
    return DIRECTIVE.sub(lambda m: render(m.group(1)), markdown)


def readme_with_block(text: str) -> str:
    if not README_BLOCK.search(text):
        raise ValueError("README.md has no <!-- results:start --> ... <!-- results:end --> block")
    return README_BLOCK.sub(lambda m: m.group(1) + render("readme") + m.group(3), text, count=1)


def main(argv: Sequence[str]) -> int:
    if argv == ["--readme"]:
        README.write_text(readme_with_block(README.read_text()))
        return 0
    if argv == ["--check-readme"]:
        text = README.read_text()
        if readme_with_block(text) != text:
            print("README.md's results block is stale: python docs/gen/gen_results.py --readme")
            return 1
        return 0
    for name in argv or sorted(BLOCKS):
        print(f"<!-- {name} -->\n{render(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
