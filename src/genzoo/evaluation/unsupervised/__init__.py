"""Unsupervised uses of a generative model's features: feature learning, clustering, 2-D maps.

Every function works on any :class:`~genzoo.models.base.GenerativeModel` whose
:meth:`~genzoo.models.base.GenerativeModel.features` returns ``[B, F]`` (the VAE family: the
posterior mean; the GANs: the discriminator's features; the classic latent models), and on
``model=None`` for the reference numbers of raw pixels and PCA. Each learned representation is
compared with **raw pixels** (levels scaled to ``[0, 1]``) and **PCA of the pixels with the same
dimension** ``F`` (capped at the number of pixels and of training images), PCA fitted on the
training images only.

A model's features are also shown next to the **same architecture with untrained weights**
(:func:`untrained_copy`): random convolutional features of high dimension alone often make good
linear probes, so only the difference says what training added.

* **Linear probe** (feature learning): multinomial logistic regression (scikit-learn, L2) on
  standardized features. The inverse regularization strength ``C`` is chosen on a stratified
  validation split *of the training set*; the probe is then refitted on the whole training set
  with that ``C`` and scored once on the test set. :func:`fit_probe` never receives test data:
  the test labels are used only by :meth:`LinearProbe.score`.
* **Clustering**: k-means (k-means++, ``n_init`` restarts) and a Gaussian mixture
  (``covariance="diag"`` by default: a full covariance on 784 pixels is too costly and
  ill-conditioned), fitted on the *training* representations without labels; the test images are
  assigned to the fitted clusters and scored against their labels by normalized mutual
  information (NMI, arithmetic normalization) and the adjusted Rand index (ARI; 0 for chance).
  Representations are not standardized for clustering: pixels share one unit, and
  standardizing a VAE's collapsed (near-constant) latent units would blow their noise up.
* **2-D map**: the test set projected on the first two principal components of the training
  features (or the latents themselves when they are 2-D), drawn with matplotlib.

Class-conditional models: features that see the label ``y`` would hand it to a probe or a
clustering. :func:`model_features` calls ``features`` with two different constant labels on a few
images; if the outputs differ (a conditional VAE's encoder) it refuses with
:class:`~genzoo.errors.UnsupportedError`; if they agree (a conditional GAN's discriminator
features ignore ``y``) the features are label-free and are computed with a constant label.
Such a model was still *trained* with the labels (a projection discriminator learns
class-discriminative features), so its rows say "conditional model: trained with labels": they
are not an unsupervised feature-learning result.

Modules: :mod:`.subsets` (training rows and labels), :mod:`.featurize` (images to vectors),
:mod:`.representation` (features, untrained control, pixels, PCA), :mod:`.probing`,
:mod:`.clustering`, :mod:`.maps` (2-D coordinates), :mod:`.plots` (the map as a PNG) and
:mod:`.tables` (Markdown).
"""

from genzoo.evaluation.unsupervised.clustering import (
    CLUSTER_METHODS,
    COVARIANCES,
    cluster,
    cluster_assignments,
    cluster_rows,
    clustering_scores,
)
from genzoo.evaluation.unsupervised.featurize import model_features, pixel_features, untrained_copy
from genzoo.evaluation.unsupervised.maps import Embedding, embed, save_coordinates
from genzoo.evaluation.unsupervised.plots import PALETTE, plot_embedding
from genzoo.evaluation.unsupervised.probing import (
    DEFAULT_CS,
    DEFAULT_VALIDATION,
    LinearProbe,
    fit_probe,
    linear_probe,
    probe,
    probe_rows,
)
from genzoo.evaluation.unsupervised.representation import (
    DEFAULT_PCA_DIM,
    Representation,
    feature_representation,
    pixel_representations,
    representations,
)
from genzoo.evaluation.unsupervised.subsets import training_labels
from genzoo.evaluation.unsupervised.tables import cluster_table, probe_table

__all__ = [
    "CLUSTER_METHODS",
    "COVARIANCES",
    "DEFAULT_CS",
    "DEFAULT_PCA_DIM",
    "DEFAULT_VALIDATION",
    "PALETTE",
    "Embedding",
    "LinearProbe",
    "Representation",
    "cluster",
    "cluster_assignments",
    "cluster_rows",
    "cluster_table",
    "clustering_scores",
    "embed",
    "feature_representation",
    "fit_probe",
    "linear_probe",
    "model_features",
    "pixel_features",
    "pixel_representations",
    "plot_embedding",
    "probe",
    "probe_rows",
    "probe_table",
    "representations",
    "save_coordinates",
    "training_labels",
    "untrained_copy",
]
