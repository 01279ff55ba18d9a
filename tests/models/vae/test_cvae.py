"""The conditional VAE (Sohn et al. 2015) beyond the shared contracts.

tests/models/test_contract.py and tests/models/vae/test_bound_contract.py already run it with a
fixed condition: ``exp(log_prob(x | c))`` sums to ~1 over a tiny space, samples follow it, the
bound rises with ``k``, save/load, bf16, gradients, bad inputs. These check what is particular to
it: the bound is normalised for *every* condition and differs between conditions, the condition
reaches the likelihood and the samples (negative control: the condition network cut), the KL
term is the closed-form KL between ``q(z | x, c)`` and the conditional prior ``p(z | c)``, and on
real digits a few steps teach it to use a super-resolution condition.
"""

from __future__ import annotations

import pytest
import torch

import genzoo
from genzoo.data.tasks import Colorization, SuperResolution
from genzoo.errors import ConfigError, ModelError
from genzoo.models.vae.cvae import kl_gaussians
from tests.models.tiny import all_images, perturb

SMALL = {"latent_dim": 2, "channels": 4, "hidden": 8, "cond_channels": 3}


def build(shape, condition_shape, levels=3, condition_levels=3, **kwargs):
    torch.manual_seed(0)
    return genzoo.create_model(
        "cvae",
        shape=shape,
        levels=levels,
        condition_shape=condition_shape,
        condition_levels=condition_levels,
        **{**SMALL, **kwargs},
    )


def trained_on_two_conditions(steps: int = 150):
    """A cVAE on 2x2 targets given a 1x1 condition, fitted to two conditions with different
    targets: c = 0 -> dark images, c = 2 -> bright ones (so p(x | c) must depend on c)."""
    model = build((1, 2, 2), (1, 1, 1)).double()
    g = torch.Generator().manual_seed(0)
    dark = torch.randint(0, 2, (8, 1, 2, 2), generator=g)
    x = torch.cat([dark, 2 - dark])
    c = torch.cat([torch.zeros(8, 1, 1, 1), torch.full((8, 1, 1, 1), 2)]).long()
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(x, c=c)["loss"].backward()
        opt.step()
    return model.eval()


def space_probs(model, c_value: int, k: int = 2000) -> torch.Tensor:
    x = all_images(model.shape, model.levels)
    c = torch.full((x.shape[0], *model.condition_shape), c_value, dtype=torch.long)
    with torch.no_grad():
        lp = model.log_prob(x, c=c, k=k, generator=torch.Generator().manual_seed(0))
    return lp.double().exp()


def test_bound_is_normalised_for_every_condition_and_depends_on_it():
    model = trained_on_two_conditions()
    probs = [space_probs(model, v) for v in range(3)]
    for p in probs:  # E[p_hat(x | c)] = p(x | c): the unbiased estimates add up to one per c
        assert abs(float(p.sum()) - 1.0) < 0.03, [float(q.sum()) for q in probs]
    dark, bright = probs[0] / probs[0].sum(), probs[2] / probs[2].sum()
    total_variation = 0.5 * float((dark - bright).abs().sum())
    assert total_variation > 0.5, f"p(x | c) barely depends on c: TV = {total_variation:.3f}"
    # the mass sits where the training data of each condition was
    level = all_images(model.shape, model.levels).flatten(1).double().mean(1)
    assert float((level * dark).sum()) < 0.8 < 1.2 < float((level * bright).sum())


def cut(model):
    """The condition network's output made constant: c can no longer reach anything."""
    with torch.no_grad():
        model.condition_net[2].weight.zero_()
    return model


