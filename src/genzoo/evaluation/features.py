"""Feature networks for sample-quality metrics (FID, KID, precision/recall): images → ``[N, F]``.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") compares Gaussians fitted to features of real and generated images; KID (Bińkowski
et al. 2018) and improved precision/recall (Kynkäänniemi et al. 2019) use the same features. The
metric maths lives elsewhere; this module only turns integer images into features.

Two networks:

* ``"classifier"`` (default): a small CNN trained on the dataset's *own* labels, as is usual for
  MNIST-like data (e.g. the "FID with a LeNet" of many GAN papers). Three ``3 x 3`` conv blocks of
  width 32/64/128 with batch norm and ReLU, stride 2 while the feature map is larger than
  ``4 x 4`` (8x8 → 4x4; 28x28 → 14 → 7 → 4), global average pooling, a ``feature_dim = 128``
  fully-connected layer with ReLU whose activations are the features, dropout, and a linear
  classifier. Inputs ``x`` in ``[0, K)`` are scaled to ``2 x / (K - 1) - 1`` in ``[-1, 1]``.
  Trained with Adam (learning rate decayed linearly to 0) and cross-entropy, no augmentation,
  deterministically from ``seed``; cached on disk keyed by a SHA-256 of the training data and
  the recipe, so a new dataset or a re-quantisation never reuses a stale classifier.
* ``"inception"``: the 2048-d pool3 features of the TF-ported InceptionV3 of torch-fidelity
  (``FeatureExtractorInceptionV3``), images converted to uint8 RGB (grey repeated, levels
  rescaled to ``round(255 x / (K - 1))``), resized to 299x299 by torch-fidelity. Only with a
  local weights file: genzoo never downloads them.

Deviation to keep in mind: numbers computed with the classifier are **not comparable** to the
published Inception FIDs (e.g. Lucic et al. 2018), nor across datasets or feature-network
versions; label them with ``info["name"]`` and ``info["key"]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genzoo.data.dataset import Dataset
from genzoo.data.idx import default_cache_dir
from genzoo.errors import ConfigError, ModelError, TrainingError
from genzoo.training.batches import derive_seed
from genzoo.training.checkpoint import atomic_write_text

#: Version of the classifier's architecture and training recipe; part of every cache key, so
#: bumping it invalidates every cached classifier.
FORMAT_VERSION = 1
FORMAT = "genzoo-feature-network"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INFO_NAME = "info.json"
CACHE_SUBDIR = "feature-networks"

FEATURE_DIM = 128
WIDTHS = (32, 64, 128)
DROPOUT = 0.3
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
#: Default training length: about this many images seen, at most ``MAX_EPOCHS`` epochs.
TARGET_IMAGES = 240_000
MAX_EPOCHS = 15

INCEPTION_NAME = "inception-v3 (pool3, 2048)"
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS
)
FEATURE_NETWORKS = ("classifier", "inception")


# ---------------------------------------------------------------------------------------------
# the classifier


class ClassifierFeatures(nn.Module):
    """Small CNN classifier of integer images whose penultimate activations are the features.

    Args:
        shape: image shape ``(C, H, W)``.
        levels: number of intensity levels ``K`` of the inputs.
        num_classes: number of classes.
        widths: channels of the conv blocks.
        feature_dim: size ``F`` of the penultimate (feature) layer.
        dropout: dropout probability before the classifier (training only).
    """

    def __init__(
        self,
        shape: Sequence[int],
        levels: int,
        num_classes: int,
        *,
        widths: Sequence[int] = WIDTHS,
        feature_dim: int = FEATURE_DIM,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__()
        if len(shape) != 3 or min(shape) < 1:
            raise ConfigError(f"shape must be (C, H, W) of positive ints, got {shape!r}")
        if levels < 2 or num_classes < 1 or feature_dim < 1 or not widths or min(widths) < 1:
            raise ConfigError(
                f"need levels >= 2, num_classes >= 1, feature_dim >= 1 and positive widths; "
                f"got levels={levels}, num_classes={num_classes}, feature_dim={feature_dim}, "
                f"widths={list(widths)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout}")
        self.shape = tuple(int(s) for s in shape)
        self.levels = int(levels)
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.config = {
            "shape": list(self.shape),
            "levels": self.levels,
            "num_classes": self.num_classes,
            "widths": [int(w) for w in widths],
            "feature_dim": self.feature_dim,
            "dropout": float(dropout),
        }
        blocks: list[nn.Module] = []
        channels, side = self.shape[0], min(self.shape[1:])
        for width in widths:
            # Downsample while the map is larger than 4x4: cheap on 28x28, and 8x8 keeps 4x4.
            stride = 2 if side > 4 else 1
            blocks += [
                nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels, side = width, (side + stride - 1) // stride
        self.body = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, self.feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def scale(self, x: Tensor) -> Tensor:
        """Levels ``[0, K)`` → floats in ``[-1, 1]``: ``2 x / (K - 1) - 1``."""
        return x.to(torch.float32) * (2.0 / (self.levels - 1)) - 1.0

    def embed(self, x: Tensor) -> Tensor:
        """LongTensor ``[B, C, H, W]`` → penultimate activations ``[B, F]`` (current mode)."""
        h = self.body(self.scale(x)).mean(dim=(2, 3))
        return F.relu(self.fc(h))

    def forward(self, x: Tensor) -> Tensor:
        """LongTensor ``[B, C, H, W]`` in ``[0, K)`` → logits ``[B, num_classes]``."""
        return self.head(self.dropout(self.embed(x)))

    @torch.no_grad()
    def features(self, x: Tensor, *, batch_size: int = 256) -> Tensor:
        """Penultimate activations in eval mode, batched.

        Args:
            x: LongTensor ``[N, C, H, W]`` in ``[0, levels)``.
            batch_size: images per forward pass.

        Returns:
            float32 ``[N, feature_dim]`` on the CPU.
        """
        check_images(x, self.shape, self.levels)
        return _batched(self, self.embed, x, batch_size, self.feature_dim)

    @torch.no_grad()
    def predict(self, x: Tensor, *, batch_size: int = 256) -> Tensor:
        """Predicted classes, LongTensor ``[N]``, in eval mode (``x`` as in :meth:`features`)."""
        check_images(x, self.shape, self.levels)
        return _batched(self, self.forward, x, batch_size, self.num_classes).argmax(dim=1)


def check_images(x: Tensor, shape: Sequence[int | None], levels: int) -> None:
    """Raise :class:`ModelError` unless ``x`` is an integer tensor ``[N, *shape]`` with values in
    ``[0, levels)``; a ``None`` in ``shape`` matches any size."""
    if (
        not isinstance(x, Tensor)
        or x.dtype.is_floating_point
        or x.dtype.is_complex
        or x.dtype == torch.bool
        or x.dim() != 4
        or any(s is not None and s != t for s, t in zip(shape, x.shape[1:]))
    ):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        dims = ", ".join("?" if s is None else str(s) for s in shape)
        raise ModelError(
            f"the feature network expects integer images [N, {dims}], got {got}; pass images "
            "of the dataset the network was built for"
        )
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise ModelError(
            f"image values must lie in [0, {levels}), got [{int(x.min())}, {int(x.max())}]; "
            "pass images with the dataset's number of levels"
        )


def _batched(module: nn.Module, fn: Any, x: Tensor, batch_size: int, dim: int) -> Tensor:
    """``torch.cat([fn(batch) ...])`` ``[N, dim]`` in eval mode (mode restored), float32, CPU."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    try:
        out = [
            fn(x[s : s + batch_size].to(device)).float().cpu()
            for s in range(0, x.shape[0], batch_size)
        ]
    finally:
        module.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dim)


