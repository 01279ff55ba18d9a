"""Continuous-space likelihood estimates of whole models: the unit-cube space both families' decoder
hooks share, AIS through a GAN's and a VAE's ``decoder_mean`` against exact / brute-force
marginals (unconditional and class-conditional), sigma chosen on held-out images, Parzen windows
on held-out training images, and refusal of models AIS does not apply to."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import genzoo
from genzoo.core.run import RunFolder
from genzoo.data import load_dataset
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation import (
    ais_decoder,
    draw_samples,
    evaluate_ais,
    evaluate_parzen,
    parzen_estimate,
    to_unit_cube,
)
from genzoo.evaluation.ais import gaussian_observation_log_likelihood, linear_gaussian_log_marginal
from genzoo.evaluation.continuous import UNITS, VALIDATION_SEED
from genzoo.evaluation.parzen import select_bandwidth
from genzoo.evaluation.run_evaluation import held_out_split
from genzoo.evaluation.sample_quality import subset
from genzoo.training.evaluate import split_validation
from tests.models.tiny import tiny_model

F64 = torch.float64
SHAPE, LEVELS, LATENT = (1, 2, 3), 256, 2


def make_dataset(train: Tensor, test: Tensor, train_labels=None, test_labels=None) -> Dataset:
    return Dataset(
        name="toy",
        train=train,
        test=test,
        train_labels=train_labels,
        test_labels=test_labels,
        levels=LEVELS,
        shape=SHAPE,
        num_classes=None if train_labels is None else 3,
        source="drawn from a linear-Gaussian model",
        raw_levels=LEVELS,
        train_raw=train,
        test_raw=test,
    )


class LinearGenerator(nn.Module):
    """``G(z, y) = 2 (W z + b + e_y) - 1``, so that ``decoder_mean = W z + b + e_y`` exactly."""

    def __init__(self, weight: Tensor, bias: Tensor, offsets: Tensor | None = None) -> None:
        super().__init__()
        self.weight, self.bias, self.offsets = weight, bias, offsets

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        mean = z @ self.weight.T + self.bias
        if self.offsets is not None:
            mean = mean + self.offsets[y]
        return (2 * mean - 1).view(-1, *SHAPE)


def linear_gan(num_classes=None, seed=0):
    """A GAN whose generator is linear, and data drawn from it with observation noise 0.05."""
    g = torch.Generator().manual_seed(seed)
    d = math.prod(SHAPE)
    weight = 0.08 * torch.randn(d, LATENT, generator=g, dtype=F64)
    bias = 0.5 + 0.05 * torch.randn(d, generator=g, dtype=F64)
    offsets = None if num_classes is None else 0.1 * torch.randn(3, d, generator=g, dtype=F64)
    model = genzoo.create_model(
        "gan", shape=SHAPE, levels=LEVELS, num_classes=num_classes, latent_dim=LATENT, hidden=4
    ).double()
    model.generator = LinearGenerator(weight, bias, offsets)

    def draw(n):
        labels = torch.randint(0, 3, (n,), generator=g)
        z = torch.randn(n, LATENT, generator=g, dtype=F64)
        x = z @ weight.T + bias + 0.05 * torch.randn(n, d, generator=g, dtype=F64)
        if offsets is not None:
            x = x + offsets[labels]
        images = (x * LEVELS).floor().clamp(0, LEVELS - 1).long().view(n, *SHAPE)
        return images, None if offsets is None else labels

    (train, train_y), (test, test_y) = draw(200), draw(8)
    return model, make_dataset(train, test, train_y, test_y), (weight, bias, offsets)


def test_unit_cube_puts_each_level_at_its_bin_centre_and_the_gan_quantizes_it_back():
    x = torch.randint(0, 17, (50, 1, 2, 3), generator=torch.Generator().manual_seed(0))
    u = to_unit_cube(x, 17)
    assert u.shape == (50, 6) and u.dtype == F64
    torch.testing.assert_close(u, (x.flatten(1).double() + 0.5) / 17)
    gan = tiny_model("gan", (1, 2, 3), levels=17)
    assert torch.equal(gan.quantize(2 * u.view(50, 1, 2, 3) - 1), x)


def test_decoder_mean_hooks_of_both_families_live_in_the_unit_cube():
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=F64).requires_grad_()
    gan = tiny_model("dcgan", (1, 4, 4), levels=5).eval()
    mean = gan.decoder_mean(z)
    torch.testing.assert_close(mean, (gan.generate(z) + 1) / 2)
    assert mean.shape == (5, 1, 4, 4) and 0 <= mean.min().item() <= mean.max().item() <= 1
    vae = tiny_model("vae", (1, 4, 4), levels=5).eval()
    zv = z[:, :2]
    mean = vae.decoder_mean(zv)
    expected = (vae.likelihood.mean(vae.decoder_params(zv, None)) + 0.5) / 5
    torch.testing.assert_close(mean, expected)
    assert 0.5 / 5 <= mean.min().item() <= mean.max().item() <= 4.5 / 5  # E[level] in [0, 4]
    for out in (gan.decoder_mean(z), vae.decoder_mean(zv)):  # AIS needs gradients in z
        (grad,) = torch.autograd.grad(out.sum(), z)
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("num_classes", [None, 3])
def test_ais_of_a_linear_generator_matches_the_exact_marginal(num_classes):
    model, data, (weight, bias, offsets) = linear_gan(num_classes)
    x = to_unit_cube(data.test, LEVELS)
    out = evaluate_ais(model, data, num_images=8, sigma=0.1, steps=150, chains=16, seed=1)
    shift = 0 if offsets is None else offsets[data.test_labels]
    per_image = torch.stack(
        [linear_gaussian_log_marginal(x[i : i + 1] - shift[i] if num_classes else x[i : i + 1],
                                      weight, bias, 0.1)[0] for i in range(8)]
    )  # fmt: skip
    exact = float(per_image.mean())
    assert out["log_likelihood_mean"] == pytest.approx(exact, abs=0.1)
    assert out["sigma"] == 0.1 and out["num_images"] == 8 and out["sigma_scores"] == {}
    assert out["units"] == UNITS and "not comparable" in out["units"]
    assert "lower bound" in out["bound"] and 0.3 < out["acceptance"] <= 1
    if num_classes:  # negative control: the labels matter, by more than the tolerance
        wrong = offsets[(data.test_labels + 1) % 3]
        assert abs(float(linear_gaussian_log_marginal(x - wrong, weight, bias, 0.1).mean())
                   - exact) > 0.5  # fmt: skip


def test_sigma_is_chosen_on_held_out_training_images():
    model, data, (weight, bias, _) = linear_gan(seed=2)
    out = evaluate_ais(
        model, data, num_images=4, sigma=[0.015, 0.05, 0.15], steps=40, chains=8,
        num_validation=20, validation_steps=60,
    )  # fmt: skip
    # the data's own noise is 0.05 (plus quantisation): the exact validation scores agree
    held = to_unit_cube(data.train[subset(200, 20, seed=VALIDATION_SEED)], LEVELS)
    exact = {s: float(linear_gaussian_log_marginal(held, weight, bias, s).mean())
             for s in (0.015, 0.05, 0.15)}  # fmt: skip
    assert max(exact, key=exact.get) == 0.05 == out["sigma"]
    assert set(out["sigma_scores"]) == {"0.015", "0.05", "0.15"}
    for s, score in out["sigma_scores"].items():
        assert score == pytest.approx(exact[float(s)], abs=0.5)
    assert out["num_validation"] == 20 and out["validation_steps"] == 60
    assert out["validation_source"].startswith("training images")
    assert not out["sigma_at_grid_edge"]


def test_ais_through_a_tiny_vae_agrees_with_brute_force_prior_sampling():
    torch.manual_seed(0)
    vae = tiny_model("vae", (1, 3, 3), levels=2).double().eval()
    data = load_dataset("digits", levels=2, size=3)
    sigma = 0.2
    out = evaluate_ais(vae, data, num_images=3, sigma=sigma, steps=60, chains=8, seed=0)
    x = to_unit_cube(data.test[:3], 2)
    z = torch.randn(40_000, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    with torch.no_grad():
        mean = vae.decoder_mean(z).flatten(1)
    log_lik = gaussian_observation_log_likelihood(x[:, None, :], mean[None], sigma)
    brute = torch.logsumexp(log_lik, dim=1) - math.log(z.shape[0])
    assert out["log_likelihood_mean"] == pytest.approx(float(brute.mean()), abs=0.05)


@pytest.mark.parametrize("name", ["pixelcnn", "vqvae", "vae_hierarchical"])
def test_ais_refuses_models_without_one_standard_normal_latent(name):
    with pytest.raises(UnsupportedError, match=r"AIS .*(parzen|applies to)"):
        ais_decoder(tiny_model(name, (1, 4, 4), levels=3))


def test_ais_checks_the_prior_it_assumes(monkeypatch):
    vae = tiny_model("vae", (1, 4, 4), levels=3)
    decode, latent = ais_decoder(vae)
    assert latent == 2 and decode == vae.decoder_mean
    # negative control: the same model with another prior is refused
    monkeypatch.setattr(vae, "log_prior", lambda z, y: -0.5 * (z**2).sum(-1))
    with pytest.raises(UnsupportedError, match="N\\(0, I\\)"):
        ais_decoder(vae)


def test_parzen_scores_test_images_with_a_bandwidth_from_training_images():
    data = load_dataset("digits")
    model = tiny_model("gan", data.shape, levels=data.levels)
    held = data.train[:100]
    out = evaluate_parzen(model, data, num_samples=300, validation=held, seed=5, num_test=50)
    samples = draw_samples(model, 300, generator=torch.Generator().manual_seed(5))
    test = data.test[subset(297, 50)]
    direct = parzen_estimate(*(to_unit_cube(t, 17) for t in (samples, held, test)))
    for key, value in direct.items():
        assert out[key] == value, key
    assert out["validation_source"].startswith("held-out") and out["units"] == UNITS
    # by default the bandwidth comes from a seeded subset of the training images, never test
    default = evaluate_parzen(model, data, num_samples=300, num_validation=80, num_test=50)
    train = to_unit_cube(data.train[subset(1500, 80, seed=VALIDATION_SEED)], 17)
    sigma, _ = select_bandwidth(to_unit_cube(samples, 17), train)
    assert default["sigma"] == sigma and default["num_validation"] == 80
    assert default["validation_source"].startswith("training images")


def test_held_out_images_are_the_runs_validation_split(tmp_path: Path):
    data = load_dataset("digits")
    run = RunFolder(tmp_path)
    assert held_out_split(run, data) is None  # no run here
    config = {"train_config": {"validation": 0, "seed": 3}}
    (tmp_path / "train_config.json").write_text(json.dumps(config))
    assert held_out_split(run, data) is None  # nothing held out
    config["train_config"]["validation"] = 120
    (tmp_path / "train_config.json").write_text(json.dumps(config))
    held = held_out_split(run, data)
    expected = split_validation(data, 120, 3)[1]
    assert torch.equal(held.x, expected.test) and torch.equal(held.y, expected.test_labels)


def test_bad_arguments():
    model, data, _ = linear_gan()
    with pytest.raises(ConfigError, match="sigma is empty"):
        evaluate_ais(model, data, sigma=[])
    with pytest.raises(ConfigError, match="sigma must be a positive"):
        evaluate_ais(model, data, sigma=-1.0, steps=2)
    cond, cdata, _ = linear_gan(num_classes=3)
    with pytest.raises(UnsupportedError, match="labels"):
        evaluate_ais(cond, cdata, sigma=[0.1, 0.2], validation=cdata.train[:4], steps=2)
