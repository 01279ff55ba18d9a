"""load_dataset's registry and the embedded digits data (real: scikit-learn's load_digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genzoo.data import available_datasets, load_dataset
from genzoo.errors import ConfigError


def test_digits_is_real_and_split_1500_297() -> None:
    data = load_dataset("digits")
    assert data.train.shape == (1500, 1, 8, 8) and data.test.shape == (297, 1, 8, 8)
    assert data.shape == (1, 8, 8) and data.levels == 17 and data.raw_levels == 17
    assert data.train.dtype == torch.long and data.train_labels is not None
    assert int(data.train.min()) == 0 and int(data.train.max()) == 16
    assert data.num_classes == 10 and data.class_names == [str(d) for d in range(10)]
    assert set(data.train_labels.tolist()) == set(range(10))
    assert data.train_raw is data.train and data.test_raw is data.test

    # the split is exactly the documented permutation of scikit-learn's images
    bunch = load_digits()
    perm = np.random.default_rng(0).permutation(1797)
    assert np.array_equal(data.train[:, 0].numpy(), bunch.images[perm[:1500]])
    assert np.array_equal(data.test[:, 0].numpy(), bunch.images[perm[1500:]])
    assert np.array_equal(data.test_labels.numpy(), bunch.target[perm[1500:]])


def test_digits_is_deterministic_whatever_the_global_rng() -> None:
    a = load_dataset("digits")
    np.random.random(7)  # noqa: NPY002 - move the global RNGs on purpose
    torch.rand(7)
    b = load_dataset("digits")
    assert torch.equal(a.train, b.train) and torch.equal(a.test_labels, b.test_labels)


def test_levels_2_binarises_digits_at_9_and_keeps_raw() -> None:
    raw = load_dataset("digits")
    data = load_dataset("digits", levels=2)
    assert data.levels == 2 and data.raw_levels == 17
    assert torch.equal(data.train, (raw.train >= 9).long())
    assert torch.equal(data.test_raw, raw.test)
    assert "re-quantised from 17" in data.describe()


def test_size_resizes_at_raw_levels_then_requantises() -> None:
    data = load_dataset("digits", size=(16, 12), levels=4)
    assert data.shape == (1, 16, 12) and data.train.shape == (1500, 1, 16, 12)
    assert int(data.train_raw.max()) <= 16 and int(data.train.max()) <= 3
    assert torch.equal(data.train, data.train_raw * 4 // 17)


@pytest.mark.parametrize("levels", [0, 1, 18, 300, True, 2.0])
def test_bad_levels_raise_config_error(levels: object) -> None:
    with pytest.raises(ConfigError, match="levels"):
        load_dataset("digits", levels=levels)  # type: ignore[arg-type]


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar-100")
    for name in ("digits", "fashion-mnist", "mnist", "folder:PATH", "npz:PATH"):
        assert name in str(info.value)


def test_available_datasets_describes_every_form() -> None:
    names = available_datasets()
    assert {"digits", "fashion-mnist", "mnist", "folder:PATH", "npz:PATH"} <= set(names)
    assert all(isinstance(d, str) and d and "\n" not in d for d in names.values())


def test_folder_and_npz_levels_checked_against_256(tmp_path) -> None:
    with pytest.raises(ConfigError):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}", levels=257)
