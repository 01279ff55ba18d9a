"""Likelihood estimates for models without a usable density: Parzen windows and AIS, per model.

GANs define no likelihood. Two estimators put a *continuous* density on images and score test
images under it; both work in the same space and report **nats per image**:

* the space is the unit cube ``[0, 1]^D``, ``D = C * H * W``, with data level ``k`` at its bin
  centre ``(k + 1/2) / levels`` (:func:`to_unit_cube`); decoders' means are mapped the same way
  (``decoder_mean`` of the GAN and VAE families);
* the numbers are log-*densities* over that space, so they can be positive, they change by
  ``D log s`` if the space is scaled by ``s``, and they are **not comparable** with the discrete
  log-likelihoods and bits/dim of the models that have a density (nor with the papers' numbers,
  which used other scalings, e.g. pixels ``k / 255``).

:func:`evaluate_parzen` — the Parzen-window estimate of Goodfellow et al. 2014 (after Breuleux et
al. 2011): a Gaussian kernel on each of ``num_samples`` model samples, its bandwidth chosen on
held-out *training* images (never test), test images scored under the mixture. **Known to be
unreliable**: Theis, van den Oord & Bethge 2016 ("A note on the evaluation of generative models")
showed it is far from the true log-likelihood in moderate dimension even with millions of
samples, and Wu et al. 2017 that it can rank models wrongly. Reported for comparison with the
literature only.

:func:`evaluate_ais` — annealed importance sampling (Neal 2001) for decoder-based models, as Wu,
Burda, Salakhutdinov & Grosse 2017 ("On the quantitative analysis of decoder-based generative
models"): ``p(x) = ∫ N(z; 0, I) N(x; g(z), sigma^2 I) dz`` with ``g`` the model's
``decoder_mean`` — a GAN's generator or a VAE's decoder mean — so both families are scored under
the same observation model. The estimate is a stochastic *lower* bound that rises with ``steps``
(see :mod:`genzoo.evaluation.ais`); ``sigma`` is chosen on held-out training images by a shorter
AIS run, as Wu et al. chose it on validation data. For a VAE this scores a *different* model
from its own discrete likelihood: use the IWAE bound (``genzoo eval``'s default) for that.

Cost: AIS makes ``(chains + tuning_chains) * steps * leapfrog_steps`` decoder passes with
gradients per test image — with the defaults (4 + 2 chains, 300 steps, 10 leapfrog steps) 18,000
per image; a decoder whose mean sums over 256 levels (the VAE's logistic likelihood) costs far
more per pass than a GAN generator. Parzen costs one distance per (test image, sample) pair.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from genzoo.core.progress import progress
from genzoo.data.dataset import Dataset
from genzoo.distributions.gaussian import standard_normal_log_prob
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation.ais import ais
from genzoo.evaluation.parzen import parzen_estimate
from genzoo.evaluation.sample_quality import (
    DEFAULT_REFERENCE,
    draw_samples,
    sampling_labels,
    subset,
)
from genzoo.models.base import GenerativeModel

SPACE = "[0, 1]^D, level k at its bin centre (k + 1/2) / levels"
UNITS = (
    "nats per image: a continuous log-density on " + SPACE + "; not comparable with discrete "
    "log-likelihoods or bits/dim"
)
#: Seed of the subset of training images that picks the bandwidth / sigma (when the run held
#: none out): another stream than the reference and floor subsets.
VALIDATION_SEED = 1
#: Parzen defaults: model samples (the GAN paper used 10,000) and validation images.
PARZEN_SAMPLES, PARZEN_VALIDATION = 10_000, 1_000
#: AIS defaults (see the cost note in the module docstring).
AIS_IMAGES, AIS_STEPS, AIS_CHAINS, AIS_LEAPFROG, AIS_TUNING = 10, 300, 4, 10, 2
#: Observation standard deviations tried on held-out images, in units of the unit cube.
AIS_SIGMAS = (0.025, 0.05, 0.1, 0.2)
AIS_VALIDATION = 5


def to_unit_cube(x: Tensor, levels: int) -> Tensor:
    """Integer images ``[N, C, H, W]`` in ``[0, K)`` -> float64 ``[N, D]``: ``(x + 1/2) / K``."""
    return (x.reshape(x.shape[0], -1).to(torch.float64) + 0.5) / levels


def _validation(
    dataset: Dataset, validation: Tensor | None, labels: Tensor | None, count: int
) -> tuple[Tensor, Tensor | None, str]:
    """``(images, labels, source)``: ``validation`` (its first ``count``) if given, else ``count``
    seeded training images."""
    if validation is not None:
        labels = None if labels is None else labels[: int(count)]
        return validation[: int(count)], labels, "held-out training images (not trained on)"
    index = subset(int(dataset.train.shape[0]), int(count), seed=VALIDATION_SEED)
    labels = None if dataset.train_labels is None else dataset.train_labels[index]
    return dataset.train[index], labels, "training images (the model may have trained on them)"


def evaluate_parzen(
    model: GenerativeModel,
    dataset: Dataset,
    *,
    num_samples: int = PARZEN_SAMPLES,
    num_validation: int = PARZEN_VALIDATION,
    num_test: int = DEFAULT_REFERENCE,
    sigmas: Sequence[float] | None = None,
    validation: Tensor | None = None,
    samples: Tensor | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Parzen-window log-density of test images under ``model``'s samples (Goodfellow et al. 2014).

    **Unreliable** (Theis et al. 2016; Wu et al. 2017): see the module docstring. Works for any
    model that samples.

    Args:
        model: any model that samples.
        dataset: its data; test images are scored (the reference subset of
            :func:`~genzoo.evaluation.evaluate_sample_quality`, at most ``num_test``).
        num_samples: model samples, the kernel centres.
        num_validation: training images that choose the bandwidth when ``validation`` is None.
        num_test: most test images scored.
        sigmas: bandwidth grid in unit-cube units (``None``: 20 values log-spaced over
            ``[0.01, 1]``, :data:`genzoo.evaluation.parzen.DEFAULT_SIGMAS`).
        validation: LongTensor ``[V, C, H, W]`` of held-out training images that choose the
            bandwidth (e.g. :func:`~genzoo.evaluation.run_evaluation.held_out_split`); never test
            images.
        samples: LongTensor ``[M, C, H, W]`` drawn elsewhere, instead of sampling.
        seed: seed of the sampling generator.
        batch_size: images per sampling call.

    Returns:
        :func:`~genzoo.evaluation.parzen.parzen_estimate`'s dict (``log_density_mean``,
        ``log_density_sem``, ``sigma``, ``sigma_at_grid_edge``, counts, ``scores``) plus
        ``"space"``, ``"units"``, ``"validation_source"``, ``"estimator"``, ``"seed"``.
    """
    start = time.perf_counter()
    if samples is None:
        y = sampling_labels(model, dataset, int(num_samples))
        generator = torch.Generator().manual_seed(seed)
        samples = draw_samples(
            model, int(num_samples), y, generator=generator, batch_size=batch_size
        )
    held, _, source = _validation(dataset, validation, None, num_validation)
    test = dataset.test[subset(int(dataset.test.shape[0]), int(num_test))]
    levels = dataset.levels
    result = parzen_estimate(
        to_unit_cube(samples, levels),
        to_unit_cube(held, levels),
        to_unit_cube(test, levels),
        sigmas,
    )
    return {
        **result,
        "estimator": "parzen",
        "space": SPACE,
        "units": UNITS,
        "validation_source": source,
        "seed": int(seed),
        "seconds": round(time.perf_counter() - start, 3),
    }