# ---------------------------------------------------------------------------------------------
# the object handed to the metrics


@dataclass
class FeatureNetwork:
    """A feature network and where it came from.

    Attributes:
        module: a module with ``features(x, batch_size=...)`` (:class:`ClassifierFeatures` or
            :class:`InceptionFeatures`).
        info: ``name``, ``kind``, ``feature_dim`` and, for the classifier, ``test_accuracy``,
            ``train_images``, ``test_images``, ``epochs``, ``seed``, ``key``, ``path`` and
            ``cached`` (``True`` when loaded from the cache rather than trained now).
    """

    module: nn.Module
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Label to print next to every metric computed with these features."""
        return str(self.info.get("name", ""))

    @property
    def feature_dim(self) -> int:
        """Size ``F`` of a feature vector."""
        return int(self.info["feature_dim"])

    def features(self, x: Tensor, *, batch_size: int = 256) -> Tensor:
        """Images → features.

        Args:
            x: LongTensor ``[N, C, H, W]`` in ``[0, levels)``.
            batch_size: images per forward pass.

        Returns:
            float32 ``[N, F]`` on the CPU (eval mode, no gradients).
        """
        return self.module.features(x, batch_size=batch_size)


# ---------------------------------------------------------------------------------------------
# training and caching the classifier


def default_epochs(num_train: int) -> int:
    """About ``TARGET_IMAGES`` images seen: ``clip(ceil(240,000 / N), 1, 15)`` epochs.

    Digits (1,500 images): 15 epochs (~2 s on one core, test accuracy 0.99); Fashion-MNIST
    (60,000): 4 epochs (~50 s of CPU time, test accuracy ~0.90).
    """
    return max(1, min(MAX_EPOCHS, -(-TARGET_IMAGES // max(1, num_train))))


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$GENZOO_CACHE``, else ``~/.cache/genzoo``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("GENZOO_CACHE")
    return Path(env).expanduser() if env else default_cache_dir()


def feature_network_key(dataset: Dataset, *, seed: int = 0, epochs: int | None = None) -> str:
    """Cache key ``<dataset-name>-<16 hex digits>`` of the classifier for ``dataset``.

    The digits are a SHA-256 over :data:`FORMAT_VERSION`, the recipe (widths, feature_dim,
    dropout, batch size, learning rate, epochs, seed), ``shape``, ``levels``, ``num_classes``,
    and the bytes of ``train`` and ``train_labels``: any change of the training data (another
    dataset, a subset, a re-quantisation) gives another key.
    """
    labels = _require_labels(dataset)
    n_epochs = default_epochs(dataset.train.shape[0]) if epochs is None else int(epochs)
    recipe = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "widths": list(WIDTHS),
        "feature_dim": FEATURE_DIM,
        "dropout": DROPOUT,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "epochs": n_epochs,
        "seed": int(seed),
        "shape": list(dataset.shape),
        "levels": int(dataset.levels),
        "num_classes": _num_classes(dataset, labels),
        "train": list(dataset.train.shape),
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    # uint8 when it fits: hashing Fashion-MNIST's 47 MB instead of 376 MB of int64.
    dtype = torch.uint8 if dataset.levels <= 256 else torch.int64
    digest.update(dataset.train.to(dtype).contiguous().numpy().data)
    digest.update(labels.to(torch.int64).contiguous().numpy().data)
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", Path(dataset.name).name or dataset.name)
    return f"{slug.strip('-')[:40] or 'data'}-{digest.hexdigest()[:16]}"


def feature_network(
    dataset: Dataset,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    seed: int = 0,
    epochs: int | None = None,
) -> FeatureNetwork:
    """The classifier feature network of ``dataset``: loaded from the cache, or trained and cached.

    Trained on ``dataset.train`` / ``train_labels`` (see the module docstring for the recipe),
    evaluated on ``dataset.test``, and written atomically to
    ``<cache>/feature-networks/<key>/`` (``config.json``, ``model.safetensors``, ``info.json``)
    where ``<cache>`` is :func:`cache_root` and ``<key>`` :func:`feature_network_key`. A missing,
    half-written or corrupt entry (weights whose SHA-256 differs from ``info.json``) is retrained.

    Args:
        dataset: a labelled dataset.
        cache_dir: base directory of the cache (default ``$GENZOO_CACHE`` or ``~/.cache/genzoo``).
        retrain: train even when a valid cache entry exists (and replace it).
        seed: seed of the initialisation, dropout and data order; the caller's global RNG state
            is left untouched.
        epochs: training epochs (``None``: :func:`default_epochs`).

    Returns:
        A :class:`FeatureNetwork` in eval mode, ``info["cached"]`` telling whether it was loaded.

    Raises:
        ConfigError: the dataset has no labels, fewer than two training images, or bad epochs.
        TrainingError: the loss became non-finite.
    """
    labels = _require_labels(dataset)
    if epochs is not None and (
        isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    ):
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    n_epochs = default_epochs(dataset.train.shape[0]) if epochs is None else int(epochs)
    key = feature_network_key(dataset, seed=seed, epochs=n_epochs)
    path = cache_root(cache_dir) / CACHE_SUBDIR / key
    if not retrain:
        loaded = _load_entry(path)
        if loaded is not None:
            return loaded
    module, info = _train(dataset, labels, seed=seed, epochs=n_epochs)
    info["key"] = key
    _write_entry(path, module, info)
    return FeatureNetwork(module.eval(), {**info, "path": str(path), "cached": False})


def _require_labels(dataset: Dataset) -> Tensor:
    if dataset.train_labels is None:
        raise ConfigError(
            f"the classifier feature network is trained on the dataset's own labels, and "
            f"{dataset.name!r} has none; pass --feature-network inception (local InceptionV3 "
            "weights) or use a labelled dataset"
        )
    if dataset.train.shape[0] < 2:
        raise ConfigError(
            f"{dataset.name!r} has {dataset.train.shape[0]} training image(s); the feature "
            "network needs at least two"
        )
    return dataset.train_labels


def _num_classes(dataset: Dataset, labels: Tensor) -> int:
    if dataset.num_classes is not None:
        return int(dataset.num_classes)
    return int(labels.max()) + 1


def _train(
    dataset: Dataset, labels: Tensor, *, seed: int, epochs: int
) -> tuple[ClassifierFeatures, dict[str, Any]]:
    """Adam on cross-entropy, learning rate decayed linearly to 0, batches of ``BATCH_SIZE``."""
    x = dataset.train
    n = x.shape[0]
    batch = min(BATCH_SIZE, n)
    steps_per_epoch = n // batch  # the last partial batch is dropped (batch norm needs >= 2)
    total = steps_per_epoch * epochs
    start = time.perf_counter()
    # Initialisation and dropout draw from torch's global RNG: fork it so the caller's is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, 0))
        module = ClassifierFeatures(dataset.shape, dataset.levels, _num_classes(dataset, labels))
        order = torch.Generator().manual_seed(derive_seed(seed, 1))
        optimizer = torch.optim.Adam(module.parameters(), lr=LEARNING_RATE)
        module.train()
        step = 0
        for _ in range(epochs):
            perm = torch.randperm(n, generator=order)
            for b in range(steps_per_epoch):
                idx = perm[b * batch : (b + 1) * batch]
                for group in optimizer.param_groups:
                    group["lr"] = LEARNING_RATE * (1.0 - step / total)
                loss = F.cross_entropy(module(x[idx]), labels[idx])
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"feature-network training loss became {float(loss)} at step {step}; "
                        "check the dataset's images and labels"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
    module.eval()
    seconds = time.perf_counter() - start
    accuracy = None
    if dataset.test_labels is not None and dataset.test.shape[0] > 0:
        predicted = module.predict(dataset.test)
        accuracy = float((predicted == dataset.test_labels).double().mean())
    info = {
        "name": f"classifier:{dataset.name}",
        "kind": "classifier",
        "test_accuracy": accuracy,
        "train_images": int(n),
        "test_images": int(dataset.test.shape[0]),
        "epochs": int(epochs),
        "steps": int(total),
        "feature_dim": module.feature_dim,
        "seed": int(seed),
        "levels": int(dataset.levels),
        "shape": list(dataset.shape),
        "train_seconds": round(seconds, 3),
        "format_version": FORMAT_VERSION,
    }
    return module, info


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_entry(path: Path, module: ClassifierFeatures, info: dict[str, Any]) -> None:
    """Write the entry into a temporary sibling directory, then rename it onto ``path``."""
    import genzoo

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        config = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "genzoo_version": genzoo.__version__,
            "config": module.config,
        }
        atomic_write_text(json.dumps(config, indent=2) + "\n", tmp / CONFIG_NAME)
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT})
        info = {**info, "weights_sha256": _sha256_file(tmp / WEIGHTS_NAME)}
        atomic_write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", tmp / INFO_NAME)
        if path.exists():
            shutil.rmtree(path)  # a stale or corrupt entry, or retrain=True
        try:
            os.replace(tmp, path)
        except OSError:
            # Another process finished the same entry first; theirs is as good as ours.
            if _load_entry(path) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_entry(path: Path) -> FeatureNetwork | None:
    """The cached network at ``path``, or ``None`` when absent, incomplete or corrupt."""
    if not (path / INFO_NAME).is_file():
        return None
    try:
        info = json.loads((path / INFO_NAME).read_text())
        meta = json.loads((path / CONFIG_NAME).read_text())
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            return None
        if _sha256_file(path / WEIGHTS_NAME) != info["weights_sha256"]:
            return None
        module = ClassifierFeatures(**meta["config"])
        module.load_state_dict(load_file(str(path / WEIGHTS_NAME)), strict=True)
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RuntimeError,
        SafetensorError,
    ):
        return None
    return FeatureNetwork(module.eval(), {**info, "path": str(path), "cached": True})


# ---------------------------------------------------------------------------------------------
# InceptionV3 (torch-fidelity), never downloaded


def inception_weights_path(
    weights_path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """``weights_path``, else ``<cache>/inception/weights-inception-2015-12-05-6726825d.pth``
    with ``<cache>`` from :func:`cache_root`."""
    if weights_path is not None:
        return Path(weights_path).expanduser()
    return cache_root(cache_dir) / "inception" / INCEPTION_WEIGHTS


class InceptionFeatures(nn.Module):
    """torch-fidelity's InceptionV3 pool3 features of integer images.

    Args:
        extractor: a ``FeatureExtractorInceptionV3`` built with ``features_list=["2048"]``.
        levels: number of intensity levels ``K`` of the inputs.
        channels: ``C`` of the inputs, 1 (grey, repeated to RGB) or 3.
    """

    def __init__(self, extractor: nn.Module, levels: int, channels: int) -> None:
        super().__init__()
        self.extractor = extractor
        self.levels = int(levels)
        self.channels = int(channels)

    def to_rgb_uint8(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` levels → uint8 ``[B, 3, H, W]``: ``round(255 x / (K - 1))``."""
        y = torch.round(x.to(torch.float64) * (255.0 / (self.levels - 1))).to(torch.uint8)
        return y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y

    def embed(self, x: Tensor) -> Tensor:
        return self.extractor(self.to_rgb_uint8(x))[0]

    @torch.no_grad()
    def features(self, x: Tensor, *, batch_size: int = 64) -> Tensor:
        """LongTensor ``[N, C, H, W]`` in ``[0, levels)`` → float32 ``[N, 2048]``."""
        check_images(x, (self.channels, None, None), self.levels)
        return _batched(self, self.embed, x, batch_size, 2048)


