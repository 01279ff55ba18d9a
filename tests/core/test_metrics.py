"""genzoo.core.metrics: the typed, versioned metrics.json schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from genzoo.core.metrics import (
    SCHEMA_VERSION,
    BoundReport,
    Estimate,
    RunMetrics,
    describe_checks,
    finite_or_none,
    read_metrics,
)
from genzoo.errors import ModelError

ESTIMATE = {
    "nll_nats": 185.1,
    "bits_per_dim": 4.17,
    "num_images": 8,
    "nll_nats_stderr": 0.2,
    "bits_per_dim_stderr": 0.004,
    "density": "bound",
    "k": 4,
}
PAYLOAD = {
    "model": "vae",
    "dataset": "digits",
    "levels": 17,
    "shape": [1, 8, 8],
    "num_test_images": 297,
    "density": "bound",
    "uniform_bits_per_dim": 4.087,
    "test_sha256": "ab" * 32,
    "test": ESTIMATE,
    "bound": {
        "elbo": {**ESTIMATE, "num_images": 297},
        "iwae": ESTIMATE,
        "elbo_on_iwae_images": ESTIMATE,
        "reconstruction_nats": -185.4,
        "kl_nats": 0.03,
        "k": 4,
        "iwae_images": 8,
        "num_images": 297,
    },
    "parzen": {
        "log_density_mean": 100.0,
        "log_density_sem": 1.0,
        "num_test": 10,
        "num_samples": 100,
        "sigma": 0.1,
        "sigma_at_grid_edge": False,
        "num_validation": 5,
        "grid": [0.05, 0.1, 0.2],  # not a field of ParzenEstimate: kept in its details
    },
    "samples_png": "samples.png",
    "schema_version": SCHEMA_VERSION,
}


def test_round_trip_is_exact():
    metrics = RunMetrics.from_dict(copy.deepcopy(PAYLOAD))
    assert metrics.to_dict() == PAYLOAD
    assert RunMetrics.from_dict(metrics.to_dict()) == metrics


def test_from_dict_builds_typed_objects():
    metrics = RunMetrics.from_dict(copy.deepcopy(PAYLOAD))
    assert isinstance(metrics.test, Estimate) and metrics.test.k == 4
    assert isinstance(metrics.bound, BoundReport)
    assert metrics.bound.elbo.num_images == 297
    assert metrics.parzen is not None and metrics.parzen.details == {"grid": [0.05, 0.1, 0.2]}
    assert metrics.headline == "4.1700 bits/dim (bound)"
    assert metrics.files() == {"samples": "samples.png"}


def test_ints_where_floats_are_declared_become_floats():
    payload = {**copy.deepcopy(PAYLOAD), "uniform_bits_per_dim": 4}
    payload["test"]["nll_nats"] = 185
    metrics = RunMetrics.from_dict(payload)
    assert type(metrics.uniform_bits_per_dim) is float and type(metrics.test.nll_nats) is float
    assert type(metrics.levels) is int  # ints stay ints


def test_unknown_keys_are_kept_in_extras_and_written_back(tmp_path: Path):
    payload = {**copy.deepcopy(PAYLOAD), "future_metric": {"x": 1}, "note": "by hand"}
    metrics = RunMetrics.from_dict(payload)
    assert metrics.extras == {"future_metric": {"x": 1}, "note": "by hand"}
    assert metrics.to_dict() == payload
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(payload))
    again = read_metrics(path)
    assert again.extras == metrics.extras and again.to_dict()["future_metric"] == {"x": 1}


def test_unknown_keys_of_a_class_without_extras_are_dropped():
    payload = copy.deepcopy(PAYLOAD)
    payload["test"]["surprise"] = 1
    metrics = RunMetrics.from_dict(payload)
    assert "surprise" not in metrics.to_dict()["test"]


def test_none_fields_are_left_out():
    minimal = {k: PAYLOAD[k] for k in ("model", "dataset", "levels", "shape")}
    minimal.update(num_test_images=1, density="none", uniform_bits_per_dim=1.0)
    out = RunMetrics.from_dict(minimal).to_dict()
    assert out == {**minimal, "schema_version": SCHEMA_VERSION}
    assert RunMetrics.from_dict(minimal).headline == "no test metric"


def test_version_1_file_without_schema_version_is_read(tmp_path: Path):
    payload = copy.deepcopy(PAYLOAD)
    del payload["schema_version"]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(payload))
    metrics = read_metrics(path)
    assert metrics.test.bits_per_dim == 4.17 and metrics.bound.k == 4
    assert metrics.schema_version == SCHEMA_VERSION  # written back in the current version


def test_newer_schema_version_is_refused(tmp_path: Path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**PAYLOAD, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ModelError) as info:
        read_metrics(path)
    message = str(info.value)
    assert str(path) in message and f"version {SCHEMA_VERSION + 1}" in message
    assert "upgrade genzoo" in message


def test_negative_control_current_version_is_accepted(tmp_path: Path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(PAYLOAD))
    assert read_metrics(path).to_dict() == PAYLOAD


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "checks,trusted",
    [
        (None, True),
        ({}, True),
        ({"ais_below_bound": {"passed": True}}, True),
        ({"no_verdict": {"value": 3}}, True),
        ({"ais_below_bound": {"passed": False, "gap": -3.0}}, False),
        ({"a": {"passed": True}, "b": {"passed": False}}, False),
    ],
)
def test_estimate_trusted_only_when_no_check_failed(checks, trusted):
    estimate = Estimate(nll_nats=1.0, bits_per_dim=1.0, num_images=1, checks=checks)
    assert estimate.trusted is trusted


def test_failed_checks_are_named_and_described():
    failed = {"passed": False, "ais_log_z": 10.0, "certain_lower_bound": 12.5, "margin": -2.5}
    spread = {"spread": 0.25, "stderr": 0.125}
    estimate = Estimate(
        1.0, 1.0, 1, checks={"log_z_lower_bound": failed, "schedule_spread": spread}
    )
    assert estimate.failed_checks == ["log_z_lower_bound"]
    text = describe_checks(estimate.checks)
    assert "AIS log Z 10.00 is below a certain lower bound 12.50 (by 2.50 nats)" in text
    passed = {"passed": True, "margin": 1.5}
    text = describe_checks({"log_z_lower_bound": passed, "schedule_spread": spread})
    assert text == (
        "AIS log Z spread across schedules 0.25 nats, s.e. 0.12; 1.50 nats above a certain "
        "lower bound"
    )
    # per-class lists: the worst class is shown
    classes = {"passed": False, "ais_log_z": [9.0, 10.0], "certain_lower_bound": [8.0, 13.0],
               "margin": [2.0, -3.0]}  # fmt: skip
    assert "10.00 is below a certain lower bound 13.00 (by 3.00 nats)" in describe_checks(
        {"log_z_lower_bound": classes}
    )
    assert describe_checks({"other": {"passed": False}}) == "failed the check other"
    assert describe_checks(None) == describe_checks({"odd": "not a dict"}) == ""


def test_a_failed_check_survives_the_round_trip():
    payload = copy.deepcopy(PAYLOAD)
    payload["test"]["checks"] = {"ais_below_bound": {"passed": False}}
    metrics = RunMetrics.from_dict(payload)
    assert metrics.test.trusted is False
    assert RunMetrics.from_dict(metrics.to_dict()).test.trusted is False


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "{",
        "",
        "[1, 2]",
        "null",
        '{"model": "vae"}',  # required fields missing
        json.dumps({**PAYLOAD, "test": "4.17"}),  # a nested object that is not one
        json.dumps({**PAYLOAD, "schema_version": "two"}),
        json.dumps({**PAYLOAD, "schema_version": None}),
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=lambda t: t[:25],
)
def test_damaged_metrics_json_is_a_model_error(tmp_path: Path, text: str):
    path = tmp_path / "metrics.json"
    path.write_text(text)
    with pytest.raises(ModelError) as info:
        read_metrics(path)
    message = str(info.value)
    assert str(path) in message and "genzoo eval" in message
    assert info.value.__cause__ is None


def test_binary_garbage_is_a_model_error(tmp_path: Path):
    path = tmp_path / "metrics.json"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ModelError, match="not a valid genzoo metrics file"):
        read_metrics(path)


def test_missing_metrics_says_to_evaluate(tmp_path: Path):
    with pytest.raises(ModelError) as info:
        read_metrics(tmp_path / "metrics.json")
    assert f"genzoo eval {tmp_path}" in str(info.value)


def test_finite_or_none():
    assert finite_or_none(1.5) == 1.5 and finite_or_none(None) is None
    assert finite_or_none(float("nan")) is None and finite_or_none(float("-inf")) is None
