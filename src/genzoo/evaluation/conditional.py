"""Scores of image-conditional answers (super-resolution, colorization) against the truth.

:func:`evaluate_conditional` scores any :class:`~genzoo.apps.conditional.ConditionalMethod` —
a model's samples or a deterministic baseline — on the first ``num_images`` test images of a
task dataset, with ``samples`` answers per condition drawn from one seeded generator:

* **PSNR / SSIM** (scikit-image's ``peak_signal_noise_ratio`` and ``structural_similarity``,
  peak = ``levels - 1``) of *one* answer, of the per-pixel *mean* of the ``samples`` answers and
  of their per-pixel *mode* (the smallest most frequent level). PSNR is that of the mean squared
  error over all test images (``10 log10(peak^2 / MSE)``, finite unless every image is exact);
  SSIM is the mean over images, with a uniform ``ssim_window x ssim_window`` window (7, or the
  largest odd size that fits a smaller image; colour channels averaged). Dahl et al. 2017 report
  that these favour a regression's blurred average over sharp samples; so does the mean of
  samples here, by construction.
* **Consistency** (as in Lugmayr et al. 2021): the task's own condition of every answer
  (:meth:`~genzoo.data.tasks.Task.condition`: box downsampling, BT.601 luminance) against the
  given ``c`` — the fraction of answers whose condition equals ``c`` exactly, the fraction of
  condition sub-pixels that do, and their mean absolute error in levels.
* **Diversity**: the per-sub-pixel standard deviation (in levels) across the ``samples``
  answers of a condition, averaged; 0 for a deterministic method.
* On a labelled dataset with the classifier feature network
  (:func:`~genzoo.evaluation.features.load_features`): the classifier's **accuracy** on one
  answer per image against the true label (does the digit keep its class?) next to its accuracy
  on the true images, and **FID / precision / recall** of the one-answer set against the true
  images on its features (:func:`~genzoo.evaluation.feature_metrics.sample_quality`; numbers on
  a few hundred images, comparable only between methods scored alike).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.apps.conditional import ConditionalMethod
from genzoo.data.dataset import Dataset
from genzoo.data.tasks import make_task
from genzoo.errors import ConfigError
from genzoo.evaluation.feature_metrics import sample_quality
from genzoo.evaluation.features import FeatureNetwork, load_features

#: answers per condition and test images scored by default
SAMPLES, IMAGES = 8, 256
#: SSIM's window side when the images allow it (scikit-image's default)
SSIM_WINDOW = 7


def psnr(truth: Tensor, answer: Tensor, levels: int) -> float:
    """PSNR in dB of the mean squared error over all images ``[N, C, H, W]`` (peak
    ``levels - 1``); ``inf`` when every answer equals the truth."""
    from skimage.metrics import peak_signal_noise_ratio  # scikit-image loads scipy: only here

    with np.errstate(divide="ignore"):  # every image exact: inf, said in the docstring
        value = peak_signal_noise_ratio(
            truth.double().numpy(), answer.double().numpy(), data_range=levels - 1
        )
    return float(value)


def ssim_window(shape: tuple[int, ...]) -> int:
    """:data:`SSIM_WINDOW`, or the largest odd side ``>= 3`` that fits ``H x W``."""
    side = min(SSIM_WINDOW, *shape[-2:])
    side -= 1 - side % 2
    if side < 3:
        raise ConfigError(f"SSIM needs images of at least 3×3, got {shape[-2]}×{shape[-1]}")
    return side


def ssim(truth: Tensor, answer: Tensor, levels: int) -> float:
    """Mean SSIM over images ``[N, C, H, W]`` (uniform window of :func:`ssim_window`)."""
    from skimage.metrics import structural_similarity  # scikit-image loads scipy: only here

    window = ssim_window(tuple(truth.shape))
    a, b = truth.double().numpy(), answer.double().numpy()
    values = [
        structural_similarity(x, y, win_size=window, data_range=levels - 1, channel_axis=0)
        for x, y in zip(a, b)
    ]
    return float(np.mean(values))


def pixel_mode(answers: Tensor) -> Tensor:
    """Per-sub-pixel most frequent level across answers ``[N, S, C, H, W]`` (ties: the
    smallest level): LongTensor ``[N, C, H, W]``."""
    return torch.mode(answers, dim=1).values


def consistency(task: Any, answers: Tensor, c: Tensor, levels: int) -> dict[str, float]:
    """How well the condition of every answer ``[N, S, C, H, W]`` matches ``c [N, ...]``."""
    n, s = answers.shape[:2]
    made = task.condition(answers.flatten(0, 1), levels).view(n, s, *c.shape[1:])
    given = c[:, None].long()
    equal = made == given
    return {
        "consistency_exact": float(equal.flatten(2).all(-1).double().mean()),
        "consistency_pixels": float(equal.double().mean()),
        "consistency_mae": float((made - given).abs().double().mean()),
    }


def evaluate_conditional(
    method: ConditionalMethod,
    dataset: Dataset,
    *,
    num_images: int | None = IMAGES,
    samples: int = SAMPLES,
    seed: int = 0,
    features: FeatureNetwork | None = None,
    classifier: bool = True,
) -> dict[str, Any]:
    """Score ``method`` on the first ``num_images`` test images of ``dataset`` (see the module
    docstring); ``None`` for all of them.

    Args:
        method: what answers the conditions (``ModelSampler(model)``, a baseline).
        dataset: a dataset with a task (``dataset.task``, ``dataset.test_condition``).
        samples: answers per condition (>= 2 for diversity to mean anything).
        seed: seed of the one ``torch.Generator`` all answers are drawn from.
        features: the classifier feature network; ``None`` loads (or trains and caches) the
            dataset's own when it is labelled and ``classifier`` is true.
        classifier: score class accuracy and FID / precision / recall when the data has labels.

    Returns:
        The fields of :class:`~genzoo.core.metrics.ConditionalScores` as a JSON-able dict.

    Raises:
        ConfigError: a dataset without a task, or bad counts.
    """
    if not dataset.conditioned or dataset.task is None:
        raise ConfigError(
            f"{dataset.name} has no conditions; load it with a task (--task super-resolution "
            "or --task colorization)"
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples must be a positive integer, got {samples!r}")
    total = int(dataset.test.shape[0])
    n = total if num_images is None else min(int(num_images), total)
    if n < 1:
        raise ConfigError(f"num_images must be positive, got {num_images!r}")
    spec = dict(dataset.task)
    task = make_task(spec.pop("name"), **spec)
    part = dataset.take("test", slice(0, n))
    levels = dataset.levels
    start = time.perf_counter()
    answers = method.draw(part.c, samples, torch.Generator().manual_seed(seed), part.y).long()
    seconds = time.perf_counter() - start
    if tuple(answers.shape) != (n, samples, *dataset.shape):
        raise ConfigError(
            f"{method.name} gave answers {list(answers.shape)}; expected "
            f"{[n, samples, *dataset.shape]}"
        )
    one, mean, mode = answers[:, 0], answers.double().mean(1), pixel_mode(answers)
    out: dict[str, Any] = {
        "method": method.name,
        "task": dataset.task,
        "num_images": n,
        "samples": samples,
        "deterministic": bool(method.deterministic),
        "seed": seed,
        "psnr_sample": psnr(part.x, one, levels),
        "ssim_sample": ssim(part.x, one, levels),
        "psnr_mean": psnr(part.x, mean, levels),
        "ssim_mean": ssim(part.x, mean, levels),
        "psnr_mode": psnr(part.x, mode, levels),
        "ssim_mode": ssim(part.x, mode, levels),
        "ssim_window": ssim_window(tuple(dataset.shape)),
        **consistency(task, answers, part.c, levels),
        "diversity_std": float(answers.double().std(dim=1, unbiased=False).mean())
        if samples > 1
        else 0.0,
        "seconds": seconds,
    }
    if classifier and part.y is not None and n >= 4:
        net = features if features is not None else load_features("classifier", dataset)
        out.update(_classifier_scores(net, part.x, one, part.y))
    return out


def _classifier_scores(
    net: FeatureNetwork, truth: Tensor, answers: Tensor, labels: Tensor
) -> dict[str, Any]:
    """Class accuracy of the answers and of the truth; FID / precision / recall on features."""
    out: dict[str, Any] = {"feature_network": net.name}
    if net.info.get("kind") == "classifier":  # (Inception features have no classes here)
        predict = net.module.predict
        out["classifier_accuracy"] = float((predict(answers) == labels).double().mean())
        out["classifier_accuracy_truth"] = float((predict(truth) == labels).double().mean())
    n = truth.shape[0]
    scores = sample_quality(
        net.features(truth),
        net.features(answers),
        k_pr=min(3, n - 1),
        k_dc=min(5, n - 1),
        kid_subset_size=min(1000, n),
        generator=torch.Generator().manual_seed(0),
    )
    out.update({k: scores[k] for k in ("fid", "precision", "recall")})
    return out
