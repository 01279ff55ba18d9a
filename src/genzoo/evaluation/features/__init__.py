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
  deterministically from ``seed`` (:mod:`.training`, its own short loop); cached on disk as an
  artifact keyed by a SHA-256 of the training data and the recipe (:mod:`.cache`), so a new
  dataset or a re-quantisation never reuses a stale classifier.
* ``"inception"``: the 2048-d pool3 features of the TF-ported InceptionV3 of torch-fidelity
  (``FeatureExtractorInceptionV3``), images converted to uint8 RGB (grey repeated, levels
  rescaled to ``round(255 x / (K - 1))``), resized to 299x299 by torch-fidelity. Only with a
  local weights file: genzoo never downloads them (:mod:`.inception`).

Deviation to keep in mind: numbers computed with the classifier are **not comparable** to the
published Inception FIDs (e.g. Lucic et al. 2018), nor across datasets or feature-network
versions; label them with ``info["name"]`` and ``info["key"]``.

Modules: :mod:`.network` (the CNN and :class:`FeatureNetwork`), :mod:`.training`, :mod:`.cache`,
:mod:`.inception` and :mod:`.loading` (:func:`load_features`, by name).
"""

from genzoo.core.artifact import CONFIG_NAME, WEIGHTS_NAME
from genzoo.evaluation.features.cache import (
    CACHE_SUBDIR,
    FORMAT,
    INFO_NAME,
    KIND,
    cache_root,
    feature_network,
    feature_network_key,
)
from genzoo.evaluation.features.inception import (
    INCEPTION_NAME,
    INCEPTION_URL,
    INCEPTION_WEIGHTS,
    InceptionFeatures,
    inception_features,
    inception_weights_path,
)
from genzoo.evaluation.features.loading import FEATURE_NETWORKS, load_features
from genzoo.evaluation.features.network import (
    DROPOUT,
    FEATURE_DIM,
    WIDTHS,
    ClassifierFeatures,
    FeatureNetwork,
    check_images,
)
from genzoo.evaluation.features.training import (
    BATCH_SIZE,
    LEARNING_RATE,
    MAX_EPOCHS,
    RECIPE_VERSION,
    TARGET_IMAGES,
    default_epochs,
    train_classifier,
)

#: the name genzoo 0.1 gave :data:`RECIPE_VERSION`
FORMAT_VERSION = RECIPE_VERSION

__all__ = [
    "BATCH_SIZE",
    "CACHE_SUBDIR",
    "CONFIG_NAME",
    "DROPOUT",
    "FEATURE_DIM",
    "FEATURE_NETWORKS",
    "FORMAT",
    "FORMAT_VERSION",
    "INCEPTION_NAME",
    "INCEPTION_URL",
    "INCEPTION_WEIGHTS",
    "INFO_NAME",
    "KIND",
    "LEARNING_RATE",
    "MAX_EPOCHS",
    "RECIPE_VERSION",
    "TARGET_IMAGES",
    "WEIGHTS_NAME",
    "WIDTHS",
    "ClassifierFeatures",
    "FeatureNetwork",
    "InceptionFeatures",
    "cache_root",
    "check_images",
    "default_epochs",
    "feature_network",
    "feature_network_key",
    "inception_features",
    "inception_weights_path",
    "load_features",
    "train_classifier",
]
