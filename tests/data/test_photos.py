"""The ``photos`` dataset: real photographs from the scikit-image / scikit-learn wheels, test
photographs disjoint from the training ones, deterministic patches."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.data import available_datasets, load_dataset
from genzoo.data.photos import (
    PHOTOS_TEST,
    PHOTOS_TRAIN,
    downscale_photo,
    load_photos_splits,
    photo_patches,
    random_crops,
    read_photo,
)
from genzoo.errors import ConfigError

SMALL = {"crop": 8, "downscale": 8, "n_train": 60, "n_test": 20}


def _occurs_in(patch: np.ndarray, photo: np.ndarray) -> bool:
    """Whether ``patch [3, k, k]`` equals some ``k x k`` window of ``photo [H, W, 3]``
    (candidates by the top-left pixel first, then the whole window)."""
    k = patch.shape[1]
    corner = patch[:, 0, 0]
    tops, lefts = np.nonzero(
        (photo[: photo.shape[0] - k + 1, : photo.shape[1] - k + 1] == corner).all(-1)
    )
    window = np.moveaxis(patch, 0, -1)
    return any(np.array_equal(photo[t : t + k, s : s + k], window) for t, s in zip(tops, lefts))


def test_photographs_ship_with_the_wheels_and_are_rgb():
    for name in PHOTOS_TRAIN + PHOTOS_TEST:
        photo = read_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        assert min(photo.shape[:2]) >= 300
    assert not set(PHOTOS_TRAIN) & set(PHOTOS_TEST)


def test_no_test_patch_occurs_in_any_training_photograph():
    raw = load_photos_splits(**SMALL)
    train_photos = [downscale_photo(read_photo(n), SMALL["downscale"]) for n in PHOTOS_TRAIN]
    test_photos = [downscale_photo(read_photo(n), SMALL["downscale"]) for n in PHOTOS_TEST]
    for patch in raw.test:
        assert not any(_occurs_in(patch, photo) for photo in train_photos)
        assert any(_occurs_in(patch, photo) for photo in test_photos)
    # negative control: the same search does find every training patch in a training photograph
    for patch in raw.train[:20]:
        assert any(_occurs_in(patch, photo) for photo in train_photos)


def test_patches_are_the_windows_their_origins_name():
    crops, origins = photo_patches(PHOTOS_TEST, 7, crop=8, downscale=8, seed=3, split=1)
    photos = [downscale_photo(read_photo(n), 8) for n in PHOTOS_TEST]
    assert np.bincount(origins[:, 0]).tolist() == [4, 3]  # the remainder to the first photo
    assert not np.array_equal(origins[:, 0], np.sort(origins[:, 0]))  # shuffled
    for patch, (i, top, left) in zip(crops, origins):
        window = photos[i][top : top + 8, left : left + 8]
        assert np.array_equal(np.moveaxis(patch, 0, -1), window)


def test_deterministic_and_seeded():
    a, b = load_photos_splits(**SMALL), load_photos_splits(**SMALL)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    c = load_photos_splits(**SMALL, seed=1)
    assert not np.array_equal(a.train, c.train)
    # the test patches do not depend on how many training patches are drawn
    d = load_photos_splits(**{**SMALL, "n_train": 30})
    assert np.array_equal(a.test, d.test)


def test_random_crops_cover_positions_uniformly():
    photo = np.zeros((10, 12, 3), dtype=np.uint8)
    _, origins = random_crops([photo], 6000, 4, np.random.default_rng(0))
    tops = np.bincount(origins[:, 1], minlength=7)
    lefts = np.bincount(origins[:, 2], minlength=9)
    assert origins[:, 1].max() == 6 and origins[:, 2].max() == 8  # the last window is reachable
    # chi-square against uniform over the 7 and 9 positions (0.999 quantiles: 22.5 and 26.1)
    assert ((tops - 6000 / 7) ** 2 / (6000 / 7)).sum() < 22.5
    assert ((lefts - 6000 / 9) ** 2 / (6000 / 9)).sum() < 26.1


def test_downscale_averages_areas():
    photo = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    small = downscale_photo(photo, 2)
    assert small.shape == (2, 2, 3)
    expected = photo.reshape(2, 2, 2, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(small - expected).max() <= 0.5 + 1e-9


def test_registered_dataset_shape_levels_and_source():
    assert "photos" in available_datasets()
    assert "scikit-image" in available_datasets()["photos"]
    data = load_dataset("photos", size=8)
    assert data.shape == (3, 8, 8) and data.levels == 256 and data.num_classes is None
    assert data.train.shape[0] == 2400 and data.test.shape[0] == 600
    assert "chelsea" in data.source and data.train_labels is None
    colour = load_dataset("photos", size=8, task="colorization")
    assert colour.condition_shape == (1, 8, 8)


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="crop"):
        load_photos_splits(crop=0)
    with pytest.raises(ConfigError, match="smaller than crop"):
        load_photos_splits(crop=200, downscale=4, n_train=1, n_test=1)
    with pytest.raises(ConfigError, match="unknown photo"):
        read_photo("mona-lisa")
