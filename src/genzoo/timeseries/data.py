"""Real univariate time series: four shipped with statsmodels, and the user's own CSV files.

Shipped series (``load_series(name)``; values are float64, oldest first, no missing values):

=========  =====  =========  ============================================================
name       T      frequency  content
=========  =====  =========  ============================================================
sunspots   309    yearly     Wolfer sunspot number ``SUNACTIVITY``, 1700–2008 (NOAA NGDC)
co2        526    monthly    Mauna Loa CO2 in ppmv, 1958-03 .. 2001-12 (Keeling & Whorf 2004)
elnino     732    monthly    Niño 1+2 sea-surface temperature in °C, 1950-01 .. 2010-12
nile       100    yearly     Nile discharge at Aswan in 10^8 m^3, 1871–1970 (Cobb 1978)
=========  =====  =========  ============================================================

Preprocessing, the only deviations from the raw statsmodels tables:

* ``co2`` is weekly (2,284 Saturdays) with 59 missing weeks. It is averaged to calendar-month
  means (missing weeks ignored), which leaves 5 months with no observation at all
  (1958-06, 1958-10, 1964-02 .. 1964-04); those are filled by linear interpolation between the
  neighbouring monthly means (:func:`interpolate_gaps`).
* ``elnino`` is a table with one row per year and 12 month columns; it is read row by row
  (January .. December of 1950, then of 1951, ...) into one monthly series.

:func:`series_from_spec` reads either kind from one string (``"nile"``, ``"csv:PATH[:COLUMN]"``),
as the command line does.

Train/test splits are chronological (:func:`split_series`): the test part is the *end* of the
series and nothing is ever shuffled, so a model fitted on the training part forecasts its future.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genzoo.errors import ConfigError, DatasetError

PathLike = str | os.PathLike[str]

MIN_LENGTH = 10
"""Shortest series :func:`load_csv_series` accepts by default."""


@dataclass(frozen=True)
class Series:
    """One univariate, regularly spaced time series.

    Attributes:
        name: short name (``"sunspots"``, a CSV column name, ...).
        values: float64 ``[T]``, oldest first, finite; stored read-only.
        frequency: spacing of the observations (``"yearly"``, ``"monthly"``, or as given).
        source: where the numbers come from.
        unit: unit of the values (``""`` if unknown).
    """

    name: str
    values: np.ndarray = field(repr=False)
    frequency: str = "unknown"
    source: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)  # a private copy
        if values.ndim != 1:
            raise ConfigError(
                f"series {self.name!r}: values must be 1-D [T], got shape {values.shape}"
            )
        if not np.isfinite(values).all():
            raise DatasetError(
                f"series {self.name!r} has {int((~np.isfinite(values)).sum())} NaN/inf values; "
                "fill them first (e.g. with interpolate_gaps)"
            )
        values.flags.writeable = False
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def with_values(self, values: np.ndarray, suffix: str = "") -> Series:
        """The same metadata with new ``values``; ``suffix`` is appended to the name."""
        return Series(self.name + suffix, values, self.frequency, self.source, self.unit)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (floats round-trip exactly through ``json``); see :meth:`from_dict`."""
        meta = {"name": self.name, "frequency": self.frequency, "source": self.source}
        return meta | {"unit": self.unit, "values": self.values.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Series:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                str(data["name"]),
                np.asarray(data["values"], dtype=np.float64),
                str(data.get("frequency", "unknown")),
                str(data.get("source", "")),
                str(data.get("unit", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"not a saved series: {err}") from None


def interpolate_gaps(values: np.ndarray) -> np.ndarray:
    """Fill NaNs of ``values`` ``[T]`` linearly between the nearest observed neighbours.

    Leading/trailing NaNs take the first/last observed value. Raises ``DatasetError`` when no
    value is observed at all.
    """
    values = np.asarray(values, dtype=np.float64)
    observed = np.isfinite(values)
    if not observed.any():
        raise DatasetError("the series has no observed (finite) value to interpolate from")
    t = np.arange(values.shape[0])
    return np.interp(t, t[observed], values[observed])


def _statsmodels_datasets():
    try:
        import statsmodels.api as sm
    except ImportError as err:  # pragma: no cover - statsmodels is a dependency
        raise DatasetError(
            "the shipped series come with statsmodels; install it with `pip install statsmodels`"
        ) from err
    return sm.datasets


def _sunspots() -> np.ndarray:
    return _statsmodels_datasets().sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()


def _co2() -> np.ndarray:
    weekly = _statsmodels_datasets().co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()  # calendar-month means of the observed weeks
    return interpolate_gaps(monthly.to_numpy())


def _elnino() -> np.ndarray:
    table = _statsmodels_datasets().elnino.load_pandas().data
    months = [c for c in table.columns if c != "YEAR"]
    return table[months].to_numpy(dtype=np.float64).reshape(-1)  # row-major: Jan..Dec per year


def _nile() -> np.ndarray:
    return _statsmodels_datasets().nile.load_pandas().data["volume"].to_numpy()


@dataclass(frozen=True)
class _Shipped:
    description: str
    frequency: str
    unit: str
    source: str
    load: Callable[[], np.ndarray]


_SHIPPED = {
    "co2": _Shipped(
        "Mauna Loa CO2, monthly means of weekly flask samples, 1958-03 .. 2001-12 (526 months, "
        "5 empty months interpolated)",
        "monthly",
        "ppmv",
        "statsmodels.datasets.co2 (Keeling & Whorf 2004, SIO flask network)",
        _co2,
    ),
    "elnino": _Shipped(
        "Niño 1+2 sea-surface temperature, monthly, 1950-01 .. 2010-12 (732 months)",
        "monthly",
        "degC",
        "statsmodels.datasets.elnino (NOAA ERSST.V3B, Nino 1+2)",
        _elnino,
    ),
    "nile": _Shipped(
        "Nile river volume at Aswan, yearly, 1871-1970 (100 years)",
        "yearly",
        "1e8 m^3",
        "statsmodels.datasets.nile (Cobb 1978)",
        _nile,
    ),
    "sunspots": _Shipped(
        "Yearly sunspot number, 1700-2008 (309 years)",
        "yearly",
        "sunspot number",
        "statsmodels.datasets.sunspots (NOAA NGDC)",
        _sunspots,
    ),
}


def available_series() -> dict[str, str]:
    """Shipped series name → one-line description."""
    return {name: entry.description for name, entry in _SHIPPED.items()}


def load_series(name: str) -> Series:
    """Load a shipped series by name (see :func:`available_series` and the module docstring).

    Raises:
        ConfigError: unknown name.
    """
    entry = _SHIPPED.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown series {name!r}; choose one of {sorted(_SHIPPED)} or load your own file "
            "with load_csv_series(path, column)"
        )
    return Series(name, entry.load(), entry.frequency, entry.source, entry.unit)


CSV_PREFIX = "csv:"


def series_from_spec(spec: str, **csv_options: Any) -> Series:
    """The series named by ``spec``: a shipped name (``"nile"``) or ``"csv:PATH[:COLUMN]"``.

    ``csv:PATH`` takes the first all-numeric column of the file; ``csv:PATH:COLUMN`` the named
    one (a ``PATH`` that is itself an existing file wins over splitting at its last ``:``).
    ``csv_options`` go to :func:`load_csv_series` (``missing=``, ``frequency=``, ...).
    """
    if not spec.startswith(CSV_PREFIX):
        if csv_options:
            raise ConfigError(f"CSV options {sorted(csv_options)} only apply to csv:PATH series")
        return load_series(spec)
    rest = spec[len(CSV_PREFIX) :]
    path, column = rest, None
    if not Path(rest).expanduser().is_file() and ":" in rest:
        path, column = rest.rsplit(":", 1)
    if not path:
        raise ConfigError(f"{spec!r} names no file; write csv:PATH or csv:PATH:COLUMN")
    return load_csv_series(path, column or None, **csv_options)


def _parse_float(text: str) -> float | None:
    """``float(text)`` or ``None`` when the cell is not a number (an empty cell is NaN)."""
    text = text.strip()
    if text == "" or text.lower() in ("na", "nan", "null"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def load_csv_series(
    path: PathLike,
    column: str | None = None,
    *,
    frequency: str = "unknown",
    unit: str = "",
    missing: str = "error",
    min_length: int = MIN_LENGTH,
    delimiter: str = ",",
) -> Series:
    """Read one column of a CSV file with a header row as a :class:`Series`.

    Rows are taken in file order (oldest first); blank lines are skipped. Empty cells and
    ``NA``/``NaN`` are missing values; ``missing="error"`` rejects them,
    ``missing="interpolate"`` fills them with :func:`interpolate_gaps`.

    Args:
        path: the CSV file.
        column: header name of the column; ``None`` picks the first column whose every cell is
            a number (or missing).
        frequency, unit: metadata stored in the series.
        missing: ``"error"`` or ``"interpolate"``.
        min_length: fewest rows accepted.
        delimiter: field separator.

    Raises:
        DatasetError: missing/unreadable/empty file, non-numeric cells, missing values with
            ``missing="error"``, or fewer than ``min_length`` rows.
        ConfigError: unknown ``column``, bad ``missing``/``min_length``.
    """
    if missing not in ("error", "interpolate"):
        raise ConfigError(f"missing must be 'error' or 'interpolate', got {missing!r}")
    if min_length < 2:
        raise ConfigError(f"min_length must be at least 2, got {min_length}")
    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetError(f"no such CSV file: {file}; pass the path of an existing file")
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"cannot read {file} as a CSV text file: {err}") from err
    if not rows:
        raise DatasetError(f"{file} is empty; it needs a header row and one value per row")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if column is None:
        index = _first_numeric_column(header, body)
        if index is None:
            raise DatasetError(
                f"{file}: no column holds only numbers (columns: {header}); pass column=NAME "
                "and fix its non-numeric cells"
            )
    elif column in header:
        index = header.index(column)
    else:
        raise ConfigError(f"{file} has no column {column!r}; its columns are {header}")
    values = np.empty(len(body))
    for i, row in enumerate(body):
        value = _parse_float(row[index]) if index < len(row) else math.nan
        if value is None:
            raise DatasetError(
                f"{file}, data row {i + 1}, column {header[index]!r}: {row[index]!r} is not a "
                "number; fix or remove that row"
            )
        values[i] = value
    gaps = ~np.isfinite(values)
    if gaps.any():
        if missing == "error":
            first = int(np.flatnonzero(gaps)[0]) + 1
            raise DatasetError(
                f"{file}, column {header[index]!r}: {int(gaps.sum())} missing values (first in "
                f"data row {first}); fill them or pass missing='interpolate'"
            )
        values = interpolate_gaps(values)
    if values.shape[0] < min_length:
        raise DatasetError(
            f"{file}, column {header[index]!r}: only {values.shape[0]} values, at least "
            f"{min_length} are needed to fit and test a model; use a longer series"
        )
    return Series(header[index], values, frequency, str(file), unit)


def _first_numeric_column(header: list[str], body: list[list[str]]) -> int | None:
    for index in range(len(header)):
        cells = [row[index] for row in body if index < len(row)]
        parsed = [_parse_float(c) for c in cells]
        if cells and all(p is not None for p in parsed) and any(np.isfinite(parsed)):
            return index
    return None


def split_series(
    series: Series, *, test_fraction: float | None = None, test_length: int | None = None
) -> tuple[Series, Series]:
    """Chronological split: ``(train, test)`` = (the first ``T - n``, the last ``n`` values).

    Give exactly one of ``test_fraction`` (``n = round(test_fraction * T)``) or ``test_length``.
    Both parts must be non-empty. Nothing is shuffled.
    """
    t = len(series)
    if (test_fraction is None) == (test_length is None):
        raise ConfigError("give exactly one of test_fraction or test_length")
    if test_fraction is not None:
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
        n = round(test_fraction * t)
    else:
        n = int(test_length)
    if not 0 < n < t:
        raise ConfigError(
            f"series {series.name!r} has {t} values; a test part of {n} leaves an empty train "
            "or test part — choose 0 < test_length < T"
        )
    return (
        series.with_values(series.values[: t - n], ":train"),
        series.with_values(series.values[t - n :], ":test"),
    )