def ais_decoder(model: GenerativeModel) -> tuple[Callable[..., Tensor], int]:
    """``(model.decoder_mean, latent_dim)`` of a decoder-based model whose prior is ``N(0, I)``.

    Raises:
        UnsupportedError: the model has no decoder of a single latent vector (autoregressive
            models, VQ-VAE's discrete codes, the hierarchical VAE's layered prior) or its prior is
            not the standard normal AIS assumes.
    """
    supported = (
        "GANs (gan, dcgan, wgan_gp, sngan) and VAEs with one N(0, I) latent vector "
        "(vae, iwae, vae_iaf)"
    )
    if not model.capabilities.gaussian_latent:
        raise UnsupportedError(
            f"AIS needs a decoder of one latent vector z ~ N(0, I); {model.name} has none. "
            f"It applies to {supported}; use --parzen (any model that samples) instead"
        )
    decode, latent_dim = model.decoder_mean, int(model.latent_dim)
    if model.capabilities.latent == "encoder":  # check the prior is the one AIS assumes
        log_prior = model.log_prior
        z = torch.randn(1, 3, latent_dim, generator=torch.Generator().manual_seed(0))
        z = z.to(model.device, model.dtype)
        try:
            with torch.no_grad():
                got = log_prior(z, model.default_labels(3))
        except (RuntimeError, ValueError, TypeError):
            got = None
        expected = standard_normal_log_prob(z)
        if got is None or not torch.allclose(got.to(expected.dtype), expected, atol=1e-4):
            raise UnsupportedError(
                f"AIS assumes the prior p(z) = N(0, I) over [{latent_dim}], which {model.name} "
                f"does not have; it applies to {supported}"
            )
    return decode, latent_dim


