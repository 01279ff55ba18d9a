"""VAE with inverse autoregressive flow: the exact log-determinant and log q(z_T | x).

The log-determinant the model uses (``sum log sigma``) is compared with ``slogdet`` of the
autograd Jacobian, per step and for the whole flow; ``log q`` with an independent computation
(invert the flow, Gaussian density of ``z_0``, minus that log-determinant). Negative controls show
the checks catch a leaky autoregressive network, a sign error and steps that share one order.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

import genzoo
from genzoo.errors import ConfigError
from genzoo.models.vae.vae import VAE
from genzoo.models.vae.vae_iaf import IAFStep

SHAPE, LEVELS = (1, 4, 4), 4


def iaf(latent_dim: int = 4, seed: int = 0, **kwargs) -> genzoo.models.GenerativeModel:
    """A double-precision model whose flow is far from the identity (larger random weights; the
    biases, and so the gates' +1, are kept, which keeps the Jacobians well conditioned)."""
    torch.manual_seed(seed)
    config = {"channels": 4, "hidden": 8, "flow_steps": 3, "flow_hidden": 7, "flow_layers": 2}
    config.update(kwargs)
    model = genzoo.create_model(
        "vae_iaf", shape=SHAPE, levels=LEVELS, latent_dim=latent_dim, context_dim=3, **config
    ).double()
    with torch.no_grad():
        for name, p in model.flows.named_parameters():
            if name.endswith("weight"):
                p.normal_(0.0, 0.6)
    return model.eval()


def context_and_points(model, n: int = 4, seed: int = 0):
    """Contexts ``h [n, C]`` of random images and points ``z_0 [n, D]`` (some far from 0)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, LEVELS, (n, *SHAPE), generator=g)
    with torch.no_grad():
        _, _, h = model.posterior(x, None)
    z0 = torch.randn(n, model.latent_dim, generator=g, dtype=torch.float64) * 2.0
    return h, z0


def step_checks(step: IAFStep, z0: torch.Tensor, h: torch.Tensor) -> tuple[float, float, float]:
    """For one point ``z0 [D]``, context ``h [C]``: (|log_det - log |det J||, largest entry of J
    above the diagonal in the step's order, largest entry below it)."""
    jac = jacobian(lambda z: step(z, h)[0], z0)
    with torch.no_grad():
        gap = abs(float(step(z0, h)[1] - torch.linalg.slogdet(jac).logabsdet))
    ordered = jac[step.net.order][:, step.net.order]  # rows: outputs in order; columns: inputs
    return gap, float(ordered.triu(1).abs().max()), float(ordered.tril(-1).abs().max())


def is_triangular(jac: torch.Tensor, order: torch.Tensor) -> bool:
    return bool((jac[order][:, order].triu(1) == 0).all())


@pytest.mark.parametrize("latent_dim", [3, 5])
def test_step_log_det_equals_autograd_jacobian(latent_dim):
    model = iaf(latent_dim)
    h, z0 = context_and_points(model)
    for step in model.flows:
        for n in range(z0.shape[0]):
            gap, upper, lower = step_checks(step, z0[n], h[n])
            jac = jacobian(lambda z, n=n, step=step: step(z, h[n])[0], z0[n])
            sigma = torch.sigmoid(step.net(z0[n], h[n])[1])
            torch.testing.assert_close(jac.diagonal(), sigma, rtol=0, atol=1e-14)
            assert gap < 1e-12
            assert upper == 0.0  # triangular in the step's order: exact zeros
            assert lower > 1e-3  # and not trivially diagonal


@pytest.mark.parametrize("latent_dim", [3, 5])
def test_flow_log_det_equals_autograd_jacobian(latent_dim):
    model = iaf(latent_dim)
    h, z0 = context_and_points(model)
    for n in range(z0.shape[0]):
        jac = jacobian(lambda z, n=n: model.flow(z, h[n])[0], z0[n])
        with torch.no_grad():
            log_det = model.flow(z0[n], h[n])[1]
        torch.testing.assert_close(log_det, torch.logdet(jac), rtol=0, atol=1e-12)
        assert abs(float(log_det)) > 0.1  # a sign error would be caught
        assert (jac.abs() > 1e-9).all()  # reversed orders: every dimension depends on every other
    orders = [step.net.order.tolist() for step in model.flows]
    natural = list(range(latent_dim))
    assert orders == [natural, natural[::-1], natural]


def invert(model, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``z_0`` from ``z_T [..., D]`` by solving each step one dimension at a time, in its order."""
    with torch.no_grad():
        for step in reversed(model.flows):
            previous = torch.zeros_like(z)
            for i in step.net.order:
                out = step.net(previous, h)
                m, sigma = out[..., 0, i], torch.sigmoid(out[..., 1, i])
                previous[..., i] = (z[..., i] - (1 - sigma) * m) / sigma
            z = previous
    return z


def test_log_q_equals_gaussian_density_minus_log_det():
    model = iaf(4)
    x = torch.randint(0, LEVELS, (3, *SHAPE), generator=torch.Generator().manual_seed(5))
    k = 6
    with torch.no_grad():
        q = model.posterior(x, None)
        z, log_q = model.sample_posterior(q, k, torch.Generator().manual_seed(2))
        z0_drawn, _ = VAE.sample_posterior(model, q, k, torch.Generator().manual_seed(2))
    mean, log_var, h = q
    assert z.shape == (k, 3, 4) and log_q.shape == (k, 3)
    z0 = invert(model, z, h)
    torch.testing.assert_close(z0, z0_drawn, rtol=0, atol=1e-10)  # the flow is a bijection
    base = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    for i in range(k):
        for b in range(3):
            jac = jacobian(lambda v, b=b: model.flow(v, h[b])[0], z0[i, b])
            expected = base.log_prob(z0[i]).sum(-1)[b] - torch.linalg.slogdet(jac).logabsdet
            torch.testing.assert_close(log_q[i, b], expected, rtol=0, atol=1e-10)


def test_elbo_uses_the_flow_density_not_the_base_gaussian_kl():
    """With a flow the KL has no closed form: the ELBO is the mean of the log weights
    ``log p(x | z_T) + log p(z_T) - log q(z_T | x)`` over the same draws."""
    model = iaf(3)
    x = torch.randint(0, LEVELS, (4, *SHAPE), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        terms = model.elbo_terms(x, k=7, generator=torch.Generator().manual_seed(6))
        log_w = model.log_weights(x, k=7, generator=torch.Generator().manual_seed(6))
        q = model.posterior(x, None)
        z, log_q = model.sample_posterior(q, 7, torch.Generator().manual_seed(6))
    torch.testing.assert_close(terms["elbo"], log_w.mean(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(terms["kl"], (log_q - model.log_prior(z, None)).mean(0))
    gaussian_kl = VAE.kl(model, q, None)
    assert (terms["kl"] - gaussian_kl).abs().max() > 1e-2  # the two differ: the test has power


def test_negative_control_leaky_network_is_caught():
    """A step whose MADE sees its own dimension: not triangular, and sum log sigma is wrong."""
    model = iaf(4)
    h, z0 = context_and_points(model)
    step = model.flows[0]
    assert step_checks(step, z0[0], h[0])[:2] == (pytest.approx(0, abs=1e-12), 0.0)
    for layer in step.net.layers:
        layer.mask.fill_(1.0)
    gap, upper, _ = step_checks(step, z0[0], h[0])
    assert upper > 1e-3 and gap > 1e-3


def test_negative_control_steps_sharing_one_order_are_caught():
    """Without the reversal the whole flow's Jacobian stays triangular, which the density
    check of ``test_flow_log_det_equals_autograd_jacobian`` rejects."""
    model = iaf(4)
    h, z0 = context_and_points(model)
    jac = jacobian(lambda z: model.flow(z, h[0])[0], z0[0])
    natural = torch.arange(4)
    assert not is_triangular(jac, natural) and not is_triangular(jac, natural.flip(0))
    same = IAFStep(4, 7, 2, 3, natural).double()  # step 1 rebuilt in step 0's order
    same.load_state_dict(model.flows[1].state_dict())
    model.flows[1] = same
    jac = jacobian(lambda z: model.flow(z, h[0])[0], z0[0])
    assert is_triangular(jac, natural) and not (jac.abs() > 1e-9).all()


def test_without_flow_steps_the_model_is_exactly_vae():
    torch.manual_seed(0)
    common = {"shape": SHAPE, "levels": LEVELS, "latent_dim": 3, "channels": 4, "hidden": 8}
    plain = genzoo.create_model("vae", **common).double().eval()
    flat = genzoo.create_model("vae_iaf", flow_steps=0, context_dim=0, **common).double().eval()
    flat.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randint(0, LEVELS, (5, *SHAPE), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for method, kwargs in [("log_weights", {"k": 4}), ("iwae_bound", {"k": 50})]:
            a = getattr(plain, method)(x, generator=torch.Generator().manual_seed(3), **kwargs)
            b = getattr(flat, method)(x, generator=torch.Generator().manual_seed(3), **kwargs)
            assert torch.equal(a, b)
        ta = plain.elbo_terms(x, k=3, generator=torch.Generator().manual_seed(4))
        tb = flat.elbo_terms(x, k=3, generator=torch.Generator().manual_seed(4))
        assert all(torch.equal(ta[key], tb[key]) for key in ta)
        assert torch.equal(plain.embed(x), flat.embed(x))
        assert torch.equal(plain.log_prob(x), flat.log_prob(x))


def test_saturated_gates_make_the_flow_the_identity():
    model = iaf(4)
    with torch.no_grad():
        for step in model.flows:
            step.net.layers[-1].bias.view(2, 4)[1].fill_(100.0)  # sigma = 1 in double
    x = torch.randint(0, LEVELS, (3, *SHAPE), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        q = model.posterior(x, None)
        z, log_q = model.sample_posterior(q, 5, torch.Generator().manual_seed(2))
        z0, log_q0 = VAE.sample_posterior(model, q, 5, torch.Generator().manual_seed(2))
        assert torch.equal(z, z0)
        torch.testing.assert_close(log_q, log_q0, rtol=0, atol=1e-30)
        assert torch.equal(model.embed(x), q[0])


def test_fresh_steps_start_close_to_the_identity():
    """The gate bias starts at +1 (paper: +1 or +2): sigma near sigmoid(1) = 0.73, not 0.5."""
    torch.manual_seed(0)
    model = genzoo.create_model("vae_iaf", shape=SHAPE, levels=LEVELS, latent_dim=8).double()
    z = torch.randn(100, 8, dtype=torch.float64)
    h = torch.randn(100, model.context_dim, dtype=torch.float64)
    with torch.no_grad():
        sigma = torch.stack([torch.sigmoid(step.net(z, h)[:, 1]) for step in model.flows])
    assert 0.65 < float(sigma.mean()) < 0.8


def test_context_and_embed():
    model = iaf(4)
    h, z0 = context_and_points(model)
    with torch.no_grad():
        moved = model.flow(z0, h + 0.5)[0] - model.flow(z0, h)[0]
        assert (moved.abs() > 0).all()  # h reaches every dimension, the first in order included
        x = torch.randint(0, LEVELS, (3, *SHAPE), generator=torch.Generator().manual_seed(1))
        mean, _, h = model.posterior(x, None)
        assert torch.equal(model.embed(x), model.flow(mean, h)[0])
        assert not torch.allclose(model.embed(x), mean)


def test_flow_ignores_bf16_autocast():
    """The log-determinant enters log q: the flow must run in float32 even under autocast."""
    torch.manual_seed(0)
    model = genzoo.create_model(
        "vae_iaf", shape=SHAPE, levels=LEVELS, latent_dim=3, channels=4, hidden=8
    )
    x = torch.randint(0, LEVELS, (2, *SHAPE), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, _, h = model.posterior(x, None)
        z0 = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z, log_det = model.flow(z0, h)
            assert model.flows[0].net.layers[0](z0).dtype == torch.bfloat16  # autocast is on
        z_ref, log_det_ref = model.flow(z0, h)
    assert z.dtype == log_det.dtype == torch.float32
    assert torch.equal(z, z_ref) and torch.equal(log_det, log_det_ref)


def test_bad_hyperparameters_raise():
    for kwargs, message in [
        ({"flow_steps": -1}, ">= 0"),
        ({"context_dim": -2}, ">= 0"),
        ({"flow_hidden": 0}, "flow_hidden=0 is invalid"),
        ({"latent_dim": 1}, "latent_dim >= 2"),
    ]:
        with pytest.raises(ConfigError, match=message):
            genzoo.create_model("vae_iaf", shape=SHAPE, levels=LEVELS, **kwargs)
    assert genzoo.create_model("vae_iaf", shape=SHAPE, levels=LEVELS, latent_dim=1, flow_steps=0)
