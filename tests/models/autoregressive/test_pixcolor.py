"""PixColor (Guadarrama et al. 2017 / Royer et al. 2017) beyond the shared contract.

The contract (tests/models/test_contract.py) already runs it with a gray condition at the
target's size: normalisation and sampler-vs-density for one fixed ``c``, causality with ``c``
seen everywhere, cached == naive sampling, save/load, bf16, gradients, bad inputs. These check
what is particular to it: ``p(x | c)`` of RGB targets is normalised for every gray ``c`` and the
sampler follows it for several ``c`` (chi-square, with the other condition's density rejected),
the dilated conditioning network sees exactly the square its receptive field claims (and nothing
outside it), it runs once per cached sampling run, it refuses a condition that is not the gray
image at the target's size, and a few steps teach it to use the luminance.
"""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

import genzoo
from genzoo.data.tasks import Colorization
from genzoo.errors import ConfigError
from tests.models.test_contract import code_of
from tests.models.tiny import all_images, perturb

SMALL = {"channels": 6, "num_layers": 2, "head_channels": 8, "cond_channels": 4, "cond_blocks": 2}


def build(shape=(3, 4, 4), levels=3, condition_levels=3, condition_shape=None, **kwargs):
    torch.manual_seed(0)
    return genzoo.create_model(
        "pixcolor",
        shape=shape,
        levels=levels,
        condition_shape=condition_shape or (1, shape[1], shape[2]),
        condition_levels=condition_levels,
        **{**SMALL, **kwargs},
    )


def conditional_probs(model, c_value: int) -> torch.Tensor:
    """``p(x | c)`` of every RGB image of the model's space, ``c`` filled with ``c_value``."""
    x = all_images(model.shape, model.levels)
    c = torch.full((x.shape[0], *model.condition_shape), c_value, dtype=torch.long)
    with torch.no_grad():
        return model.log_prob(x, c=c).double().exp()


def test_normalised_for_every_gray_condition_and_dependent_on_it():
    model = perturb(build((3, 1, 2), levels=2)).double()
    x = all_images(model.shape, 2)
    totals, probs = [], []
    for c in all_images((1, 1, 2), 3):
        with torch.no_grad():
            log_p = model.log_prob(x, c=c.expand(x.shape[0], -1, -1, -1).clone())
        totals.append(float(log_p.logsumexp(0).exp()))
        probs.append(log_p.exp())
    assert max(abs(t - 1.0) for t in totals) < 1e-6, totals
    assert float((probs[0] - probs[-1]).abs().max()) > 1e-3  # a c-blind model would sum to 1 too


def test_sampler_follows_the_conditional_density_for_each_condition():
    """RGB 1x1 images of 3 levels (27 outcomes) given each gray level: chi-square of 20,000
    samples against ``exp(log_prob(x | c))``, and against the other condition's (rejected)."""
    model = perturb(build((3, 1, 1), levels=3)).double().eval()
    n = 20000
    dists = {v: conditional_probs(model, v) for v in (0, 2)}
    for v, probs in dists.items():
        c = torch.full((n, 1, 1, 1), v, dtype=torch.long)
        samples = model.sample(n, c=c, generator=torch.Generator().manual_seed(v))
        counts = torch.bincount(code_of(samples, 3), minlength=27).double()
        keep = probs * n >= 5  # chi-square validity: rare outcomes pooled into one cell
        observed, expected = counts[keep], probs[keep] * n
        if not keep.all():
            observed = torch.cat([observed, counts[~keep].sum(0, keepdim=True)])
            expected = torch.cat([expected, probs[~keep].sum(0, keepdim=True) * n])
        expected *= observed.sum() / expected.sum()
        assert chisquare(observed.numpy(), expected.numpy()).pvalue > 1e-3
        other = dists[2 - v]  # negative control: the other gray level's density
        assert chisquare(counts.numpy(), (other * n / other.sum()).numpy()).pvalue < 1e-6


def test_conditioning_network_sees_exactly_its_receptive_field():
    """The gradient of the conditioning logits at one pixel is nonzero for every gray pixel in
    the ``receptive_field``-sided square around it and exactly zero outside."""
    model = build((3, 21, 21), levels=4, condition_levels=4).double()
    net = model.conditioning
    side = net.receptive_field
    assert side == 3 + 4 * (1 + 2)  # two blocks, dilations 1 and 2
    g = torch.Generator().manual_seed(0)
    gray = torch.rand(6, 1, 21, 21, generator=g, dtype=torch.float64, requires_grad=True)
    net(gray)[:, :, :, 10, 10].sum().backward()
    seen = gray.grad.abs().sum((0, 1)) > 0
    radius = side // 2
    expected = torch.zeros(21, 21, dtype=torch.bool)
    expected[10 - radius : 11 + radius, 10 - radius : 11 + radius] = True
    assert torch.equal(seen, expected)
    # and the default (four blocks, dilations 1, 2, 4, 8) covers a 32x32 crop from its centre
    assert build((3, 4, 4), **{**SMALL, "cond_blocks": 4}).conditioning.receptive_field == 63