def evaluate_ais(
    model: GenerativeModel,
    dataset: Dataset,
    *,
    num_images: int = AIS_IMAGES,
    sigma: float | Sequence[float] = AIS_SIGMAS,
    steps: int = AIS_STEPS,
    chains: int = AIS_CHAINS,
    leapfrog_steps: int = AIS_LEAPFROG,
    tuning_chains: int = AIS_TUNING,
    validation: Tensor | None = None,
    validation_labels: Tensor | None = None,
    num_validation: int = AIS_VALIDATION,
    validation_steps: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
) -> dict[str, Any]:
    """AIS estimate of ``log p(x)`` of the first ``num_images`` test images (Wu et al. 2017).

    The model is the decoder ``g = model.decoder_mean`` with ``p(z) = N(0, I)`` and the Gaussian
    observation model ``N(x; g(z), sigma^2 I)`` on the unit cube (see the module docstring); a
    class-conditional model is scored as ``log p(x | y)`` with the test labels.

    Args:
        model: a GAN or a VAE with one ``N(0, I)`` latent vector (:func:`ais_decoder`).
        dataset: its data.
        num_images: first test images scored.
        sigma: the observation standard deviation, or several: then each is tried with a
            ``validation_steps`` AIS run on the validation images and the one with the highest
            mean estimate is used (Wu et al. chose sigma on validation data).
        steps, chains, leapfrog_steps, tuning_chains: as in :func:`genzoo.evaluation.ais.ais`.
        validation: LongTensor ``[V, C, H, W]`` held-out training images (else
            ``num_validation`` seeded training images); only the first ``num_validation`` are
            used.
        validation_labels: their labels ``[V]`` (needed to choose sigma for a conditional
            model).
        num_validation: validation images of the sigma search.
        validation_steps: annealing steps of the sigma search (default ``max(10, steps // 5)``).
        seed: seed of the one generator every chain draws from.
        batch_size: test images annealed together.

    Returns:
        JSON-able ``{"log_likelihood_mean", "log_likelihood_sem", "sigma", "sigma_scores",
        "acceptance", "num_images", "steps", "chains", "leapfrog_steps", "tuning_chains",
        "num_validation", "validation_steps", "validation_source", "estimator", "bound",
        "space", "units", "seed", "seconds"}`` — nats per image, a stochastic lower bound.
    """
    decode, latent_dim = ais_decoder(model)
    grid = [float(sigma)] if isinstance(sigma, int | float) else [float(s) for s in sigma]
    if not grid:
        raise ConfigError("sigma is empty; pass one observation standard deviation or several")
    n = min(int(num_images), int(dataset.test.shape[0]))
    if n < 1:
        raise ConfigError(f"num_images must be positive, got {num_images}")
    options = {
        "chains": chains,
        "leapfrog_steps": leapfrog_steps,
        "tuning_chains": tuning_chains,
        "batch_size": batch_size,
    }
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        scores: dict[str, float] = {}
        held, held_labels, source = _validation(
            dataset, validation, validation_labels, num_validation
        )
        if model.num_classes is None:
            held_labels = None
        elif held_labels is None and len(grid) > 1:
            raise UnsupportedError(
                "choosing sigma for a class-conditional model needs the labels of its "
                "validation images; pass them, or pass a single sigma"
            )
        val_steps = max(10, int(steps) // 5) if validation_steps is None else int(validation_steps)
        if len(grid) > 1:
            for s in grid:
                log_p, _ = _ais(decode, model, held, held_labels, latent_dim, s, val_steps,
                                generator, options)  # fmt: skip
                scores[repr(s)] = float(log_p.mean())
            best = max(grid, key=lambda s: scores[repr(s)])
        else:
            best = grid[0]
        labels = None if model.num_classes is None else dataset.test_labels[:n]
        estimates, acceptance = _ais(decode, model, dataset.test[:n], labels, latent_dim,
                                     best, int(steps), generator, options)  # fmt: skip
    finally:
        model.train(was_training)
    sem = float(estimates.std() / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "log_likelihood_mean": float(estimates.mean()),
        "log_likelihood_sem": sem,
        "sigma": best,
        "sigma_scores": scores,
        "sigma_at_grid_edge": len(grid) > 1 and best in (min(grid), max(grid)),
        "acceptance": acceptance,
        "num_images": n,
        "steps": int(steps),
        "chains": int(chains),
        "leapfrog_steps": int(leapfrog_steps),
        "tuning_chains": int(tuning_chains),
        "num_validation": int(held.shape[0]) if len(grid) > 1 else 0,
        "validation_steps": val_steps if len(grid) > 1 else 0,
        "validation_source": source if len(grid) > 1 else None,
        "estimator": "ais",
        "bound": "stochastic lower bound on log p(x) (rises with steps)",
        "space": SPACE,
        "units": UNITS,
        "seed": int(seed),
        "seconds": round(time.perf_counter() - start, 3),
    }


def _ais(
    decode: Callable[..., Tensor],
    model: GenerativeModel,
    images: Tensor,
    labels: Tensor | None,
    latent_dim: int,
    sigma: float,
    steps: int,
    generator: torch.Generator,
    options: dict[str, Any],
) -> tuple[Tensor, float]:
    """AIS estimates ``[N]`` of ``images`` (labels per image for a conditional model) and the mean
    acceptance, batched so that each batch's decoder sees its images' labels."""
    x = to_unit_cube(images, model.levels).to(model.device, model.dtype)
    batch = int(options["batch_size"])
    # ais() lays the chains of image i out as rows [i * width, (i + 1) * width)
    width = int(options["chains"]) + int(options["tuning_chains"])
    estimates, accept = [], []
    bar = progress(x.shape[0], f"{model.name}: AIS ({steps} steps, sigma {sigma:g})", "image")
    for s in range(0, x.shape[0], batch):
        yb = None if labels is None else labels[s : s + batch].to(model.device)
        y_rep = None if yb is None else yb.repeat_interleave(width)

        def g(z: Tensor, y: Tensor | None = y_rep) -> Tensor:
            return decode(z, y).flatten(1)

        result = ais(
            g,
            x[s : s + batch],
            latent_dim=latent_dim,
            sigma=sigma,
            steps=steps,
            chains=options["chains"],
            leapfrog_steps=options["leapfrog_steps"],
            tuning_chains=options["tuning_chains"],
            generator=generator,
        )
        estimates.append(result.log_likelihood.double().cpu())
        accept.append(result.acceptance)
        bar.update(estimates[-1].shape[0])
    bar.close()
    values = torch.cat(estimates)
    finite = [a for a in accept if not math.isnan(a)]
    return values, (sum(finite) / len(finite) if finite else float("nan"))