def inception_features(
    weights_path: str | os.PathLike[str] | None = None,
    *,
    levels: int = 256,
    channels: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FeatureNetwork:
    """InceptionV3 pool3 features from torch-fidelity with a local weights file; never downloads.

    Args:
        weights_path: the torch-fidelity weights file (default :func:`inception_weights_path`).
        levels: number of levels ``K`` of the images to be featurised.
        channels: their number of channels, 1 or 3.
        cache_dir: base directory of the default weights location.

    Returns:
        A :class:`FeatureNetwork` with ``info["name"] == "inception-v3 (pool3, 2048)"``.

    Raises:
        ConfigError: torch-fidelity is not installed, or the weights file is missing (the
            message names the exact path expected), or ``channels`` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise ConfigError(
            f"InceptionV3 features need grey (1 channel) or RGB (3 channel) images, got "
            f"{channels} channels; use --feature-network classifier"
        )
    path = inception_weights_path(weights_path, cache_dir)
    problems = []
    extractor_class = _import_inception()
    if extractor_class is None:
        problems.append("the package torch-fidelity is not installed: pip install torch-fidelity")
    if not path.is_file():
        problems.append(
            f"the InceptionV3 weights file was not found at {path}; this machine cannot download "
            f"it and genzoo never does: fetch {INCEPTION_URL} elsewhere and copy it to {path} "
            "(or pass its path, or set $GENZOO_CACHE)"
        )
    if problems:
        raise ConfigError(
            "InceptionV3 features are unavailable: "
            + "; ".join(problems)
            + ". Or use the default --feature-network classifier."
        )
    extractor = extractor_class(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    )
    info = {
        "name": INCEPTION_NAME,
        "kind": "inception",
        "feature_dim": 2048,
        "weights": str(path),
        "path": str(path),
        "cached": True,
    }
    return FeatureNetwork(InceptionFeatures(extractor, levels, channels).eval(), info)


def _import_inception() -> Any:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` class, or ``None`` if not installed."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        return None
    return FeatureExtractorInceptionV3


def load_features(name: str, dataset: Dataset, **kwargs: Any) -> FeatureNetwork:
    """Feature network ``name`` (``"classifier"``, the default, or ``"inception"``) for ``dataset``.

    ``kwargs`` go to :func:`feature_network` or :func:`inception_features`.
    """
    kind = (name or "classifier").strip().lower()
    if kind == "classifier":
        return feature_network(dataset, **kwargs)
    if kind == "inception":
        return inception_features(levels=dataset.levels, channels=dataset.shape[0], **kwargs)
    raise ConfigError(
        f"unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETWORKS)}"
    )
