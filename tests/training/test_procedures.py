"""The engine's small procedures: EMA maths, LR schedule values, batch order."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from genzoo.training import BatchOrder, ExponentialMovingAverage, LRSchedule
from genzoo.training.batches import derive_seed, shard
from genzoo.training.ema import has_batch_norm, refresh_batch_norm


# ---------------------------------------------------------------------- EMA
def test_ema_follows_the_closed_form_and_moves() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = ExponentialMovingAverage(model, decay=0.9)
    theta = [p.detach().clone() for p in model.parameters()]
    expected = [t.clone() for t in theta]  # ema_0 = theta_0
    for t in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model[1].running_mean.add_(1.0)
        d = min(0.9, (1 + t) / (10 + t))
        assert ema.current_decay() == pytest.approx(d)
        ema.update(model)
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]
        for e, a in zip(expected, ema.module.parameters()):
            torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-6)
        # buffers are copied, not averaged
        torch.testing.assert_close(ema.module[1].running_mean, model[1].running_mean)
    assert ema.num_updates == 4
    moved = [not torch.equal(a, t0) for a, t0 in zip(ema.module.parameters(), theta)]
    lagging = [not torch.equal(a, p) for a, p in zip(ema.module.parameters(), model.parameters())]
    assert all(moved) and all(lagging)


def test_ema_decay_warms_up_to_its_asymptote() -> None:
    ema = ExponentialMovingAverage(nn.Linear(1, 1), decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.num_updates = 10_000
    assert ema.current_decay() == 0.999


def test_ema_state_round_trip_and_frozen_copy() -> None:
    model = nn.Linear(2, 2)
    ema = ExponentialMovingAverage(model, decay=0.5)
    ema.update(model)
    other = ExponentialMovingAverage(nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1
    torch.testing.assert_close(other.module.weight, ema.module.weight, rtol=0, atol=0)
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert ema.module is not model and not ema.module.training


# ---------------------------------------------------------------------- LR schedule
def test_refreshed_batch_norm_statistics_belong_to_the_averaged_weights() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    ema = ExponentialMovingAverage(net, decay=0.9)
    batches = [torch.randn(8, 3) * 2 + 1 for _ in range(3)]
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for b in batches * 4:  # the raw weights move away from the average; stats follow them
        opt.zero_grad()
        net(b).pow(2).sum().backward()
        opt.step()
        ema.update(net)
    averaged, bn = ema.module, ema.module[1]
    momentum = bn.momentum
    with torch.no_grad():
        pre = [averaged[0](b) for b in batches]  # the averaged weights' pre-norm activations
    expected_mean = torch.stack([p.mean(0) for p in pre]).mean(0)
    expected_var = torch.stack([p.var(0, unbiased=True) for p in pre]).mean(0)
    assert not torch.allclose(bn.running_mean, expected_mean, atol=1e-3)  # copied from raw
    rng = torch.get_rng_state()
    refresh_batch_norm(averaged, batches, lambda m, b: m(b))
    torch.testing.assert_close(bn.running_mean, expected_mean)
    torch.testing.assert_close(bn.running_var, expected_var)
    assert bn.momentum == momentum and not averaged.training and bn.num_batches_tracked == 3
    assert torch.equal(torch.get_rng_state(), rng)  # the training stream is untouched
    assert has_batch_norm(net) and not has_batch_norm(nn.Linear(2, 2))


def test_warmup_then_constant() -> None:
    schedule = LRSchedule(1e-3, "constant", warmup_steps=4)
    assert [schedule(s) for s in range(6)] == pytest.approx(
        [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3]
    )
    assert LRSchedule(0.1)(0) == 0.1


def test_warmup_then_cosine_to_zero() -> None:
    schedule = LRSchedule(1.0, "cosine", warmup_steps=10, total_steps=110)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(9) == pytest.approx(1.0)
    assert schedule(10) == pytest.approx(1.0)
    assert schedule(35) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert schedule(60) == pytest.approx(0.5)
    assert schedule(110) == pytest.approx(0.0, abs=1e-12)
    assert schedule(500) == pytest.approx(0.0, abs=1e-12)
    values = [schedule(s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_cosine_over_a_time_budget_follows_the_seconds_not_the_steps() -> None:
    schedule = LRSchedule(2.0, "cosine", warmup_steps=10, total_seconds=60.0)
    assert schedule(4, seconds=30.0) == pytest.approx(1.0)  # warm-up is still by step
    assert schedule(10, seconds=0.0) == pytest.approx(2.0)
    assert schedule(10, seconds=15.0) == pytest.approx(1.0 + math.cos(math.pi / 4))
    assert schedule(10, seconds=30.0) == pytest.approx(1.0)
    assert schedule(10_000, seconds=30.0) == pytest.approx(1.0)  # the step does not matter
    assert schedule(20, seconds=60.0) == pytest.approx(0.0, abs=1e-12)
    assert schedule(20, seconds=90.0) == pytest.approx(0.0, abs=1e-12)
    # after the warm-up the rate never rises above the peak: no jump at the hand-over
    assert schedule(10, seconds=0.5) <= schedule(9, seconds=0.5)
    with pytest.raises(ValueError, match="total_seconds"):
        LRSchedule(1.0, "cosine", total_seconds=-1.0)


# ---------------------------------------------------------------------- batch order
def test_every_epoch_is_a_permutation_fixed_by_seed_and_epoch() -> None:
    order = BatchOrder(num_examples=50, batch_size=8, seed=3)
    assert order.steps_per_epoch == 6
    batches = [order.global_batch(1, b) for b in range(6)]
    seen = torch.cat(batches)
    assert len(set(seen.tolist())) == 48  # the last partial batch (2 images) is dropped
    again = BatchOrder(num_examples=50, batch_size=8, seed=3)
    assert torch.equal(again.global_batch(1, 4), batches[4])  # no dependence on history
    assert not torch.equal(order.permutation(0), order.permutation(1))
    assert not torch.equal(BatchOrder(50, 8, seed=4).permutation(1), order.permutation(1))
    with pytest.raises(IndexError):
        order.global_batch(0, 6)


def test_shards_partition_the_global_batch() -> None:
    batch = torch.arange(12)
    parts = [shard(batch, r, 3) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch)
    assert all(p.numel() == 4 for p in parts)


def test_derived_seeds_differ_per_stream() -> None:
    seeds = {derive_seed(0, stream, 0) for stream in range(4)} | {derive_seed(1, 0, 0)}
    assert len(seeds) == 5
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    assert all(0 <= s < 2**63 for s in seeds)
