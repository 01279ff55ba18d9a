"""``photos`` — colour patches cut from the real photographs that ship inside the scikit-image and
scikit-learn wheels (no file to fetch, no network), for colorization.

The photographs (all RGB, 8 bits):

* **training**: scikit-image's ``astronaut`` (512×512), ``coffee`` (400×600), ``rocket``
  (427×640), the left view of ``stereo_motorcycle`` (500×741) and ``hubble_deep_field``
  (872×1000); scikit-learn's ``china.jpg`` (427×640);
* **test**: scikit-image's ``chelsea`` (a cat, 300×451) and scikit-learn's ``flower.jpg``
  (427×640).

The test photographs are *different photographs* from the training ones, so no test patch
shares a pixel with a training patch (``tests/data/test_photos.py`` searches for every test
patch in every training photograph). scikit-image's other bundled colour images are left out
on purpose: ``motorcycle_right`` is the same scene as the left view, ``cat`` is ``chelsea``,
and ``colorwheel``/``logo`` are drawings, ``retina``/``immunohistochemistry`` microscopy.

Each photograph is first shrunk by ``downscale`` with PIL's area averaging (``BOX``), so that a
patch shows a part of a scene rather than a few square millimetres of it, then ``n // photos``
patches of ``crop × crop`` (the remainder going to the first photographs) are cut at uniformly
random positions drawn from ``numpy.random.default_rng([seed, split])`` — one stream per split,
so the test patches do not change when ``n_train`` does — and shuffled, so that the first
patches of a split (what an evaluation of the first N test images sees) come from all its
photographs. Deterministic: the same arguments give
the same bytes. 256 levels, 3 channels, no labels.

``load_dataset("photos", size=16)`` resizes the patches further (area averaging), like any
dataset; the patch size and the downscaling factor are :func:`load_photos_splits`' arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from genzoo.data.dataset import RawSplits
from genzoo.errors import ConfigError, DatasetError

PHOTOS_TRAIN = ("astronaut", "coffee", "rocket", "motorcycle", "hubble_deep_field", "china")
PHOTOS_TEST = ("chelsea", "flower")
#: defaults of :func:`load_photos_splits`
CROP, DOWNSCALE, N_TRAIN, N_TEST = 32, 4, 2400, 600


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        from skimage import data

        return data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()

    return read


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")

    return read


_READERS: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    **{
        n: ("scikit-image", _skimage(n))
        for n in ("astronaut", "coffee", "rocket", "motorcycle", "hubble_deep_field", "chelsea")
    },
    **{n: ("scikit-learn", _sklearn(n)) for n in ("china", "flower")},
}


def read_photo(name: str) -> np.ndarray:
    """One bundled photograph as ``uint8 [H, W, 3]``.

    Raises:
        ConfigError: an unknown name.
        DatasetError: scikit-image is not installed (``pip install scikit-image``).
    """
    if name not in _READERS:
        raise ConfigError(f"unknown photo {name!r}; known: {', '.join(_READERS)}")
    package, read = _READERS[name]
    try:
        photo = np.asarray(read())
    except ImportError as err:
        raise DatasetError(
            f"the photo {name!r} ships inside {package}, which cannot be imported ({err}); "
            f"pip install {package}"
        ) from err
    return np.ascontiguousarray(photo[..., :3], dtype=np.uint8)


def downscale_photo(photo: np.ndarray, factor: int) -> np.ndarray:
    """``uint8 [H, W, 3]`` -> ``[round(H / factor), round(W / factor), 3]`` by area averaging."""
    if factor == 1:
        return photo
    h, w = photo.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return np.asarray(Image.fromarray(photo, mode="RGB").resize(size, Image.Resampling.BOX))


def random_crops(
    photos: Sequence[np.ndarray], count: int, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` patches ``uint8 [count, 3, crop, crop]`` and their origins ``int64 [count, 3]``
    (photo index, top, left): ``count // len(photos)`` per photo, the remainder to the first."""
    per = [count // len(photos) + (i < count % len(photos)) for i in range(len(photos))]
    crops = np.empty((count, 3, crop, crop), dtype=np.uint8)
    origins = np.empty((count, 3), dtype=np.int64)
    row = 0
    for index, (photo, k) in enumerate(zip(photos, per)):
        h, w = photo.shape[:2]
        tops = rng.integers(0, h - crop + 1, size=k)
        lefts = rng.integers(0, w - crop + 1, size=k)
        for top, left in zip(tops, lefts):
            crops[row] = np.moveaxis(photo[top : top + crop, left : left + crop], -1, 0)
            origins[row] = (index, top, left)
            row += 1
    return crops, origins


def photo_patches(
    names: Sequence[str], count: int, *, crop: int, downscale: int, seed: int, split: int
) -> tuple[np.ndarray, np.ndarray]:
    """Patches of the photographs ``names`` (see the module docstring) and their origins
    (index into ``names``, top, left in the downscaled photograph)."""
    photos = [downscale_photo(read_photo(n), downscale) for n in names]
    small = [n for n, p in zip(names, photos) if min(p.shape[:2]) < crop]
    if small:
        raise ConfigError(
            f"photos: {', '.join(small)} is smaller than crop={crop} after downscale="
            f"{downscale}; pass a smaller crop or downscale"
        )
    rng = np.random.default_rng([seed, split])
    crops, origins = random_crops(photos, count, crop, rng)
    order = rng.permutation(count)  # photographs mixed: the first N patches show all of them
    return crops[order], origins[order]


def load_photos_splits(
    *,
    crop: int = CROP,
    downscale: int = DOWNSCALE,
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
    seed: int = 0,
) -> RawSplits:
    """The ``photos`` dataset: ``uint8 [n_train, 3, crop, crop]`` patches of the training
    photographs and ``[n_test, 3, crop, crop]`` of the test ones, 256 levels, unlabelled.

    Raises:
        ConfigError: non-positive sizes, or a photograph smaller than ``crop`` once downscaled.
        DatasetError: scikit-image is not installed.
    """
    for key, value in (("crop", crop), ("downscale", downscale), ("n_train", n_train)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"photos: {key} must be a positive integer, got {value!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        raise ConfigError(f"photos: n_test must be a positive integer, got {n_test!r}")
    options = {"crop": crop, "downscale": downscale, "seed": seed}
    train, _ = photo_patches(PHOTOS_TRAIN, n_train, **options, split=0)
    test, _ = photo_patches(PHOTOS_TEST, n_test, **options, split=1)
    return RawSplits(
        train=train,
        test=test,
        train_labels=None,
        test_labels=None,
        raw_levels=256,
        source=describe_source(crop, downscale),
    )


def describe_source(crop: int = CROP, downscale: int = DOWNSCALE) -> str:
    """Where the patches come from, in one phrase."""
    return (
        f"random {crop}×{crop} patches of photographs shrunk {downscale}×, shipped in the "
        f"scikit-image and scikit-learn wheels: train {', '.join(PHOTOS_TRAIN)}; test (other "
        f"photographs) {', '.join(PHOTOS_TEST)}"
    )
