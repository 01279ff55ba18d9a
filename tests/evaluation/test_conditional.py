"""Scores of image-conditional answers: PSNR/SSIM on known cases, exact consistency with the
task's rounding, diversity, and the whole evaluation on digits super-resolution."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from genzoo.apps.conditional import GrayCopy, ModelSampler, NearestUpsampling
from genzoo.core.metrics import ConditionalScores, RunMetrics
from genzoo.data import load_dataset
from genzoo.data.tasks import make_task
from genzoo.errors import ConfigError
from genzoo.evaluation.conditional import (
    consistency,
    evaluate_conditional,
    pixel_mode,
    psnr,
    ssim,
    ssim_window,
)
from genzoo.models import create_model
from tests.models.tiny import TINY


def sr_model():
    """A tiny super-resolution model for digits (4x4 -> 8x8, 17 levels)."""
    torch.manual_seed(0)
    return create_model(
        "pixel_recursive_sr",
        shape=(1, 8, 8),
        levels=17,
        condition_shape=(1, 4, 4),
        condition_levels=17,
        **TINY["pixel_recursive_sr"],
    ).eval()


@dataclass
class Fixed:
    """A method answering with given images ``[N, k, C, H, W]``."""

    answers: torch.Tensor
    name: str = "fixed"
    deterministic: bool = False

    def draw(self, c, k, generator=None, y=None):
        return self.answers[: c.shape[0], :k]


@pytest.fixture(scope="module")
def digits_sr():
    return load_dataset("digits", task="super-resolution", task_options={"scale": 2})


def test_psnr_of_a_known_error():
    truth = torch.zeros(3, 1, 4, 4, dtype=torch.long)
    answer = truth.clone()
    answer[0] = 2  # squared error 4 on a third of the sub-pixels: MSE 4/3
    assert psnr(truth, answer, 17) == pytest.approx(10 * math.log10(16**2 / (4 / 3)))
    assert psnr(truth, truth + 1, 17) == pytest.approx(20 * math.log10(16))


def test_ssim_is_one_for_the_truth_and_lower_otherwise(generator):
    x = torch.randint(0, 17, (4, 3, 8, 8), generator=generator)
    assert ssim(x, x, 17) == pytest.approx(1.0)
    noisy = (x + torch.randint(-3, 4, x.shape, generator=generator)).clamp(0, 16)
    assert ssim(x, noisy, 17) < 0.95
    # a constant brightness shift keeps the structure term: SSIM stays above that of noise
    assert ssim(x, (x + 1).clamp(max=16), 17) > ssim(x, noisy, 17)


def test_ssim_window_fits_the_image():
    assert ssim_window((1, 28, 28)) == 7
    assert ssim_window((1, 8, 8)) == 7
    assert ssim_window((1, 6, 6)) == 5
    assert ssim_window((1, 4, 4)) == 3
    with pytest.raises(ConfigError, match="3×3"):
        ssim_window((1, 2, 2))


def test_consistency_follows_the_tasks_rounding_exactly():
    """Box downsampling rounds half up: +1 on one sub-pixel of a 2x2 block moves the block
    mean by 1/4 (kept), +1 on two moves it by 1/2 (rounded up: changed)."""
    task = make_task("super-resolution", scale=2)
    c = torch.randint(0, 16, (5, 1, 3, 3), generator=torch.Generator().manual_seed(0))
    up = NearestUpsampling(2).draw(c, 1)
    one, two = up.clone(), up.clone()
    one[:, :, :, ::2, ::2] += 1
    two[:, :, :, ::2, :] += 1
    assert consistency(task, up, c, 17)["consistency_exact"] == 1.0
    assert consistency(task, one, c, 17)["consistency_exact"] == 1.0
    scores = consistency(task, two, c, 17)
    assert scores["consistency_exact"] == 0.0 and scores["consistency_mae"] == 1.0
    # half the answers changed: exact-match rate 1/2
    mixed = torch.cat([up, two], dim=1)
    assert consistency(task, mixed, c, 17)["consistency_exact"] == 0.5


def test_gray_copy_is_consistent_with_its_luminance(generator):
    task = make_task("colorization")
    c = torch.randint(0, 256, (6, 1, 4, 4), generator=generator)
    scores = consistency(task, GrayCopy().draw(c, 2), c, 256)
    assert scores == {"consistency_exact": 1.0, "consistency_pixels": 1.0, "consistency_mae": 0.0}
    colour = GrayCopy().draw(c, 1).clone()
    colour[:, :, 0] = (colour[:, :, 0] + 40).clamp(max=255)  # more red: a brighter luminance
    assert consistency(task, colour, c, 256)["consistency_exact"] < 1.0


def test_pixel_mode_takes_the_most_frequent_and_the_smallest_tie():
    answers = torch.tensor([[0, 2, 2, 1], [3, 1, 3, 1]]).view(2, 4, 1, 1, 1)
    assert pixel_mode(answers).flatten().tolist() == [2, 1]


def test_evaluation_of_nearest_upsampling(digits_sr):
    scores = evaluate_conditional(NearestUpsampling(2), digits_sr, num_images=50, classifier=False)
    assert scores["consistency_exact"] == 1.0 and scores["consistency_mae"] == 0.0
    assert scores["diversity_std"] == 0.0 and scores["deterministic"]
    assert scores["psnr_sample"] == scores["psnr_mean"] == scores["psnr_mode"]
    truth, c = digits_sr.test[:50], digits_sr.test_condition[:50]
    assert scores["psnr_sample"] == pytest.approx(
        psnr(truth, c.repeat_interleave(2, -1).repeat_interleave(2, -2), 17)
    )
    ConditionalScores(**{k: v for k, v in scores.items()})  # the typed record takes it


def test_evaluation_of_answers_with_known_spread_and_truth(digits_sr):
    """Answers alternating truth - 1 and truth + 1 (where both are levels): diversity exactly 1
    there, and their mean is the truth (PSNR of the mean is infinite only where all are exact)."""
    truth = digits_sr.test[:20]
    inner = (truth > 0) & (truth < 16)
    low, high = torch.where(inner, truth - 1, truth), torch.where(inner, truth + 1, truth)
    answers = torch.stack([low, high] * 4, dim=1)
    scores = evaluate_conditional(Fixed(answers), digits_sr, num_images=20, classifier=False)
    assert scores["diversity_std"] == pytest.approx(float(inner.double().mean()))
    assert scores["psnr_mean"] == math.inf
    assert scores["psnr_sample"] == pytest.approx(
        10 * math.log10(16**2 / float(inner.double().mean()))
    )


def test_classifier_scores_of_the_truth_and_of_noise(digits_sr):
    truth = digits_sr.test[:100]
    oracle = evaluate_conditional(
        Fixed(truth[:, None].expand(-1, 2, -1, -1, -1)), digits_sr, num_images=100, samples=2
    )
    assert oracle["classifier_accuracy"] == oracle["classifier_accuracy_truth"] > 0.9
    assert oracle["fid"] == pytest.approx(0.0, abs=1e-3)
    noise = torch.randint(0, 17, (100, 2, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    bad = evaluate_conditional(Fixed(noise), digits_sr, num_images=100, samples=2)
    assert bad["classifier_accuracy"] < 0.4 and bad["fid"] > oracle["fid"] + 10


def test_model_samples_are_scored_and_recorded(digits_sr):
    model = sr_model()
    scores = evaluate_conditional(
        ModelSampler(model), digits_sr, num_images=6, samples=3, classifier=False
    )
    assert scores["diversity_std"] > 0 and not scores["deterministic"]
    metrics = RunMetrics.from_dict(
        {
            "model": "m",
            "dataset": "d",
            "levels": 17,
            "shape": [1, 8, 8],
            "num_test_images": 6,
            "density": "exact",
            "uniform_bits_per_dim": 4.09,
            "conditional": scores,
            "conditional_baselines": [scores, scores],
        }
    )
    assert isinstance(metrics.conditional_baselines[1], ConditionalScores)
    again = RunMetrics.from_dict(metrics.to_dict())
    assert again.conditional == metrics.conditional
    assert again.conditional_baselines == metrics.conditional_baselines


def test_a_dataset_without_a_task_is_refused():
    with pytest.raises(ConfigError, match="no conditions"):
        evaluate_conditional(NearestUpsampling(2), load_dataset("digits"))