@pytest.mark.parametrize(
    ("shape", "condition_shape"),
    [
        ((1, 8, 8), (1, 4, 4)),  # 2x
        ((1, 8, 8), (1, 2, 2)),  # 4x
        ((3, 4, 4), (1, 4, 4)),  # colorization
        ((1, 6, 4), (2, 2, 4)),  # 3x by 1x, more condition channels
    ],
)
def test_condition_reaches_likelihood_and_samples(shape, condition_shape, generator):
    model = perturb(build(shape, condition_shape, levels=4, condition_levels=4)).double().eval()
    x = torch.randint(0, 4, (3, *shape), generator=generator)
    c = torch.randint(0, 4, (3, *condition_shape), generator=generator)
    c2 = c.clone()
    c2[:, 0, 0, 0] = (c2[:, 0, 0, 0] + 2) % 4

    def effects(m):
        with torch.no_grad():
            g = torch.Generator().manual_seed
            bound = m.log_prob(x, c=c2, k=20) - m.log_prob(x, c=c, k=20)
            z = torch.zeros(3, m.latent_dim, dtype=m.dtype)
            params = m.decoder_params(z, None, c=c2) - m.decoder_params(z, None, c=c)
            prior = torch.cat(m.prior(c2)) - torch.cat(m.prior(c))
            drawn = [m.sample(16, c=cc.repeat(6, 1, 1, 1)[:16], generator=g(1)) for cc in (c, c2)]
            same = torch.equal(*drawn)
        return bound.abs(), params.abs().amax(), prior.abs().amax(), same

    bound, params, prior, same = effects(model)
    assert (bound > 1e-6).all() and float(params) > 1e-6 and float(prior) > 1e-6
    assert not same
    bound, params, prior, same = effects(cut(model))  # negative control
    assert float(bound.max()) == 0.0 and float(params) == 0.0 and float(prior) == 0.0
    assert same


def test_kl_term_is_the_closed_form_kl_to_the_conditional_prior(generator):
    model = build((1, 4, 4), (1, 2, 2), levels=4, condition_levels=4, latent_dim=3).double()
    x = torch.randint(0, 4, (5, 1, 4, 4), generator=generator)
    c = torch.randint(0, 4, (5, 1, 2, 2), generator=generator)
    with torch.no_grad():
        terms = model.elbo_terms(x, c=c, k=1, generator=generator)
        mean, log_var = model.posterior(x, None, c=c)
        p_mean, p_log_var = model.prior(c)
        q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
        p = torch.distributions.Normal(p_mean, (0.5 * p_log_var).exp())
        reference = torch.distributions.kl_divergence(q, p).sum(-1)
        # and the Monte Carlo estimate log q - log p(z | c) agrees with it on average
        z, log_q = model.sample_posterior((mean, log_var), 20000, generator)
        monte_carlo = (log_q - model.log_prior(z, None, c=c)).mean(0)
    torch.testing.assert_close(terms["kl"], reference)
    torch.testing.assert_close(kl_gaussians(mean, log_var, mean, log_var), 0 * reference)
    assert float((monte_carlo - reference).abs().max()) < 0.05
    assert (reference > 0.01).all()  # the prior is not the posterior: the check can fail


def test_condition_must_fit_the_target():
    with pytest.raises(ConfigError, match="must divide"):
        build((1, 8, 8), (1, 3, 3))
    with pytest.raises(ConfigError, match="conditioned on an image"):
        genzoo.create_model("cvae", shape=(1, 4, 4), levels=4, **SMALL)
    with pytest.raises(ConfigError, match="cond_channels"):
        build((1, 4, 4), (1, 2, 2), cond_channels=0)
    model = build((1, 4, 4), (1, 2, 2))
    with pytest.raises(ModelError, match="pass c"):
        model.embed(torch.zeros(2, 1, 4, 4, dtype=torch.long))


