"""Feature learning, clustering, 2-D maps and one bits/dim table over every benchmark run.

Every run directory under ``runs/bench-DATA/`` and ``runs/bench-classic-DATA/`` whose model has
label-free features (the VAE family, the GANs, the autoencoder, the classic latent models —
whatever exists) is scored next to raw pixels, PCA of the pixels with the same dimension and the
same architecture with untrained weights; a run trained on binarised images (``--levels 2``) sees
the same images binarised the same way:

* linear probe: test accuracy of a multinomial logistic regression on standardized features,
  ``C`` chosen on 20% of the training images held out (never on the test set);
* clustering: k-means and a diagonal-covariance GMM with k = 10 fitted on the training images
  without labels, NMI and ARI against the labels of the test images;
* a 2-D map of the test images per model (``benchmarks/results/figures/``);
* the test bits/dim of every run with a density, in one table on the same split
  (:func:`genzoo.evaluation.density_comparison`: exact and bound rows labelled).

The GANs and the autoencoder are trained by no likelihood benchmark: without ``--collect`` this
script first trains those of them that have no run yet (in ``runs/bench-DATA/``), with the same
wall-clock budget as the other families (one thread per run, ``--jobs`` side by side; the GAN
benchmark reuses the GAN runs). Run it after ``autoregressive.py``, ``vae.py`` and ``classic.py``
so their runs are picked up:

    python benchmarks/unsupervised.py --data digits --minutes 5
    python benchmarks/unsupervised.py --data fashion-mnist --minutes 10
    python benchmarks/unsupervised.py --data digits --collect    # score existing runs only

``--max-train N`` fits the probes and clusterings on a seeded subset of N training images (the
test set stays whole); the README numbers use all of them. Results land in
``benchmarks/results/unsupervised-DATA.json`` and ``density-DATA.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from autoregressive import RESULTS, ROOT, command, run_jobs, shown
from vae import MODELS as VAE_MODELS
from vae import RECIPES as VAE_RECIPES

GANS = ["gan", "dcgan", "wgan_gp", "sngan"]
#: models with features that no likelihood benchmark trains
TRAINED_HERE = [*GANS, "autoencoder"]
RECIPES: dict[str, dict[str, list[str]]] = {
    # the GANs' recommended optimiser settings apply (train_defaults); no likelihood, so no
    # validation split or best-weights selection: the last weights are scored
    "digits": {"*": ["--eval-every", "0", "--seed", "0"]},
    "fashion-mnist": {"*": ["--eval-every", "0", "--checkpoint-every", "1000", "--seed", "0"]},
}
SEED = 0
DIGITS = 4


def _rounded(value):
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def run_dirs(root: Path) -> list[Path]:
    """Every saved model under ``root`` (``config.json`` and weights), sorted by name."""
    from genzoo.core.run import RunFolder

    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if RunFolder(d).holds_model())


def score(data: str, roots: list[Path], max_train: int | None, results: Path) -> dict:
    """Probe and cluster every representation; draw the maps. Returns the JSON payload."""
    import genzoo
    from genzoo.errors import GenzooError
    from genzoo.evaluation import unsupervised as u

    dataset = genzoo.load_dataset(data)
    train_y = u.training_labels(dataset, max_train=max_train, seed=SEED)
    test_y = dataset.test_labels
    k = dataset.num_classes
    figures = results / "figures"
    figures.mkdir(parents=True, exist_ok=True)

    def evaluate(rep: u.Representation) -> dict:
        probe = u.probe_rows([rep], train_y, test_y, seed=SEED)[0]
        clusters = u.cluster_rows([rep], test_y, k=k, seed=SEED)[0]
        return _rounded({**probe, "kmeans": clusters["kmeans"], "gmm": clusters["gmm"]})

    at_levels = {dataset.levels: dataset}  # the same split, requantised for binary runs

    def images_for(model) -> object:
        if model.levels not in at_levels:
            at_levels[model.levels] = genzoo.load_dataset(data, levels=model.levels)
        return at_levels[model.levels]

    models, skipped, dims = [], [], set()
    for run in [r for root in roots for r in run_dirs(root)]:
        model = genzoo.load_model(run).float()
        options = {"max_train": max_train, "seed": SEED}
        images = images_for(model)
        try:
            features = u.feature_representation(images, model, **options)
        except GenzooError as exc:  # no features, or features that see the label
            skipped.append({"run": run.name, "model": model.name, "reason": str(exc)})
            continue
        if images is not dataset:
            features.name += f" ({model.levels} levels)"
        print(f"{run.name}: {features.dim}-D features", flush=True)
        dims.add(features.dim)
        entry = {"run": run.name, "model": model.name, "levels": model.levels,
                 "features": evaluate(features)}  # fmt: skip
        try:  # the same architecture with its initial weights: what did training add?
            fresh = u.untrained_copy(model, SEED)
            entry["untrained"] = evaluate(u.feature_representation(images, fresh, **options))
        except GenzooError:
            pass
        embedding = u.embed(images, model, max_train=max_train, seed=SEED)
        u.plot_embedding(embedding, figures / f"unsupervised-{data}-{run.name}-map.png",
                         class_names=dataset.class_names, seed=SEED)  # fmt: skip
        models.append(entry)
    # PCA of the same dimension as each model's features (capped: pixels, training images)
    cap = min(len(train_y), dataset.test[0].numel())
    pca_dims = sorted({min(d, cap) for d in dims}) or [u.DEFAULT_PCA_DIM]
    baselines = [
        evaluate(rep)
        for rep in u.pixel_representations(
            dataset, pca_dims=tuple(pca_dims), max_train=max_train, seed=SEED
        )
    ]
    u.plot_embedding(u.embed(dataset, max_train=max_train, seed=SEED),
                     figures / f"unsupervised-{data}-pixels-map.png",
                     class_names=dataset.class_names, seed=SEED)  # fmt: skip
    return {
        "data": data,
        "max_train": max_train,
        "num_train": len(train_y),
        "num_test": len(test_y),
        "baselines": baselines,
        "models": models,
        "skipped": skipped,
    }


def table(payload: dict) -> str:
    lines = [
        f"{payload['data']}: probe fitted on {payload['num_train']:,} training images (C chosen "
        f"on 20% of them), clusters (k = 10) fitted on them without labels, both scored on "
        f"{payload['num_test']:,} test images",
        "",
        "| representation | dim | probe accuracy ± s.e. | k-means NMI / ARI | "
        "GMM (diag) NMI / ARI |",
        "|---|---|---|---|---|",
    ]

    def row(name: str, r: dict) -> str:
        return (
            f"| {name} | {r['dim']} | {r['accuracy']:.4f} ± {r['accuracy_stderr']:.4f} | "
            f"{r['kmeans']['nmi']:.3f} / {r['kmeans']['ari']:.3f} | "
            f"{r['gmm']['nmi']:.3f} / {r['gmm']['ari']:.3f} |"
        )

    for b in payload["baselines"]:
        name = b["representation"] + (
            "" if b["representation"] == "raw pixels" else f" ({b['dim']})"
        )
        lines.append(row(name, b))
    for m in payload["models"]:
        run = "" if m["run"] == m["model"] else f" (run {m['run']})"
        lines.append(row(f"**{m['features']['representation']}**{run}", m["features"]))
        if "untrained" in m:
            lines.append(row(f"{m['model']}, untrained weights", m["untrained"]))
    if payload["skipped"]:
        lines += ["", "Not scored: " + ", ".join(f"{s['run']}" for s in payload["skipped"])
                  + " (no label-free features)."]  # fmt: skip
    return "\n".join(lines)


def density(data: str, roots: list[Path], results: Path) -> str:
    """One bits/dim table of every evaluated run at the dataset's own number of levels."""
    import genzoo
    from genzoo.core.run import RunFolder
    from genzoo.errors import GenzooError
    from genzoo.evaluation import density_comparison, density_table

    levels = genzoo.load_dataset(data).levels
    runs = [
        d
        for root in roots
        for d in run_dirs(root)
        if RunFolder(d).metrics_json.is_file() and RunFolder(d).read_metrics().levels == levels
    ]
    if not runs:
        return f"no evaluated runs at {levels} levels under {', '.join(map(str, roots))}"
    try:
        text = density_table(density_comparison(runs))
    except GenzooError as exc:
        return f"no density table: {exc}"
    text = text.replace(str(ROOT) + os.sep, "")  # relative run paths in the committed table
    (results / f"density-{data}.md").write_text(text + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(RECIPES), required=True)
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget of the GANs")
    parser.add_argument("--train", nargs="*", default=TRAINED_HERE,
                        help="models to train when their run is missing (a VAE with "
                             "benchmarks/vae.py's recipe)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one per core)")
    parser.add_argument("--collect", action="store_true", help="score existing runs only")
    parser.add_argument("--max-train", type=int, default=None, help="training subset size")
    parser.add_argument("--root", type=Path, nargs="+", default=None,
                        help="default: runs/bench-DATA runs/bench-classic-DATA")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS, help="output directory")
    args = parser.parse_args()
    roots = args.root or [ROOT / "runs" / f"bench{part}-{args.data}" for part in ("", "-classic")]
    root = roots[0]  # where missing runs are trained
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)  # training logs
    if not args.collect:
        missing = [m for m in args.train if not (root / m).exists()]
        # a VAE named in --train is trained exactly as benchmarks/vae.py would train it
        recipes = {m: VAE_RECIPES if m in VAE_MODELS else RECIPES for m in missing}
        run_jobs(
            {m: command(args.data, m, args.minutes, root / m, recipes[m]) for m in missing},
            {m: shown(args.data, m, args.minutes, recipes[m]) for m in missing},
            f"unsupervised-{args.data}",  # logs apart from vae.py's and gan.py's own
            args.jobs,
        )
    payload = score(args.data, roots, args.max_train, results)
    (results / f"unsupervised-{args.data}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(table(payload))
    print()
    print(density(args.data, roots, results))


if __name__ == "__main__":
    main()
