"""Declared capabilities match what every model does: a declaration that lies fails here.

The trainer, the evaluator and the CLI act on ``model.capabilities`` alone, so a model that
declares a capability must have it and one that does not must refuse it with a typed error.
"""

from __future__ import annotations

import pytest
import torch

from genzoo.errors import ConfigError, ModelError, UnsupportedError
from genzoo.models import available_models, get_model_class
from genzoo.models.capabilities import check_declarations
from genzoo.training.procedures import PROCEDURES
from tests.models.tiny import condition_for, tiny_model

MODELS = available_models()
SHAPE = (1, 4, 4)
REFUSED = (UnsupportedError, ModelError, ConfigError, NotImplementedError)


def _model_and_batch(name: str, num_classes: int | None = None):
    model = tiny_model(name, SHAPE, levels=3, num_classes=num_classes)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, model.levels, (3, *SHAPE), generator=g)
    y = None if num_classes is None else torch.tensor([0, 1, 0])
    extra = {}
    if model.capabilities.image_conditional:
        extra["c"] = condition_for(model, 3, g)
    return model, x, y, extra


@pytest.mark.parametrize("name", MODELS)
def test_declarations_are_valid_and_the_procedure_exists(name):
    cls = get_model_class(name)
    check_declarations(cls)
    caps = tiny_model(name, SHAPE, levels=3).capabilities
    assert caps.training in PROCEDURES
    assert caps.sampling_methods[0] in ("cached", "naive", "ancestral")
    if caps.bound_estimator is not None:
        assert caps.density == "bound"


@pytest.mark.parametrize("name", MODELS)
def test_density_declaration_matches_log_prob(name):
    model, x, y, extra = _model_and_batch(name)
    if model.capabilities.has_density:
        with torch.no_grad():
            lp = model.log_prob(x, y, **extra)
        assert lp.shape == (3,) and torch.isfinite(lp).all() and (lp <= 1e-6).all()
    else:
        with pytest.raises(REFUSED):
            model.log_prob(x, y, **extra)


@pytest.mark.parametrize("name", MODELS)
def test_features_and_reconstruction_declarations_match(name):
    model, x, _y, extra = _model_and_batch(name)
    caps = model.capabilities
    if caps.features:
        assert model.features(x, **extra).shape[0] == 3
    else:
        with pytest.raises(REFUSED):
            model.features(x, **extra)
    if caps.reconstruction:
        assert model.reconstruct(x).shape == x.shape
    else:
        assert not hasattr(model, "reconstruct") or _refuses(lambda: model.reconstruct(x))


@pytest.mark.parametrize("name", MODELS)
def test_latent_declarations_match(name):
    model, x, _y, _ = _model_and_batch(name)
    latent = model.capabilities.latent
    if latent == "encoder":
        assert model.interpolate(x, x.flip(0), steps=3).shape == (3, *x.shape)
    if latent == "generator":
        walk = model.latent_walk(2, 3, generator=torch.Generator().manual_seed(0))
        assert walk.shape == (3, 2, *SHAPE)
    if model.capabilities.gaussian_latent:
        z = torch.randn(2, model.latent_dim, dtype=model.dtype)
        assert model.decoder_mean(z).shape[0] == 2


@pytest.mark.parametrize("name", MODELS)
def test_completion_declaration_matches(name):
    model, x, _y, _extra = _model_and_batch(name)
    mask = torch.zeros(SHAPE, dtype=torch.bool)
    mask[:, :2] = True
    if model.capabilities.image_conditional:
        pytest.skip("an image-conditional model is completed from its condition, not a mask")
    if model.capabilities.completion is None:
        with pytest.raises(REFUSED):
            model.sample(3, known=x, mask=mask, generator=torch.Generator().manual_seed(0))
    else:
        out = model.sample(3, known=x, mask=mask, generator=torch.Generator().manual_seed(0))
        assert torch.equal(out[:, mask], x[:, mask])


@pytest.mark.parametrize("name", MODELS)
def test_classifier_declaration_matches(name):
    model, x, _y, _extra = _model_and_batch(name, num_classes=2)
    if model.capabilities.classifier:
        probs = model.predict_proba(x)
        assert probs.shape == (3, 2)
        assert torch.allclose(probs.double().sum(1), torch.ones(3, dtype=torch.float64), atol=1e-6)
        assert torch.equal(model.predict(x), probs.argmax(1))
    assert tiny_model(name, SHAPE, levels=3).capabilities.classifier is False  # needs labels


def test_a_false_declaration_is_caught(monkeypatch):
    """Negative control: declaring features on a model that has none fails the test above."""
    cls = get_model_class("pixel_independent")
    monkeypatch.setattr(cls, "has_features", True)
    model, x, _, _ = _model_and_batch("pixel_independent")
    if model.capabilities.features:
        with pytest.raises(REFUSED):
            model.features(x)  # what the declaration test would have called, and it fails


def test_an_unknown_declaration_is_refused_at_registration():
    class Bad(get_model_class("pixelcnn")):
        completion = "telepathy"

    with pytest.raises(TypeError, match="completion"):
        check_declarations(Bad)


def _refuses(call) -> bool:
    try:
        call()
    except REFUSED:
        return True
    return False
