"""The declarative parameter tables of the time-series models (:mod:`genzoo.core.params`).

Every bad value is refused with a :class:`ConfigError` naming the parameter — by ``fit`` (the
scikit-learn convention: the constructor only stores) and by ``create_forecaster`` (the CLI's and
the loader's way in, before any data is read). The cases marked *new* were accepted by the
hand-written checks these tables replace (``float(v) > 0`` takes ``inf``, ``True`` and ``"1"``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from genzoo.core.params import Int
from genzoo.errors import ConfigError
from genzoo.timeseries import (
    FORECASTERS,
    CausalConvForecaster,
    GaussianHMMForecaster,
    SeasonalRandomWalk,
    create_forecaster,
)

NAN, INF = math.nan, math.inf
REFUSED = [
    # (model, parameter, value)
    ("hmm", "n_states", 0),
    ("hmm", "n_states", 2.0),
    ("hmm", "n_states", True),  # a bool is not an integer
    ("hmm", "n_iter", -1),
    ("hmm", "covariance_type", "diagonal"),
    ("hmm", "covariance_type", None),
    ("hmm", "tol", -1e-3),
    ("hmm", "tol", NAN),
    ("hmm", "tol", INF),  # new
    ("hmm", "min_covar", 0.0),
    ("hmm", "min_covar", True),  # new
    ("hmm", "n_init", 0),
    ("hmm", "random_state", 1.5),
    ("hmm", "random_state", None),
    ("hmm", "difference", -1),
    ("naive", "difference", 0),  # the season is >= 1, though the base class allows 0
    ("naive", "difference", True),
    ("causal_ar", "channels", 0),
    ("causal_ar", "kernel_size", False),
    ("causal_ar", "dilations", ()),
    ("causal_ar", "dilations", (1, 0)),
    ("causal_ar", "dilations", (1, 2.0)),
    ("causal_ar", "dilations", (1, True)),
    ("causal_ar", "n_components", 0),
    ("causal_ar", "window", 1),
    ("causal_ar", "lr", 0),
    ("causal_ar", "lr", NAN),
    ("causal_ar", "lr", INF),  # new
    ("causal_ar", "lr", True),  # new
    ("causal_ar", "lr", "0.01"),  # new
    ("causal_ar", "weight_decay", -INF),
    ("causal_ar", "grad_clip", INF),  # new
    ("causal_ar", "validation_fraction", 0.5),
    ("causal_ar", "validation_fraction", NAN),
    ("causal_ar", "eval_every", 0),
    ("causal_ar", "n_steps", np.float64(10.0)),
]
#: values at the edge of each range, which must be accepted
ACCEPTED = [
    ("hmm", {"tol": 0.0, "n_states": 1, "difference": 0, "random_state": np.int64(3)}),
    ("hmm", {"min_covar": 1e-12, "covariance_type": "tied", "tol": np.float32(1e-3)}),
    ("naive", {"difference": 1}),
    ("causal_ar", {"validation_fraction": 0.0, "weight_decay": 0, "window": 2, "lr": 1}),
    ("causal_ar", {"dilations": [3], "random_state": -1, "n_steps": np.int32(5)}),
]


@pytest.mark.parametrize(("name", "param", "value"), REFUSED)
def test_a_refused_value_names_the_parameter(name, param, value):
    cls = FORECASTERS.get(name)
    with pytest.raises(ConfigError, match=rf"{cls.__name__}: {param}=.* must be"):
        create_forecaster(name, **{param: value})
    model = cls().set_params(**{param: value})  # the constructor only stores ...
    with pytest.raises(ConfigError, match=rf"{param}="):
        model.fit(np.sin(np.arange(60.0)))  # ... fit validates


@pytest.mark.parametrize(("name", "values"), ACCEPTED)
def test_values_at_the_edge_of_each_range_are_accepted(name, values):
    model = create_forecaster(name, **values)
    assert {k: model.get_params()[k] for k in values} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
    }


def test_every_constructor_argument_has_a_constraint():
    import inspect

    for name, cls in FORECASTERS.items():
        table = cls.param_table()
        args = [p for p in inspect.signature(cls).parameters if p != "self"]
        assert sorted(args) == sorted(table), name
        assert list(cls().get_params()) == list(table)
        if "random_state" in table:
            assert table["random_state"] == Int()


def test_a_subclass_entry_wins_over_the_base_table():
    assert GaussianHMMForecaster.param_table()["difference"].accepts(0)
    assert not SeasonalRandomWalk.param_table()["difference"].accepts(0)
    assert CausalConvForecaster.param_table()["difference"].accepts(0)


def test_simulate_refuses_bad_horizons_and_path_counts():
    model = SeasonalRandomWalk(1).fit(np.cumsum(np.ones(20)) + np.sin(np.arange(20.0)))
    for horizon, n_paths in ((0, 5), (True, 5), (3, 0), (3, 2.0)):
        with pytest.raises(ConfigError, match=r"simulate: (horizon|n_paths)="):
            model.simulate(None, horizon, n_paths, 0)
    assert model.simulate(None, 1, 1, 0).shape == (1, 1)
