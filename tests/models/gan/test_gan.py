"""The GAN family: the players' objectives, the gradient penalty, the projection discriminator,
quantisation, latent walks and completion, and adversarial training on a toy 2-D mixture."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

import genzoo
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, ModelError, UnsupportedError
from genzoo.models.gan.base import (
    LOSSES,
    Discriminator,
    Generator,
    discriminator_objective,
    generator_objective,
    slerp,
)
from genzoo.training import TrainConfig, train
from genzoo.training.ema import refresh_batch_norm
from tests.models.tiny import tiny_model

GANS = ["gan", "dcgan", "wgan_gp", "sngan"]


# ---------------------------------------------------------------------- objectives
def test_objectives_match_their_formulas():
    d_real = torch.tensor([2.0, -1.0, 0.5])
    d_fake = torch.tensor([-3.0, 0.2, 1.5])
    sig = torch.sigmoid
    bce = -(torch.log(sig(d_real)).mean() + torch.log(1 - sig(d_fake)).mean())
    for loss in ("minimax", "non_saturating"):
        torch.testing.assert_close(discriminator_objective(d_real, d_fake, loss), bce)
    torch.testing.assert_close(
        generator_objective(d_fake, "minimax"), torch.log(1 - sig(d_fake)).mean()
    )
    torch.testing.assert_close(
        generator_objective(d_fake, "non_saturating"), -torch.log(sig(d_fake)).mean()
    )
    w = d_fake.mean() - d_real.mean()
    torch.testing.assert_close(discriminator_objective(d_real, d_fake, "wasserstein"), w)
    hinge = (1 - d_real).clamp(min=0).mean() + (1 + d_fake).clamp(min=0).mean()
    torch.testing.assert_close(discriminator_objective(d_real, d_fake, "hinge"), hinge)
    for loss in ("wasserstein", "hinge"):
        torch.testing.assert_close(generator_objective(d_fake, loss), -d_fake.mean())
    with pytest.raises(ConfigError, match="one of"):
        discriminator_objective(d_real, d_fake, "nope")


def test_optimal_discriminator_and_the_jensen_shannon_value():
    """Goodfellow et al. 2014, Prop. 1 and Thm. 1: over all discriminators the cross-entropy is
    minimised by sigmoid(D) = p / (p + q), where it equals log 4 - 2 JSD(p || q).

    Four cells; each distribution is represented exactly by 20 "samples" (counts proportional to
    the probabilities), so the library's sample mean is the exact expectation.
    """
    counts_p, counts_q = torch.tensor([10, 6, 3, 1]), torch.tensor([2, 4, 6, 8])
    p, q = counts_p.double() / 20, counts_q.double() / 20
    cells = torch.arange(4)
    real_cells = cells.repeat_interleave(counts_p)
    fake_cells = cells.repeat_interleave(counts_q)
    optimum = torch.log(p / q).requires_grad_(True)  # sigmoid(log(p/q)) = p / (p + q)
    value = discriminator_objective(optimum[real_cells], optimum[fake_cells], "minimax")
    (grad,) = torch.autograd.grad(value, optimum)
    assert float(grad.abs().max()) < 1e-15  # stationary; the objective is convex in the logits
    m = (p + q) / 2
    jsd = 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum()
    assert float(value.detach()) == pytest.approx(math.log(4) - 2 * float(jsd), abs=1e-12)
    moved = optimum.detach() + torch.tensor([0.1, -0.1, 0.05, 0.0], dtype=torch.float64)
    worse = discriminator_objective(moved[real_cells], moved[fake_cells], "minimax")
    assert float(worse) > float(value.detach())
    # negative control: the Wasserstein objective has no such interior minimiser (unbounded)
    assert float(discriminator_objective(10 * (p - q), 10 * (p - q), "wasserstein")) == 0.0


def test_minimax_generator_gradient_saturates_and_the_non_saturating_one_does_not():
    """Early in training D rejects the samples (large negative scores)."""
    d_fake = torch.full((4,), -8.0, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(generator_objective(d_fake, "minimax"), d_fake)
    (g_ns,) = torch.autograd.grad(generator_objective(d_fake, "non_saturating"), d_fake)
    # both push the score up (negative gradient of a loss to minimise), with very different force
    assert (g_minimax < 0).all() and (g_ns < 0).all()
    assert float(g_minimax.abs().max()) < 1e-3 * float(g_ns.abs().min())
    torch.testing.assert_close(g_ns, -torch.sigmoid(-d_fake.detach()) / 4)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    """For D(x) = w . x the gradient is w everywhere: the penalty is (||w|| - 1)^2 exactly."""
    model = genzoo.create_model(
        "gan", shape=(1, 2, 3), levels=5, gradient_penalty=10.0, loss="wasserstein"
    ).double()
    critic = Discriminator(nn.Flatten(), 6, None, bias=False).double()
    model.discriminator = critic
    with torch.no_grad():
        critic.out.weight.copy_(torch.tensor([[0.5, -1.0, 2.0, 0.0, 1.0, -0.5]]))
    x = torch.randint(0, 5, (7, 1, 2, 3), generator=torch.Generator().manual_seed(0))
    out = model.discriminator_loss(x)
    norm = float(critic.out.weight.detach().norm())
    assert float(out["gradient_penalty"]) == pytest.approx(10.0 * (norm - 1) ** 2, rel=1e-12)
    # the penalty is differentiable in the critic's weights (it needs create_graph=True)
    real = model.dequantize(x)
    penalty = model._penalty(real, torch.zeros_like(real), None)
    (grad,) = torch.autograd.grad(penalty, critic.out.weight)
    expected = 2 * (norm - 1) * critic.out.weight / norm
    torch.testing.assert_close(grad, expected.detach())


def test_batch_norm_critic_with_a_penalty_is_refused():
    with pytest.raises(ConfigError, match="batch norm"):
        genzoo.create_model("dcgan", shape=(1, 8, 8), levels=2, gradient_penalty=1.0)


def test_projection_discriminator_adds_the_class_embedding_times_the_features():
    model = tiny_model("dcgan", (1, 8, 8), levels=4, num_classes=3)
    x = torch.randint(0, 4, (5, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    real = model.dequantize(x, torch.Generator().manual_seed(2))
    d = model.discriminator
    with torch.no_grad():
        phi = d.features(real)
        for a, b in [(0, 1), (2, 0)]:
            ya, yb = torch.full((5,), a), torch.full((5,), b)
            diff = d(real, ya) - d(real, yb)
            torch.testing.assert_close(diff, phi @ (d.project.weight[a] - d.project.weight[b]))


# ---------------------------------------------------------------------- sampling utilities
@pytest.mark.parametrize("levels", [2, 17, 256])
def test_dequantized_values_stay_in_their_bins(levels):
    model = genzoo.create_model("gan", shape=(1, 4, 4), levels=levels, hidden=4, layers=1)
    x = torch.randint(0, levels, (64, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    for seed in range(3):
        u = model.dequantize(x, torch.Generator().manual_seed(seed))
        assert u.min() >= -1 and u.max() <= 1
        assert torch.equal(model.quantize(u), x)
    # bins are equal-width: the value -1 + 2k/levels starts bin k
    edges = -1 + 2 * torch.arange(levels, dtype=torch.float64) / levels
    assert torch.equal(model.quantize(edges + 1e-9), torch.arange(levels))
    assert int(model.quantize(torch.tensor([1.0]))) == levels - 1


def test_slerp_endpoints_norms_and_the_great_circle():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g)
    b = b.double() * (a.norm(dim=1, keepdim=True) / b.double().norm(dim=1, keepdim=True))
    t = torch.linspace(0, 1, 7, dtype=torch.float64).view(7, 1, 1)
    path = slerp(a, b, t)
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    # equal-norm endpoints: every point keeps the norm, and angles grow linearly
    torch.testing.assert_close(path.norm(dim=2), a.norm(dim=1).expand(7, 5))
    cos = (path * a).sum(2) / (path.norm(dim=2) * a.norm(dim=1))
    angle = torch.acos(cos.clamp(-1, 1))
    torch.testing.assert_close(angle, t.view(7, 1) * angle[-1], atol=1e-6, rtol=0)
    # parallel endpoints fall back to the straight line instead of dividing by sin(0)
    line = slerp(a, 2 * a, t)
    torch.testing.assert_close(line, (1 + t) * a, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", GANS)
def test_latent_walk_shapes_determinism_and_labels(name):
    model = tiny_model(name, (1, 4, 4), levels=5, num_classes=3)
    y = torch.tensor([0, 2])
    walk = model.latent_walk(2, 4, y, generator=torch.Generator().manual_seed(0))
    again = model.latent_walk(2, 4, y, generator=torch.Generator().manual_seed(0))
    assert walk.shape == (4, 2, 1, 4, 4) and walk.dtype == torch.long
    assert torch.equal(walk, again)
    with pytest.raises(ConfigError, match="steps"):
        model.latent_walk(2, 1, y)


@pytest.mark.parametrize("name", GANS)
def test_log_prob_names_the_estimators_that_exist(name):
    model = tiny_model(name, (1, 4, 4), levels=5)
    with pytest.raises(UnsupportedError, match=r"evaluate_ais.*evaluate_parzen.*sample_quality"):
        model.log_prob(torch.zeros(2, 1, 4, 4, dtype=torch.long))


def test_completion_recovers_the_hidden_half_when_the_known_half_determines_z():
    """With G(z) = tanh(W z + b) and the known pixels' rows of W of full rank, the MAP latent of
    the known half reproduces the unknown half too; random latents do not."""
    torch.manual_seed(0)
    model = genzoo.create_model("gan", shape=(1, 4, 4), levels=9, latent_dim=3, hidden=4)
    body = nn.Sequential(nn.Linear(3, 16), nn.Unflatten(1, (1, 4, 4)))
    model.generator = Generator(body, None, 1)
    model = model.double().eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # targets the generator produces exactly
        known = model.quantize(model.generate(model.sample_latent(6, g)))
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., :2, :] = True
    completed = model.sample(6, known=known, mask=mask, generator=torch.Generator().manual_seed(4))
    random = model.sample(6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(completed[..., :2, :], known[..., :2, :])
    err_fit = (completed[..., 2:, :] - known[..., 2:, :]).abs().double().mean()
    err_random = (random[..., 2:, :] - known[..., 2:, :]).abs().double().mean()
    assert float(err_fit) < 0.25 * float(err_random), (float(err_fit), float(err_random))


# ---------------------------------------------------------------------- training
LEVELS = 64


def _ring(n: int, g: torch.Generator) -> torch.Tensor:
    """A mixture of 8 Gaussians on a circle, as 2-channel 1x1 images with 64 levels."""
    k = torch.randint(0, 8, (n,), generator=g)
    angle = k.double() * (2 * math.pi / 8)
    noise = 0.05 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    points = torch.stack([angle.cos(), angle.sin()], 1) * 0.7 + noise
    return ((points + 1) / 2 * LEVELS).floor().clamp(0, LEVELS - 1).long().view(n, 2, 1, 1)


def _two_sample_accuracy(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Held-out accuracy of a fresh k-NN classifier telling real from generated points."""
    x = np.concatenate([real.flatten(1).numpy(), fake.flatten(1).numpy()]).astype(float)
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    half = len(x) // 2
    return KNeighborsClassifier(15).fit(x[:half], y[:half]).score(x[half:], y[half:])


