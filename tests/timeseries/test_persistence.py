"""Save/load round trips of fitted time-series models (JSON config + safetensors, no pickle)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from genzoo.errors import ConfigError, ModelError
from genzoo.timeseries import (
    CausalConvForecaster,
    GaussianHMMForecaster,
    SeasonalRandomWalk,
    create_forecaster,
    load_forecaster,
    load_series,
)

SMALL_AR = dict(channels=8, dilations=(1, 2), n_steps=15, eval_every=5)
MODELS = {
    "hmm": lambda: GaussianHMMForecaster(2, n_init=1),
    "hmm_tied_diff": lambda: GaussianHMMForecaster(3, covariance_type="tied", difference=1),
    "causal_ar": lambda: CausalConvForecaster(**SMALL_AR, n_components=2),
    "causal_ar_seasonal": lambda: CausalConvForecaster(**SMALL_AR, difference=12),
    "naive": lambda: SeasonalRandomWalk(12),
}


@pytest.fixture(scope="module")
def co2() -> np.ndarray:
    return load_series("co2").values


@pytest.mark.parametrize("key", sorted(MODELS))
def test_round_trip_reproduces_every_output(key, co2, tmp_path):
    train, test = co2[:400], co2[400:460]
    model = MODELS[key]().fit(train)
    model.save(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert (meta["kind"], meta["name"], meta["format_version"]) == ("series-model", model.name, 2)
    assert meta["config"] == json.loads(json.dumps(model.get_params()))
    assert set(meta["fitted"]) >= {"mean_", "scale_", "train_log_likelihood_"}
    loaded = load_forecaster(tmp_path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.score_samples(test, train), model.score_samples(test, train))
    assert np.array_equal(loaded.simulate(train, 12, 5, 3), model.simulate(train, 12, 5, 3))
    for a, b in zip(loaded.sample(30, 1), model.sample(30, 1)):
        assert np.array_equal(a, b)
    assert loaded.train_log_likelihood_ == model.train_log_likelihood_
    for name in ("means_", "transmat_", "startprob_", "loss_history_", "validation_history_"):
        if hasattr(model, name):
            assert np.array_equal(getattr(loaded, name), getattr(model, name))
    if key.startswith("hmm"):  # the rebuilt hmmlearn model scores like the fitted one
        z = model._standardize(model._differences(train))[:, None]
        assert loaded.hmm_.score(z) == pytest.approx(model.hmm_.score(z), abs=1e-9)
        assert (loaded.converged_, loaded.n_iter_) == (model.converged_, model.n_iter_)


def test_loading_bad_directories_raises_clear_errors(co2, tmp_path):
    with pytest.raises(ModelError, match="genzoo series fit"):
        load_forecaster(tmp_path / "absent")
    model = CausalConvForecaster(**SMALL_AR).fit(co2[:100])
    model.save(tmp_path / "ok")
    weights = load_file(str(tmp_path / "ok" / "model.safetensors"))
    weights.pop("net.head.3.weight")
    save_file(weights, str(tmp_path / "ok" / "model.safetensors"))
    with pytest.raises(ModelError, match="do not match"):
        load_forecaster(tmp_path / "ok")
    image = tmp_path / "image"
    image.mkdir()
    (image / "config.json").write_text(json.dumps({"model": "pixelcnn", "config": {}}))
    (image / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="image model"):
        load_forecaster(image)
    with pytest.raises(ModelError, match="not fitted"):
        SeasonalRandomWalk().save(tmp_path / "unfitted")
    with pytest.raises(ConfigError, match="unknown time-series model"):
        create_forecaster("arima")
    with pytest.raises(ConfigError, match="n_state"):
        create_forecaster("hmm", n_state=3)


def test_a_model_saved_as_another_kind_is_refused(tmp_path):
    model = SeasonalRandomWalk(1).fit(np.arange(30.0) ** 1.5)
    model.save(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**meta, "kind": "feature-network"}))
    with pytest.raises(ModelError, match="feature-network, not a time-series model"):
        load_forecaster(tmp_path)
