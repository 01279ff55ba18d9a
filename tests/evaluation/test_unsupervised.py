"""Unsupervised tasks: the linear probe, clustering and 2-D maps on real digits, with negative
controls (shuffled labels), the regularization chosen without the test set, conditional models'
label leak refused, and the map's coordinates checked against PCA done by hand."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo.evaluation.unsupervised as unsupervised
from genzoo.data import load_dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation.unsupervised import (
    cluster,
    clustering_scores,
    embed,
    fit_probe,
    model_features,
    pixel_features,
    plot_embedding,
    probe,
    probing,
    representations,
    save_coordinates,
    training_labels,
    untrained_copy,
)
from genzoo.models import create_model

TINY_VAE = {"latent_dim": 4, "channels": 8, "hidden": 32}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _shuffled_test_labels(dataset, seed: int = 0):
    perm = torch.randperm(dataset.test.shape[0], generator=torch.Generator().manual_seed(seed))
    return dataclasses.replace(dataset, test_labels=dataset.test_labels[perm])


def _train(model, dataset, steps: int = 30):
    """A few Adam steps on the training images: a trained tiny model, not a fresh one."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, dataset.train.shape[0], (64,), generator=g)
        y = None if model.num_classes is None else dataset.train_labels[idx]
        opt.zero_grad()
        model.loss(dataset.train[idx], y)["loss"].backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def vae(digits):
    torch.manual_seed(0)
    model = create_model("vae", shape=digits.shape, levels=digits.levels, **TINY_VAE)
    return _train(model, digits)


# ------------------------------------------------------------------------------ linear probe


def test_raw_pixel_probe_on_digits_is_accurate_and_reports_its_counts(digits):
    result = probe(digits)
    raw, pca = result["rows"]
    assert raw["representation"] == "raw pixels" and raw["dim"] == 64
    assert raw["accuracy"] >= 0.9
    assert pca["representation"] == "PCA of pixels" and pca["dim"] == 16
    assert pca["accuracy"] >= 0.85
    for row in (raw, pca):
        assert row["num_train"] == 1500 and row["num_validation"] == 300
        assert row["num_test"] == 297
        se = math.sqrt(row["accuracy"] * (1 - row["accuracy"]) / 297)
        assert row["accuracy_stderr"] == pytest.approx(se)


def test_probe_with_shuffled_test_labels_is_near_chance(digits):
    """Negative control: the same classifiers scored against permuted labels."""
    raw = probe(_shuffled_test_labels(digits))["rows"][0]
    assert raw["accuracy"] < 0.25  # chance is 0.1; 297 images


def test_regularization_is_chosen_without_the_test_set(digits, monkeypatch):
    """By construction: fit_probe (which picks C) is handed training data only, and the test
    labels first reach the probe in the single final score, after the fit."""
    events = []
    real_fit, real_score = probing.fit_probe, unsupervised.LinearProbe.score

    def spy_fit(features, labels, **kwargs):
        events.append(("fit", features.shape[0], torch.as_tensor(labels).clone()))
        return real_fit(features, labels, **kwargs)

    def spy_score(self, features, labels):
        events.append(("score", features.shape[0], torch.as_tensor(labels).clone()))
        return real_score(self, features, labels)

    monkeypatch.setattr(probing, "fit_probe", spy_fit)  # where linear_probe looks it up
    monkeypatch.setattr(unsupervised.LinearProbe, "score", spy_score)
    result = probe(digits)
    assert [e[0] for e in events] == ["fit", "score"] * len(result["rows"])
    for kind, n, labels in events:
        expected = digits.train_labels if kind == "fit" else digits.test_labels
        assert n == expected.shape[0] and torch.equal(labels, expected)

    # and the choice does not move when the test set does (shuffled labels, noise images)
    noise = torch.randint_like(digits.test, digits.levels, generator=torch.Generator())
    other = dataclasses.replace(_shuffled_test_labels(digits), test=noise, test_raw=noise)
    monkeypatch.undo()
    again = probe(other)
    for a, b in zip(result["rows"], again["rows"]):
        assert a["C"] == b["C"] and a["validation_curve"] == b["validation_curve"]
        assert a["accuracy"] > b["accuracy"] + 0.5


