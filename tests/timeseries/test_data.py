"""Real shipped series, the CSV loader and chronological splits."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from genzoo.errors import ConfigError, DatasetError
from genzoo.timeseries import (
    Series,
    available_series,
    interpolate_gaps,
    load_csv_series,
    load_series,
    split_series,
)

LENGTHS = {"sunspots": 309, "co2": 526, "elnino": 732, "nile": 100}


@pytest.mark.parametrize("name", sorted(LENGTHS))
def test_shipped_series_load_with_documented_length(name):
    series = load_series(name)
    assert name in available_series()
    assert len(series) == LENGTHS[name] and series.values.dtype == np.float64
    assert np.isfinite(series.values).all() and series.values.std() > 0
    assert series.frequency in ("yearly", "monthly") and series.unit and series.source


def test_shipped_values_match_the_raw_tables():
    assert load_series("sunspots").values[[0, 1, -1]].tolist() == [5.0, 11.0, 2.9]
    assert load_series("nile").values[[0, -1]].tolist() == [1120.0, 740.0]
    # El Niño: row-major (Jan..Dec of 1950, then 1951): a column-major read would put
    # January 1951 (24.19) at index 1.
    elnino = load_series("elnino").values
    table = sm.datasets.elnino.load_pandas().data
    assert elnino[1] == 24.20 and elnino[12] == 24.19 and elnino[-1] == table["DEC"].iloc[-1]


def test_co2_is_monthly_means_with_interpolated_empty_months():
    co2 = load_series("co2").values
    weekly = sm.datasets.co2.load_pandas().data["co2"]
    jan_1959 = weekly["1959-01-01":"1959-01-31"].dropna().to_numpy()
    assert co2[10] == pytest.approx(jan_1959.mean(), abs=1e-12)  # 1958-03 is index 0
    assert co2[0] == 316.1  # March 1958 has one observed week
    # 1958-06 (index 3) has no observation: halfway between May and July
    assert co2[3] == pytest.approx(0.5 * (co2[2] + co2[4]), abs=1e-12)


def test_series_is_immutable_and_checked():
    series = load_series("nile")
    with pytest.raises(ValueError):
        series.values[0] = 0.0
    with pytest.raises(ConfigError, match="1-D"):
        Series("x", np.zeros((3, 2)))
    with pytest.raises(DatasetError, match="NaN"):
        Series("x", np.array([1.0, np.nan]))
    with pytest.raises(ConfigError, match="unknown series"):
        load_series("sunspot")


def test_interpolate_gaps():
    filled = interpolate_gaps(np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan]))
    assert filled.tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    with pytest.raises(DatasetError):
        interpolate_gaps(np.array([np.nan, np.nan]))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=40) * 1e3
    lines = ["date,station,level,flow"] + [
        f"2000-{i:03d},A{i},{float(v)!r},{i}" for i, v in enumerate(values)
    ]
    path = _write(tmp_path / "levels.csv", "\n".join(lines) + "\n")
    series = load_csv_series(path, frequency="daily", unit="m")
    assert series.name == "level"  # first column whose every cell is a number
    assert np.array_equal(series.values, values)  # repr round-trips float64 exactly
    assert (series.frequency, series.unit, series.source) == ("daily", "m", str(path))
    assert load_csv_series(path, "flow").values.tolist() == list(range(40))
    semicolon = _write(tmp_path / "semi.csv", "\n".join(line.replace(",", ";") for line in lines))
    assert np.array_equal(load_csv_series(semicolon, "level", delimiter=";").values, values)


def test_csv_errors_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="no such CSV file"):
        load_csv_series(tmp_path / "absent.csv")
    good = _write(tmp_path / "good.csv", "t,x\n" + "".join(f"{i},{i * 0.5}\n" for i in range(12)))
    with pytest.raises(ConfigError, match=r"no column 'y'.*\['t', 'x'\]"):
        load_csv_series(good, "y")
    bad = _write(tmp_path / "bad.csv", "t,x\n" + "".join(f"{i},{i}\n" for i in range(12)) + "12,x")
    with pytest.raises(DatasetError, match=r"data row 13.*'x' is not a number"):
        load_csv_series(bad, "x")
    text = _write(tmp_path / "text.csv", "a,b\nu,v\nw,z\n")
    with pytest.raises(DatasetError, match="no column holds only numbers"):
        load_csv_series(text)
    short = _write(tmp_path / "short.csv", "x\n1\n2\n3\n")
    with pytest.raises(DatasetError, match="only 3 values"):
        load_csv_series(short)
    assert len(load_csv_series(short, min_length=3)) == 3
    cells = [1, 2, "", 4] * 3
    gap = _write(tmp_path / "gap.csv", "t,x\n" + "".join(f"{i},{v}\n" for i, v in enumerate(cells)))
    with pytest.raises(DatasetError, match=r"3 missing values.*missing=.interpolate."):
        load_csv_series(gap, "x")
    assert load_csv_series(gap, "x", missing="interpolate").values[:4].tolist() == [1, 2, 3, 4]
    with pytest.raises(DatasetError, match="empty"):
        load_csv_series(_write(tmp_path / "empty.csv", ""))
    with pytest.raises(ConfigError):
        load_csv_series(good, missing="drop")


def test_split_is_chronological():
    series = load_series("nile")
    train, test = split_series(series, test_length=20)
    assert (len(train), len(test)) == (80, 20)
    assert np.array_equal(np.concatenate([train.values, test.values]), series.values)
    assert np.array_equal(test.values, series.values[-20:])  # the end, never shuffled
    train, test = split_series(series, test_fraction=0.25)
    assert (len(train), len(test)) == (75, 25) and train.unit == series.unit
    for kwargs in ({}, {"test_length": 5, "test_fraction": 0.1}, {"test_length": 100}):
        with pytest.raises(ConfigError):
            split_series(series, **kwargs)
    with pytest.raises(ConfigError):
        split_series(series, test_fraction=1.0)
