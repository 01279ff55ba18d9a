"""End-of-run evaluation: test likelihood, sample grid and completion grid for a trained model."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.apps import completion_mask, completion_rows, save_grid
from genzoo.data import Dataset
from genzoo.evaluation.bounds import evaluate_bound
from genzoo.evaluation.continuous import (
    ais_decoder,
    evaluate_ais,
    evaluate_parzen,
    held_out_images,
)
from genzoo.evaluation.likelihood import evaluate_likelihood
from genzoo.evaluation.sample_quality import evaluate_sample_quality
from genzoo.models.base import GenerativeModel
from genzoo.models.vae.base import DEFAULT_K, LatentVariableModel

METRICS_NAME = "metrics.json"
#: test images of the IWAE bound in a run's final evaluation (k decoder passes per image)
DEFAULT_IWAE_IMAGES = 256


def fingerprint_test_images(dataset: Dataset) -> str:
    """SHA-256 of the test images (shape and values): which test split a run was scored on."""
    test = dataset.test.cpu().to(torch.int64).contiguous()
    digest = hashlib.sha256(repr(tuple(test.shape)).encode())
    digest.update(test.numpy().tobytes())
    return digest.hexdigest()


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as pretty JSON atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def evaluate_run(
    model: GenerativeModel,
    dataset: Dataset,
    out_dir: str | Path,
    *,
    seed: int = 0,
    num_samples: int = 64,
    num_completions: int = 8,
    mask: str = "top-half",
    batch_size: int = 256,
    k: int = DEFAULT_K,
    iwae_images: int | None = DEFAULT_IWAE_IMAGES,
    sample_quality: bool | None = None,
    quality: dict[str, Any] | None = None,
    parzen: dict[str, Any] | None = None,
    ais: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``dataset.test`` and write the run's outputs into ``out_dir``.

    Writes ``metrics.json`` (test NLL in nats/image and bits/dim, with standard errors, when the
    model has a density), ``samples.png`` (``num_samples`` samples) and ``completion.png``
    (``num_completions`` test images: original row, masked row, then completions). Sampling
    uses a ``torch.Generator`` seeded with ``seed``.

    For a latent-variable model (``density == "bound"``) ``metrics.json`` also holds ``bound``
    (:func:`~genzoo.evaluation.bounds.evaluate_bound`: the ELBO, its reconstruction and KL terms
    on every test image, the ``k``-sample IWAE bound on the first ``iwae_images``), ``test`` is
    that IWAE bound (what ``log_prob`` computes), and ``reconstruction.png`` shows test images
    over their reconstructions.

    ``sample_quality`` adds ``metrics["sample_quality"]``
    (:func:`~genzoo.evaluation.evaluate_sample_quality` with the keywords in ``quality``:
    FID, KID, precision/recall, density/coverage and the real-vs-real floor); ``None`` computes it
    only for models without a density (``density == "none"``), whose only quality numbers these
    are — sampling 10,000 images from an autoregressive model takes minutes. ``parzen`` and
    ``ais`` (keyword dicts of :func:`~genzoo.evaluation.continuous.evaluate_parzen` and
    :func:`~genzoo.evaluation.continuous.evaluate_ais`, ``None`` to skip) add continuous-space
    likelihood estimates; both choose their bandwidth / sigma on the training images the run held
    out (``--validation``) when it held some out.

    Returns the metrics dictionary (also containing the paths written).
    """
    if ais is not None:
        ais_decoder(model)  # refuse an unsupported model before any slow work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    metrics: dict[str, Any] = {
        "model": model.name,
        "dataset": dataset.name,
        "levels": dataset.levels,
        "shape": list(dataset.shape),
        "num_test_images": (n_test := int(dataset.test.shape[0])),
        "test_sha256": fingerprint_test_images(dataset),
        "density": model.density,
    }
    if isinstance(model, LatentVariableModel):
        bound = evaluate_bound(
            model, dataset.test, dataset.test_labels, k=k, iwae_images=iwae_images, seed=seed
        )
        metrics["bound"] = bound
        metrics["test"] = {**bound["iwae"], "density": model.density, "k": bound["k"]}
    elif model.density != "none":
        metrics["test"] = evaluate_likelihood(
            model, dataset.test, dataset.test_labels, batch_size=batch_size
        )
    metrics["uniform_bits_per_dim"] = math.log2(dataset.levels)
    if model.num_classes is not None and callable(getattr(model, "predict", None)):
        # a generative classifier (naive Bayes, Gaussian mixtures per class): Bayes' rule
        predicted = torch.cat(
            [
                model.predict(dataset.test[s : s + batch_size]).cpu()
                for s in range(0, n_test, batch_size)
            ]
        )
        metrics["test_accuracy"] = float((predicted == dataset.test_labels).double().mean())

    generator = torch.Generator().manual_seed(seed)
    samples = model.sample(num_samples, generator=generator)
    metrics["samples_png"] = str(save_grid(samples, dataset.levels, out / "samples.png"))

    k = min(num_completions, dataset.test.shape[0])
    images = dataset.test[:k]
    labels = None if model.num_classes is None else dataset.test_labels[:k]
    given = completion_mask(mask, dataset.shape)
    grid = completion_rows(model, images, given, y=labels, generator=generator)
    metrics["completion_png"] = str(save_grid(grid, dataset.levels, out / "completion.png", nrow=k))
    metrics["completion_mask"] = mask
    if isinstance(model, LatentVariableModel):
        metrics["reconstruction_png"] = str(
            save_grid(
                reconstruction_rows(model, dataset.test[:16], dataset.test_labels),
                dataset.levels,
                out / "reconstruction.png",
                nrow=8,
            )
        )
    if sample_quality is None:
        sample_quality = model.density == "none"
    if sample_quality:
        metrics["sample_quality"] = evaluate_sample_quality(
            model, dataset, **{"seed": seed, "batch_size": batch_size, **(quality or {})}
        )
    held = held_out_images(out, dataset) if parzen is not None or ais is not None else None
    if parzen is not None:
        options = {"seed": seed, **parzen}
        if held is not None:
            options.setdefault("validation", held[0])
        metrics["parzen"] = evaluate_parzen(model, dataset, **options)
    if ais is not None:
        options = {"seed": seed, **ais}
        if held is not None:
            options.setdefault("validation", held[0])
            options.setdefault("validation_labels", held[1])
        metrics["ais"] = evaluate_ais(model, dataset, **options)
    write_json(out / METRICS_NAME, metrics)
    return metrics


def reconstruction_rows(
    model: LatentVariableModel, images: Tensor, labels: Tensor | None, per_row: int = 8
) -> Tensor:
    """Rows of ``per_row`` test images, each followed by the row of their reconstructions."""
    y = None if model.num_classes is None or labels is None else labels[: images.shape[0]]
    rebuilt = model.reconstruct(images, y).cpu()
    rows = [
        part
        for s in range(0, images.shape[0], per_row)
        for part in (images[s : s + per_row], rebuilt[s : s + per_row])
    ]
    return torch.cat(rows)
