"""Input perturbation (``TrainConfig.perturb``, Ren et al. 2019's background model): the rate is
honoured, ``mu = 0`` changes nothing, and the noise is a pure function of the run's seed and the
batch's place in the data order (devices and resumes do not change it)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import genzoo
from genzoo.data import Dataset
from genzoo.errors import TrainingError
from genzoo.training import TrainConfig, train
from genzoo.training.batches import BatchOrder, perturb
from genzoo.training.engine import Progress, _batch

from .helpers import assert_identical, load_ckpt, quick, tiny_gated, weights


def _within(observed: float, p: float, n: int, sigmas: float = 4.5) -> bool:
    """``observed`` is within ``sigmas`` binomial standard errors of ``p`` (``n`` trials)."""
    return abs(observed - p) <= sigmas * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("levels", [2, 17, 256])
@pytest.mark.parametrize("mu", [0.05, 0.2, 0.5])
def test_changed_fraction_is_mu_times_one_minus_one_over_k(levels: int, mu: float) -> None:
    g = torch.Generator().manual_seed(levels * 1000 + int(mu * 100))
    x = torch.randint(0, levels, (50, 1, 40, 40), generator=g)
    out = perturb(x, levels, mu, g)
    n = x.numel()
    changed = float((out != x).double().mean())
    # a replaced value keeps the original with probability 1/K
    assert _within(changed, mu * (1 - 1 / levels), n)
    assert out.dtype == x.dtype and int(out.min()) >= 0 and int(out.max()) < levels
    if levels == 2:  # negative control: forgetting the 1/K term is detected
        assert not _within(changed, mu, n)


def test_replacements_are_uniform_over_levels() -> None:
    levels, mu = 5, 0.4
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(400_000, dtype=torch.long)
    counts = torch.bincount(perturb(x, levels, mu, g), minlength=levels).double() / x.numel()
    expected = [1 - mu + mu / levels] + [mu / levels] * (levels - 1)
    for k in range(levels):
        assert _within(float(counts[k]), expected[k], x.numel()), (k, counts)


def test_mu_zero_returns_the_batch_itself() -> None:
    x = torch.randint(0, 17, (8, 1, 8, 8))
    assert perturb(x, 17, 0.0, torch.Generator()) is x


def _session(data: Dataset, *, perturb: float, rank: int = 0, world: int = 1, **config):
    model = tiny_gated(data)
    return SimpleNamespace(
        train_data=data,
        config=TrainConfig(batch_size=16, perturb=perturb, **config),
        progress=Progress(),
        order=BatchOrder(int(data.train.shape[0]), 16, config.get("seed", 0)),
        rank=rank,
        world=world,
        model=model,
    )


def test_engine_batches_honour_the_rate_and_mu_zero_is_identity(small: Dataset) -> None:
    mu, batches = 0.3, 60
    clean, noisy = _session(small, perturb=0.0), _session(small, perturb=mu)
    changed, total = 0, 0
    for _ in range(batches):
        indices = clean.order.global_batch(clean.progress.epoch, clean.progress.batch_in_epoch)
        a, b = _batch(clean), _batch(noisy)
        assert torch.equal(a.x, small.train[indices])  # mu = 0: the data as it is
        changed += int((b.x != a.x).sum())
        total += a.x.numel()
        for s in (clean, noisy):
            s.progress.next_batch(s.order.steps_per_epoch)
    assert _within(changed / total, mu * (1 - 1 / small.levels), total)


def test_engine_noise_depends_on_seed_and_place_not_on_devices(small: Dataset) -> None:
    one = _session(small, perturb=0.5)
    again = _session(small, perturb=0.5)
    assert torch.equal(_batch(one).x, _batch(again).x)  # a pure function of (seed, place)
    halves = [_batch(_session(small, perturb=0.5, rank=r, world=2)).x for r in (0, 1)]
    assert torch.equal(torch.cat(halves), _batch(one).x)  # two devices see the same batch
    other_seed = _session(small, perturb=0.5, seed=1)
    other_seed.order = one.order  # the same images, other noise
    assert not torch.equal(_batch(other_seed).x, _batch(one).x)
    one.progress.next_batch(one.order.steps_per_epoch)
    again.progress.epoch = 1  # batch 0 of epoch 1: other noise even for the same images
    again.order = SimpleNamespace(global_batch=lambda e, b: one.order.global_batch(0, 1))
    assert not torch.equal(_batch(one).x, _batch(again).x)


def test_perturbed_training_resumes_bit_identically(small: Dataset, tmp_path: Path) -> None:
    config = {"perturb": 0.2, "warmup_steps": 2}
    full = tiny_gated(small)
    train(full, small, quick(steps=9, **config), tmp_path / "full")
    part = tiny_gated(small)
    train(part, small, quick(steps=4, **config), tmp_path / "part")
    fresh = tiny_gated(small, seed=7)
    train(fresh, small, quick(steps=9, **config), tmp_path / "part", resume=True)
    a, b = load_ckpt(tmp_path / "full"), load_ckpt(tmp_path / "part")
    assert_identical(weights(a["model"]), weights(b["model"]))
    clean = tiny_gated(small)  # negative control: the perturbation reaches the training
    train(clean, small, quick(steps=9, warmup_steps=2), tmp_path / "clean")
    c = load_ckpt(tmp_path / "clean")
    assert not all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])
    with pytest.raises(TrainingError, match=r"--perturb was 0\.2, now 0\.1"):
        train(
            tiny_gated(small), small, quick(steps=12, perturb=0.1), tmp_path / "part", resume=True
        )


def test_fitted_models_see_one_perturbed_copy(small: Dataset, tmp_path: Path) -> None:
    def fit(mu: float, name: str):
        model = genzoo.create_model(
            "mixture_categorical", shape=small.shape, levels=small.levels, components=1
        )
        train(model, small, quick(steps=1, perturb=mu), tmp_path / name)
        return model.state_dict()

    clean, noisy, again = fit(0.0, "a"), fit(0.5, "b"), fit(0.5, "c")
    assert_identical(weights(noisy), weights(again))
    assert not all(torch.equal(clean[k], noisy[k]) for k in clean)
