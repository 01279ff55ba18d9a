"""Runs written by genzoo 0.1 (``tests/fixtures/legacy-v1/``) still load and score the same.

Each fixture is a complete run folder of the first layout (``config.json`` without ``kind`` or
``format_version``; ``metrics.json`` without ``schema_version``). Loading it through today's
code must rebuild the very same model: recomputing the test likelihood on the same test images
(checked by the fingerprint the run recorded) must give the recorded number.

* ``gated_pixelcnn-digits`` has an exact likelihood: it must match to float32 precision.
* ``vae-digits`` reports bounds, which are Monte Carlo estimates (one posterior sample per image
  for the ELBO; ``k = 4`` for the IWAE bound on 8 images). A recomputation with other random
  draws differs by sampling noise alone, so the tolerance is that noise: the recorded number
  and the mean of ``R`` fresh estimates differ, for the same model, by a normal variable with
  standard deviation ``se * sqrt(1 + 1/R)``, where ``se`` is the Monte Carlo standard error of
  one estimate (estimated from the ``R`` draws per image). We allow 5 of those standard
  deviations. The KL term is closed form, hence deterministic: it must match exactly.
  With the recorded seed the evaluation's own random stream is reproduced, so the numbers are
  also compared to float precision (if only that check fails, the order in which the evaluation
  draws its samples changed, not the model).
* ``hmm-nile`` is a time-series run; ``tests/timeseries`` covers it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from genzoo.core.metrics import RunMetrics
from genzoo.core.run import RunFolder
from genzoo.data import load_dataset
from genzoo.evaluation.bounds import evaluate_bound
from genzoo.evaluation.likelihood import evaluate_likelihood
from genzoo.evaluation.run_evaluation import fingerprint_test_images
from genzoo.models import load_model

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-v1"
IMAGE_RUNS = ["gated_pixelcnn-digits", "vae-digits"]
#: float32 forward passes summed over 64 sub-pixels: ~1e-5 nats of rounding at most
EXACT_ATOL = 1e-4
#: fresh Monte Carlo draws of the VAE's bounds
DRAWS = 16


def run_folder(name: str) -> RunFolder:
    return RunFolder(LEGACY / name)


def dataset_of(run: RunFolder):
    spec = run.read_data_spec()
    assert spec is not None, f"{run.path} records no data.json"
    return load_dataset(spec["name"], levels=spec["levels"], root=spec["root"], size=spec["size"])


@pytest.fixture(scope="module")
def digits():
    return dataset_of(run_folder("gated_pixelcnn-digits"))


def test_the_fixtures_are_the_ones_this_file_covers():
    assert sorted(p.name for p in LEGACY.iterdir() if p.is_dir()) == sorted(
        [*IMAGE_RUNS, "hmm-nile"]
    )


@pytest.mark.parametrize("name", IMAGE_RUNS)
def test_fixture_is_the_old_layout(name: str):
    """What these tests are about: files without the fields of the current layouts."""
    run = run_folder(name)
    config = run.read_json(run.model_config)
    assert "kind" not in config and "format_version" not in config
    assert "schema_version" not in run.read_json(run.metrics_json)


@pytest.mark.parametrize("name", IMAGE_RUNS)
def test_metrics_json_is_read_typed_with_nothing_unknown(name: str):
    run = run_folder(name)
    metrics = run.read_metrics()
    assert isinstance(metrics, RunMetrics)
    raw = run.read_json(run.metrics_json)
    assert metrics.extras == {}  # every key of version 1 is a field of today's schema
    assert metrics.model == raw["model"] and metrics.dataset == "digits"
    assert metrics.levels == 17 and metrics.shape == [1, 8, 8] and metrics.num_test_images == 297
    assert metrics.test.bits_per_dim == raw["test"]["bits_per_dim"]
    assert metrics.test.nll_nats == raw["test"]["nll_nats"]
    # nothing lost: writing it back gives the same numbers (plus the schema version)
    assert metrics.to_dict() == {**raw, "schema_version": metrics.schema_version}


@pytest.mark.parametrize("name", IMAGE_RUNS)
def test_same_test_images_as_recorded(name: str, digits):
    assert fingerprint_test_images(digits) == run_folder(name).read_metrics().test_sha256


@pytest.mark.parametrize("name", IMAGE_RUNS)
def test_model_loads_as_the_config_says(name: str):
    run = run_folder(name)
    model = load_model(run.path)
    saved = run.read_json(run.model_config)
    assert model.name == saved["model"]
    assert model.config == saved["config"]
    assert not model.training


# ---------------------------------------------------------------------------------------------
# gated_pixelcnn: an exact likelihood
def test_gated_pixelcnn_gives_the_recorded_exact_likelihood(digits):
    run = run_folder("gated_pixelcnn-digits")
    recorded = run.read_metrics().test
    got = evaluate_likelihood(load_model(run.path), digits.test, digits.test_labels)
    assert got["density"] == recorded.density == "exact"
    assert got["num_images"] == recorded.num_images == 297
    assert got["nll_nats"] == pytest.approx(recorded.nll_nats, abs=EXACT_ATOL)
    assert got["bits_per_dim"] == pytest.approx(recorded.bits_per_dim, abs=EXACT_ATOL / 64)
    assert got["nll_nats_stderr"] == pytest.approx(recorded.nll_nats_stderr, rel=1e-4)


def test_negative_control_gated_pixelcnn_with_other_weights_scores_otherwise(digits):
    """The tolerance is tight enough to see a small change of the weights."""
    run = run_folder("gated_pixelcnn-digits")
    model = load_model(run.path)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1e-2 * torch.randn(p.shape, generator=generator))
    got = evaluate_likelihood(model, digits.test, digits.test_labels)
    assert abs(got["nll_nats"] - run.read_metrics().test.nll_nats) > 100 * EXACT_ATOL


# ---------------------------------------------------------------------------------------------
# vae: stochastic bounds
def _draws(model, x, y, *, k: int | None, seed: int) -> torch.Tensor:
    """``[DRAWS, N]`` fresh per-image estimates: the ELBO (``k=None``) or the k-sample IWAE."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for _ in range(DRAWS):
            if k is None:
                rows.append(model.elbo_terms(x, y, k=1, generator=generator)["elbo"].double())
            else:
                rows.append(model.iwae_bound(x, y, k, generator=generator).double())
    return torch.stack(rows)