def test_gan_training_closes_the_discriminators_accuracy_gap_on_a_2d_mixture(tmp_path):
    g = torch.Generator().manual_seed(0)
    train_x, test_x = _ring(4000, g), _ring(1000, g)
    data = Dataset(
        name="ring",
        train=train_x,
        test=test_x,
        train_labels=None,
        test_labels=None,
        levels=LEVELS,
        shape=(2, 1, 1),
        num_classes=None,
        source="8 Gaussians on a circle",
        raw_levels=LEVELS,
        train_raw=train_x,
        test_raw=test_x,
    )
    torch.manual_seed(0)
    model = genzoo.create_model(
        "gan", shape=(2, 1, 1), levels=LEVELS, latent_dim=4, hidden=64, dropout=0.0
    )
    before = _two_sample_accuracy(test_x, model.sample(1000, generator=torch.Generator()))
    config = TrainConfig.recommended(
        model, steps=2500, batch_size=128, lr=1e-3, eval_every=0, checkpoint_every=0
    )
    result = train(model, data, config, tmp_path / "run")
    after = _two_sample_accuracy(test_x, model.sample(1000, generator=torch.Generator()))
    assert before > 0.95  # an untrained generator is trivially told apart
    assert after < 0.75, after  # |accuracy - 1/2| shrinks from ~0.5 to < 0.25
    # the model's own discriminator ends near chance, and the two players' losses near log 4
    assert abs(result.train_metrics["d_accuracy"] - 0.5) < 0.15
    assert result.train_metrics["d_loss"] == pytest.approx(math.log(4), abs=0.15)


