"""Tasks: the conditions are exact integer functions of the targets, carried beside them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genzoo.data import load_dataset
from genzoo.data.tasks import (
    TASKS,
    available_tasks,
    box_downsample,
    luminance,
    make_task,
)
from genzoo.errors import ConfigError


def _reference_box(x: np.ndarray, s: int) -> np.ndarray:
    """Block means rounded half up, computed in exact rational arithmetic (the definition)."""
    from fractions import Fraction

    n, c, h, w = x.shape
    out = np.zeros((n, c, h // s, w // s), dtype=np.int64)
    for idx in np.ndindex(out.shape):
        i, j, a, b = idx
        block = x[i, j, a * s : (a + 1) * s, b * s : (b + 1) * s]
        mean = Fraction(int(block.sum()), s * s)
        out[idx] = int(mean + Fraction(1, 2)) if mean >= 0 else 0  # floor(mean + 1/2)
    return out


@settings(max_examples=40, deadline=None)
@given(
    scale=st.sampled_from([2, 3, 4]),
    levels=st.integers(2, 256),
    seed=st.integers(0, 2**31 - 1),
)
def test_box_downsample_is_the_rounded_block_mean(scale, levels, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, levels, (2, 2, 2 * scale, 3 * scale), generator=g)
    got = box_downsample(x, scale)
    assert np.array_equal(got.numpy(), _reference_box(x.numpy(), scale))
    assert int(got.min()) >= 0 and int(got.max()) < levels  # stays on the dataset's levels


def test_box_downsample_rounds_half_up_and_keeps_constant_blocks():
    x = torch.tensor([[[[0, 1], [0, 1]]]])  # mean 1/2 -> 1
    assert box_downsample(x, 2).item() == 1
    x = torch.tensor([[[[0, 0], [0, 1]]]])  # mean 1/4 -> 0
    assert box_downsample(x, 2).item() == 0
    flat = torch.full((1, 1, 4, 4), 7)
    assert torch.equal(box_downsample(flat, 2), torch.full((1, 1, 2, 2), 7))


@settings(max_examples=40, deadline=None)
@given(rgb=st.lists(st.integers(0, 255), min_size=3, max_size=3))
def test_luminance_is_bt601_rounded(rgb):
    r, g, b = rgb
    x = torch.tensor(rgb).view(1, 3, 1, 1)
    expected = int(np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5 + 1e-9))
    assert luminance(x).item() == expected
    assert 0 <= expected <= 255


def test_gray_images_keep_their_level():
    x = torch.arange(256).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(luminance(x), x[:, :1])


def test_super_resolution_dataset_carries_exact_conditions():
    plain = load_dataset("digits")
    data = load_dataset("digits", task="super-resolution", task_options={"scale": 2})
    assert data.condition_shape == (1, 4, 4) and data.condition_levels == 17
    assert data.task == {"name": "super-resolution", "scale": 2}
    assert torch.equal(data.test, plain.test) and torch.equal(data.train, plain.train)
    assert torch.equal(data.test_condition, box_downsample(plain.test, 2))
    part = data.take("test", slice(3, 7))
    assert torch.equal(part.c, data.test_condition[3:7]) and torch.equal(part.x, plain.test[3:7])
    assert "task super-resolution (scale=2)" in data.describe()


def test_refusals_say_what_to_change():
    with pytest.raises(ConfigError, match="does not divide"):
        load_dataset("digits", task="super-resolution", task_options={"scale": 3})
    with pytest.raises(ConfigError, match="colour"):
        load_dataset("digits", task="colorization")
    with pytest.raises(ConfigError, match="has no option --size"):
        make_task("super-resolution", size=3)
    with pytest.raises(ConfigError, match="--scale"):
        make_task("super-resolution", scale=1.5)
    with pytest.raises(ConfigError, match="genzoo tasks"):
        make_task("inpainting")
    with pytest.raises(ConfigError, match="need a task"):
        load_dataset("digits", task_options={"scale": 2})
    data = load_dataset("digits", task="super-resolution")
    with pytest.raises(ConfigError, match="already carries"):
        make_task("super-resolution").apply(data)


def test_every_registered_task_is_listed_with_a_description():
    listed = available_tasks()
    assert set(listed) == set(TASKS.names()) >= {"super-resolution", "colorization"}
    assert all(text for text in listed.values())
