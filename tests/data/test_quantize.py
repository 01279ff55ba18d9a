"""Re-quantisation, dynamic binarisation, resizing and the Dataset invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.data import Dataset, dynamic_binarize, requantize
from genzoo.data.dataset import normalize_size, resize_images, resize_plane
from genzoo.errors import ConfigError


def test_256_to_2_is_threshold_at_128() -> None:
    x = torch.arange(256)
    assert torch.equal(requantize(x, 256, 2), (x >= 128).long())


def test_17_to_2_is_threshold_at_9() -> None:
    x = torch.arange(17)
    assert torch.equal(requantize(x, 17, 2), (x >= 9).long())


def test_256_to_16_is_right_shift_by_4() -> None:
    x = torch.arange(256).reshape(1, 1, 16, 16)
    assert torch.equal(requantize(x, 256, 16), x >> 4)


@pytest.mark.parametrize("from_levels", [2, 3, 17, 100, 256])
def test_requantize_bins_are_monotone_onto_and_equal_width(from_levels: int) -> None:
    x = torch.arange(from_levels)
    for to_levels in range(2, from_levels + 1):
        y = requantize(x, from_levels, to_levels)
        assert y.dtype == torch.long
        assert int(y.min()) == 0 and int(y.max()) == to_levels - 1
        assert bool((y[1:] >= y[:-1]).all())  # monotone
        counts = torch.bincount(y, minlength=to_levels)
        assert bool((counts > 0).all())  # every level used
        assert int(counts.max() - counts.min()) <= 1  # equal-width bins


def test_requantize_to_same_levels_returns_input() -> None:
    x = torch.arange(17)
    assert requantize(x, 17, 17) is x


@pytest.mark.parametrize(
    ("x", "from_levels", "to_levels"),
    [
        (torch.arange(17), 17, 18),  # more levels than the data has
        (torch.arange(17), 17, 1),
        (torch.arange(17).float(), 17, 2),  # not integer levels
        (torch.arange(18), 17, 2),  # values out of range
        (torch.tensor([-1, 0]), 17, 2),
    ],
)
def test_requantize_rejects_bad_input(x: torch.Tensor, from_levels: int, to_levels: int) -> None:
    with pytest.raises(ConfigError):
        requantize(x, from_levels, to_levels)


def test_dynamic_binarize_mean_matches_intensity() -> None:
    values = torch.tensor([0, 32, 64, 128, 200, 255])
    n = 20_000
    x_raw = values.repeat(n, 1).reshape(n, 1, 1, len(values))
    gen = torch.Generator().manual_seed(0)
    b = dynamic_binarize(x_raw, 256, gen)
    assert b.dtype == torch.long and b.shape == x_raw.shape
    assert set(b.unique().tolist()) <= {0, 1}
    p = values.double() / 255
    mean = b.double().mean(dim=0).flatten()
    sigma = (p * (1 - p) / n).sqrt()
    assert bool(((mean - p).abs() <= 5 * sigma + 1e-12).all()), (mean, p)
    assert float(mean[0]) == 0.0 and float(mean[-1]) == 1.0  # the extremes are deterministic


def test_dynamic_binarize_depends_only_on_the_generator() -> None:
    x_raw = torch.randint(0, 17, (50, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    a = dynamic_binarize(x_raw, 17, torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global RNG must not matter
    b = dynamic_binarize(x_raw, 17, torch.Generator().manual_seed(7))
    c = dynamic_binarize(x_raw, 17, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_dynamic_binarize_rejects_values_above_raw_levels() -> None:
    with pytest.raises(ConfigError):
        dynamic_binarize(torch.tensor([0, 17]), 17, torch.Generator())


def test_normalize_size() -> None:
    assert normalize_size(None) is None
    assert normalize_size(8) == (8, 8)
    assert normalize_size((4, 6)) == (4, 6)
    for bad in (0, -3, (4,), (4, 0), "8", (4.0, 4), True):
        with pytest.raises(ConfigError):
            normalize_size(bad)


def test_resize_box_downsampling_averages_and_bilinear_upsampling_stays_in_range() -> None:
    plane = np.array([[0, 2], [4, 6]], dtype=np.uint8)
    assert resize_plane(plane, (1, 1)).tolist() == [[3]]
    x = np.random.default_rng(0).integers(0, 17, (3, 2, 8, 8), dtype=np.uint8)
    up = resize_images(x, (13, 11))
    assert up.shape == (3, 2, 13, 11) and up.max() <= 16
    const = np.full((1, 1, 8, 8), 9, dtype=np.uint8)
    assert (resize_images(const, (5, 12)) == 9).all()


def _dataset(**changes: object) -> Dataset:
    x = torch.zeros(4, 1, 2, 2, dtype=torch.long)
    fields: dict[str, object] = dict(
        name="toy",
        train=x,
        test=x[:2],
        train_labels=torch.tensor([0, 1, 0, 1]),
        test_labels=torch.tensor([1, 0]),
        levels=2,
        shape=(1, 2, 2),
        num_classes=2,
        source="made in a test",
        raw_levels=2,
        train_raw=x,
        test_raw=x[:2],
    )
    fields.update(changes)
    return Dataset(**fields)  # type: ignore[arg-type]


def test_dataset_describe_is_one_line() -> None:
    text = str(_dataset())
    assert "\n" not in text
    for part in ("toy", "4 train", "2 test", "1×2×2", "2 levels", "2 classes", "made in a test"):
        assert part in text


@pytest.mark.parametrize(
    "changes",
    [
        {"train": torch.full((4, 1, 2, 2), 2)},  # value >= levels
        {"train": torch.zeros(4, 1, 2, 2)},  # float
        {"shape": (1, 3, 3)},
        {"train_labels": torch.tensor([0, 1])},  # wrong length
        {"test_labels": torch.tensor([0, 2])},  # >= num_classes
        {"levels": 3},  # more than raw_levels
        {"test_raw": torch.zeros(3, 1, 2, 2, dtype=torch.long)},
    ],
)
def test_dataset_rejects_inconsistent_fields(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        _dataset(**changes)
