"""End-of-run evaluation: test likelihood, sample grid and completion grid for a trained model."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.apps import completion_captions, completion_mask, completion_rows, save_grid
from genzoo.apps.conditional import ModelSampler, baselines, show_conditions
from genzoo.core.metrics import RunMetrics
from genzoo.core.run import RunFolder
from genzoo.data import Dataset, Split
from genzoo.evaluation.bounds import evaluate_bound
from genzoo.evaluation.conditional import evaluate_conditional
from genzoo.evaluation.config import EvalConfig
from genzoo.evaluation.continuous import ais_decoder, evaluate_ais, evaluate_parzen
from genzoo.evaluation.features import load_features
from genzoo.evaluation.likelihood import evaluate_likelihood
from genzoo.evaluation.sample_quality import evaluate_sample_quality
from genzoo.models.base import GenerativeModel


def fingerprint_test_images(dataset: Dataset) -> str:
    """SHA-256 of the test images (shape and values): which test split a run was scored on."""
    test = dataset.test.cpu().to(torch.int64).contiguous()
    digest = hashlib.sha256(repr(tuple(test.shape)).encode())
    digest.update(test.numpy().tobytes())
    return digest.hexdigest()


def evaluate_run(
    model: GenerativeModel,
    dataset: Dataset,
    out_dir: str | Path,
    config: EvalConfig | None = None,
    *,
    features: Any = None,
    held_out: Split | None = None,
) -> RunMetrics:
    """Evaluate ``model`` on ``dataset.test`` as ``config`` says and write the outputs into
    ``out_dir`` (a run folder, or an ``evaluations/NAME`` folder of one).

    Writes ``metrics.json`` (a :class:`~genzoo.core.metrics.RunMetrics`: test NLL in nats/image
    and bits/dim, with standard errors, when the model has a density), ``samples.png``
    (``config.num_samples`` samples) and ``completion.png`` (``config.num_completions`` test
    images: original row, masked row, then completions). Sampling uses a ``torch.Generator``
    seeded with ``config.seed``. What runs follows the model's declared capabilities
    (:mod:`genzoo.models.capabilities`):

    * an IWAE bound (``bound_estimator == "iwae"``): ``bound`` holds
      :func:`~genzoo.evaluation.bounds.evaluate_bound` (the ELBO, its reconstruction and KL terms
      on every test image, the ``iwae_k``-sample IWAE bound on the first ``iwae_images``), and
      ``test`` is that IWAE bound (what ``log_prob`` computes);
    * a model that reconstructs: ``reconstruction.png``, test images over their reconstructions;
    * a class-conditional generative classifier: ``test_accuracy`` by Bayes' rule;
    * an image-conditional model: the likelihood of each test image given its condition, and
      ``samples.png`` shows rows of conditions, samples given them, and the truth (no
      completion grid, no sample quality); ``conditional`` scores the samples against the
      truth (:func:`~genzoo.evaluation.conditional.evaluate_conditional`: PSNR/SSIM,
      consistency, diversity, class accuracy) and ``conditional_baselines`` the task's
      baselines (nearest/bicubic, gray) the same way;
    * a model whose ``log_prob`` can be checked (:meth:`GenerativeModel.likelihood_checks`, given
      the training images: the RBM's and the DBN's AIS ``log Z`` against a certain lower bound):
      ``test.checks``; a failed one makes ``test.trusted`` False — the number is then reported
      as invalid, not as a likelihood.

    Sample quality (FID, KID, precision/recall, density/coverage and the real-vs-real floor)
    runs when :meth:`EvalConfig.quality_enabled` says so, on ``features`` (a loaded feature
    network; :func:`~genzoo.evaluation.config.load_quality_network` loads it before slow work)
    or on ``config.feature_network`` loaded here. ``config.parzen`` and ``config.ais`` add
    continuous-space likelihood estimates; both choose their bandwidth / sigma on ``held_out``
    (the training images a run held out, :func:`held_out_split`) when given.

    Returns the :class:`~genzoo.core.metrics.RunMetrics` written.
    """
    config = (config or EvalConfig()).validate()
    caps = model.capabilities
    if config.ais:
        ais_decoder(model)  # refuse an unsupported model before any slow work
    quality = config.quality_enabled(caps.has_density) and not caps.image_conditional
    if quality and features is None:
        features = load_features(config.feature_network, dataset, **config.feature_options())
    run = RunFolder(out_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    model.eval()
    metrics: dict[str, Any] = {
        "model": model.name,
        "dataset": dataset.name,
        "levels": dataset.levels,
        "shape": list(dataset.shape),
        "num_test_images": int(dataset.test.shape[0]),
        "test_sha256": fingerprint_test_images(dataset),
        "density": model.density,
        "uniform_bits_per_dim": math.log2(dataset.levels),
        "task": dataset.task,
    }
    test = dataset.take("test", slice(None))
    _likelihood(model, test, metrics, config)
    if "test" in metrics and not caps.image_conditional:
        train = dataset.take("train", slice(None))
        checks = model.likelihood_checks(train.x, train.y if caps.class_conditional else None)
        if checks:
            metrics["test"]["checks"] = checks
    if caps.classifier:  # a generative classifier (naive Bayes, mixtures per class): Bayes' rule
        step = config.batch_size
        predicted = torch.cat(
            [model.predict(test.x[s : s + step]).cpu() for s in range(0, len(test.x), step)]
        )
        metrics["test_accuracy"] = float((predicted == dataset.test_labels).double().mean())
    generator = torch.Generator().manual_seed(config.seed)
    metrics.update(_figures(model, dataset, run, generator, config))
    if caps.image_conditional:  # answers to the test conditions, beside the task's baselines
        if features is None and dataset.num_classes is not None:
            features = load_features(config.feature_network, dataset, **config.feature_options())
        options = {**config.conditional_options(), "features": features}
        metrics["conditional"] = evaluate_conditional(ModelSampler(model), dataset, **options)
        metrics["conditional_baselines"] = [
            evaluate_conditional(method, dataset, **options)
            for method in baselines(dataset.task, dataset.levels)
        ]
    if quality:
        metrics["sample_quality"] = evaluate_sample_quality(
            model, dataset, features=features, **config.quality_options()
        )
    validation = {} if held_out is None else {"validation": held_out.x}
    parzen = config.parzen_options()
    if parzen is not None:
        metrics["parzen"] = evaluate_parzen(model, dataset, **parzen, **validation)
    ais = config.ais_options()
    if ais is not None:
        if held_out is not None:
            validation["validation_labels"] = held_out.y
        metrics["ais"] = evaluate_ais(model, dataset, **ais, **validation)
    result = RunMetrics.from_dict(metrics)
    run.write_metrics(result)
    return result


def held_out_split(run: RunFolder, dataset: Dataset) -> Split | None:
    """The training images a run held out with ``--validation N`` (never trained on), read from
    its ``train_config.json`` and split off as the training did; ``None`` when it held none."""
    from genzoo.training.evaluate import split_validation

    if not run.train_config.is_file():
        return None
    config = run.read_train_config().get("train_config", {})
    count = int(config.get("validation", 0) or 0)
    if count <= 0 or count >= dataset.train.shape[0]:
        return None
    held = split_validation(dataset, count, int(config.get("seed", 0)))[1]
    return held.take("test", slice(None))


def _likelihood(
    model: GenerativeModel, test: Split, metrics: dict[str, Any], config: EvalConfig
) -> None:
    """The test likelihood the model declares: an IWAE bound with its ELBO, or ``log_prob``."""
    caps = model.capabilities
    c = test.c if caps.image_conditional else None
    if caps.bound_estimator == "iwae":
        bound = evaluate_bound(
            model,
            test.x,
            test.y,
            c=c,
            k=config.iwae_k,
            iwae_images=config.iwae_images or None,
            seed=config.seed,
        )
        metrics["bound"] = bound
        metrics["test"] = {**bound["iwae"], "density": model.density, "k": bound["k"]}
    elif caps.has_density:
        metrics["test"] = evaluate_likelihood(
            model, test.x, test.y, c=c, batch_size=config.batch_size
        )


def _figures(
    model: GenerativeModel,
    dataset: Dataset,
    run: RunFolder,
    generator: torch.Generator,
    config: EvalConfig,
) -> dict[str, Any]:
    """``samples.png``, ``completion.png`` and ``reconstruction.png`` as the model allows."""
    caps = model.capabilities
    num_completions, mask = config.num_completions, config.mask
    out: dict[str, Any] = {}
    if caps.image_conditional:
        grid, nrow = conditional_rows(model, dataset, generator, min(num_completions, 8))
        labels = ["condition", "sample 1", "sample 2", "sample 3", "truth"]
        path = run.figure(run.SAMPLES_PNG)
        out["samples_png"] = str(
            save_grid(grid, dataset.levels, path, nrow=nrow, row_labels=labels)
        )
        return out
    samples = model.sample(config.num_samples, generator=generator)
    out["samples_png"] = str(save_grid(samples, dataset.levels, run.figure(run.SAMPLES_PNG)))
    if caps.completion is not None:
        n = min(num_completions, dataset.test.shape[0])
        part = dataset.take("test", slice(0, n))
        labels = part.y if caps.class_conditional else None
        given = completion_mask(mask, dataset.shape)
        grid = completion_rows(model, part.x, given, y=labels, generator=generator)
        path = run.figure(run.COMPLETION_PNG)
        captions = completion_captions(mask)
        out["completion_png"] = str(
            save_grid(grid, dataset.levels, path, nrow=n, row_labels=captions)
        )
        out["completion_mask"] = mask
    if caps.reconstruction:
        part = dataset.take("test", slice(0, 16))
        grid = reconstruction_rows(model, part.x, part.y if caps.class_conditional else None)
        path = run.figure(run.RECONSTRUCTION_PNG)
        captions = ["test images", "reconstructions"]
        out["reconstruction_png"] = str(
            save_grid(grid, dataset.levels, path, nrow=8, row_labels=captions)
        )
    return out


def conditional_rows(
    model: GenerativeModel,
    dataset: Dataset,
    generator: torch.Generator,
    n: int,
    samples_per_condition: int = 3,
) -> tuple[Tensor, int]:
    """A figure of an image-conditional model: for ``n`` test images, a row of their
    conditions (resized to the target's size, nearest neighbour), ``samples_per_condition``
    rows of samples given them, and the row of the true images. Returns ``(images, n)``.

    A condition with fewer channels than the target (a gray image for colorization) is repeated
    over the channels; its levels are mapped onto the target's.
    """
    part = dataset.take("test", slice(0, n))
    c = part.c
    repeated = c.repeat_interleave(samples_per_condition, dim=0)
    labels = None
    if model.capabilities.class_conditional and part.y is not None:
        labels = part.y.repeat_interleave(samples_per_condition, dim=0)
    drawn = model.sample(repeated.shape[0], labels, c=repeated, generator=generator).cpu()
    rows = drawn.view(n, samples_per_condition, *drawn.shape[1:]).transpose(0, 1).flatten(0, 1)
    shown = show_condition(c, dataset.condition_levels or dataset.levels, dataset)
    return torch.cat([shown, rows, part.x]), n


def show_condition(c: Tensor, levels: int, dataset: Dataset) -> Tensor:
    """Conditions as images of the target's shape and levels, for figures."""
    return show_conditions(c, levels, tuple(dataset.shape), dataset.levels)


def reconstruction_rows(
    model: GenerativeModel, images: Tensor, labels: Tensor | None, per_row: int = 8
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
