"""Property tests (hypothesis) over the data loaders: any input works or raises a genzoo error.

Four doors let data into genzoo, and each is fed valid and hostile input:

* :class:`~genzoo.data.Dataset` built directly from arrays — tensors of any dtype, shape and
  values, NumPy arrays, lists, ``None``; labels of the wrong length, dtype or range; levels and
  shapes of the wrong type; conditions that do not fit;
* ``npz:PATH`` archives with random contents — images of any dtype, rank and size (zero-sized
  included), labels of any integer or non-integer dtype and range, explicit test splits that do
  or do not agree with the training split, damaged bytes, zip members that are not ``.npy``
  arrays, a directory where the archive should be;
* ``folder:PATH`` directories of PNG/JPEG images of every PIL mode and random sizes, in class or
  ``train/``/``test/`` sub-folders or not, beside damaged image files; a file where the folder
  should be;
* :func:`~genzoo.load_dataset`'s options (``name``, ``levels``, ``size``, ``task``,
  ``task_options``) on the embedded digits.

The property: the result is a :class:`~genzoo.data.Dataset` whose every documented invariant holds
(LongTensors ``[N, *shape]`` in ``[0, levels)``, train and test of one shape, labels one per image
in ``[0, num_classes)``, conditions one per image), or a :class:`~genzoo.errors.GenzooError` with
a one-line message; never another exception. Every bug found is kept as an ``@example``.
"""

from __future__ import annotations

import io
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from PIL import Image

import genzoo
from genzoo.data import Dataset, load_dataset
from genzoo.errors import GenzooError
from tests.guards import bounded

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NAN, INF = math.nan, math.inf
HOSTILE: list[Any] = [NAN, INF, -1, 0, 1, 2.5, 10**12, 10**30, True, "3", None, [], (1, 4), b"x"]


def check_dataset(data: Dataset, *, loaded: bool = True) -> None:
    """Every invariant :class:`~genzoo.data.Dataset` documents; ``loaded``: made by a loader,
    which also gives both splits images."""
    assert isinstance(data.levels, int) and 2 <= data.levels <= data.raw_levels
    assert len(data.shape) == 3 and all(isinstance(s, int) and s >= 1 for s in data.shape)
    for split in ("train", "test"):
        for images, levels in [
            (getattr(data, split), data.levels),
            (getattr(data, f"{split}_raw"), data.raw_levels),
        ]:
            assert images.dtype == torch.long and tuple(images.shape[1:]) == data.shape
            assert images.numel() == 0 or 0 <= int(images.min()) <= int(images.max()) < levels
        n = getattr(data, split).shape[0]
        labels = getattr(data, f"{split}_labels")
        assert labels is None or data.num_classes is not None
        if labels is not None:
            assert labels.dtype == torch.long and labels.shape == (n,)
            assert n == 0 or 0 <= int(labels.min()) <= int(labels.max()) < data.num_classes
        condition = getattr(data, f"{split}_condition")
        if condition is not None:
            assert condition.shape == (n, *data.condition_shape)
    if loaded:
        assert data.train.shape[0] >= 1 and data.test.shape[0] >= 1
    assert str(data)  # describe() works


def note(what: str) -> None:
    """Count ``what`` in hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(what)


def outcome(build: Any, *, loaded: bool = True) -> Dataset | None:
    """``build()``'s dataset (invariants checked) or ``None`` after a one-line genzoo error."""
    try:
        with bounded(seconds=60):
            data = build()
    except GenzooError as exc:
        assert str(exc).strip(), "a genzoo error without a message"
        note(f"refused: {type(exc).__name__}")
        return None
    check_dataset(data, loaded=loaded)
    note("loaded")
    return data


# ---------------------------------------------------------------------------------------------
# Dataset from arrays
def tensor_like(draw: st.DrawFn, shape: tuple[int, ...], high: int) -> Any:
    """Images or labels ``shape`` in ``[0, high)`` as a LongTensor — or, hostile, another
    dtype, a NumPy array, a list, values out of range, another shape."""
    kind = draw(st.sampled_from(["long"] * 30 + ["int32", "uint8", "float", "bool", "numpy"]))
    values = torch.randint(0, max(1, high), shape, generator=torch.Generator().manual_seed(0))
    if draw(st.integers(0, 30)) == 0 and values.numel():
        values.view(-1)[0] = draw(st.sampled_from([-1, high, 10**9]))
    if kind == "long":
        return values
    if kind == "numpy":
        return values.numpy()
    dtype = {"int32": torch.int32, "uint8": torch.uint8, "float": torch.float32}
    return values.to(dtype.get(kind, torch.bool))


