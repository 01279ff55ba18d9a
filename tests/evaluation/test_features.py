"""Feature networks: the trained classifier is accurate, deterministic and discriminative; its
cache is keyed by the training data, is an artifact written atomically, survives a round trip,
heals when corrupt and still reads entries of genzoo 0.1's layout; InceptionV3 never downloads
and says exactly what is missing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import genzoo.evaluation.features.cache as cache_module
from genzoo.core.artifact import read_artifact
from genzoo.data import load_dataset, requantize
from genzoo.errors import ConfigError, ModelError
from genzoo.evaluation.features import (
    CACHE_SUBDIR,
    FORMAT,
    INCEPTION_NAME,
    INCEPTION_WEIGHTS,
    INFO_NAME,
    WEIGHTS_NAME,
    ClassifierFeatures,
    FeatureNetwork,
    InceptionFeatures,
    default_epochs,
    feature_network,
    feature_network_key,
    inception_features,
    inception_weights_path,
    load_features,
)

# Cache-mechanics tests train for one epoch only (11 steps, ~0.1 s on digits).
QUICK = 1


def _fidelity_installed() -> bool:
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(autouse=True)
def _cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing may write to the real ``~/.cache/genzoo``."""
    env = tmp_path / "env-cache"
    monkeypatch.setenv("GENZOO_CACHE", str(env))
    return env


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory: pytest.TempPathFactory) -> tuple[FeatureNetwork, Path]:
    """The default classifier of digits, trained once, cached through ``$GENZOO_CACHE``."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENZOO_CACHE", str(cache))
        rng_before = torch.random.get_rng_state()
        net = feature_network(digits)
        assert torch.equal(torch.random.get_rng_state(), rng_before), "global RNG was touched"
    return net, cache


@pytest.fixture(scope="module")
def quick(digits, tmp_path_factory: pytest.TempPathFactory) -> FeatureNetwork:
    """A one-epoch classifier whose cache entry tests copy and damage."""
    return feature_network(digits, cache_dir=tmp_path_factory.mktemp("quick"), epochs=QUICK)


def _pairwise_ratio(f: torch.Tensor, y: torch.Tensor) -> float:
    """Mean distance between images of the same class / mean distance across classes."""
    d = torch.cdist(f.double(), f.double())
    same = y[:, None] == y[None, :]
    off_diagonal = ~torch.eye(len(y), dtype=torch.bool)
    return float(d[same & off_diagonal].mean() / d[~same].mean())


def test_digits_classifier_is_accurate_and_labelled(trained, digits) -> None:
    net, cache = trained
    info = net.info
    # measured: 0.990 (294/297) with seed 0 and the default 15 epochs
    assert info["test_accuracy"] >= 0.97
    assert info["cached"] is False
    assert info["kind"] == "classifier" and info["name"] == "classifier:digits"
    assert (info["train_images"], info["test_images"]) == (1500, 297)
    assert info["epochs"] == default_epochs(1500) == 15
    assert info["feature_dim"] == net.feature_dim == 128 and info["seed"] == 0
    assert info["key"] == feature_network_key(digits)
    assert Path(info["path"]) == cache / CACHE_SUBDIR / info["key"]  # $GENZOO_CACHE honoured
    # the reported accuracy is the module's: recompute it from its logits
    predicted = net.module.predict(digits.test)
    assert info["test_accuracy"] == pytest.approx(
        float((predicted == digits.test_labels).mean(dtype=torch.float64))
    )
    # negative control: the same architecture untrained is at chance (~0.1)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        untrained = ClassifierFeatures(digits.shape, digits.levels, 10)
    chance = float((untrained.predict(digits.test) == digits.test_labels).double().mean())
    assert chance < 0.3


def test_features_shape_dtype_and_eval_mode(trained, digits) -> None:
    net, _ = trained
    f = net.features(digits.test)
    assert f.shape == (297, 128) and f.dtype == torch.float32
    assert (f >= 0).all()  # post-ReLU activations
    # batching and train/eval state do not change the features (eval mode, no dropout)
    net.module.train()
    g = net.features(digits.test, batch_size=7)
    assert net.module.training  # mode restored
    net.module.eval()
    torch.testing.assert_close(f, g, rtol=1e-5, atol=1e-5)
    assert net.features(digits.test[:0]).shape == (0, 128)


def test_features_discriminate_classes(trained, digits) -> None:
    net, _ = trained
    ratio = _pairwise_ratio(net.features(digits.test), digits.test_labels)
    # measured: 0.30 trained; 0.79-0.84 for untrained networks and 0.74 for raw pixels
    assert ratio < 0.5
    with torch.random.fork_rng():
        torch.manual_seed(1)
        untrained = ClassifierFeatures(digits.shape, digits.levels, 10).eval()
    assert _pairwise_ratio(untrained.features(digits.test), digits.test_labels) > 0.6


def test_features_reject_wrong_images(trained, digits) -> None:
    net, _ = trained
    with pytest.raises(ModelError, match="integer images"):
        net.features(digits.test.float())
    with pytest.raises(ModelError, match=r"\[N, 1, 8, 8\]"):
        net.features(torch.zeros(2, 1, 28, 28, dtype=torch.long))
    with pytest.raises(ModelError, match=r"\[0, 17\)"):
        net.features(torch.full((2, 1, 8, 8), 17))


def test_cache_round_trip_and_deterministic_retrain(trained, digits) -> None:
    net, cache = trained
    path = Path(net.info["path"])
    assert {p.name for p in path.iterdir()} == {"config.json", WEIGHTS_NAME, INFO_NAME}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    again = feature_network(digits, cache_dir=cache)
    assert again.info["cached"] is True and again.info["key"] == net.info["key"]
    assert again.info["test_accuracy"] == net.info["test_accuracy"]
    assert torch.equal(again.features(digits.test), net.features(digits.test))
    # retrain=True trains again; same seed -> bit-identical weights and features
    fresh = feature_network(digits, cache_dir=cache, retrain=True)
    assert fresh.info["cached"] is False
    assert torch.equal(fresh.features(digits.test), net.features(digits.test))
    # another seed is another network under another key
    assert feature_network_key(digits, seed=1) != feature_network_key(digits)


def test_key_follows_the_training_data(digits) -> None:
    key = feature_network_key(digits)
    assert key.startswith("digits-")
    assert feature_network_key(load_dataset("digits")) == key  # stable across loads
    assert feature_network_key(load_dataset("digits", levels=5)) != key  # re-quantised
    subset = dataclasses.replace(
        digits,
        train=digits.train[:1000],
        train_raw=digits.train_raw[:1000],
        train_labels=digits.train_labels[:1000],
    )
    assert feature_network_key(subset, epochs=15) != feature_network_key(digits, epochs=15)
    one_pixel = digits.train.clone()
    one_pixel[0, 0, 3, 3] = (one_pixel[0, 0, 3, 3] + 1) % digits.levels
    assert feature_network_key(dataclasses.replace(digits, train=one_pixel)) != key
    one_label = digits.train_labels.clone()
    one_label[0] = (one_label[0] + 1) % 10
    assert feature_network_key(dataclasses.replace(digits, train_labels=one_label)) != key
    assert feature_network_key(digits, epochs=QUICK) != feature_network_key(digits, epochs=4)


def test_requantised_data_never_reuses_a_stale_classifier(digits, quick, tmp_path: Path) -> None:
    shutil.copytree(Path(quick.info["path"]).parent, tmp_path / CACHE_SUBDIR)
    first = feature_network(digits, cache_dir=tmp_path, epochs=QUICK)
    assert first.info["cached"] is True
    coarse = dataclasses.replace(
        digits,
        train=requantize(digits.train, 17, 4),
        test=requantize(digits.test, 17, 4),
        levels=4,
    )
    second = feature_network(coarse, cache_dir=tmp_path, epochs=QUICK)
    assert second.info["cached"] is False and second.info["key"] != first.info["key"]
    assert second.module.levels == 4
    entries = sorted(p.name for p in (tmp_path / CACHE_SUBDIR).iterdir())
    assert entries == sorted([first.info["key"], second.info["key"]])


@pytest.mark.parametrize("damage", ["flip-byte", "truncate", "no-info", "bad-json"])
def test_corrupt_cache_entry_is_retrained(digits, quick, tmp_path: Path, damage: str) -> None:
    path = tmp_path / CACHE_SUBDIR / quick.info["key"]
    shutil.copytree(quick.info["path"], path)
    assert feature_network(digits, cache_dir=tmp_path, epochs=QUICK).info["cached"] is True
    weights = path / WEIGHTS_NAME
    if damage == "flip-byte":  # inside the tensor data: safetensors itself would not notice
        data = bytearray(weights.read_bytes())
        data[-100] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:500])
    elif damage == "no-info":  # a crash before the entry was complete
        (path / INFO_NAME).unlink()
    else:
        (path / "config.json").write_text("{not json")
    healed = feature_network(digits, cache_dir=tmp_path, epochs=QUICK)
    assert healed.info["cached"] is False
    assert torch.equal(healed.features(digits.test), quick.features(digits.test))
    assert feature_network(digits, cache_dir=tmp_path, epochs=QUICK).info["cached"] is True


def test_unlabelled_dataset_is_refused(digits, tmp_path: Path) -> None:
    unlabelled = dataclasses.replace(digits, train_labels=None, test_labels=None, num_classes=None)
    with pytest.raises(ConfigError, match=r"has none.*--feature-network inception"):
        feature_network(unlabelled, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="positive integer"):
        feature_network(digits, cache_dir=tmp_path, epochs=0)
    assert not (tmp_path / CACHE_SUBDIR).exists()


def test_inception_weights_path_resolution(tmp_path: Path, _cache_env: Path) -> None:
    assert inception_weights_path() == _cache_env / "inception" / INCEPTION_WEIGHTS
    assert inception_weights_path(cache_dir=tmp_path) == tmp_path / "inception" / INCEPTION_WEIGHTS
    assert inception_weights_path(tmp_path / "w.pth") == tmp_path / "w.pth"


def test_inception_missing_weights_names_the_exact_path(tmp_path: Path) -> None:
    expected = tmp_path / "inception" / INCEPTION_WEIGHTS
    with pytest.raises(ConfigError) as err:
        inception_features(cache_dir=tmp_path)
    message = str(err.value)
    assert str(expected) in message and "cannot download" in message
    assert ("pip install torch-fidelity" in message) == (not _fidelity_installed())
    assert not expected.exists()  # nothing was fetched


@pytest.mark.skipif(_fidelity_installed(), reason="checks the message without torch-fidelity")
def test_inception_without_torch_fidelity_gives_install_hint(tmp_path: Path, digits) -> None:
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"present")  # the file exists: only the package is missing
    with pytest.raises(ConfigError, match="pip install torch-fidelity") as err:
        inception_features(weights)
    assert "not found" not in str(err.value)
    with pytest.raises(ConfigError, match="pip install torch-fidelity"):
        load_features("inception", digits)
    with pytest.raises(ConfigError, match="1 channel"):
        inception_features(weights, channels=2)


def test_inception_input_conversion() -> None:
    module = InceptionFeatures(torch.nn.Identity(), levels=17, channels=1)
    x = torch.arange(17).reshape(1, 1, 1, 17)
    rgb = module.to_rgb_uint8(x)
    assert rgb.dtype == torch.uint8 and rgb.shape == (1, 3, 1, 17)
    expected = [round(v * 255 / 16 + 1e-9) for v in range(17)]  # halves go up: none occur
    assert rgb[0, 0, 0].tolist() == expected and expected[0] == 0 and expected[-1] == 255
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2])
    assert INCEPTION_NAME == "inception-v3 (pool3, 2048)"


def test_load_features_dispatch(trained, digits) -> None:
    net, cache = trained
    got = load_features("classifier", digits, cache_dir=cache)
    assert got.info["cached"] is True and got.info["key"] == net.info["key"]
    with pytest.raises(ConfigError, match="classifier, inception"):
        load_features("vgg", digits)


def test_classifier_works_for_28x28_rgb() -> None:
    module = ClassifierFeatures((3, 28, 28), 256, 5).eval()
    assert [m.stride for m in module.body if isinstance(m, torch.nn.Conv2d)] == [
        (2, 2),
        (2, 2),
        (2, 2),
    ]
    f = module.features(
        torch.randint(0, 256, (4, 3, 28, 28), generator=torch.Generator().manual_seed(0))
    )
    assert f.shape == (4, 128)
    assert module(torch.zeros(2, 3, 28, 28, dtype=torch.long)).shape == (2, 5)


def test_info_json_matches_returned_info(trained) -> None:
    net, _ = trained
    stored = json.loads((Path(net.info["path"]) / INFO_NAME).read_text())
    assert len(stored["weights_sha256"]) == 64
    for key in ("name", "kind", "test_accuracy", "epochs", "feature_dim", "seed", "key"):
        assert stored[key] == net.info[key]


def test_cache_entry_is_a_feature_network_artifact(quick) -> None:
    path = Path(quick.info["path"])
    artifact = read_artifact(path, kind="feature-network", what="a feature network", hint="")
    assert artifact.name == "classifier" and artifact.format_version == 2
    assert artifact.config == quick.module.config and artifact.extra["recipe_version"] == 1
    state = quick.module.state_dict()
    assert artifact.tensors.keys() == state.keys()
    assert all(torch.equal(artifact.tensors[k], v) for k, v in state.items())
    with pytest.raises(ModelError, match="not a image-model"):
        read_artifact(path, kind="image-model", what="a model", hint="")


def _write_genzoo_0_1_entry(path: Path, module: torch.nn.Module, info: dict, version=1) -> None:
    """What genzoo 0.1's ``features._write_entry`` wrote, file for file."""
    path.mkdir(parents=True)
    config = {"format": FORMAT, "version": version, "genzoo_version": "0.1.0",
              "config": module.config}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path / WEIGHTS_NAME), metadata={"format": FORMAT})
    digest = hashlib.sha256((path / WEIGHTS_NAME).read_bytes()).hexdigest()
    info = {**info, "weights_sha256": digest, "format_version": 1}
    (path / INFO_NAME).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def test_cache_written_in_the_genzoo_0_1_layout_is_still_read(digits, quick, tmp_path) -> None:
    info = {k: v for k, v in quick.info.items() if k not in ("path", "cached")}
    path = tmp_path / CACHE_SUBDIR / quick.info["key"]
    _write_genzoo_0_1_entry(path, quick.module, info)
    old = feature_network(digits, cache_dir=tmp_path, epochs=QUICK)
    assert old.info["cached"] is True and old.info["key"] == quick.info["key"]
    assert torch.equal(old.features(digits.test), quick.features(digits.test))
    assert json.loads((path / "config.json").read_text())["format"] == FORMAT  # left as it was
    # negative control: an old entry of another recipe version is not trusted but retrained,
    # and the new entry is written in the artifact layout
    shutil.rmtree(path)
    _write_genzoo_0_1_entry(path, quick.module, info, version=2)
    rebuilt = feature_network(digits, cache_dir=tmp_path, epochs=QUICK)
    assert rebuilt.info["cached"] is False
    assert json.loads((path / "config.json").read_text())["kind"] == "feature-network"
    assert feature_network(digits, cache_dir=tmp_path, epochs=QUICK).info["cached"] is True


def test_a_crash_while_caching_leaves_no_entry(digits, tmp_path, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("killed while writing info.json")

    monkeypatch.setattr(cache_module, "atomic_write_json", crash)
    with pytest.raises(RuntimeError, match="killed"):
        feature_network(digits, cache_dir=tmp_path, epochs=QUICK)
    assert list((tmp_path / CACHE_SUBDIR).iterdir()) == []  # no entry, no temporary directory
    monkeypatch.undo()
    assert feature_network(digits, cache_dir=tmp_path, epochs=QUICK).info["cached"] is False