def test_fit_probe_picks_the_best_validation_accuracy_and_validates_its_input():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    x = rng.normal(size=(200, 3)) + 3.0 * y[:, None]  # separable: every C is perfect
    fitted = fit_probe(x, y, Cs=(10.0, 0.1, 1.0))
    assert set(fitted.validation_accuracy) == {0.1, 1.0, 10.0}
    best = max(fitted.validation_accuracy.values())
    assert fitted.validation_accuracy[fitted.C] == best
    assert fitted.C == min(c for c, a in fitted.validation_accuracy.items() if a == best)
    assert fitted.num_fit + fitted.num_validation == 200 and fitted.num_validation == 40
    with pytest.raises(ConfigError, match="fraction"):
        fit_probe(x, y, validation=1.0)
    with pytest.raises(ConfigError, match="single class"):
        fit_probe(x, np.zeros(200, dtype=int))
    with pytest.raises(ConfigError, match="one label each"):
        fit_probe(x, y[:10])


# ------------------------------------------------------------------------------ clustering


def test_clustering_scores_ignore_cluster_names_and_are_low_for_unrelated_clusters():
    labels = np.arange(300) % 3
    renamed = (labels + 1) % 3  # the same partition under other names
    assert clustering_scores(labels, renamed) == {"nmi": pytest.approx(1), "ari": pytest.approx(1)}
    # three clusters of 99 images, each holding 33 of every class: no information at all
    unrelated = clustering_scores(labels[:297], np.arange(297) // 99)
    assert unrelated["nmi"] == pytest.approx(0, abs=1e-9) and abs(unrelated["ari"]) < 0.01


def test_clustering_nmi_and_ari_against_a_shuffled_label_control(digits):
    result = cluster(digits, methods=("kmeans", "gmm"))
    assert result["k"] == 10 and result["num_train"] == 1500 and result["num_test"] == 297
    raw, pca = result["rows"]
    assert raw["kmeans"]["nmi"] > 0.6 and raw["kmeans"]["ari"] > 0.4
    assert raw["gmm"]["nmi"] > 0.5
    assert pca["representation"] == "PCA of pixels" and pca["kmeans"]["nmi"] > 0.6
    control = cluster(_shuffled_test_labels(digits), methods=("kmeans",))["rows"][0]["kmeans"]
    assert control["nmi"] < 0.1 and abs(control["ari"]) < 0.03


def test_cluster_validates_k_and_method(digits):
    with pytest.raises(ConfigError, match="k must"):
        cluster(digits, k=1)
    with pytest.raises(ConfigError, match="methods"):
        cluster(digits, methods=("dbscan",))


# ------------------------------------------------------------------------------ model features


def test_a_trained_vae_gives_finite_numbers_next_to_pca_of_the_same_dimension(digits, vae):
    result = probe(digits, vae, max_train=600)
    names = [r["representation"] for r in result["rows"]]
    assert names == ["vae features", "vae features, untrained", "raw pixels", "PCA of pixels"]
    feats, untrained, raw, pca = result["rows"]
    assert feats["dim"] == untrained["dim"] == pca["dim"] == TINY_VAE["latent_dim"]
    assert raw["dim"] == 64 and feats["num_train"] == 600
    for row in result["rows"]:
        assert math.isfinite(row["accuracy"]) and 0.15 < row["accuracy"] <= 1.0  # chance 0.1
    clusters = cluster(digits, vae, max_train=600, methods=("kmeans",), untrained=False)
    names = [r["representation"] for r in clusters["rows"]]
    assert names == ["vae features", "raw pixels", "PCA of pixels"]
    assert all(0.0 <= r["kmeans"]["nmi"] <= 1.0 for r in clusters["rows"])


def test_max_train_rows_and_labels_stay_aligned(digits):
    reps = representations(digits, max_train=100, seed=3)
    labels = training_labels(digits, max_train=100, seed=3)
    raw = reps[0].train
    # find each subset row in the full training set: its label must be the one returned
    full = pixel_features(digits.train, digits.levels)
    for row, label in zip(raw[:20], labels[:20]):
        matches = np.flatnonzero((full == row).all(1))
        assert int(label) in digits.train_labels[matches].tolist()


def test_features_are_batched_and_model_mode_is_restored(digits, vae):
    vae.train()
    a = model_features(vae, digits.test, batch_size=7)
    b = model_features(vae, digits.test, batch_size=500)
    assert vae.training
    vae.eval()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    expected = vae.features(digits.test).numpy()
    np.testing.assert_allclose(a, expected, rtol=1e-5, atol=1e-6)


def test_models_without_features_are_refused(digits):
    model = create_model("pixel_independent", shape=digits.shape, levels=digits.levels)
    with pytest.raises(UnsupportedError, match="no latent features"):
        probe(digits, model)


def test_conditional_features_that_see_the_label_are_refused(digits):
    torch.manual_seed(0)
    model = create_model(
        "vae", shape=digits.shape, levels=digits.levels, num_classes=10, **TINY_VAE
    )
    with pytest.raises(UnsupportedError, match="class-conditional"):
        model_features(model, digits.test)


def test_conditional_gan_features_ignore_the_label_and_are_accepted(digits):
    torch.manual_seed(0)
    gan = create_model(
        "dcgan", shape=digits.shape, levels=digits.levels, num_classes=10, latent_dim=3, channels=4
    ).eval()
    features = model_features(gan, digits.test[:50])
    expected = gan.features(digits.test[:50], digits.test_labels[:50]).detach().numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-6)
    # but the model saw the labels in training: its rows say so
    rep = unsupervised.feature_representation(digits, gan, max_train=20)
    assert rep.name == "dcgan features (conditional model: trained with labels)"