@st.composite
def dataset_fields(draw: st.DrawFn) -> dict[str, Any]:
    """The fields of a :class:`Dataset`: consistent ones, then one or two made hostile."""
    shape = draw(st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)))
    raw_levels = draw(st.sampled_from([2, 5, 17, 256]))
    levels = draw(st.integers(2, raw_levels))
    n_train, n_test = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    num_classes = draw(st.sampled_from([None, 1, 3]))
    fields: dict[str, Any] = {
        "name": "arrays",
        "levels": levels,
        "shape": shape,
        "num_classes": num_classes,
        "source": "property test",
        "raw_levels": raw_levels,
    }
    for split, n in (("train", n_train), ("test", n_test)):
        fields[split] = tensor_like(draw, (n, *shape), levels)
        fields[f"{split}_raw"] = tensor_like(draw, (n, *shape), raw_levels)
        labels = None if num_classes is None else tensor_like(draw, (n,), num_classes)
        fields[f"{split}_labels"] = labels
    if draw(st.booleans()):
        c_shape = (1, shape[1], shape[2])
        c_levels = draw(st.integers(2, 4))
        fields.update(condition_shape=c_shape, condition_levels=c_levels)
        fields["train_condition"] = tensor_like(draw, (n_train, *c_shape), c_levels)
        fields["test_condition"] = tensor_like(draw, (n_test, *c_shape), c_levels)
    for key in draw(st.sets(st.sampled_from(sorted(fields)), max_size=2)):
        if key == "name":
            continue
        fields[key] = draw(st.sampled_from([*HOSTILE, torch.zeros(2, 2, dtype=torch.long)]))
    return fields


def valid_fields(**changes: Any) -> dict[str, Any]:
    """A consistent 2-image dataset's fields with ``changes``."""
    images = torch.zeros(2, 1, 2, 2, dtype=torch.long)
    fields = {
        "name": "arrays",
        "levels": 2,
        "shape": (1, 2, 2),
        "num_classes": None,
        "source": "property test",
        "raw_levels": 2,
        "train": images,
        "train_raw": images,
        "train_labels": None,
        "test": images,
        "test_raw": images,
        "test_labels": None,
    }
    return {**fields, **changes}


@PROPERTY
@given(fields=dataset_fields())
@example(fields=valid_fields(test=NAN))  # AttributeError: no .dtype
@example(fields=valid_fields(train=[[[[0]]]]))  # AttributeError
@example(fields=valid_fields(shape=NAN))  # TypeError while writing the message
@example(fields=valid_fields(shape=(1, 2)))  # IndexError while writing the message
@example(fields=valid_fields(levels="3"))  # TypeError: '<=' between int and str
@example(fields=valid_fields(levels=2.5, raw_levels=3))  # accepted a float number of levels
@example(fields=valid_fields(num_classes=NAN))  # accepted NaN classes
@example(fields=valid_fields(train_labels=torch.tensor([-5, 7])))  # labels, no num_classes
@example(fields=valid_fields(condition_shape=("a", 2, 2)))  # ValueError from int("a")
def test_a_dataset_from_arrays_is_consistent_or_refused(fields):
    outcome(lambda: Dataset(**fields), loaded=False)


# ---------------------------------------------------------------------------------------------
# npz:PATH
DTYPES = ["uint8"] * 24 + ["int64", "float32", "bool", "uint16", "int8", "uint64", "complex64"]


@st.composite
def image_array(draw: st.DrawFn, n: int | None = None) -> np.ndarray:
    """Images in one of the accepted layouts (mostly), or any other rank/dtype/size."""
    n = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 10, 12])) if n is None else n
    h, w = (
        draw(st.integers(0, 5) if draw(st.integers(0, 9)) == 0 else st.integers(1, 5)) for _ in "hw"
    )
    c = draw(st.sampled_from([1, 3, 2, 4]))
    shape = draw(
        st.sampled_from(
            [(n, h, w), (n, h, w, c), (n, c, h, w)] * 4 + [(n,), (), (n, h), (n, 1, h, w, 1)]
        )
    )
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.integers(0, 256, shape).astype(dtype)


