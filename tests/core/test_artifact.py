"""genzoo.core.artifact: save/load round trip, and every damaged file is one clear ModelError.

"Clear" means: a :class:`~genzoo.errors.ModelError` (never a raw safetensors, json or torch
exception), on one line, naming the damaged file and saying what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

import genzoo
from genzoo.core.artifact import (
    CONFIG_NAME,
    FORMAT_VERSION,
    MAX_CONFIG_BYTES,
    WEIGHTS_NAME,
    load_weights,
    read_artifact,
    read_config,
    read_tensors,
    save_artifact,
)
from genzoo.errors import ModelError

KIND = "image-model"
WHAT = "a saved genzoo model"
HINT = "pass the output directory of `genzoo train`"
CONFIG = {"channels": 4, "dropout": 0.25, "shape": [1, 8, 8], "embedding_dim": None}


class Net(nn.Module):
    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3)
        self.norm = nn.BatchNorm2d(width)  # buffers (running stats, an int64 counter) too


def trained_net(width: int = 3) -> Net:
    torch.manual_seed(0)
    net = Net(width)
    with torch.no_grad():  # values that are not the initialisation, buffers included
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        net.norm.running_mean.uniform_()
        net.norm.num_batches_tracked.fill_(7)
    return net


def read(directory: Path, kind: str = KIND):
    return read_artifact(directory, kind=kind, what=WHAT, hint=HINT)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_artifact(tmp_path / "m", kind=KIND, name="net", config=CONFIG, module=trained_net())


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical (NaN payloads and -0.0 included), dtype and shape too."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    as_bytes = [t.contiguous().reshape(-1).view(torch.uint8) for t in (a, b)]
    return torch.equal(*as_bytes)


def assert_clear(error: ModelError, file: Path, *advice: str) -> None:
    message = str(error)
    assert str(file) in message, message
    assert "\n" not in message, message
    for word in advice:
        assert word in message, message
    # no raw exception chained to it (``raise ... from None`` inside an ``except``)
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# ---------------------------------------------------------------------------------------------
# round trip
def test_round_trip_module_tensors_bit_identical_and_config_equal(saved: Path):
    net = trained_net()
    art = read(saved)
    assert art.kind == KIND and art.name == "net" and art.config == CONFIG
    assert art.format_version == FORMAT_VERSION and art.genzoo_version == genzoo.__version__
    assert art.extra == {} and art.directory == saved
    state = net.state_dict()
    assert sorted(art.tensors) == sorted(state)
    for key, value in state.items():
        assert same_bits(art.tensors[key], value), key
    fresh = Net()
    load_weights(fresh, art.tensors, saved)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_negative_control_same_bits_sees_one_bit():
    a = torch.randn(3, 3)
    b = a.clone()
    b.view(torch.int32)[1, 1] ^= 1  # flip the lowest mantissa bit
    assert same_bits(a, a.clone()) and not same_bits(a, b)
    assert not same_bits(torch.tensor([0.0]), torch.tensor([-0.0]))  # == would say equal
    assert not same_bits(a, a.double())


def test_config_json_layout(saved: Path):
    meta = json.loads((saved / CONFIG_NAME).read_text())
    assert meta["kind"] == KIND and meta["name"] == "net" and meta["model"] == "net"
    assert meta["format_version"] == FORMAT_VERSION == 2
    assert meta["genzoo_version"] == genzoo.__version__ and meta["config"] == CONFIG
    assert list(meta)[:2] == ["kind", "name"]  # written in this order, not sorted


def test_round_trip_tensors_and_extra(tmp_path: Path):
    tensors = {
        "a": torch.randn(3, 4, dtype=torch.float64),
        "b": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "c": torch.tensor([float("nan"), float("inf"), -0.0]),  # bit patterns survive
        "d": torch.randn(4, 4).t(),  # non-contiguous
        "e": torch.randn(2, dtype=torch.bfloat16),
    }
    extra = {"fitted": {"sigma": 0.5}, "note": "x"}
    out = save_artifact(
        tmp_path / "s", kind="series-model", name="hmm", config={}, tensors=tensors, extra=extra
    )
    art = read(out, kind="series-model")
    assert art.extra == extra
    for key, value in tensors.items():
        assert same_bits(art.tensors[key], value), key


def test_read_config_does_not_read_the_weights(saved: Path):
    (saved / WEIGHTS_NAME).write_bytes(b"garbage")  # present but damaged
    art = read_config(saved, what=WHAT, hint=HINT)
    assert art.tensors == {} and art.name == "net"


def test_save_needs_exactly_one_source(tmp_path: Path):
    with pytest.raises(ValueError, match="exactly one"):
        save_artifact(tmp_path, kind=KIND, name="x", config={})
    with pytest.raises(ValueError, match="exactly one"):
        save_artifact(tmp_path, kind=KIND, name="x", config={}, module=Net(), tensors={})


def test_resave_replaces_both_files(saved: Path):
    save_artifact(saved, kind=KIND, name="net", config={**CONFIG, "channels": 8}, module=Net(5))
    art = read(saved)
    assert art.config["channels"] == 8 and art.tensors["conv.weight"].shape[0] == 5
    assert sorted(p.name for p in saved.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


# ---------------------------------------------------------------------------------------------
# wrong kind, missing things
def test_wrong_kind_is_refused(saved: Path):
    with pytest.raises(ModelError) as info:
        read(saved, kind="series-model")
    assert str(info.value) == f"{saved} holds a image-model, not a series-model; {HINT}"


def test_missing_directory_file_or_part(tmp_path: Path, saved: Path):
    with pytest.raises(ModelError, match="does not exist"):
        read(tmp_path / "nowhere")
    a_file = tmp_path / "f"
    a_file.write_text("{}")
    with pytest.raises(ModelError, match="it is a file, not a directory"):
        read(a_file)
    (saved / WEIGHTS_NAME).unlink()
    with pytest.raises(ModelError) as info:
        read(saved)
    assert_clear(info.value, saved, CONFIG_NAME, WEIGHTS_NAME, HINT)


# ---------------------------------------------------------------------------------------------
# damaged weights
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncate_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5])


def _zero(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _huge_header(path: Path) -> None:  # a header length far beyond the file
    path.write_bytes((2**40).to_bytes(8, "little") + b"{}")


def _bad_header_json(path: Path) -> None:
    header = b"{not json"
    path.write_bytes(len(header).to_bytes(8, "little") + header)


@pytest.mark.parametrize(
    "damage", [_truncate, _truncate_header, _zero, _random, _empty, _huge_header, _bad_header_json]
)
def test_damaged_weights_are_a_clear_model_error(saved: Path, damage):
    weights = saved / WEIGHTS_NAME
    damage(weights)
    with pytest.raises(ModelError) as info:
        read(saved)
    assert_clear(info.value, weights, "damaged", "restore", "retrain")


def test_negative_control_the_damage_is_real(saved: Path):
    """safetensors itself fails on the truncated file (so the test above tests the wrapping)."""
    from safetensors.torch import load_file

    weights = saved / WEIGHTS_NAME
    _truncate(weights)
    with pytest.raises(Exception) as info:
        load_file(str(weights))
    assert not isinstance(info.value, ModelError)
    with pytest.raises(ModelError):
        read_tensors(weights)


# ---------------------------------------------------------------------------------------------
# damaged config.json
@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        '{"kind": "image-model", "name": "net", "config": {}',  # truncated
        "[1, 2, 3]",  # not an object
        '"a string"',
        "null",
        '{"kind": "image-model", "config": {}, "format_version": 2}',  # no name
        '{"kind": "image-model", "name": "net", "config": [1], "format_version": 2}',
        '{"kind": 3, "name": "net", "config": {}, "format_version": 2}',
        '{"name": "net", "config": {}, "format_version": "two"}',
        '{"name": "net", "config": {}, "format_version": null}',
        '{"name": "net", "config": {}, "format_version": [2]}',
        '{"kind": ["image-model"], "name": "net", "config": {}}',
        "[" * 100_000 + "]" * 100_000,  # nested beyond the parser's recursion limit
    ],
    ids=lambda t: t[:30],
)
def test_damaged_config_is_a_clear_model_error(saved: Path, text: str):
    config = saved / CONFIG_NAME
    config.write_text(text)
    with pytest.raises(ModelError) as info:
        read(saved)
    assert_clear(info.value, config, "damaged", "restore")


@pytest.mark.parametrize("data", [b"\xff\xfe\x00garbage", bytes(64)])
def test_binary_config_is_a_clear_model_error(saved: Path, data: bytes):
    config = saved / CONFIG_NAME
    config.write_bytes(data)
    with pytest.raises(ModelError) as info:
        read(saved)
    assert_clear(info.value, config, "damaged")


def test_oversized_config_is_refused_without_reading_it(saved: Path, monkeypatch):
    config = saved / CONFIG_NAME
    with open(config, "ab") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: no memory used
    with pytest.raises(ModelError) as info:
        read(saved)
    assert_clear(info.value, config, "larger than")


def test_newer_format_version_asks_for_an_upgrade(saved: Path):
    config = saved / CONFIG_NAME
    meta = json.loads(config.read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    config.write_text(json.dumps(meta))
    with pytest.raises(ModelError) as info:
        read(saved)
    assert_clear(info.value, config, f"format version {FORMAT_VERSION + 1}", "upgrade genzoo")


# ---------------------------------------------------------------------------------------------
# weights that do not fit the module
@pytest.mark.parametrize(
    "other",
    [
        lambda: Net(width=5),  # every shape differs
        lambda: nn.Sequential(nn.Linear(2, 2)),  # other keys
    ],
)
def test_weights_that_do_not_fit_the_module(saved: Path, other):
    art = read(saved)
    with pytest.raises(ModelError) as info:
        load_weights(other(), art.tensors, saved)
    assert_clear(info.value, saved, "do not match its config", "same run")


def test_missing_or_extra_key_does_not_fit(saved: Path):
    art = read(saved)
    missing = dict(art.tensors)
    missing.pop("conv.bias")
    with pytest.raises(ModelError, match=r"conv\.bias"):
        load_weights(Net(), missing, saved)
    extra = {**art.tensors, "stowaway": torch.zeros(1)}
    with pytest.raises(ModelError, match="stowaway"):
        load_weights(Net(), extra, saved)


def test_load_weights_keeps_the_saved_precision(tmp_path: Path):
    net = trained_net().double()
    out = save_artifact(tmp_path / "d", kind=KIND, name="net", config={}, module=net)
    fresh = Net()
    load_weights(fresh, read(out).tensors, out)
    assert fresh.conv.weight.dtype == torch.float64
    assert torch.equal(fresh.conv.weight, net.conv.weight)


# ---------------------------------------------------------------------------------------------
# the layouts before this one
def _write_legacy(directory: Path, meta: dict) -> None:
    (directory / CONFIG_NAME).write_text(json.dumps(meta))


def test_legacy_image_model_without_kind(saved: Path):
    _write_legacy(saved, {"model": "net", "genzoo_version": "0.1.0", "config": CONFIG})
    art = read(saved)  # read as kind "image-model"
    assert art.kind == "image-model" and art.name == "net" and art.config == CONFIG
    assert art.format_version == 1 and art.genzoo_version == "0.1.0"
    assert torch.equal(art.tensors["conv.weight"], trained_net().conv.weight)


def test_legacy_time_series_layout(saved: Path):
    meta = {"kind": "timeseries", "model": "hmm", "params": {"states": 2}, "fitted": {"a": 1}}
    _write_legacy(saved, meta)
    art = read(saved, kind="series-model")
    assert art.name == "hmm" and art.config == {"states": 2}
    assert art.extra == {"fitted": {"a": 1}} and art.format_version == 1


def test_legacy_kinds_are_not_applied_to_the_current_format(saved: Path):
    """A version-2 config must say its kind: a missing one is damage, not an image model."""
    config = saved / CONFIG_NAME
    meta = json.loads(config.read_text())
    del meta["kind"]
    config.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="not a valid genzoo config"):
        read(saved)
    meta["kind"] = "timeseries"
    config.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="holds a timeseries"):
        read(saved, kind="series-model")