def test_critic_steps_take_one_batch_each_and_resume_is_bit_identical(tmp_path):
    data = genzoo.load_dataset("digits")
    kwargs = {"latent_dim": 3, "channels": 4, "critic_steps": 3}

    def model() -> genzoo.models.GenerativeModel:
        torch.manual_seed(0)
        return genzoo.create_model("wgan_gp", shape=data.shape, levels=data.levels, **kwargs)

    def config(steps: int) -> TrainConfig:
        return TrainConfig.recommended(
            "wgan_gp", steps=steps, batch_size=100, eval_every=0, checkpoint_every=0
        )

    train(model(), data, config(6), tmp_path / "full")
    train(model(), data, config(4), tmp_path / "part")
    resumed = train(model(), data, config(6), tmp_path / "part", resume=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    # 1,500 training digits = 15 batches of 100: 6 steps x 3 critic batches = 18 batches
    assert a["images_seen"] == 6 * 3 * 100 and (a["epoch"], a["batch_in_epoch"]) == (1, 3)
    assert resumed.resumed_from == 4 and resumed.epochs == pytest.approx(6 * 3 / 15)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert isinstance(a["optimizer"], list) and len(a["optimizer"]) == 2
    assert tuple(a["optimizer"][0]["param_groups"][0]["betas"]) == (0.0, 0.9)


def test_recommended_settings_and_gan_specific_config_errors(tmp_path):
    config = TrainConfig.recommended("wgan_gp", steps=3)
    assert (config.lr, config.adam_beta1, config.adam_beta2, config.steps) == (1e-4, 0, 0.9, 3)
    assert TrainConfig.recommended("dcgan", lr=1e-3).lr == 1e-3  # overrides win
    assert TrainConfig.recommended("pixel_independent") == TrainConfig()  # no recipe: defaults
    pixel = TrainConfig.recommended("pixelcnn")  # the pixel models' recipe (lr, EMA) only
    assert (pixel.lr, pixel.ema_decay) == (3e-3, 0.995)
    assert dataclasses.replace(pixel, lr=1e-3, ema_decay=0.999) == TrainConfig()
    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gan", shape=data.shape, levels=data.levels, hidden=8)
    bad = TrainConfig(steps=2, validation=100, keep_best=True, eval_every=1)
    with pytest.raises(ConfigError, match="keep-best"):
        train(model, data, bad, tmp_path / "run")
    with pytest.raises(ConfigError, match="loss='least_squares' is invalid; it must be one of"):
        genzoo.create_model("gan", shape=(1, 2, 2), levels=2, loss="least_squares")
    assert set(LOSSES) == {"minimax", "non_saturating", "wasserstein", "hinge"}


# ---------------------------------------------------------------------- conditioning, EMA, levels
@pytest.mark.parametrize("name", GANS)
def test_conditional_variants_use_the_label_in_both_players(name):
    model = tiny_model(name, (1, 4, 4), levels=5, num_classes=3)
    g = torch.Generator().manual_seed(0)
    zero, one = torch.zeros(6, dtype=torch.long), torch.ones(6, dtype=torch.long)
    z = model.sample_latent(6, g)
    assert not torch.allclose(model.generate(z, zero), model.generate(z, one))
    x = model.generate(z, zero)
    assert not torch.allclose(model.critic(x, zero), model.critic(x, one))  # projection term
    # the label-free features of the discriminator do not depend on y
    images = model.quantize(x)
    assert torch.equal(model.features(images, zero), model.features(images, one))
    with pytest.raises(ModelError, match="pass y"):  # training a conditional model needs y
        model.loss(images)
    assert model.sample(6, generator=g).shape == (6, 1, 4, 4)  # sampling: classes in turn


@pytest.mark.parametrize("name", GANS)
def test_sample_quantizes_the_generator_output_to_the_levels(name):
    model = tiny_model(name, (1, 4, 4), levels=5)
    samples = model.sample(32, generator=torch.Generator().manual_seed(3))
    z = model.sample_latent(32, torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.quantize(model.generate(z))
    assert samples.dtype == torch.long and torch.equal(samples, expected)
    assert int(samples.min()) >= 0 and int(samples.max()) < 5


def test_conditional_gan_learns_to_draw_the_requested_class_on_a_toy_mixture(tmp_path):
    """Four Gaussians on a circle, one per class: after training, samples drawn for class c lie
    nearest to centre c (negative control: read against the next class, they do not)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.6, 0.0], [0.0, 0.6], [-0.6, 0.0], [0.0, -0.6]], dtype=torch.float64)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 4, (n,), generator=g)
        points = centres[y] + 0.05 * torch.randn(n, 2, generator=g, dtype=torch.float64)
        x = ((points + 1) / 2 * LEVELS).floor().clamp(0, LEVELS - 1).long().view(n, 2, 1, 1)
        return x, y

    (train_x, train_y), (test_x, test_y) = draw(2000), draw(200)
    data = Dataset(
        name="ring4", train=train_x, test=test_x, train_labels=train_y, test_labels=test_y,
        levels=LEVELS, shape=(2, 1, 1), num_classes=4, source="4 labelled Gaussians",
        raw_levels=LEVELS, train_raw=train_x, test_raw=test_x,
    )  # fmt: skip
    torch.manual_seed(0)
    model = genzoo.create_model(
        "gan", shape=(2, 1, 1), levels=LEVELS, num_classes=4, latent_dim=2, hidden=32, dropout=0.0
    )
    config = TrainConfig.recommended(
        model, steps=300, batch_size=64, lr=2e-3, eval_every=0, checkpoint_every=0
    )
    train(model, data, config, tmp_path / "run")
    y = torch.arange(400) % 4
    points = model.sample(400, y, generator=torch.Generator().manual_seed(1)).view(400, 2)
    nearest = torch.cdist(points.double() / LEVELS * 2 - 1, centres).argmin(1)
    assert float((nearest == y).double().mean()) > 0.95  # measured: 1.0
    assert float((nearest == (y + 1) % 4).double().mean()) < 0.05


def test_training_leaves_the_ema_weights_in_the_model_and_the_saved_run(tmp_path):
    data = genzoo.load_dataset("digits")
    torch.manual_seed(0)
    model = genzoo.create_model("dcgan", shape=data.shape, levels=data.levels, latent_dim=3,
                                channels=4)  # fmt: skip
    config = TrainConfig.recommended(
        model, steps=6, batch_size=50, ema_decay=0.9, eval_every=0, checkpoint_every=0
    )
    train(model, data, config, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    ema, raw = state["ema"]["weights"], state["model"]
    saved = genzoo.load_model(tmp_path / "run")
    for key, value in ema.items():
        assert torch.equal(model.state_dict()[key], value), key
        assert torch.equal(saved.state_dict()[key], value), key
    # negative control: the averaged generator is not the raw one
    weights = [k for k in raw if k.startswith("generator.") and k.endswith("weight")]
    assert any(not torch.equal(raw[k], ema[k]) for k in weights)
    # sampling and evaluation use these weights: the saved run samples what the model samples
    a = model.sample(8, generator=torch.Generator().manual_seed(0))
    b = saved.sample(8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    # the averaged weights' batch norms carry their own statistics, not the raw networks'
    stats = [k for k in ema if k.endswith("running_mean")]
    assert stats and all(not torch.equal(raw[k], ema[k]) for k in stats)
    again = copy.deepcopy(saved)
    batches = [(data.train[i : i + 50], None) for i in range(0, 800, 50)]  # NORM_BATCHES of 50
    refresh_batch_norm(again, batches, lambda m, b: m.loss(*b))
    for k in stats:
        torch.testing.assert_close(again.state_dict()[k], saved.state_dict()[k])
