"""The throughput benchmark's reference implementations (``benchmarks/reference.py``) compute
genzoo's functions: same log-probabilities, same gradients, for every convolutional
autoregressive model; and the check that guards the benchmark notices a changed weight."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import genzoo
from tests.models.tiny import TINY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from reference import reference_for, reference_gap

MODELS = ["pixelcnn", "gated_pixelcnn", "pixelcnn_pp", "pixelsnail"]
#: odd sizes and colours exercise padding, cropping and the colour masks
SHAPES = [((1, 6, 6), 5), ((3, 5, 7), 4)]


def tiny(name: str, shape: tuple[int, int, int], levels: int, **extra) -> genzoo.GenerativeModel:
    torch.manual_seed(0)
    return genzoo.create_model(name, shape=shape, levels=levels, **{**TINY[name], **extra})


@pytest.mark.parametrize("shape,levels", SHAPES)
@pytest.mark.parametrize("name", MODELS)
def test_reference_computes_genzoos_function(name, shape, levels, generator):
    model = tiny(name, shape, levels)
    ref = reference_for(model)
    assert reference_gap(model, ref, generator) < 1e-4
    # no free parameter: every reference parameter is one of genzoo's (full kernels hold zeros)
    assert sum(p.numel() for p in ref.parameters()) >= sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_reference_trains_like_genzoo(name, generator):
    """One Adam step from the same weights on the same batch leaves the same function: the
    gradients agree too (dropout off, so both steps are deterministic)."""
    shape, levels = (1, 6, 6), 5
    extra = {"dropout": 0.0} if name in ("pixelcnn_pp", "pixelsnail") else {}
    model = tiny(name, shape, levels, **extra)
    ref = reference_for(model)
    x = torch.randint(0, levels, (4, *shape), generator=generator)
    losses = []
    for net, log_prob in ((model, model.log_prob), (ref, ref.log_prob)):
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        loss = -log_prob(x).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert reference_gap(model, ref, generator) < 1e-3  # Adam's first step is lr * sign(grad)


@pytest.mark.parametrize("name", MODELS)
def test_a_perturbed_weight_fails_the_check(name, generator):
    model = tiny(name, (1, 6, 6), 5)
    ref = reference_for(model)
    assert reference_gap(model, ref, generator) < 1e-4
    with torch.no_grad():  # the output layer's kernel, by half its spread
        weight = [p for p in ref.parameters() if p.dim() >= 2][-1]
        weight.add_(0.5 * weight.std() * torch.randn(weight.shape, generator=generator))
    assert reference_gap(model, ref, generator) > 1e-3


def test_models_without_a_reference_are_refused():
    model = tiny("pixelcnn", (1, 6, 6), 5)
    with pytest.raises(TypeError, match="no reference"):
        reference_for(torch.nn.Linear(2, 2))
    assert reference_for(model) is not None