@st.composite
def label_array(draw: st.DrawFn, n: int) -> np.ndarray:
    """Labels ``[n]`` (mostly), of any dtype and range, or of another length."""
    length = draw(st.sampled_from([n] * 8 + [n + 1, max(0, n - 1)]))
    dtype = draw(st.sampled_from(["int64"] * 6 + ["uint8", "int32", "uint64", "float32", "bool"]))
    high = draw(st.sampled_from([1, 3, 10, 2**40]))
    values = np.random.default_rng(length).integers(0, high, length)
    if draw(st.integers(0, 10)) == 0 and length:
        values[0] = draw(st.sampled_from([-1, 2**62]))
    if dtype == "uint64" and draw(st.booleans()) and length:
        return np.full(length, 2**64 - 1, dtype=np.uint64)
    return values.astype(dtype)


@st.composite
def npz_contents(draw: st.DrawFn) -> dict[str, np.ndarray]:
    x = draw(image_array())
    arrays = {"x": x}
    n = len(x) if x.ndim else 0
    if draw(st.booleans()):
        arrays["y"] = draw(label_array(n))
    if draw(st.booleans()):
        x_test = draw(image_array()) if draw(st.booleans()) or not x.ndim else x[: n // 2 + 1]
        arrays["x_test"] = x_test
        if draw(st.booleans()):
            arrays["y_test"] = draw(label_array(len(x_test) if x_test.ndim else 0))
    if draw(st.integers(0, 15)) == 0:
        arrays.pop("x")
    return arrays


def write_archive(path: Path, how: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as ``how``: an archive, damaged bytes, non-.npy members, one array, a
    directory."""
    if how == "directory":
        path.mkdir()
        return
    if how == "npy":
        with path.open("wb") as f:
            np.save(f, arrays.get("x", np.zeros(3)))
        return
    if how == "raw-members":  # a zip whose members are not .npy arrays
        with zipfile.ZipFile(path, "w") as archive:
            for key, value in arrays.items():
                archive.writestr(key, value.tobytes())
        return
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else data)


@PROPERTY
@given(
    arrays=npz_contents(),
    how=st.sampled_from(["archive"] * 6 + ["truncated", "raw-members", "npy", "directory"]),
    levels=st.sampled_from([None] * 4 + [2, 16, 256] * 2 + [300, 1, 2.0]),
    size=st.sampled_from([None] * 6 + [3, (2, 5)] * 2 + [0, (1,)]),
)
@example(arrays={"x": np.zeros((3, 2, 2), np.uint8)}, how="raw-members", levels=None, size=None)
@example(arrays={"x": np.zeros((3, 0, 2), np.uint8)}, how="archive", levels=None, size=None)
@example(arrays={"x": np.zeros((3, 0, 2), np.uint8)}, how="archive", levels=None, size=3)
@example(
    arrays={"x": np.zeros((2, 2, 2), np.uint8), "x_test": np.zeros((0, 2, 2), np.uint8)},
    how="archive",
    levels=None,
    size=None,
)
@example(
    arrays={"x": np.zeros((2, 2, 2), np.uint8), "y": np.full(2, 2**64 - 1, np.uint64)},
    how="archive",
    levels=None,
    size=None,
)
def test_an_npz_archive_loads_consistently_or_is_refused(arrays, how, levels, size):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        write_archive(path, how, arrays)
        data = outcome(lambda: load_dataset(f"npz:{path}", levels=levels, size=size))
    if data is not None and size is not None:
        assert data.shape[1:] == ((size, size) if isinstance(size, int) else size)
    if data is not None and arrays["x"].ndim == 3:  # [N, H, W]: grayscale
        assert data.shape[0] == 1


# ---------------------------------------------------------------------------------------------
# folder:PATH
MODES = ["L", "RGB", "RGBA", "P", "1", "LA", "I;16"]  # (PIL writes no PNG of mode I)


@st.composite
def image_files(draw: st.DrawFn) -> list[tuple[str, str, tuple[int, int], str]]:
    """``(relative folder, mode, (w, h), suffix)`` of each image to write."""
    layout = draw(st.sampled_from(["flat", "classes", "split", "split-classes", "mixed"]))
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    files = []
    for i in range(draw(st.integers(0, 6))):
        split = ["train", "test"][i % 2] if layout.startswith("split") else ""
        label = f"class{draw(st.integers(0, 2))}" if "classes" in layout else ""
        if layout == "mixed" and i % 2:
            label = "class0"
        folder = "/".join(p for p in (split, label) if p)
        own = size if draw(st.integers(0, 3)) else (draw(st.integers(1, 5)), size[1])
        files.append((folder, draw(st.sampled_from(MODES)), own, draw(st.sampled_from(SUFFIXES))))
    return files


SUFFIXES = [".png", ".png", ".jpg", ".PNG", ".jpeg"]
JUNK = ["none", "none", "none", "random-bytes", "empty", "directory-named-png", "hidden", "text"]


def write_image(path: Path, mode: str, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    if path.suffix.lower() in (".jpg", ".jpeg") and mode not in ("L", "RGB"):
        mode = "RGB"  # JPEG holds only these (and CMYK)
    if mode == "I;16":
        array = rng.integers(0, 2**16, (size[1], size[0])).astype(np.uint16)
        image = Image.fromarray(array)
    else:
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


@PROPERTY
@given(
    files=image_files(),
    junk=st.sampled_from(JUNK),
    size=st.sampled_from([None, None, 4, (3, 2)]),
    levels=st.sampled_from([None, 2, 16]),
    as_file=st.integers(0, 9),
)
def test_an_image_folder_loads_consistently_or_is_refused(files, junk, size, levels, as_file):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        for i, (folder, mode, shape, suffix) in enumerate(files):
            write_image(root / folder / f"{i}{suffix}", mode, shape, seed=i)
        if junk == "random-bytes":
            (root / "junk.png").write_bytes(np.random.default_rng(0).bytes(64))
        elif junk == "empty":
            (root / "empty.jpg").write_bytes(b"")
        elif junk == "directory-named-png":
            (root / "folder.png").mkdir()
        elif junk == "hidden":
            (root / ".hidden.png").write_bytes(b"not an image")
        elif junk == "text":
            (root / "notes.txt").write_text("not an image")
        target = root
        if as_file == 0:  # a file where the folder should be
            target = Path(tmp) / "file.png"
            write_image(target, "L", (2, 2), seed=0)
        data = outcome(lambda: load_dataset(f"folder:{target}", levels=levels, size=size))
    if data is not None:
        if size is not None:
            expected = (size, size) if isinstance(size, int) else size
            assert data.shape[1:] == expected


# ---------------------------------------------------------------------------------------------
# load_dataset's options
NAMES = ["digits", "DIGITS", " digits ", "Digits", "nope", "", " ", "folder:", "npz:", "npz"]


@settings(PROPERTY, max_examples=80)
@given(
    name=st.sampled_from(["digits"] * 12 + [*NAMES, None, 3, b"digits", ["digits"]]),
    levels=st.sampled_from(
        [None, 2, 5, 17] * 3 + [18, 1, 0, -1, 2.0, 2.5, NAN, True, "4", 10**30, np.int64(4)]
    ),
    size=st.sampled_from(
        [None, 4, (4, 6)] * 4 + [0, -3, (4,), (4, 0), 4.0, "4", True, (True, 4), 10**30, 65_536]
    ),
    task=st.sampled_from(
        [None] * 6
        + ["super-resolution"] * 3
        + ["colorization", "nope", 3, {}, {"scale": 2}, {"name": "super-resolution", "scale": 2}]
    ),
    task_options=st.sampled_from(
        [None] * 6 + [{"scale": 2}] * 3 + [{}, {"scale": 3}, {"scale": NAN}, {"z": 1}]
    ),
)
@example(name="digits", levels=None, size=None, task={}, task_options=None)  # KeyError
@example(  # TypeError: multiple values for 'scale'
    name="digits",
    levels=None,
    size=None,
    task={"name": "super-resolution", "scale": 2},
    task_options={"scale": 2},
)
@example(name="digits", levels=None, size=10**30, task=None, task_options=None)  # ValueError
def test_load_dataset_options_give_a_consistent_dataset_or_a_genzoo_error(
    name, levels, size, task, task_options
):
    data = outcome(
        lambda: load_dataset(name, levels=levels, size=size, task=task, task_options=task_options)
    )
    if data is not None:
        assert data.levels == (17 if levels is None else int(levels))
        assert data.num_classes == 10
        if task is not None:
            assert data.conditioned


def test_the_strategies_reach_both_outcomes():
    """Negative control: a consistent dataset loads, an inconsistent one is refused."""
    good = genzoo.load_dataset("digits", levels=2, size=4)
    assert outcome(lambda: good) is good
    assert outcome(lambda: load_dataset("digits", levels=1)) is None
