"""The sample-quality procedure: fixed real sets, the floor, labels and counts, conditional models.

A stub model whose "samples" are the floor's own training images must score exactly the floor; one
that repeats a single image must score far worse (the negative control); the labels a conditional
model is sampled with are checked by the classifier.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from genzoo.data import load_dataset
from genzoo.errors import ConfigError
from genzoo.evaluation import draw_samples, evaluate_sample_quality, feature_network
from genzoo.evaluation.features import FeatureNetwork
from genzoo.evaluation.sample_quality import METRICS, REFERENCE_SEED, sampling_labels, subset
from genzoo.models.base import GenerativeModel
from tests.models.tiny import tiny_model


class Replay(GenerativeModel):
    """A stub "model" that returns given images in turn (``sample`` ignores the generator), or
    for a conditional stub, an image of the requested class (``offset`` shifts the class)."""

    def __init__(self, *, shape, levels, num_classes=None, offset=0):
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.offset = offset
        self.images: Tensor | None = None
        self.labels: Tensor | None = None
        self.cursor = 0

    def sample(self, n, y=None, *, generator=None, known=None, mask=None):
        if self.num_classes is None:
            out = self.images[self.cursor : self.cursor + n]
            self.cursor += n
            return out
        wanted = (y + self.offset) % self.num_classes
        first = torch.stack([torch.nonzero(self.labels == c)[0, 0] for c in wanted])
        return self.images[first]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def net(digits, tmp_path_factory: pytest.TempPathFactory) -> FeatureNetwork:
    """A quick (3-epoch) classifier in a temporary cache."""
    return feature_network(digits, cache_dir=tmp_path_factory.mktemp("features"), epochs=3)


def test_subset_is_all_in_order_or_a_fixed_sorted_sample():
    assert torch.equal(subset(5, 7), torch.arange(5))
    a, b = subset(100, 10), subset(100, 10)
    assert torch.equal(a, b) and torch.equal(a, a.sort().values) and a.unique().numel() == 10
    assert not torch.equal(subset(100, 10, seed=1), a)


def test_a_model_that_returns_the_floor_images_scores_exactly_the_floor(digits, net):
    m = 200
    model = Replay(shape=digits.shape, levels=digits.levels)
    model.images = digits.train[subset(digits.train.shape[0], m)]
    out = evaluate_sample_quality(model, digits, num_samples=m, features=net, batch_size=64)
    assert out["samples"] == out["floor"]  # identical images, identical KID subsets
    floor = out["floor"]
    assert (floor["num_fake"], floor["num_real"]) == (m, 297)
    assert (out["num_samples"], out["num_reference"]) == (m, 297)
    assert out["reference"] == "test" and out["floor_images"] == "train"
    assert out["feature_network"] == {
        "name": "classifier:digits",
        "kind": "classifier",
        "key": net.info["key"],
        "test_accuracy": net.info["test_accuracy"],
        "feature_dim": 128,
    }
    # real training images are close to real test images: a small FID, high precision/recall
    assert floor["fid"] < 20 and floor["precision"] > 0.7 and floor["recall"] > 0.7
    # negative control: one image repeated (mode collapse) is far from the floor on every metric
    model.images, model.cursor = digits.train[:1].expand(m, -1, -1, -1), 0
    bad = evaluate_sample_quality(model, digits, num_samples=m, features=net)["samples"]
    assert bad["fid"] > 5 * floor["fid"] and bad["kid"] > 5 * floor["kid"]
    assert bad["recall"] < 0.1 and bad["coverage"] < 0.1
    assert set(METRICS) <= set(bad)


def test_reference_set_is_fixed_and_the_seed_only_moves_the_samples(digits, net):
    model = tiny_model("gan", digits.shape, levels=digits.levels)
    a = evaluate_sample_quality(model, digits, num_reference=40, features=net, seed=3)
    b = evaluate_sample_quality(model, digits, num_reference=40, features=net, seed=3)
    c = evaluate_sample_quality(model, digits, num_reference=40, features=net, seed=4)
    assert a == {**b, "sampling_seconds": a["sampling_seconds"]}  # deterministic
    assert a["floor"] == c["floor"] and a["samples"] != c["samples"]  # real sets fixed
    assert a["num_samples"] == a["num_reference"] == 40 and a["reference_seed"] == REFERENCE_SEED
    # batched sampling: one generator used by every batch in turn
    one = draw_samples(model, 40, generator=torch.Generator().manual_seed(3), batch_size=7)
    two = draw_samples(model, 40, generator=torch.Generator().manual_seed(3), batch_size=7)
    assert one.shape == (40, *digits.shape) and torch.equal(one, two)
    assert len({tuple(x.flatten().tolist()) for x in one}) == 40  # no batch repeats another


def test_conditional_samples_are_checked_against_their_labels(digits, net):
    model = Replay(shape=digits.shape, levels=digits.levels, num_classes=10)
    model.images, model.labels = digits.test, digits.test_labels
    labels = sampling_labels(model, digits, 150)
    # the floor's training images' labels: the training set's class frequencies
    assert torch.equal(labels, digits.train_labels[subset(1500, 150)])
    right = evaluate_sample_quality(model, digits, num_samples=150, features=net)
    assert right["label_agreement"] > 0.8
    assert right["floor_label_agreement"] > 0.8
    model.offset = 1  # negative control: every sample shows the next class
    wrong = evaluate_sample_quality(model, digits, num_samples=150, features=net)
    assert wrong["label_agreement"] < 0.2
    # samples drawn elsewhere carry no labels to check
    given = digits.train[:50]
    out = evaluate_sample_quality(model, digits, samples=given, features=net)
    assert "label_agreement" not in out and out["num_samples"] == 50


def test_bad_arguments_raise_config_errors(digits, net, tmp_path: Path):
    model = tiny_model("gan", digits.shape, levels=digits.levels)
    with pytest.raises(ConfigError, match="at least 2"):
        evaluate_sample_quality(model, digits, num_samples=1, features=net)
    with pytest.raises(ConfigError, match="2 test images"):
        evaluate_sample_quality(model, digits, num_reference=1, features=net)
    with pytest.raises(ConfigError, match="shape"):
        evaluate_sample_quality(model, digits, samples=torch.zeros(4, 1, 4, 4).long(), features=net)
    with pytest.raises(ConfigError, match="unknown feature network"):
        evaluate_sample_quality(model, digits, features="lenet")
    with pytest.raises(ConfigError, match="weights file was not found"):
        evaluate_sample_quality(
            model, digits, features="inception", feature_options={"cache_dir": tmp_path}
        )