def _agrees(draws: torch.Tensor, recorded_nll: float) -> tuple[bool, float, float]:
    """Whether ``recorded_nll`` is within 5 sd of the mean of the draws (see the docstring)."""
    mean_nll = -float(draws.mean())
    per_image_var = draws.var(dim=0, unbiased=True)  # Monte Carlo variance of each image's term
    se = math.sqrt(float(per_image_var.mean()) / draws.shape[1])  # of one estimate's image mean
    tolerance = 5 * se * math.sqrt(1 + 1 / draws.shape[0])
    return abs(mean_nll - recorded_nll) <= tolerance, mean_nll, tolerance


@pytest.fixture(scope="module")
def vae():
    return load_model(run_folder("vae-digits").path)


def test_vae_elbo_agrees_within_monte_carlo_noise(vae, digits):
    bound = run_folder("vae-digits").read_metrics().bound
    draws = _draws(vae, digits.test, None, k=None, seed=1)
    ok, mean_nll, tolerance = _agrees(draws, bound.elbo.nll_nats)
    assert ok, f"ELBO NLL {mean_nll:.5f} vs recorded {bound.elbo.nll_nats:.5f} (± {tolerance:.2g})"
    assert tolerance < 0.05  # a sharp check (about 0.006 nats here), not an empty one


def test_vae_iwae_agrees_within_monte_carlo_noise(vae, digits):
    bound = run_folder("vae-digits").read_metrics().bound
    m = bound.iwae_images
    draws = _draws(vae, digits.test[:m], None, k=bound.k, seed=1)
    ok, mean_nll, tolerance = _agrees(draws, bound.iwae.nll_nats)
    assert ok, f"IWAE NLL {mean_nll:.5f} vs recorded {bound.iwae.nll_nats:.5f} (± {tolerance:.2g})"


def test_vae_kl_is_closed_form_and_equal(vae, digits):
    bound = run_folder("vae-digits").read_metrics().bound
    with torch.no_grad():
        kl = vae.elbo_terms(digits.test, None, k=1)["kl"].double().mean()
    assert float(kl) == pytest.approx(bound.kl_nats, rel=1e-5, abs=1e-7)


def test_vae_with_the_recorded_seed_reproduces_the_numbers(vae, digits):
    run = run_folder("vae-digits")
    metrics = run.read_metrics()
    b = metrics.bound
    got = evaluate_bound(vae, digits.test, digits.test_labels, k=b.k, iwae_images=b.iwae_images)
    assert got["elbo"]["nll_nats"] == pytest.approx(b.elbo.nll_nats, abs=EXACT_ATOL)
    assert got["iwae"]["nll_nats"] == pytest.approx(b.iwae.nll_nats, abs=EXACT_ATOL)
    assert got["reconstruction_nats"] == pytest.approx(b.reconstruction_nats, abs=EXACT_ATOL)
    # the run's headline test number is its IWAE bound
    assert metrics.test.density == "bound" and metrics.test.nll_nats == b.iwae.nll_nats


def test_negative_control_vae_with_other_weights_is_outside_the_tolerance(vae, digits):
    bound = run_folder("vae-digits").read_metrics().bound
    changed = load_model(run_folder("vae-digits").path)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in changed.parameters():
            p.add_(1e-2 * torch.randn(p.shape, generator=generator))
    ok, mean_nll, tolerance = _agrees(
        _draws(changed, digits.test, None, k=None, seed=1), bound.elbo.nll_nats
    )
    assert not ok, f"{mean_nll} within {tolerance} of {bound.elbo.nll_nats}"
