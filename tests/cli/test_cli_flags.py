"""Generated flags: every model's `train` parser builds (no flag clash between the model's
hyper-parameters and the training or evaluation recipes), and a shared name goes to the model."""

from __future__ import annotations

import pytest

from genzoo.cli.main import build_parser
from genzoo.models import available_models


@pytest.mark.parametrize("name", available_models())
def test_every_models_train_command_builds(name):
    args = build_parser(["train", name]).parse_args(["train", name, "--data", "digits"])
    assert args.model == name


def test_a_model_hyper_parameter_wins_a_name_it_shares_with_an_evaluation_option():
    argv = ["train", "rbm", "--data", "digits", "--ais-steps", "7"]
    args = build_parser(argv).parse_args(argv)
    assert "ais_steps" in args.hparam_names and args.ais_steps == 7
    assert "ais_steps" in args.eval_hidden  # not read as the decoder-AIS evaluation option
    # for `genzoo eval` the same flag is the evaluation's
    argv = ["eval", "runs/x", "--ais-steps", "7"]
    assert build_parser(argv).parse_args(argv).ais_steps == 7
