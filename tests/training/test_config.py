"""TrainConfig: every field is documented and validated; hardware settings resolve sensibly."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.training import TrainConfig
from genzoo.training import config as config_module
from genzoo.training.config import PARAMS, resolve_accelerator, resolve_precision


def test_every_field_has_a_default_help_a_simple_type_and_a_rule() -> None:
    for f in dataclasses.fields(TrainConfig):
        assert f.default is not dataclasses.MISSING, f.name
        assert f.metadata.get("help"), f.name
        # an optional bool: True, False, or None = decided at run time (progress: a terminal)
        assert f.type in (int, float, str, bool, bool | None), f"{f.name}: {f.type!r}"
        assert f.name in PARAMS, f.name
        if f.type is str:
            assert f.default in f.metadata["choices"], f.name


def test_defaults_are_valid_and_give_the_default_budget() -> None:
    config = TrainConfig().validate()
    assert config.budget() == ("steps", config_module.DEFAULT_STEPS)
    assert TrainConfig(epochs=3).validate().budget() == ("epochs", 3)
    assert TrainConfig(minutes=0.5).validate().budget() == ("minutes", 0.5)


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("steps", -1, "--steps"),
        ("epochs", 1.5, "--epochs"),
        ("minutes", -2.0, "--minutes"),
        ("minutes", float("nan"), "--minutes"),
        ("batch_size", 0, "--batch-size"),
        ("lr", 0.0, "--lr"),
        ("lr", float("inf"), "--lr"),
        ("lr", "1e-3", "--lr"),
        ("weight_decay", -0.1, "--weight-decay"),
        ("lr_schedule", "linear", "--lr-schedule"),
        ("warmup_steps", -5, "--warmup-steps"),
        ("grad_clip", -1.0, "--grad-clip"),
        ("ema_decay", 1.0, "--ema-decay"),
        ("seed", -1, "--seed"),
        ("binarize", "random", "--binarize"),
        ("eval_every", -1, "--eval-every"),
        ("eval_images", 0, "--eval-images"),
        ("checkpoint_every", -1, "--checkpoint-every"),
        ("log_every", 0, "--log-every"),
        ("progress", 1, "--progress"),
        ("precision", "16", "--precision"),
        ("accelerator", "tpu", "--accelerator"),
        ("devices", 0, "--devices"),
        ("devices", True, "--devices"),
        ("num_nodes", 0, "--num-nodes"),
        ("num_nodes", 1.5, "--num-nodes"),
        ("num_nodes", True, "--num-nodes"),
        ("num_nodes", 10**6, "--num-nodes"),
        ("strategy", "fsdp", "--strategy"),
        ("channels_last", "yes", "--channels-last"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_flag(
    field: str, value: object, flag: str
) -> None:
    with pytest.raises(ConfigError, match=flag):
        TrainConfig(**{field: value}).validate()


def test_exactly_one_budget() -> None:
    with pytest.raises(ConfigError, match=r"exactly one budget.*--steps.*--minutes"):
        TrainConfig(steps=10, minutes=1.0).validate()


def test_cosine_over_minutes_or_decay_steps() -> None:
    TrainConfig(minutes=1.0, lr_schedule="cosine").validate()  # decays over the time budget
    TrainConfig(minutes=1.0, lr_schedule="cosine", decay_steps=500).validate()
    with pytest.raises(ConfigError, match="must exceed --warmup-steps"):
        TrainConfig(lr_schedule="cosine", decay_steps=50, warmup_steps=100).validate()


def test_the_batch_must_split_evenly_across_the_processes() -> None:
    TrainConfig(batch_size=64, devices=2, num_nodes=2).validate()
    TrainConfig(batch_size=3).validate()  # one process takes any size
    with pytest.raises(ConfigError, match=r"--batch-size 30 .* 4 processes .*multiple of 4"):
        TrainConfig(batch_size=30, devices=2, num_nodes=2).validate()
    with pytest.raises(ConfigError, match="3 processes"):
        TrainConfig(batch_size=64, devices=3).validate()


def test_dict_round_trip_and_unknown_keys() -> None:
    config = TrainConfig(steps=7, lr=3e-4, progress=True)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"unknown training option.*learning_rate"):
        TrainConfig.from_dict({"learning_rate": 1.0})


def test_auto_precision_is_fp32_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "32"
    monkeypatch.setattr(config_module, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16-mixed"
    assert resolve_precision("32", "cpu") == "32"
    assert resolve_precision("auto", "mps") == "32"


def test_native_bf16_detection_follows_torch_capabilities() -> None:
    caps = torch.cpu.get_capabilities()
    expected = any(caps.get(k, False) for k in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16"))
    assert config_module.cpu_has_native_bf16() == expected


def test_fp16_needs_cuda_and_missing_accelerators_are_reported() -> None:
    with pytest.raises(ConfigError, match="16-mixed needs a CUDA GPU"):
        resolve_precision("16-mixed", "cpu")
    assert resolve_accelerator("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--accelerator cuda is not available"):
            resolve_accelerator("cuda")
        assert resolve_accelerator("auto") in ("cpu", "mps")
