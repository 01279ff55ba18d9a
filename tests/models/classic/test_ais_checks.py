"""Numbers that cannot be trusted say so: the RBM's and the DBN's AIS ``log Z``.

The AIS base rate is the training data's marginals, counted during training and saved with the
model; a certain lower bound on ``log Z`` from distinct states (exact when the states are all of
them, unchanged by duplicates) catches an AIS estimate that is provably too low, and such an
estimate is recorded as failing its check, printed as invalid and kept out of the tables.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

import genzoo
from genzoo.cli.main import main
from genzoo.cli.printing import print_metrics
from genzoo.core.metrics import RunMetrics
from genzoo.errors import ConfigError, ModelError
from genzoo.evaluation import evaluate_run
from genzoo.evaluation.config import EvalConfig
from genzoo.models.classic.rbm import BASE_RATE_PSEUDOCOUNT, RBM
from tests.models.classic.test_dbn import random_dbn
from tests.models.classic.test_rbm import random_rbm, states, toy_data


def _train(model, x: torch.Tensor, steps: int, batch: int = 20, lr: float = 0.05, y=None) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        part = slice((step * batch) % len(x), (step * batch) % len(x) + batch)
        opt.zero_grad()
        model.loss(x[part], None if y is None else y[part])["loss"].backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def digits():
    return genzoo.load_dataset("digits", levels=2)


@pytest.fixture(scope="module")
def trained(digits):
    """A 64 x 16 RBM trained by PCD on binarised digits (AIS forced: exact_max_units=0)."""
    torch.manual_seed(0)
    model = genzoo.create_model(
        "rbm", shape=(1, 8, 8), levels=2, hidden=16, exact_max_units=0, init_std=0.1,
        gibbs_steps=5,
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        index = torch.randint(0, digits.train.shape[0], (64,), generator=g)
        opt.zero_grad()
        model.loss(digits.train[index])["loss"].backward()
        opt.step()
    return model.eval()


def exact_log_z(model: RBM) -> torch.Tensor:
    saved = model.exact_max_units
    model.exact_max_units = 30
    try:
        return model.log_partition_exact()
    finally:
        model.exact_max_units = saved


def patch_bad_base_rate(model: RBM, monkeypatch) -> None:
    """A deliberately bad AIS base rate (uniform pixels), and no log Z cached with another."""
    monkeypatch.setattr(RBM, "base_rate_logits", lambda self: torch.zeros(1, 64).double())
    model._log_z_cache = None


# ---------------------------------------------------------------------------------------------
def test_base_rate_is_the_marginal_log_odds_of_the_training_batches():
    torch.manual_seed(0)
    model = genzoo.create_model("rbm", shape=(1, 3, 3), levels=2, hidden=4, chains=10)
    x = toy_data(60)
    _train(model, x, steps=6)  # 6 batches of 20: every image twice
    flat = x.reshape(60, -1).double()
    ones, n, a = 2 * flat.sum(0), 120.0, BASE_RATE_PSEUDOCOUNT
    expected = torch.log((ones + a) / (n + 2 * a)) - torch.log((n - ones + a) / (n + 2 * a))
    assert int(model.data_count[0]) == 120
    torch.testing.assert_close(model.base_rate_logits()[0], expected)
    model.loss(x)  # eval mode: not training data, not counted (negative control)
    assert int(model.data_count[0]) == 120


def test_base_rate_survives_save_and_load_and_is_what_ais_anneals_from(tmp_path):
    torch.manual_seed(0)
    model = genzoo.create_model("rbm", shape=(1, 3, 3), levels=2, hidden=4, ais_steps=20)
    _train(model, toy_data(60), steps=6)
    loaded = genzoo.load_model(model.save(tmp_path / "rbm"))
    assert torch.equal(loaded.data_ones, model.data_ones)
    assert torch.equal(loaded.data_count, model.data_count)
    torch.testing.assert_close(loaded.base_rate_logits(), model.base_rate_logits())

    def ais(m, **kw):
        return float(m.log_partition_ais(generator=torch.Generator().manual_seed(3), **kw)[0].log_z)

    base = model.base_rate_logits()
    assert ais(loaded) == ais(model) == ais(model, base_logits=base)
    assert ais(model) != ais(model, base_logits=model.visible_bias)  # the default is not b


def test_class_conditional_base_rates_are_per_class():
    torch.manual_seed(0)
    model = genzoo.create_model("rbm", shape=(1, 3, 3), levels=2, hidden=4, num_classes=3)
    x = toy_data(60)
    y = torch.arange(60) % 2  # class 2 never seen
    _train(model, x, steps=3, y=y)
    counts = torch.bincount(y, minlength=3)
    assert model.data_count.tolist() == counts.tolist()
    flat = x.reshape(60, -1)
    for c in (0, 1):
        assert torch.equal(model.data_ones[c], flat[y == c].sum(0))
    # a class without training images anneals from its own visible biases
    torch.testing.assert_close(model.base_rate_logits()[2], model.visible_bias[2].double())


def test_a_model_saved_without_the_counts_loads_and_uses_its_visible_biases(tmp_path):
    torch.manual_seed(0)
    model = genzoo.create_model("rbm", shape=(1, 3, 3), levels=2, hidden=4)
    _train(model, toy_data(60), steps=3)
    path = model.save(tmp_path / "old")
    weights = path / "model.safetensors"
    tensors = load_file(str(weights))
    old = {k: v for k, v in tensors.items() if k not in ("data_ones", "data_count")}
    save_file(old, str(weights))  # as an RBM saved before the counts existed
    loaded = genzoo.load_model(path)
    assert int(loaded.data_count.sum()) == 0
    torch.testing.assert_close(loaded.base_rate_logits(), loaded.visible_bias.double())
    # negative control: loading is still strict about everything else
    save_file({k: v for k, v in old.items() if k != "weight"}, str(weights))
    with pytest.raises(ModelError, match="do not match"):
        genzoo.load_model(path)


def test_dbn_counts_the_up_pass_samples_its_top_rbm_is_trained_on():
    torch.manual_seed(0)
    model = genzoo.create_model(
        "dbn", shape=(1, 3, 3), levels=2, hidden=5, top_hidden=4, num_layers=2,
        steps_per_layer=4,
    )  # fmt: skip
    _train(model, toy_data(60), steps=7, batch=10)
    assert int(model.rbms[0].data_count[0]) == 40  # 4 steps of the first RBM
    assert int(model.rbms[1].data_count[0]) == 30  # then 3 of the top one, on h_1 samples
    assert int(model.rbms[1].data_ones.sum()) <= 30 * 5


# ---------------------------------------------------------------------------------------------
def test_lower_bound_is_exact_on_every_state_and_below_it_on_a_subset():
    model = random_rbm(6, 4, scale=1.0)
    exact = float(model.log_partition_exact()[0])
    every = states(6)
    assert float(model.log_partition_lower_bound(every)[0]) == pytest.approx(exact, abs=1e-9)
    subset = every[::3]
    bound = float(model.log_partition_lower_bound(subset)[0])
    assert bound < exact
    # duplicates are dropped: counted twice they could exceed Z
    repeated = torch.cat([subset, subset, subset[:5]])
    assert float(model.log_partition_lower_bound(repeated)[0]) == pytest.approx(bound, abs=1e-12)
    images = subset.long().view(-1, 1, 1, 6)  # images are flattened
    assert float(model.log_partition_lower_bound(images)[0]) == pytest.approx(bound, abs=1e-12)


def test_lower_bound_holds_for_every_class_of_a_conditional_rbm():
    torch.manual_seed(0)
    model = genzoo.create_model(
        "rbm", shape=(1, 1, 5), levels=2, hidden=3, num_classes=2, init_std=1.0
    ).double()
    with torch.no_grad():
        model.visible_bias.normal_()
    exact = model.log_partition_exact()
    every = states(5)
    torch.testing.assert_close(model.log_partition_lower_bound(every), exact)
    assert (model.log_partition_lower_bound(every[:7]) < exact).all()


@pytest.mark.parametrize(
    ("given", "message"),
    [(torch.full((3, 6), 2.0), "binary"), (torch.zeros(3, 5), r"\[N >= 1, 6\]"),
     (torch.zeros(0, 6), r"\[N >= 1, 6\]")],
)  # fmt: skip
def test_lower_bound_refuses_states_it_cannot_bound_with(given, message):
    with pytest.raises(ConfigError, match=message):
        random_rbm(6, 4).log_partition_lower_bound(given)


# ---------------------------------------------------------------------------------------------
def test_good_ais_passes_its_checks(trained, digits):
    trained.ais_steps, trained.ais_chains = 300, 20
    exact = float(exact_log_z(trained)[0])
    checks = trained.likelihood_checks(digits.train)
    bound, spread = checks["log_z_lower_bound"], checks["schedule_spread"]
    assert bound["passed"] is True
    assert bound["certain_lower_bound"] <= exact  # certain
    assert abs(bound["ais_log_z"] - exact) < 0.2
    assert bound["ais_log_z"] == float(trained.log_partition()[0])  # the log Z log_prob used
    assert spread["spread"] == pytest.approx(abs(spread["linear"] - spread["sigmoid"]))
    assert spread["spread"] < 0.5 and spread["steps"] == 300 and spread["chains"] == 20
    assert "passed" not in spread  # recorded, no verdict


def test_the_data_base_rate_is_less_biased_than_the_visible_biases(trained):
    """With one AIS step the base rate is the proposal: the data marginals are the better one."""
    g = torch.Generator().manual_seed(0)

    def mean_log_z(**kw):
        runs = [trained.log_partition_ais(1, 5, generator=g, **kw)[0].log_z for _ in range(20)]
        return float(torch.stack(runs).mean())

    exact = float(exact_log_z(trained)[0])
    data, visible = mean_log_z(), mean_log_z(base_logits=trained.visible_bias)
    assert visible < data < exact + 0.5  # both biased low, the visible biases by far more
    assert exact - visible > 3 * (exact - data)


def test_bad_ais_fails_the_bound_and_is_not_trusted(trained, digits, monkeypatch):
    trained.ais_steps, trained.ais_chains = 1, 5
    patch_bad_base_rate(trained, monkeypatch)
    checks = trained.likelihood_checks(digits.train)
    bound = checks["log_z_lower_bound"]
    assert bound["passed"] is False
    assert bound["ais_log_z"] < bound["certain_lower_bound"] <= float(exact_log_z(trained)[0])
    assert bound["margin"] == pytest.approx(bound["ais_log_z"] - bound["certain_lower_bound"])


def test_an_exact_log_z_has_nothing_to_check(digits):
    model = random_rbm(64, 8, scale=0.1)
    assert model.exact_partition and model.likelihood_checks(digits.train) == {}


def test_evaluation_records_the_checks_and_prints_an_invalid_number_as_invalid(
    trained, digits, tmp_path, monkeypatch, capsys
):
    config = EvalConfig(num_samples=4, num_completions=2, sample_quality=False)
    trained.ais_steps, trained.ais_chains = 300, 20
    good = evaluate_run(trained, digits, tmp_path / "good", config)
    assert good.test.trusted and set(good.test.checks) == {"log_z_lower_bound", "schedule_spread"}
    assert RunMetrics.from_dict(good.to_dict()).test.checks == good.test.checks  # metrics.json
    print_metrics(good)
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("test NLL"))
    assert f"{good.test.bits_per_dim:.4f} bits/dim" in line and "spread across schedules" in line

    trained.ais_steps, trained.ais_chains = 1, 5
    patch_bad_base_rate(trained, monkeypatch)
    bad = evaluate_run(trained, digits, tmp_path / "bad", config)
    assert not bad.test.trusted and bad.test.failed_checks == ["log_z_lower_bound"]
    print_metrics(bad)
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("test NLL"))
    assert line.startswith("test NLL (estimate): invalid")
    assert "below a certain lower bound" in line and "bits/dim" not in line
    assert f"{bad.test.bits_per_dim:.4f}" not in line  # not shown as a likelihood


def test_genzoo_eval_prints_an_invalid_estimate_as_invalid(tmp_path, monkeypatch, capsys):
    run = tmp_path / "rbm"
    argv = ["train", "rbm", "--data", "digits", "--levels", "2", "--steps", "300",
            "--ema-decay", "0", "--warmup-steps", "0",
            "--batch-size", "64", "--lr", "0.05", "--hidden", "16", "--exact-max-units", "0",
            "--ais-steps", "1", "--ais-chains", "5", "--gibbs-steps", "5", "--eval-every", "0",
            "--no-sample-quality", "--num-samples", "4", "--num-completions", "2",
            "--precision", "32", "--out", str(run)]  # fmt: skip
    assert main(argv) == 0
    model = genzoo.load_model(run)
    assert int(model.data_count[0]) > 0  # the engine's batches were counted and saved
    assert "test NLL (estimate): invalid" not in capsys.readouterr().out  # the data base rate
    monkeypatch.setattr(RBM, "base_rate_logits", lambda self: torch.zeros(1, 64).double())
    assert main(["eval", str(run), "--no-sample-quality"]) == 0
    out = capsys.readouterr().out
    assert "test NLL (estimate): invalid" in out
    metrics = RunMetrics.from_dict(json.loads((run / "metrics.json").read_text()))
    assert metrics.test.checks["log_z_lower_bound"]["passed"] is False


# ---------------------------------------------------------------------------------------------
def test_dbn_top_states_are_distinct_up_pass_samples_and_bound_the_top_log_z():
    model = random_dbn((1, 2, 3), hidden=5, top_hidden=4, layers=2)
    x = torch.randint(0, 2, (40, 1, 2, 3), generator=torch.Generator().manual_seed(0))
    found = model.top_states(x, samples=3)
    assert found.dtype == torch.uint8 and found.shape[1] == 5
    assert found.unique(dim=0).shape[0] == found.shape[0]  # distinct
    top = model.rbms[1]
    assert (top.log_partition_lower_bound(found) <= top.log_partition_exact() + 1e-9).all()
    every = states(5)
    torch.testing.assert_close(top.log_partition_lower_bound(every), top.log_partition_exact())
    with pytest.raises(ConfigError, match="samples"):
        model.top_states(x, samples=0)


def test_dbn_checks_its_top_rbm(monkeypatch):
    model = random_dbn((1, 2, 3), hidden=5, top_hidden=4, layers=2)
    x = torch.randint(0, 2, (40, 1, 2, 3), generator=torch.Generator().manual_seed(0))
    assert model.likelihood_checks(x) == {}  # exact top log Z: nothing to check
    top = model.rbms[1]
    top.exact_max_units, top.ais_steps, top.ais_chains = 0, 200, 20
    checks = model.likelihood_checks(x)
    assert checks["log_z_lower_bound"]["passed"] is True
    assert checks["log_z_lower_bound"]["ais_log_z"] == float(top.log_partition()[0])
    assert math.isfinite(checks["schedule_spread"]["spread"])
    # a log Z far too low (as if AIS had failed) is caught
    low = top.log_partition() - 50
    monkeypatch.setattr(RBM, "log_partition", lambda self, generator=None: low)
    assert model.likelihood_checks(x)["log_z_lower_bound"]["passed"] is False
