"""The budget benchmark (``benchmarks/budget.py``): its plain reference trains for the time it is
given and its test metric is genzoo's on the same weights."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

import genzoo
from tests.models.tiny import TINY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from budget import RECIPES, genzoo_command, reference_bits_per_dim, size_config, train_reference
from reference import RefGatedPixelCNN


@pytest.fixture(scope="module")
def digits() -> genzoo.Dataset:
    return genzoo.load_dataset("digits")


def tiny_pair(data: genzoo.Dataset):
    torch.manual_seed(0)
    model = genzoo.create_model(
        "gated_pixelcnn", shape=data.shape, levels=data.levels, **TINY["gated_pixelcnn"]
    )
    return model, RefGatedPixelCNN(model)


def test_the_reference_metric_is_genzoos_exact_bits_per_dim(digits):
    model, ref = tiny_pair(digits)
    bits, stderr = reference_bits_per_dim(ref, digits)
    with torch.no_grad():
        ours = -model.eval().log_prob(digits.test).double() / (64 * math.log(2))
    assert bits == pytest.approx(float(ours.mean()), abs=1e-5)
    assert stderr == pytest.approx(float(ours.std()) / math.sqrt(ours.numel()), rel=1e-4)
    assert 0 < bits < math.log2(digits.levels) + 1  # an untrained model is near uniform


def test_the_reference_trains_for_its_budget_and_learns(digits):
    _, ref = tiny_pair(digits)
    before, _ = reference_bits_per_dim(ref, digits)
    steps, spent = train_reference(ref, digits, seconds=math.inf, lr=3e-3, max_steps=30)
    after, _ = reference_bits_per_dim(ref, digits)
    assert steps == 30
    assert after < before - 0.2  # the loss it minimises is the one it is scored on
    steps, spent = train_reference(ref, digits, seconds=0.2, lr=3e-3)
    assert spent >= 0.2 and steps >= 1  # the clock, not a step count, ends a budget


def test_both_systems_share_the_network_size():
    assert size_config("fashion-mnist") == {"channels": 32, "num_layers": 5, "head_channels": 64}
    assert size_config("digits") == {}
    cmd = genzoo_command("fashion-mnist", 60, Path("/tmp/x"))
    flags = RECIPES["fashion-mnist"]["size"]
    assert cmd[cmd.index("--channels") : cmd.index("--channels") + len(flags)] == flags
    assert cmd[cmd.index("--minutes") + 1] == "60"