@pytest.mark.parametrize("task", [SuperResolution(scale=2), Colorization()])
def test_learns_to_use_the_condition_of_a_task(task):
    """Real digits (super-resolution) or random colour images (colorization, whose luminance
    is then informative about every channel): a few steps on a fixed batch lower the loss, and
    the trained model's bound prefers each image's own condition to its neighbour's."""
    if isinstance(task, Colorization):
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 8, (48, 3, 4, 4), generator=g)
        shape, levels = (3, 4, 4), 8
    else:
        data = genzoo.load_dataset("digits")
        x, shape, levels = data.train[:48], tuple(data.shape), data.levels
    c = task.condition(x, levels)
    cond_shape, cond_levels = task.condition_spec(shape, levels)
    torch.manual_seed(0)
    model = genzoo.create_model(
        "cvae",
        shape=shape,
        levels=levels,
        condition_shape=cond_shape,
        condition_levels=cond_levels,
        latent_dim=4,
        channels=8,
        hidden=32,
        cond_channels=8,
    ).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(model.loss(x, c=c)["loss"])
    for _ in range(80):
        opt.zero_grad()
        model.loss(x, c=c)["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert float(model.loss(x, c=c)["loss"]) < first - 0.3
        own = model.log_prob(x, c=c, k=50)
        other = model.log_prob(x, c=c.roll(1, dims=0), k=50)
    gap = float((own - other).mean()) / model.num_dims  # nats per sub-pixel
    # (measured: 1.06 on digits at 2x, 2.28 for colorization; a model blind to c gives ~0)
    assert gap > 0.3, f"the condition barely matters: {gap:.3f} nats/dim"


def test_cli_train_and_eval(tmp_path, capsys):
    """The real CLI: train a cVAE for super-resolution on digits, then eval the run: the bound
    of log p(x | c) is recorded as a bound and eval reproduces it."""
    from genzoo.cli.main import main
    from genzoo.core.run import RunFolder

    out = tmp_path / "cvae"
    flags = ["--iwae-k", "20", "--iwae-images", "64", "--no-sample-quality"]
    args = ["train", "cvae", "--data", "digits", "--task", "super-resolution", "--steps", "5"]
    assert main([*args, "--out", str(out), "--batch-size", "32", "--eval-every", "0", *flags]) == 0
    metrics = RunFolder(out).read_metrics()
    assert metrics.task == {"name": "super-resolution", "scale": 2}
    assert metrics.test.density == "bound" and metrics.test.k == 20
    assert genzoo.load_model(out).condition_shape == (1, 4, 4)
    capsys.readouterr()
    assert main(["eval", str(out), *flags]) == 0
    assert "IWAE bound (k=20)" in capsys.readouterr().out
    again = RunFolder(out).read_metrics().test.bits_per_dim
    assert again == pytest.approx(metrics.test.bits_per_dim, rel=1e-6)
    assert (out / "samples.png").is_file()


def test_likelihood_procedure_passes_the_batch_condition(generator):
    """LikelihoodStep hands the batch's ``c`` to ``loss`` (spied), and its update trains."""
    import contextlib

    from genzoo.data.dataset import Split
    from genzoo.training.procedures import LikelihoodStep, StepContext

    model = build((1, 4, 4), (1, 2, 2), levels=4, condition_levels=4).train()
    batch = Split(
        x=torch.randint(0, 4, (6, 1, 4, 4), generator=generator),
        c=torch.randint(0, 4, (6, 1, 2, 2), generator=generator),
    )
    seen = []
    loss = model.loss

    def spy(x, y=None, *, c=None):
        seen.append((x, c))
        return loss(x, y, c=c)

    model.loss = spy
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def update(value, opt):
        opt.zero_grad()
        value.backward()
        opt.step()

    ctx = StepContext(
        model=model,
        optimizers=[optimizer],
        next_batch=lambda: batch,
        update=update,
        autocast=contextlib.nullcontext,
        record=lambda out: out["loss"].detach(),
    )
    values = [float(LikelihoodStep().step(ctx)[0]) for _ in range(20)]
    assert all(x is batch.x and c is batch.c for x, c in seen) and len(seen) == 20
    assert values[-1] < values[0]