def test_the_gray_image_reaches_the_output(generator):
    model = build((3, 6, 6), levels=4, condition_levels=4).double().eval()
    x = torch.randint(0, 4, (3, 3, 6, 6), generator=generator)
    c = torch.randint(0, 4, (3, 1, 6, 6), generator=generator)
    c2 = c.clone()
    c2[:, 0, 5, 5] = (c2[:, 0, 5, 5] + 2) % 4  # the last pixel's gray value
    with torch.no_grad():
        delta = model.log_prob(x, c=c2, per_dim=True) - model.log_prob(x, c=c, per_dim=True)
    assert (delta[:, :, 5, 5].abs() > 1e-6).all()  # all three colours of that pixel
    assert (delta[:, :, 0, 0].abs() > 1e-6).all()  # and the first pixel, 5 rows and columns away
    with torch.no_grad():  # negative control: the conditioning logits cut
        model.conditioning.out[1].weight.zero_()
        delta = model.log_prob(x, c=c2) - model.log_prob(x, c=c)
    assert float(delta.abs().max()) == 0.0


def test_cached_sampling_runs_the_conditioning_network_once(generator):
    model = perturb(build((3, 3, 3), levels=4, condition_levels=4)).eval()
    calls = []
    model.conditioning.register_forward_hook(lambda *args: calls.append(1))
    c = torch.randint(0, 4, (4, 1, 3, 3), generator=generator)
    cached = model.sample(4, c=c, generator=torch.Generator().manual_seed(2), method="cached")
    assert len(calls) == 1
    calls.clear()
    naive = model.sample(4, c=c, generator=torch.Generator().manual_seed(2), method="naive")
    assert len(calls) == model.num_dims
    assert torch.equal(cached, naive)


def test_condition_must_be_the_gray_image_at_the_target_size():
    for wrong in [(1, 2, 2), (3, 4, 4), (1, 4, 2)]:
        with pytest.raises(ConfigError, match="colorization"):
            build((3, 4, 4), condition_shape=wrong)
    with pytest.raises(ConfigError, match="conditioned on an image"):
        genzoo.create_model("pixcolor", shape=(3, 4, 4), levels=4, **SMALL)
    with pytest.raises(ConfigError, match="cond_blocks"):
        build(cond_blocks=-1)


def test_learns_to_use_the_luminance():
    """Colour images whose three channels share one random level per pixel plus channel noise:
    the luminance almost gives the colour. A few steps lower the loss, and the trained model
    prefers each image's own gray image to its neighbour's."""
    g = torch.Generator().manual_seed(0)
    base = torch.randint(0, 8, (48, 1, 4, 4), generator=g)
    x = (base + torch.randint(0, 2, (48, 3, 4, 4), generator=g)).clamp(0, 7)
    task = Colorization()
    c = task.condition(x, 8)
    cond_shape, cond_levels = task.condition_spec((3, 4, 4), 8)
    model = build((3, 4, 4), levels=8, condition_levels=cond_levels, condition_shape=cond_shape)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(model.loss(x, c=c)["loss"])
    for _ in range(60):
        opt.zero_grad()
        model.loss(x, c=c)["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert float(model.loss(x, c=c)["loss"]) < first - 0.3
        own = model.log_prob(x, c=c)
        other = model.log_prob(x, c=c.roll(1, dims=0))
    gap = float((own - other).mean()) / model.num_dims
    # (measured: 2.14 nats/dim; a model blind to c gives exactly 0)
    assert gap > 0.3, f"the luminance barely matters: {gap:.3f} nats/dim"


def test_cli_train_and_eval(tmp_path, capsys):
    """The real CLI: train pixcolor for colorization on a colour npz archive, then eval the run
    (the same exact log p(x | c) of the RGB targets); a super-resolution task is refused."""
    import numpy as np

    from genzoo.cli.main import main
    from genzoo.core.run import RunFolder

    rng = np.random.default_rng(0)
    base = rng.integers(0, 200, (120, 8, 8, 1))
    archive = tmp_path / "colour.npz"
    np.savez(archive, x=(base + rng.integers(0, 56, (120, 8, 8, 3))).astype(np.uint8))
    out = tmp_path / "pc"
    args = ["train", "pixcolor", "--data", f"npz:{archive}", "--levels", "8", "--steps", "5"]
    flags = ["--batch-size", "32", "--eval-every", "0", "--no-sample-quality"]
    assert main([*args, "--task", "colorization", "--out", str(out), *flags]) == 0
    metrics = RunFolder(out).read_metrics()
    assert metrics.task == {"name": "colorization"} and metrics.test.density == "exact"
    assert genzoo.load_model(out).condition_shape == (1, 8, 8)
    capsys.readouterr()
    assert main(["eval", str(out), "--no-sample-quality"]) == 0
    assert f"{metrics.test.bits_per_dim:.4f} bits/dim" in capsys.readouterr().out
    bad = ["train", "pixcolor", "--data", "digits", "--task", "super-resolution", "--steps", "1"]
    assert main([*bad, "--out", str(tmp_path / "bad"), *flags]) == 2
    assert "colorization" in capsys.readouterr().err