def test_untrained_copy_has_the_config_new_weights_and_leaves_the_rng_alone(vae):
    state = torch.random.get_rng_state()
    fresh = untrained_copy(vae, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())
    assert fresh.config == vae.config and not fresh.training
    same = untrained_copy(vae, seed=5)
    params = zip(fresh.parameters(), same.parameters(), vae.parameters())
    assert all(torch.equal(a, b) for a, b, _ in params)
    assert any(
        not torch.equal(a, c) for a, _, c in zip(*(m.parameters() for m in (fresh, same, vae)))
    )


# ------------------------------------------------------------------------------ 2-D maps


def _pca_by_hand(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Test points on the two leading eigenvectors of the training covariance."""
    train = train.astype(np.float64)
    mean = train.mean(0)
    _, vectors = np.linalg.eigh(np.cov(train - mean, rowvar=False))
    return (test - mean) @ vectors[:, ::-1][:, :2]


def _same_up_to_axis_signs(a: np.ndarray, b: np.ndarray) -> None:
    signs = np.sign((a * b).sum(0))
    np.testing.assert_allclose(a, b * signs, rtol=1e-4, atol=1e-4)


def test_embedding_of_pixels_is_the_pca_projection(digits, tmp_path):
    e = embed(digits)
    assert e.method == "pca" and e.coords.shape == (297, 2) and e.num_train == 1500
    train, test = (pixel_features(x, digits.levels) for x in (digits.train, digits.test))
    _same_up_to_axis_signs(e.coords, _pca_by_hand(train, test))
    # the explained variance is that of the training data
    eig = np.linalg.eigvalsh(np.cov(train.astype(np.float64), rowvar=False))[::-1]
    np.testing.assert_allclose(e.explained_variance, eig[:2] / eig.sum(), rtol=1e-4)
    path = save_coordinates(e, tmp_path / "c.csv")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1:3], e.coords, rtol=1e-6, atol=1e-7)
    assert np.array_equal(table[:, 0], np.arange(297))
    assert np.array_equal(table[:, 3], digits.test_labels.numpy())
    npz = np.load(save_coordinates(e, tmp_path / "c.npz"))
    assert np.array_equal(npz["coords"], e.coords) and np.array_equal(npz["index"], np.arange(297))
    with pytest.raises(ConfigError, match=r"\.csv or \.npz"):
        save_coordinates(e, tmp_path / "c.txt")


def test_two_dimensional_latents_are_drawn_as_they_are(digits, tmp_path):
    torch.manual_seed(0)
    model = create_model("vae", shape=digits.shape, levels=digits.levels, latent_dim=2,
                         channels=4, hidden=8).eval()  # fmt: skip
    e = embed(digits, model)
    assert e.method == "latents" and e.explained_variance is None
    np.testing.assert_allclose(e.coords, model.features(digits.test).numpy(), rtol=1e-6)
    png = plot_embedding(e, tmp_path / "map.png", class_names=digits.class_names, size=(420, 300))
    image = Image.open(png)
    assert image.size == (420, 300)
    # the points are drawn in the class colours: the first class's colour is present
    colours = {c for _, c in image.convert("RGB").getcolors(1 << 16)}
    assert unsupervised.PALETTE[0] in colours and unsupervised.PALETTE[9] in colours


def test_map_is_seeded_and_unlabelled_points_are_grey(digits, tmp_path):
    e = embed(digits)
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c", "grey")]
    for path, seed in zip(paths[:3], (0, 0, 1)):
        plot_embedding(e, path, class_names=digits.class_names, seed=seed)
    a, b, c = (np.asarray(Image.open(p).convert("RGB")) for p in paths[:3])
    assert a.shape == (640, 800, 3)
    assert np.array_equal(a, b)  # same seed, same drawing order, same pixels
    assert not np.array_equal(a, c)  # another order: overlapping dots change colour
    unlabelled = dataclasses.replace(e, labels=None)
    grey = Image.open(plot_embedding(unlabelled, paths[3], size=(290, 170))).convert("RGB")
    colours = {c for _, c in grey.getcolors(1 << 16)}
    hues = {c for c in unsupervised.PALETTE if len(set(c)) > 1}  # anti-aliasing makes greys
    assert (40, 40, 40) in colours and not colours & hues
    with pytest.raises(ConfigError, match="too small"):
        plot_embedding(e, tmp_path / "tiny.png", size=(200, 100))


def test_gaussian_mixture_survives_collapsed_float32_features():
    """Three distinct feature vectors of scale 100, 200 copies each, float32: scikit-learn's
    diagonal mixture with k = 10 fails as is (the variance loses its precision); the retry in
    float64 with a scaled ``reg_covar`` recovers the three groups exactly."""
    from sklearn.mixture import GaussianMixture

    from genzoo.evaluation.unsupervised import cluster_assignments, clustering_scores

    rng = np.random.default_rng(0)
    x = np.repeat(rng.normal(size=(3, 50)).astype(np.float32) * 100, 200, axis=0)
    groups = np.repeat(np.arange(3), 200)
    with pytest.raises(ValueError):  # the failure being guarded against
        GaussianMixture(10, covariance_type="diag", random_state=0).fit(x)
    assigned = cluster_assignments(x, x, k=10, method="gmm", seed=0)
    assert clustering_scores(groups, assigned)["nmi"] == pytest.approx(1.0)


def test_tsne_map_is_seeded_and_keeps_classes_apart(digits):
    one = embed(digits, method="tsne", seed=3)
    two = embed(digits, method="tsne", seed=3)
    assert one.method == "tsne" and one.coords.shape == (297, 2) and one.num_train == 0
    assert np.array_equal(one.coords, two.coords)  # explicit seed, same map
    assert one.axis_names() == ("t-SNE 1", "t-SNE 2")
    # t-SNE keeps neighbourhoods: a test image's nearest neighbour on the map shares its class
    # far more often than chance (1/10); raw-pixel neighbours on digits agree ~95 % of the time
    d = ((one.coords[:, None] - one.coords[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    agree = (one.labels[d.argmin(1)] == one.labels).mean()
    assert agree > 0.8
    with pytest.raises(ConfigError, match="pca, tsne"):
        embed(digits, method="umap")
