"""Autoencoder: features are the code; the sampling Gaussian follows the training codes."""

from __future__ import annotations

import pytest
import torch

import genzoo
from genzoo.errors import UnsupportedError


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return genzoo.create_model(
        "autoencoder", shape=(1, 4, 4), levels=3, code_dim=3, channels=4, hidden=8
    ).double()


def test_running_code_statistics_and_exact_fit(generator):
    model = tiny().train()
    x = torch.randint(0, 3, (16, 1, 4, 4), generator=generator)
    model.loss(x)  # first update: the batch's own statistics
    codes = model.encode(x).detach()
    torch.testing.assert_close(model.code_mean, codes.mean(0))
    torch.testing.assert_close(model.code_covariance(), torch.cov(codes.T, correction=0))
    model.loss(x[:8])  # later updates move towards each batch
    assert not torch.allclose(model.code_mean, codes.mean(0))
    model.eval().fit_code_distribution(x)
    torch.testing.assert_close(model.code_mean, codes.mean(0))
    torch.testing.assert_close(model.features(x).double(), codes.float().double())


def test_samples_decode_codes_from_the_fitted_gaussian(generator):
    model = tiny().eval()
    x = torch.randint(0, 3, (16, 1, 4, 4), generator=generator)
    model.fit_code_distribution(x)
    g = torch.Generator().manual_seed(0)
    a = model.sample(32, generator=g)
    with torch.no_grad():  # a code distribution far away decodes to other images
        cov = model.code_covariance()
        model.code_mean += 50.0
        model.code_second_moment.copy_(cov + torch.outer(model.code_mean, model.code_mean))
    b = model.sample(32, generator=torch.Generator().manual_seed(0))
    assert a.shape == (32, 1, 4, 4) and not torch.equal(a, b)
    with pytest.raises(UnsupportedError, match="no log_prob"):
        model.log_prob(x)
    assert model.reconstruct(x).shape == x.shape
